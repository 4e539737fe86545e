"""The analog input record (``ai``) as a Device."""
from __future__ import annotations

from typing import Any

from ..device import Device

__all__ = ["ai"]


class ai(Device):  # noqa: N801 (PyEpics's name)
    """An ai record: its fields are attributes.

    >>> pump = ai('XXX:ip2:PRES')
    >>> pump.DESC, pump.get('VAL', as_string=True), pump.EGU
    >>> pump.PV('VAL')              # the underlying PV

    ``prefix`` is the record name (a trailing '.' is dropped); other keywords go to
    :class:`~epics.device.Device`.
    """

    attrs = ("VAL", "EGU", "HOPR", "LOPR", "PREC", "NAME", "DESC", "DTYP", "INP", "LINR", "RVAL",
             "ROFF", "EGUF", "EGUL", "AOFF", "ASLO", "ESLO", "EOFF", "SMOO", "HIHI", "LOLO",
             "HIGH", "LOW", "HHSV", "LLSV", "HSV", "LSV", "HYST")
    #: The same field list under the name the PyEpics slides use.
    _fields = attrs

    def __init__(self, prefix: str, **kwargs: Any) -> None:
        if prefix.endswith("."):
            prefix = prefix[:-1]
        super().__init__(prefix, delim=".", attrs=self.attrs, **kwargs)
