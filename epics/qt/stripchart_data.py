"""The StripChart's engine: time series of several PVs, kept without any GUI.

:class:`StripChartData` subscribes to PVs, keeps each one's samples (time, value) in a bounded
buffer, answers the samples inside a time window, and writes them as CSV. The Qt front end
(``stripchart``) only reads from it; a test or a script can drive it alone.

Threads: the sample callbacks run on the CA dispatcher thread and append under a lock; every
other method may be called from any thread (the GUI thread, in the app).
"""
from __future__ import annotations

import collections
import csv
import threading
import time
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional, Tuple, Union

import numpy as np

from ..pv import PV, get_pv

__all__ = ["StripChartData", "DEFAULT_MAX_SAMPLES"]

#: Samples kept per PV (at 10 Hz, about 28 hours).
DEFAULT_MAX_SAMPLES = 1_000_000


class _Series:
    def __init__(self, pv: PV, max_samples: int) -> None:
        self.pv = pv
        self.samples: Deque[Tuple[float, float]] = collections.deque(maxlen=max_samples)
        self.index: Optional[int] = None


class StripChartData:
    """Samples of several PVs over time.

    Parameters
    ----------
    max_samples : int
        Samples kept per PV; the oldest go first.
    """

    def __init__(self, max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        self.max_samples = max_samples
        self._lock = threading.Lock()
        self._series: Dict[str, _Series] = {}

    @property
    def pvnames(self) -> List[str]:
        with self._lock:
            return list(self._series)

    def add_pv(self, pv: Union[str, PV]) -> str:
        """Start recording a PV (a name or a PV); returns its name. Adding it again does
        nothing. Raises ValueError for an empty name."""
        if isinstance(pv, str):
            if not pv.strip():
                raise ValueError("StripChart: an empty PV name")
            pv = get_pv(pv.strip())
        name = pv.pvname
        with self._lock:
            if name in self._series:
                return name
            series = self._series[name] = _Series(pv, self.max_samples)
        series.index = pv.add_callback(self._sample, with_ctrlvars=False, series=series)
        if pv.connected and pv.value is not None:
            self._sample(value=pv.value, timestamp=pv.timestamp, series=series)
        return name

    def remove_pv(self, pvname: str) -> None:
        """Stop recording a PV and forget its samples."""
        with self._lock:
            series = self._series.pop(pvname, None)
        if series is not None and series.index is not None:
            series.pv.remove_callback(series.index)

    def _sample(self, value: Any = None, timestamp: Optional[float] = None,
                series: Optional[_Series] = None, **_: Any) -> None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return    # arrays and strings are not plotted
        stamp = timestamp if timestamp else time.time()
        with self._lock:
            series.samples.append((stamp, number))

    def samples(self, pvname: str, since: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
        """(times, values) of a PV as arrays, from POSIX time ``since`` on (all if None; with
        ``since``, the last sample before it too). Raises KeyError for a PV not recorded."""
        with self._lock:
            data = list(self._series[pvname].samples)
        if since is not None:   # and the sample before: the value holding at ``since``
            first = next((i for i, sample in enumerate(data) if sample[0] >= since), len(data))
            data = data[max(0, first - 1):]
        if not data:
            return np.empty(0), np.empty(0)
        array = np.asarray(data, dtype=float)
        return array[:, 0], array[:, 1]

    def write_csv(self, path: Union[str, Path]) -> int:
        """Write every sample (one row: POSIX time, ISO time, PV name, value), oldest first;
        returns the number of rows."""
        rows = []
        for name in self.pvnames:
            times, values = self.samples(name)
            rows.extend((t, name, v) for t, v in zip(times, values))
        rows.sort()
        with open(path, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["time", "iso_time", "pvname", "value"])
            for stamp, name, value in rows:
                iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(stamp)) + \
                    f".{int((stamp % 1) * 1e6):06d}"
                writer.writerow([f"{stamp:.6f}", iso, name, repr(float(value))])
        return len(rows)

    def close(self) -> None:
        """Stop recording every PV (idempotent)."""
        for name in self.pvnames:
            self.remove_pv(name)
