"""Counters: PVs read at each point after the triggers are done (scalars, or arrays).

All counters of a scan are read together: every read is sent, then every answer collected
(:func:`read_counters`), so 20 counters cost about one round trip, not 20.

Threads: runs on the scan thread.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from .. import PV, ca
from ._waiting import check_connected
from .errors import ConnectionLost, ScanError

__all__ = ['Counter', 'read_counters', 'READ_TIMEOUT']

#: Seconds allowed for the reads of one point.
READ_TIMEOUT = 5.0


class Counter:
    """A PV whose value is recorded at every point.

    Parameters
    ----------
    pvname : str
        Any scalar PV, or a waveform (recorded as an array: see ``is_array``).
    label : str, optional
        Column label (default: the PV name).
    units : str, optional
        Units (default: the PV's).
    """

    def __init__(self, pvname: str, label: Optional[str] = None,
                 units: Optional[str] = None) -> None:
        self.pvname = pvname
        self.label = label or pvname
        self.units = units
        self.pv = PV(pvname)
        self.buff: List[Any] = []

    def __repr__(self) -> str:
        return f'<Counter {self.label!r} {self.pvname!r}>'

    def connect(self, timeout: float = READ_TIMEOUT) -> None:
        if not self.pv.wait_for_connection(timeout=timeout):
            raise ScanError(f'counter {self.label!r}: {self.pvname} did not connect in '
                            f'{timeout:g} s', pvname=self.pvname)
        if self.units is None:
            self.units = self.pv.units or ''

    @property
    def is_array(self) -> bool:
        """A waveform counter: its values are arrays, kept beside the columns."""
        return (self.pv.count or 1) > 1

    def read(self) -> Any:
        """Read the value now (a fresh read, not the monitor) and append it to ``buff``."""
        value = read_counters([self])[0]
        return value

    def clear(self) -> None:
        self.buff = []


def read_counters(counters: Sequence[Counter], timeout: float = READ_TIMEOUT) -> List[Any]:
    """Read every counter (all requests sent first, then all answers), append each value to
    its counter's ``buff`` and return the values. Raises :class:`ScanError` naming a counter
    that disconnected or did not answer."""
    check_connected(c.pv for c in counters)
    try:
        for counter in counters:
            ca.get(counter.pv.chid, wait=False)
        ca.flush_io()
    except ConnectionError as exc:     # disconnected since the check (CANotConnectedError)
        raise ConnectionLost(f'counter {counter.label!r}: {counter.pvname} disconnected: '
                             f'{exc}', pvname=counter.pvname) from exc
    values = []
    for counter in counters:
        try:
            value = ca.get_complete(counter.pv.chid, timeout=timeout)
        except ConnectionError as exc:
            raise ConnectionLost(f'counter {counter.label!r}: {counter.pvname} disconnected: '
                                 f'{exc}', pvname=counter.pvname) from exc
        if value is None:
            check_connected((counter.pv,))
            raise ScanError(f'counter {counter.label!r}: no answer from {counter.pvname} in '
                            f'{timeout:g} s', pvname=counter.pvname)
        if isinstance(value, np.ndarray):
            value = value.copy()
        counter.buff.append(value)
        values.append(value)
    return values
