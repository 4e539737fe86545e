"""Which updates of a PV are stored: deadband, alarm changes, the maximum interval, gaps.

A :class:`PvState` per archived PV turns monitor updates into :class:`Sample` records and says
which to keep. :meth:`PvState.offer` runs on the library's callback (dispatcher) thread, under
the engine's lock; :meth:`PvState.due` on the engine's writer thread, under the same lock.
"""
from __future__ import annotations

import json
import time
from typing import Any, Optional

from .config import PvPolicy
from .storage import DISCONNECTED_STATUS, INVALID_SEVERITY, Sample

__all__ = ["PvState", "sample_from_update", "EPICS_EPOCH_POSIX"]

#: 1990-01-01 in POSIX seconds: a time stamp at or before it was never set by the IOC.
EPICS_EPOCH_POSIX = 631_152_000


def sample_from_update(pvname: str, value: Any, severity: Optional[int], status: Optional[int],
                       posixseconds: Optional[int], nanoseconds: Optional[int]) -> Sample:
    """A sample from the keywords of an ``epics.PV`` callback. Numbers and enums are stored
    as value, strings and arrays as text (arrays as a JSON list)."""
    if posixseconds and posixseconds > EPICS_EPOCH_POSIX:
        t_ns = int(posixseconds) * 1_000_000_000 + int(nanoseconds or 0)
    else:
        t_ns = time.time_ns()
    number: Optional[float] = None
    text: Optional[str] = None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif hasattr(value, "__len__"):
        text = json.dumps([v.item() if hasattr(v, "item") else v for v in value])
    elif value is not None:
        number = float(value)
    else:
        text = ""
    return Sample(pvname, t_ns, number, text, int(severity or 0), int(status or 0))


class PvState:
    """The archiving state of one PV: the last stored sample, the newest one seen, the
    connection."""

    __slots__ = ("policy", "stored", "stored_at", "newest", "connected", "info_needed")

    def __init__(self, policy: PvPolicy) -> None:
        self.policy = policy
        self.stored: Optional[Sample] = None      # the last sample kept
        self.stored_at = 0.0                      # monotonic time it was kept
        self.newest: Optional[Sample] = None      # the newest sample seen, kept or not
        self.connected = False
        self.info_needed = False

    def _differs(self, sample: Sample) -> bool:
        last = self.stored
        if last is None or last.is_gap:
            return True
        if sample.severity != last.severity or sample.status != last.status:
            return True
        if sample.value is not None and last.value is not None:
            change = abs(sample.value - last.value)
            return change > self.policy.deadband or (self.policy.deadband == 0 and change != 0)
        return sample.text != last.text or (sample.value is None) != (last.value is None)

    def offer(self, sample: Sample, now: float) -> Optional[Sample]:
        """A monitor update arrived: the sample to store, or None if it is not to be stored.

        A PV's history keeps the order in which its updates arrived: a sample stamped at or
        before the last stored one (an update with a real IOC time stamp that arrives after one
        the IOC never stamped, which was stamped on arrival) is stored 1 ns after it.
        """
        last = self.stored
        if last is not None and sample.t_ns <= last.t_ns:
            sample = sample._replace(t_ns=last.t_ns + 1)
        self.newest = sample
        if self._differs(sample) or now - self.stored_at >= self.policy.max_interval:
            self._keep(sample, now)
            return sample
        return None

    def _keep(self, sample: Sample, now: float) -> None:
        self.stored = sample
        self.stored_at = now

    def due(self, now: float) -> Optional[Sample]:
        """The sample to store because ``max_interval`` passed with nothing stored: the newest
        unstored update, or else the last value again stamped now; None if not due."""
        if not self.connected or self.stored is None or \
                now - self.stored_at < self.policy.max_interval:
            return None
        newest = self.newest
        if newest is not None and newest.t_ns > self.stored.t_ns:
            sample = newest
        else:
            last = self.stored
            sample = Sample(last.pv, max(time.time_ns(), last.t_ns + 1), last.value, last.text,
                            last.severity, last.status)
        self._keep(sample, now)
        return sample

    def disconnected(self, now: float) -> Optional[Sample]:
        """The connection was lost: the gap sample to store (None if it was not connected)."""
        was = self.connected
        self.connected = False
        if not was:
            return None
        t_ns = time.time_ns()
        if self.stored is not None:
            t_ns = max(t_ns, self.stored.t_ns + 1)
        gap = Sample(self.policy.name, t_ns, None, None, INVALID_SEVERITY, DISCONNECTED_STATUS)
        self._keep(gap, now)
        self.newest = None
        return gap

    def reconnected(self) -> None:
        self.connected = True
        self.info_needed = True
