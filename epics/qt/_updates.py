"""The update pump: carries PV updates from CA threads to the GUI thread, coalesced.

Threads: :meth:`UpdatePump.post` is called by CA callbacks (the dispatcher thread) and never
touches a widget: it only marks a channel dirty and, when the pump was idle, emits one queued
signal. Everything else runs in the GUI thread: the flush hands each dirty channel its latest
state, at most ``max_rate`` times per second per channel (latest value wins); channels that
updated too soon wait on one timer for the whole pump, not one per widget. A flush stops after
``FLUSH_BUDGET`` seconds and goes on from the next loop iteration, so a burst of updates never
holds up input and timers for long.
"""
from __future__ import annotations

import threading
import time
from typing import Dict, Optional, Protocol

from qtpy.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal, Slot

__all__ = ["UpdatePump", "pump", "DEFAULT_MAX_RATE"]

#: Default upper bound of repaints per second for one widget.
DEFAULT_MAX_RATE = 20.0
#: Longest a flush runs (s) before it lets the event loop run other events and goes on after.
#: The repaint of what one flush delivered follows it, and costs some three times the flush (Qt
#: painting the widgets), so this bounds both: bench/QT.md measured 1,000 labels at 10 Hz with
#: 1, 2 and 8 ms, and 2 ms gave the lowest event-loop latency and CPU.
FLUSH_BUDGET = 0.002


class Deliverable(Protocol):
    """What the pump delivers to (a :class:`~epics.qt._channel.PVChannel`)."""

    next_due: float

    def deliver(self, now: float) -> None:
        ...


class UpdatePump(QObject):
    """One per application, living in the GUI thread (see the module docstring)."""

    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._dirty: Dict[Deliverable, None] = {}   # an ordered set
        self._scheduled = False
        self._waiting: Dict[Deliverable, None] = {}  # GUI thread only: posted, not yet due
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        # queued even when posted from the GUI thread: a channel being built posts its first
        # state before its widget has connected to its signals
        self._wake.connect(self._flush, Qt.ConnectionType.QueuedConnection)
        self.budget = FLUSH_BUDGET
        self.flushes = 0        # counters for tests and the bench
        self.deliveries = 0

    def post(self, channel: Deliverable) -> None:
        """Mark ``channel`` as having news (any thread)."""
        with self._lock:
            self._dirty[channel] = None
            if self._scheduled:
                return
            self._scheduled = True
        self._wake.emit()

    def forget(self, channel: Deliverable) -> None:
        """Drop a channel that is being closed (GUI thread)."""
        with self._lock:
            self._dirty.pop(channel, None)
        self._waiting.pop(channel, None)

    @Slot()
    def _flush(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, {}
            self._scheduled = False
        if self._waiting:
            dirty = {**self._waiting, **dirty}
            self._waiting = {}
        self.flushes += 1
        now = start = time.monotonic()
        next_due: Optional[float] = None
        pending = iter(dirty)
        for count, channel in enumerate(pending, 1):
            due = channel.next_due
            if due <= now:
                self.deliveries += 1
                channel.deliver(now)
            else:
                self._waiting[channel] = None
                next_due = due if next_due is None else min(next_due, due)
            if count % 16 == 0:
                now = time.monotonic()
                if now - start > self.budget:   # let the loop breathe, then go on
                    for rest in pending:
                        self._waiting[rest] = None
                    next_due = now
                    break
        if next_due is not None:
            delay_ms = max(0, int((next_due - now) * 1000.0 + 0.5))
            if not self._timer.isActive() or self._timer.remainingTime() > delay_ms:
                self._timer.start(delay_ms)


_pump: Optional[UpdatePump] = None


def pump() -> UpdatePump:
    """The application's pump, made in the GUI thread on first use (a QApplication must exist)."""
    global _pump
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("epics.qt widgets need a QApplication: create one first")
    if _pump is None or _pump.thread() is not app.thread():
        _pump = UpdatePump()
        _pump.moveToThread(app.thread())
    return _pump
