"""Reading an instrument's PVs over Channel Access, the stored form of their values, and
comparing current values with saved ones.

Stored forms (plain JSON-able Python values): a float or int for a scalar number, a str for a
string and for an enum (its state name, so a restore does not depend on state numbers), a list
of numbers for an array (CHAR waveforms included). A motor's value is its readback (RBV): where
it is, not where it was last sent.

Threads: any thread that may make CA calls (not the dispatcher thread of a callback that holds
it up; the reads here wait for the server).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from epics import PV

from .errors import InstrumentError
from .model import MOTOR, Instrument, Position, PvEntry, motor_record

__all__ = ["Comparison", "DEFAULT_TIMEOUT", "compare_values", "default_tolerance",
           "open_channels", "read_value", "read_values", "same_value", "storable",
           "value_text"]

#: Seconds to connect to an instrument's PVs and read them.
DEFAULT_TIMEOUT = 5.0
#: Relative tolerance of a float PV whose precision is not known.
RELATIVE_TOLERANCE = 1e-9


def readback_name(entry: PvEntry) -> str:
    """The PV read for ``entry``: a motor's RBV, or the PV itself."""
    return f"{motor_record(entry.pvname)}.RBV" if entry.kind == MOTOR else entry.pvname


def open_channels(names: Sequence[str], timeout: float) -> Dict[str, PV]:
    """PVs for ``names`` (without monitors), all connecting at once; waits up to ``timeout``
    seconds in all. Unconnected ones are returned too (check ``pv.connected``)."""
    pvs = {name: PV(name, auto_monitor=False, connection_timeout=timeout) for name in names}
    deadline = time.monotonic() + timeout
    for pv in pvs.values():
        pv.wait_for_connection(timeout=max(deadline - time.monotonic(), 0.0))
    return pvs


def close_channels(pvs: Dict[str, PV]) -> None:
    for pv in pvs.values():
        pv.disconnect()


def storable(value: Any) -> Any:
    """``value`` as plain Python (numpy arrays to lists, numpy scalars to float/int)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [storable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def read_value(pv: PV, timeout: float) -> Any:
    """The stored form of ``pv``'s value now, read from the server (None when it does not
    answer)."""
    if not pv.connected:
        return None
    as_string = pv.type in ("enum", "string")
    value = pv.get(as_string=as_string, use_monitor=False, timeout=timeout)
    if value is None:
        return None
    if pv.nelm > 1 and not as_string:
        return storable(np.atleast_1d(value))
    return storable(value)


def read_values(instrument: Instrument, timeout: float = DEFAULT_TIMEOUT,
                pvnames: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """``{pvname: stored form}`` for the PVs of ``instrument`` (all of them, or ``pvnames``).

    Raises
    ------
    InstrumentError
        naming every PV that did not connect or answer within ``timeout`` seconds.
    """
    entries = [instrument.entry(name) for name in pvnames] if pvnames else list(instrument.pvs)
    channels = open_channels([readback_name(entry) for entry in entries], timeout)
    try:
        values: Dict[str, Any] = {}
        missing: List[str] = []
        for entry in entries:
            value = read_value(channels[readback_name(entry)], timeout)
            if value is None:
                missing.append(readback_name(entry))
            else:
                values[entry.pvname] = value
    finally:
        close_channels(channels)
    if missing:
        raise InstrumentError(f"instrument {instrument.name!r}: no value from "
                              f"{', '.join(missing)} within {timeout:g} s (not connected?)")
    return values


def default_tolerance(saved: Any, precision: Optional[int]) -> float:
    """Half a unit of the last displayed digit for floats (``precision`` = PREC), else exact;
    a float of unknown precision gets a tiny relative tolerance."""
    numbers = saved if isinstance(saved, list) else [saved]
    if not any(isinstance(x, float) for x in numbers):
        return 0.0
    if precision is not None and 0 <= precision < 17:
        return 0.5 * 10.0 ** -precision
    largest = max((abs(x) for x in numbers if isinstance(x, (int, float))), default=1.0)
    return RELATIVE_TOLERANCE * max(1.0, largest)


def same_value(saved: Any, current: Any, tolerance: float) -> bool:
    """Whether ``current`` equals ``saved`` (numbers within ``tolerance``; text exactly)."""
    if current is None:
        return False
    if isinstance(saved, str) or isinstance(current, str):
        return str(saved).strip() == str(current).strip()
    if isinstance(saved, list) or isinstance(current, list):
        first, second = np.atleast_1d(saved), np.atleast_1d(current)
        return first.shape == second.shape and bool(np.all(np.abs(first - second) <= tolerance))
    if isinstance(saved, float) and math.isnan(saved):
        return isinstance(current, float) and math.isnan(current)
    return abs(float(saved) - float(current)) <= tolerance


def value_text(value: Any, limit: int = 40) -> str:
    """A short text of a stored value for tables and messages."""
    if value is None:
        return "(no value)"
    if isinstance(value, float):
        text = f"{value:.10g}"
    elif isinstance(value, list):
        head = ", ".join(value_text(item) for item in value[:4])
        text = f"[{head}{', ...' if len(value) > 4 else ''}] ({len(value)})"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Comparison:
    """Saved against current value of one PV of an instrument."""

    pvname: str
    kind: str
    saved: Any
    current: Any
    tolerance: float

    @property
    def matches(self) -> bool:
        """The current value equals the saved one (within the tolerance)."""
        return same_value(self.saved, self.current, self.tolerance)


def compare_values(instrument: Instrument, position: Position,
                   tolerance: Optional[float] = None,
                   timeout: float = DEFAULT_TIMEOUT) -> List[Comparison]:
    """Current against saved value of each PV of ``instrument`` that ``position`` has, in the
    instrument's order. A PV that does not answer has ``current`` None (and does not match).

    ``tolerance`` overrides the tolerance of every PV; else a PV's own (``PvEntry.tolerance``),
    else :func:`default_tolerance` from the PV's precision.
    """
    entries = [entry for entry in instrument.pvs if entry.pvname in position.values]
    channels = open_channels([readback_name(entry) for entry in entries], timeout)
    try:
        result = []
        for entry in entries:
            pv = channels[readback_name(entry)]
            saved = position.values[entry.pvname]
            current = read_value(pv, timeout)
            limit = tolerance if tolerance is not None else entry.tolerance
            if limit is None:
                precision = None
                if pv.connected and pv.type in ("double", "float"):
                    precision = (pv.get_ctrlvars(timeout=timeout) or {}).get("precision")
                limit = default_tolerance(saved, precision)
            result.append(Comparison(entry.pvname, entry.kind, saved, current, limit))
    finally:
        close_channels(channels)
    return result
