"""The binary output record (``bo``) as a Device."""
from __future__ import annotations

from typing import Any

from ..device import Device

__all__ = ["bo"]


class bo(Device):  # noqa: N801 (PyEpics's name)
    """A bo record: its fields are attributes (``dev.VAL = 1``, or ``dev.put('VAL', 'On')`` with
    a state name).

    PyEpics also lists EGU, HOPR, LOPR and PREC here, fields a bo record does not have; they are
    left out, so reading one raises AttributeError at once.
    """

    attrs = ("DOL", "OMSL", "RVAL", "HIGH", "ZNAM", "ONAM", "VAL", "NAME", "DESC", "DTYP")
    _fields = attrs

    def __init__(self, prefix: str, **kwargs: Any) -> None:
        if prefix.endswith("."):
            prefix = prefix[:-1]
        super().__init__(prefix, delim=".", attrs=self.attrs, **kwargs)
