"""Batch monitors: one subscription set for thousands of PVs, drained as numpy arrays.

For archivers, status pages and alarm handlers that watch many scalar PVs and want throughput
rather than a Python callback per update (the PyEpics-style callbacks of :class:`epics.PV` and
:func:`epics.ca.create_subscription` remain the default). See docs/batch.rst.

Which thread runs what: with the compiled ring (``epics/_batchbuf.c``) libca's threads store each
update in C and no Python runs per event; without it (or with ``use_c=False``) the dispatcher
thread stores them. Connection losses are recorded by the dispatcher thread. ``drain`` may be
called from any thread (it is thread-safe; each event is returned by exactly one drain).
"""
from __future__ import annotations

import functools
import os
import threading
import time
from typing import Any, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _batchring, ca, dbr
from ._errors import CAValueError

__all__ = ["MonitorSet", "Batch", "Record", "DISCONNECTED", "INVALID_SEVERITY",
           "PURE_PYTHON_ENV", "using_compiled_ring"]

#: The ``status`` of the event a MonitorSet records when a PV of the set disconnects (EPICS
#: alarm status values are all >= 0, so this one cannot be mistaken for an IOC's).
DISCONNECTED = -1
#: The ``severity`` of that event (EPICS's INVALID_ALARM).
INVALID_SEVERITY = 3
#: Set this environment variable to 1 to make every MonitorSet use the pure-Python path.
PURE_PYTHON_ENV = "EPICS_BATCH_PURE_PYTHON"

_KINDS = {float: (_batchring.KIND_DOUBLE, dbr.TIME_DOUBLE),
          int: (_batchring.KIND_LONG, dbr.TIME_LONG),
          str: (_batchring.KIND_STRING, dbr.TIME_STRING)}


def using_compiled_ring() -> bool:
    """Whether a MonitorSet made now would store events in C (built and not disabled)."""
    return os.environ.get(PURE_PYTHON_ENV, "") not in ("1", "yes", "true") and \
        _batchring.load() is not None


class Record(NamedTuple):
    """One event of a drain in the list form (:meth:`Batch.records`)."""
    pvname: str
    value: Any
    timestamp: float
    severity: int
    status: int


class Batch:
    """The events of one drain, in arrival order (in order per PV).

    Attributes
    ----------
    index : numpy.ndarray of int32
        Position of each event's PV in the set's ``names``.
    value : numpy.ndarray
        float64, int32, or bytes of 40 (``S40``) for ``dtype=str``; NaN / 0 / ``b""`` for a
        disconnection event.
    timestamp : numpy.ndarray of float64
        The IOC's timestamp (POSIX seconds); the local time for a disconnection event.
    severity, status : numpy.ndarray of int16
        The alarm severity and status; ``DISCONNECTED`` status for a disconnection event.
    dropped : numpy.ndarray of uint64
        Per PV of the set: updates dropped because the ring was full since the previous drain.
    """

    __slots__ = ("index", "value", "timestamp", "severity", "status", "dropped", "names")

    def __init__(self, arrays: _batchring.Arrays, names: Tuple[str, ...]) -> None:
        (self.index, self.value, self.timestamp, self.severity, self.status,
         self.dropped) = arrays
        self.names = names

    def __len__(self) -> int:
        return len(self.index)

    def __iter__(self) -> Iterator[np.ndarray]:
        """``index, value, timestamp, severity, status = batch``."""
        return iter((self.index, self.value, self.timestamp, self.severity, self.status))

    def __repr__(self) -> str:
        return f"<Batch of {len(self)} events, {int(self.dropped.sum())} dropped>"

    def records(self) -> List[Record]:
        """The events as a list of :class:`Record` (convenient, slower: one object per event).
        String values are decoded to ``str``."""
        names = self.names
        values = self.value.tolist()
        if self.value.dtype.kind == "S":
            values = [value.decode("utf-8", "replace") for value in values]
        return [Record(names[i], value, stamp, int(severity), int(status))
                for i, value, stamp, severity, status in zip(
                    self.index.tolist(), values, self.timestamp.tolist(),
                    self.severity.tolist(), self.status.tolist())]


class MonitorSet:
    """Monitor many PVs as one set whose updates are drained in batches.

    Parameters
    ----------
    names : sequence of str
        The PV names (no duplicates); event ``index`` values refer to this order.
    capacity : int
        Most events held between two drains; past it, DROP NEWEST: further updates are counted
        in ``dropped`` (per PV) and lost, the held ones are kept.
    dtype : float, int or str
        The value type: every PV is subscribed as DBR_TIME_DOUBLE, DBR_TIME_LONG (enums give
        their index) or DBR_TIME_STRING (40 bytes), the server converting. Only the first
        element of an array PV is kept.
    mask : int, optional
        DBE_VALUE | DBE_ALARM ... (default :data:`epics.ca.DEFAULT_SUBSCRIPTION_MASK`).
    use_c : bool, optional
        Store events in C (the default when ``epics/_batchbuf.c`` is built and
        ``EPICS_BATCH_PURE_PYTHON`` is not 1); False forces the slower pure-Python path.

    Raises
    ------
    CAValueError
        for a bad or repeated PV name, a bad capacity or dtype.
    """

    def __init__(self, names: Sequence[str], capacity: int = 1_000_000,
                 dtype: type = float, mask: Optional[int] = None,
                 use_c: Optional[bool] = None) -> None:
        names = tuple(names)
        if dtype not in _KINDS:
            raise CAValueError(f"MonitorSet dtype must be float, int or str, not {dtype!r}")
        if not isinstance(capacity, int) or capacity < 1:
            raise CAValueError(f"MonitorSet capacity must be a positive int, not {capacity!r}")
        seen = set()
        for name in names:
            ca.check_pvname(name, raise_on_error=True)
            if name in seen:
                raise CAValueError(f"PV {name!r} appears twice in the MonitorSet", pvname=name)
            seen.add(name)
        kind, self.dbrtype = _KINDS[dtype]
        if use_c is None:
            use_c = using_compiled_ring()
        elif use_c and _batchring.load() is None:
            raise CAValueError("use_c=True, but epics/_batchbuf.c is not built")
        self.names: Tuple[str, ...] = names
        self.uses_c = bool(use_c)
        self._ring: Union[_batchring.CRing, _batchring.PyRing] = (
            _batchring.CRing if self.uses_c else _batchring.PyRing)(len(names), capacity, kind)
        self._was_connected = np.zeros(len(names), bool)   # as the dispatcher last heard
        self._dropped = np.zeros(len(names), np.uint64)
        self._drain_lock = threading.Lock()
        self._closed = False
        self._chids: List[int] = []
        self._ours: List[bool] = []          # channels this set created (and so clears)
        self._watchers: List[Any] = []
        self._subscriptions: List[Any] = []
        self._subscribe_all(mask)

    def _subscribe_all(self, mask: Optional[int]) -> None:
        ring = self._ring
        for i, name in enumerate(self.names):
            self._ours.append(ca.get_cache(name) is None)
            watcher = functools.partial(self._on_connection, i)
            self._watchers.append(watcher)
            chid = ca.create_channel(name, callback=watcher)
            self._chids.append(int(chid.value))
            if self.uses_c:
                subscription = ca.subscribe(chid, self.dbrtype, None, mask=mask, count=1,
                                            c_callback=ring.callback, usr=ring.usr(i))
            else:
                subscription = ca.subscribe(chid, self.dbrtype,
                                            functools.partial(self._on_update, i),
                                            mask=mask, count=1)
            self._subscriptions.append(subscription)

    # dispatcher thread
    def _on_connection(self, index: int, pvname: str = "", chid: Any = None,
                       conn: bool = False, **_: Any) -> None:
        was = self._was_connected[index]
        self._was_connected[index] = conn
        if was and not conn:
            self._ring.mark(index, time.time(), INVALID_SEVERITY, DISCONNECTED)

    # dispatcher thread (pure-Python path only)
    def _on_update(self, index: int, value: Any, meta: dict) -> None:
        self._ring.append(index, value, meta["timestamp"], meta["severity"], meta["status"])

    @property
    def connected(self) -> np.ndarray:
        """Per PV: connected now (libca's channel state; all False once closed)."""
        if self._closed:
            return np.zeros(len(self.names), bool)
        return np.fromiter((ca.isConnected(chid) for chid in self._chids), bool,
                           count=len(self._chids))

    @property
    def dropped(self) -> np.ndarray:
        """Per PV: updates dropped (ring full) since the set was made, up to the last drain."""
        return self._dropped.copy()

    def stats(self) -> dict:
        """``received``: updates that reached the set (including the dropped ones and
        disconnection events); ``dropped``: of those, lost to a full ring."""
        received, dropped = self._ring.totals()
        return {"received": received, "dropped": dropped}

    def wait_for_connection(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds in all for every PV to connect; True if all did."""
        deadline = time.monotonic() + timeout
        for chid in self._chids:
            if not ca.connect_channel(chid, timeout=max(0.0, deadline - time.monotonic())):
                return False
        return True

    def drain(self, timeout: float = 0.0) -> Batch:
        """Take every event waiting now, waiting up to ``timeout`` seconds for at least one.

        Returns
        -------
        Batch
            Possibly empty (timeout, or a closed set).
        """
        if timeout > 0:
            self._ring.wait(timeout)
        with self._drain_lock:
            arrays = self._ring.drain()
            self._dropped += arrays[5]
        return Batch(arrays, self.names)

    def records(self, timeout: float = 0.0) -> List[Record]:
        """``drain(timeout).records()``: the events as a list of :class:`Record`."""
        return self.drain(timeout).records()

    def close(self) -> None:
        """Clear the subscriptions, and the channels the set created that nothing else uses;
        undrained events are discarded (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for subscription in self._subscriptions:
            ca.unsubscribe(subscription)
        for name, chid, ours, watcher in zip(self.names, self._chids, self._ours,
                                             self._watchers):
            channel = ca.get_cache(name)
            if channel is None or channel.chid_int != chid:
                continue
            ca.remove_connection_callback(chid, watcher)
            if ours and not channel.pv_users and not channel.subscriptions and \
                    not channel.callbacks and not channel.listeners:
                ca.clear_channel(chid)
        self._ring.close()

    def __enter__(self) -> "MonitorSet":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{int(self.connected.sum())} connected"
        return (f"<MonitorSet of {len(self.names)} PVs, {state}, "
                f"{'C' if self.uses_c else 'pure-Python'} ring>")
