"""The event stores behind :class:`epics.batch.MonitorSet`: the compiled ring (``_batchbuf.c``)
and its pure-Python equivalent.

Which thread runs what:

* :class:`CRing`: libca's threads append events in C (``batchbuf_event_callback``), never
  entering Python; any Python thread drains (``batchbuf_drain`` copies under the set's mutex).
  A closed ring's memory is freed by the dispatcher thread's idle hook a little later, once no
  libca callback can still be running for it.
* :class:`PyRing`: the dispatcher thread appends (one Python call per event, from the usual
  subscription path), any Python thread drains; a lock guards the arrays.

Both keep the same overflow policy, DROP NEWEST (see docs/batch.rst): a full ring refuses the
event and counts it against its PV; buffered events are never overwritten.
"""
from __future__ import annotations

import ctypes
import threading
import time
from ctypes import POINTER, c_double, c_int, c_int16, c_int32, c_size_t, c_uint64, c_void_p
from typing import Any, List, Optional, Tuple

import numpy as np

from . import _dispatch, _libca

#: Value kinds of _batchbuf.c, the numpy dtype of each, and the bytes of a string value.
KIND_DOUBLE, KIND_LONG, KIND_STRING = 0, 1, 2
STRING_WIDTH = 40
VALUE_DTYPES = {KIND_DOUBLE: np.dtype(np.float64), KIND_LONG: np.dtype(np.int32),
                KIND_STRING: np.dtype(f"S{STRING_WIDTH}")}

#: Drained arrays: index, value, timestamp, severity, status, and per-PV drops of this drain.
Arrays = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

_P = c_void_p
BATCHBUF_PROTOTYPES = [
    # batch_set *batchbuf_new(int32_t npvs, size_t capacity, int kind);  NULL: out of memory
    ("batchbuf_new", _P, [c_int32, c_size_t, c_int]),
    # void *batchbuf_slot(batch_set *set, int32_t index);  the `usr` of PV `index`
    ("batchbuf_slot", _P, [_P, c_int32]),
    # void batchbuf_mark(batch_set *set, int32_t index, double stamp, int16 sev, int16 stat);
    ("batchbuf_mark", None, [_P, c_int32, c_double, c_int16, c_int16]),
    # size_t batchbuf_pending(batch_set *set);
    ("batchbuf_pending", c_size_t, [_P]),
    # size_t batchbuf_wait(batch_set *set, double timeout);  blocks: GIL released by ctypes
    ("batchbuf_wait", c_size_t, [_P, c_double]),
    # size_t batchbuf_drain(batch_set *set, size_t most, int32_t *index, void *values,
    #                       double *stamps, int16_t *severity, int16_t *status, uint64_t *dropped);
    ("batchbuf_drain", c_size_t, [_P, c_size_t, _P, _P, _P, _P, _P, _P]),
    # void batchbuf_totals(batch_set *set, uint64_t *received, uint64_t *dropped);
    ("batchbuf_totals", None, [_P, POINTER(c_uint64), POINTER(c_uint64)]),
    # void batchbuf_close(batch_set *set);
    ("batchbuf_close", None, [_P]),
    # void batchbuf_free(batch_set *set);
    ("batchbuf_free", None, [_P]),
]

_library: Optional[ctypes.CDLL] = None
_library_tried = False
_event_callback: Any = None
#: Closed C rings and when they may be freed (see CRing.close).
_closed: List[Tuple[float, int]] = []
_closed_lock = threading.Lock()
_idle_hook_added = False
#: Seconds between closing a C ring (its subscriptions cleared) and freeing its memory.
FREE_DELAY = 1.0


def load() -> Optional[ctypes.CDLL]:
    """The compiled ring (``epics/_batchbuf*``), or None when it was not built."""
    global _library, _library_tried, _event_callback
    if not _library_tried:
        _library_tried = True
        path = _libca.find_compiled("_batchbuf")
        if path is not None:
            try:
                library = ctypes.CDLL(path)
                for name, restype, argtypes in BATCHBUF_PROTOTYPES:
                    function = getattr(library, name)
                    function.restype, function.argtypes = restype, argtypes
            except (OSError, AttributeError):   # AttributeError: an older build
                library = None
            if library is not None:
                from . import _cadef
                _event_callback = ctypes.cast(library.batchbuf_event_callback,
                                              _cadef.EventCallback)
                _library = library
    return _library


def _free_closed() -> None:
    """Free the closed C rings whose delay has passed (the dispatcher's idle hook)."""
    now = time.monotonic()
    with _closed_lock:
        due = [ring for when, ring in _closed if when <= now]
        _closed[:] = [(when, ring) for when, ring in _closed if when > now]
    for ring in due:
        _library.batchbuf_free(ring)


def _empty(npvs: int, kind: int) -> Arrays:
    return (np.empty(0, np.int32), np.empty(0, VALUE_DTYPES[kind]), np.empty(0, np.float64),
            np.empty(0, np.int16), np.empty(0, np.int16), np.zeros(npvs, np.uint64))


class CRing:
    """A set's events in the C arrays of ``_batchbuf.c``: libca appends, Python drains."""

    def __init__(self, npvs: int, capacity: int, kind: int) -> None:
        self.library = load()
        if self.library is None:
            raise RuntimeError("the compiled batch ring (epics/_batchbuf.c) is not built")
        self.npvs, self.kind = npvs, kind
        self.handle = self.library.batchbuf_new(npvs, capacity, kind)
        if not self.handle:
            raise MemoryError(f"no memory for a batch ring of {capacity} events")
        self.closed = False

    @property
    def callback(self) -> Any:
        """The C function to give ``ca_create_subscription``."""
        return _event_callback

    def usr(self, index: int) -> int:
        """The ``usr`` to give ``ca_create_subscription`` for PV ``index``."""
        return self.library.batchbuf_slot(self.handle, index)

    def mark(self, index: int, stamp: float, severity: int, status: int) -> None:
        if not self.closed:
            self.library.batchbuf_mark(self.handle, index, stamp, severity, status)

    def wait(self, timeout: float) -> int:
        if self.closed:
            return 0
        return self.library.batchbuf_wait(self.handle, timeout)

    def drain(self) -> Arrays:
        if self.closed:
            return _empty(self.npvs, self.kind)
        n = self.library.batchbuf_pending(self.handle)
        index, value, stamp, severity, status = (
            np.empty(n, np.int32), np.empty(n, VALUE_DTYPES[self.kind]), np.empty(n, np.float64),
            np.empty(n, np.int16), np.empty(n, np.int16))
        dropped = np.zeros(self.npvs, np.uint64)
        got = self.library.batchbuf_drain(
            self.handle, n, index.ctypes.data, value.ctypes.data, stamp.ctypes.data,
            severity.ctypes.data, status.ctypes.data, dropped.ctypes.data)
        return index[:got], value[:got], stamp[:got], severity[:got], status[:got], dropped

    def totals(self) -> Tuple[int, int]:
        if self.closed:
            return 0, 0
        received, dropped = c_uint64(), c_uint64()
        self.library.batchbuf_totals(self.handle, ctypes.byref(received), ctypes.byref(dropped))
        return received.value, dropped.value

    def close(self) -> None:
        """Stop taking events; the memory is freed FREE_DELAY later (after the caller cleared
        the subscriptions), since a libca thread may be inside the callback right now."""
        global _idle_hook_added
        if self.closed:
            return
        self.closed = True
        self.library.batchbuf_close(self.handle)
        with _closed_lock:
            _closed.append((time.monotonic() + FREE_DELAY, self.handle))
            if not _idle_hook_added:
                _idle_hook_added = True
                _dispatch.on_idle(_free_closed)


class PyRing:
    """The same store in numpy arrays, appended to by Python subscription callbacks (slower:
    one Python call per event on the dispatcher thread)."""

    def __init__(self, npvs: int, capacity: int, kind: int) -> None:
        self.npvs, self.kind, self.capacity = npvs, kind, capacity
        self.index = np.empty(capacity, np.int32)
        self.value = np.empty(capacity, VALUE_DTYPES[kind])
        self.stamp = np.empty(capacity, np.float64)
        self.severity = np.empty(capacity, np.int16)
        self.status = np.empty(capacity, np.int16)
        self.dropped = np.zeros(npvs, np.uint64)
        self.filled = 0
        self.received = self.dropped_total = 0
        self.closed = False
        self.ready = threading.Condition(threading.Lock())

    def append(self, index: int, value: Any, stamp: float, severity: int, status: int) -> None:
        if self.kind == KIND_STRING and isinstance(value, str):
            value = value.encode("utf-8", "replace")[:STRING_WIDTH - 1]
        with self.ready:
            if self.closed:
                return
            self.received += 1
            if self.filled >= self.capacity:
                self.dropped[index] += 1
                self.dropped_total += 1
                return
            at = self.filled
            self.index[at], self.value[at], self.stamp[at] = index, value, stamp
            self.severity[at], self.status[at] = severity, status
            self.filled = at + 1
            if at == 0:
                self.ready.notify_all()

    def mark(self, index: int, stamp: float, severity: int, status: int) -> None:
        self.append(index, np.nan if self.kind == KIND_DOUBLE else
                    (b"" if self.kind == KIND_STRING else 0), stamp, severity, status)

    def wait(self, timeout: float) -> int:
        with self.ready:
            if not self.filled and not self.closed and timeout > 0:
                self.ready.wait(timeout)
            return self.filled

    def drain(self) -> Arrays:
        with self.ready:
            n = self.filled
            arrays = (self.index[:n].copy(), self.value[:n].copy(), self.stamp[:n].copy(),
                      self.severity[:n].copy(), self.status[:n].copy(), self.dropped.copy())
            self.filled = 0
            self.dropped[:] = 0
            return arrays

    def totals(self) -> Tuple[int, int]:
        with self.ready:
            return self.received, self.dropped_total

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.filled = 0
            self.ready.notify_all()
