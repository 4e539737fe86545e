"""The binary input record (``bi``) as a Device."""
from __future__ import annotations

from typing import Any

from ..device import Device

__all__ = ["bi"]


class bi(Device):  # noqa: N801 (PyEpics's name)
    """A bi record: its fields are attributes (``dev.get('VAL', as_string=True)`` gives ZNAM or
    ONAM).

    PyEpics also lists EGU, HOPR, LOPR and PREC here, fields a bi record does not have (their PVs
    never connect); they are left out, so reading one raises AttributeError at once.
    """

    attrs = ("INP", "ZNAM", "ONAM", "RVAL", "VAL", "NAME", "DESC", "DTYP")
    _fields = attrs

    def __init__(self, prefix: str, **kwargs: Any) -> None:
        if prefix.endswith("."):
            prefix = prefix[:-1]
        super().__init__(prefix, delim=".", attrs=self.attrs, **kwargs)
