"""The synApps transform record as a Device.

Sixteen rows A..P, each with a value (``A``), an input link (``INPA``), an expression (``CLCA``),
an output link (``OUTA``), a comment (``CMTA``), link and expression validity (``IAV``, ``OAV``,
``CAV``) and the previous value (``LA``)::

    >>> t = Transform('XXX:transform1')
    >>> t.set_calc('B', 'A*2')
    >>> t.put('A', 3, wait=True)
    >>> t.get_row('B')      # {'Value': 6.0, 'Expression': 'A*2', ...}
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from ..device import Device

__all__ = ["Transform"]


class Transform(Device):
    """A transform record; ``prefix`` is the record name, other keywords go to Device."""

    #: Row field labels -> field name pattern ('%s' is the row letter), as in PyEpics.
    attr_fmts = {"Value": "%s", "Input": "INP%s", "Input_Valid": "I%sV", "Expression": "CLC%s",
                 "Output": "OUT%s", "Output_Valid": "O%sV", "Comment": "CMT%s",
                 "Expression_Valid": "C%sV", "Previous_Value": "L%s"}
    rows = "ABCDEFGHIJKLMNOP"
    _known_fields = frozenset(("VAL", "EGU", "VERS", "PROC", "MAP", "DESC", "NAME", "RTYP",
                               "STAT", "SEVR"))
    _nonpvs = ("_prefix", "_pvs", "_delim", "attrs")

    def __init__(self, prefix: str, **kwargs: Any) -> None:
        if prefix.endswith("."):
            prefix = prefix[:-1]
        self.attrs = ["COPT", "PREC"]
        for pattern in self.attr_fmts.values():
            self.attrs.extend(pattern % row for row in self.rows)
        super().__init__(prefix, delim=".", attrs=self.attrs, **kwargs)

    def _valid_row(self, row: Any) -> bool:
        return isinstance(row, str) and len(row) == 1 and row in self.rows

    def get_row(self, row: str = "A") -> Optional[Dict[str, Any]]:
        """Everything about one row, keyed by the labels of :attr:`attr_fmts` ('Value',
        'Input', 'Expression'...); None for a row letter outside A..P."""
        if not self._valid_row(row):
            return None
        return {label: self.get(pattern % row) for label, pattern in self.attr_fmts.items()}

    def set_row(self, row: str = "A", data: Optional[Mapping[str, Any]] = None) -> None:
        """Write a row from a dict like the one :meth:`get_row` returns (read-only entries, such
        as the validity fields, are skipped)."""
        if not self._valid_row(row) or not data:
            return
        for label, value in data.items():
            pattern = self.attr_fmts.get(label)
            if pattern is None:
                continue
            thispv = self.PV(pattern % row)
            if thispv.write_access:
                thispv.put(value)

    def set_calc(self, row: str = "A", calc: str = "") -> None:
        """Set a row's expression."""
        if self._valid_row(row):
            self.put(self.attr_fmts["Expression"] % row, calc)

    def set_comment(self, row: str = "A", comment: str = "") -> None:
        """Set a row's comment."""
        if self._valid_row(row):
            self.put(self.attr_fmts["Comment"] % row, comment)

    def set_input(self, row: str = "A", input: str = "") -> None:  # noqa: A002 (PyEpics name)
        """Set a row's input link (a PV name)."""
        if self._valid_row(row):
            self.put(self.attr_fmts["Input"] % row, input)
