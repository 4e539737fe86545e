"""The PV's attributes: the value as text, metadata read on demand, ``info``.

Runs on the caller's thread (attributes may read from the server); ``char_value`` formatting
also runs on the dispatcher thread, for callbacks.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

from .. import ca, dbr
from .common import ARRAY, CHAR, ENUM, FLOAT, STRING, TIME_KEYS, fmt_time


class PVAttributes:
    """Mixin of :class:`epics.PV`: text forms and the PyEpics attribute properties."""

    def _char_value_now(self, call_ca: bool) -> str:
        if self._char_stale:
            self._args["char_value"] = self._format_char_value(self._args["value"], call_ca)
            self._char_stale = False
        return self._args["char_value"]

    def _format_char_value(self, value: Any, call_ca: bool = True) -> str:
        """The text form of a value, as PyEpics writes it (precision, enum names...)."""
        if value is None:
            return "None"
        kind = self._kind
        if kind == FLOAT:
            precision = self._args["precision"]
            if precision is None and call_ca:
                self.get_ctrlvars()
                precision = self._args["precision"]
            try:
                if precision is None:
                    return str(value)
                if value and 4 < abs(int(math.log10(abs(value)))):   # 0 prints as 0.00
                    return "%.*g" % (precision, value)
                return "%.*f" % (precision, value)
            except (ValueError, TypeError, ArithmeticError, OverflowError):
                return str(value)
        if kind == ENUM:
            if call_ca and not self._args["enum_strs"]:
                self.get_ctrlvars()
            try:
                return self._args["enum_strs"][value]
            except (TypeError, KeyError, IndexError):
                return str(value)
        if kind == STRING:
            return value if isinstance(value, str) else " ".join(map(str, value))
        if kind == CHAR and ((self._args["count"] or 1) < ca.AUTOMONITOR_MAXLENGTH or call_ca):
            return dbr.char_array_to_str(value if hasattr(value, "__len__") else [value])
        if kind == ARRAY or (kind == CHAR) or (hasattr(value, "__len__")
                                                  and not isinstance(value, str)):
            length = len(value) if hasattr(value, "__len__") else 1
            return f"<array size={length}, type={self._args['typefull']}>"
        return repr(value)

    # --- attributes -----------------------------------------------------------------------------

    def _getarg(self, arg: str) -> Any:
        """An attribute from the PV's data, reading it from the server if not yet known."""
        if self._args["value"] is None:
            self.get()
        if self._args.get(arg) is None:
            if arg in TIME_KEYS:
                self.get_timevars(timeout=1, warn=False)
            else:
                self.get_ctrlvars(timeout=1, warn=False)
        return self._args.get(arg, None)

    @property
    def value(self) -> Any:
        """The current value; assigning to it puts (``pv.value = 2`` is ``pv.put(2)``)."""
        return self._getarg("value")

    @value.setter
    def value(self, value: Any) -> None:
        self.put(value)

    @property
    def char_value(self) -> str:
        """The value as text: formatted with the PV's precision, enum state names, CHAR
        waveforms as strings."""
        value = self._getarg("value")
        if self._char_stale or self._args["char_value"] is None:
            self._args["char_value"] = self._format_char_value(value, call_ca=True)
            self._char_stale = False
        return self._args["char_value"]

    @property
    def status(self) -> Optional[int]:
        return self._getarg("status")

    @property
    def char_status(self) -> str:
        return dbr.AlarmStatus(self.status).name

    @property
    def severity(self) -> Optional[int]:
        return self._getarg("severity")

    @property
    def char_severity(self) -> str:
        return dbr.AlarmSeverity(self.severity).name

    @property
    def type(self) -> str:
        """The native type name: 'double', 'enum', 'string', 'char'..."""
        return self._args["type"]

    @property
    def typefull(self) -> str:
        """The type name of the PV's form: 'time_double', 'ctrl_enum'..."""
        return self._args["typefull"]

    @property
    def host(self) -> Optional[str]:
        return self._getarg("host")

    @property
    def count(self) -> Optional[int]:
        """Number of elements (the current length for arrays; see :attr:`nelm`)."""
        if self._args["count"] is not None:
            return self._args["count"]
        return self._getarg("count")

    @property
    def nelm(self) -> int:
        """Number of elements the channel can hold (an array's NELM)."""
        if self._chid is None:
            return -1
        return ca.element_count(self._chid)

    @property
    def read_access(self) -> Optional[bool]:
        return self._getarg("read_access")

    @property
    def write_access(self) -> Optional[bool]:
        return self._getarg("write_access")

    @property
    def access(self) -> Optional[str]:
        return self._getarg("access")

    @property
    def monitor_delta(self) -> Optional[float]:
        return self._args.get("monitor_delta")

    @property
    def timestamp(self) -> Optional[float]:
        return self._getarg("timestamp")

    @property
    def posixseconds(self) -> Optional[int]:
        return self._getarg("posixseconds")

    @property
    def nanoseconds(self) -> Optional[int]:
        return self._getarg("nanoseconds")

    @property
    def precision(self) -> Optional[int]:
        return self._getarg("precision")

    @property
    def units(self) -> Optional[str]:
        return self._getarg("units")

    @property
    def enum_strs(self) -> Optional[Tuple[str, ...]]:
        return self._getarg("enum_strs")

    @property
    def upper_disp_limit(self) -> Any:
        return self._getarg("upper_disp_limit")

    @property
    def lower_disp_limit(self) -> Any:
        return self._getarg("lower_disp_limit")

    @property
    def upper_alarm_limit(self) -> Any:
        return self._getarg("upper_alarm_limit")

    @property
    def lower_alarm_limit(self) -> Any:
        return self._getarg("lower_alarm_limit")

    @property
    def lower_warning_limit(self) -> Any:
        return self._getarg("lower_warning_limit")

    @property
    def upper_warning_limit(self) -> Any:
        return self._getarg("upper_warning_limit")

    @property
    def upper_ctrl_limit(self) -> Any:
        return self._getarg("upper_ctrl_limit")

    @property
    def lower_ctrl_limit(self) -> Any:
        return self._getarg("lower_ctrl_limit")

    @property
    def info(self) -> Optional[str]:
        """A paragraph describing the PV (what :func:`epics.cainfo` prints)."""
        return self._getinfo()

    def _getinfo(self) -> Optional[str]:
        if not self.wait_for_connection():
            return None
        self.get_ctrlvars()
        if self._args["value"] is None:
            self.get()
        args = self._args
        form = self.form if self.form in ("time", "ctrl") else "native"
        lines = [f"== {self.pvname} ({form}_{args['type']}) =="]
        value = args["value"]
        if (args["count"] or 1) == 1:
            lines.append(f"value = {value}")
        else:
            shown = ", ".join(str(v) for v in list(value[:5])) if value is not None else ""
            more = ", ..." if value is not None and len(value) > 5 else ""
            lines.append(f"value = array [{shown}{more}]")
        lines.append(f"char_value = '{self.char_value}'")
        for key in ("count", "nelm", "type", "units", "precision", "host", "access",
                    "status", "severity"):
            if args.get(key) is not None:
                lines.append(f"{key} = {args[key]}")
        if args.get("enum_strs") and dbr.native_type(self.ftype) == dbr.ENUM:
            lines.append("enum strings:")
            lines.extend(f"    {i} = {name}" for i, name in enumerate(args["enum_strs"]))
        if args.get("timestamp") is not None:
            lines.append(f"timestamp = {args['timestamp']:.3f} "
                         f"({fmt_time(args['timestamp'])})")
        for key in ("upper_ctrl_limit", "lower_ctrl_limit", "upper_disp_limit",
                    "lower_disp_limit", "upper_alarm_limit", "lower_alarm_limit",
                    "upper_warning_limit", "lower_warning_limit"):
            if args.get(key) is not None:
                lines.append(f"{key} = {args[key]}")
        if self._monref is not None:
            lines.append(f"PV is internally monitored, with {len(self.callbacks)} "
                         f"user-defined callbacks:")
            for index in sorted(self.callbacks):
                function = self.callbacks[index][0]
                code = getattr(function, "__code__", None)
                lines.append(f"    {getattr(function, '__name__', repr(function))} in file "
                             f"'{getattr(code, 'co_filename', '?')}'")
        else:
            lines.append("PV is NOT internally monitored")
        lines.append("=====")
        return "\n".join(lines)
