"""The analog output record (``ao``) as a Device."""
from __future__ import annotations

from typing import Any

from ..device import Device

__all__ = ["ao"]


class ao(Device):  # noqa: N801 (PyEpics's name)
    """An ao record: its fields are attributes (``dev.VAL = 2.5`` writes it).

    ``prefix`` is the record name (a trailing '.' is dropped); other keywords go to
    :class:`~epics.device.Device`.
    """

    attrs = ("OUT", "LINR", "RVAL", "ROFF", "EGUF", "EGUL", "AOFF", "ASLO", "ESLO", "EOFF",
             "VAL", "EGU", "HOPR", "LOPR", "PREC", "NAME", "DESC", "DTYP", "HIHI", "LOLO",
             "HIGH", "LOW", "HHSV", "LLSV", "HSV", "LSV", "HYST", "OMSL", "DOL", "OIF", "DRVH",
             "DRVL", "OROC", "OVAL")
    _fields = attrs

    def __init__(self, prefix: str, **kwargs: Any) -> None:
        if prefix.endswith("."):
            prefix = prefix[:-1]
        super().__init__(prefix, delim=".", attrs=self.attrs, **kwargs)
