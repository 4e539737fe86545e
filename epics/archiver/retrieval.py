"""Reading the archive back: time parsing, plot data decimated in the database, CSV, and the
EPICS Archiver Appliance's JSON (``/retrieval/data/getData.json``).

No web package here: the web front end calls these with a :class:`Storage` and serves the
result. Runs on whatever thread calls it (a web worker thread, a script).
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional, Sequence

from .storage import PvInfo, Sample, Storage

__all__ = ["parse_time", "plot_data", "appliance_json", "csv_lines", "check_pv_name",
           "MAX_PLOT_PVS", "RAW_LIMIT"]

#: Most PVs on one plot.
MAX_PLOT_PVS = 4
#: Up to this many samples a plot gets them all; above, min/max per bucket.
RAW_LIMIT = 4000
#: Most samples one CSV or Appliance JSON answer holds.
EXPORT_LIMIT = 1_000_000
MAX_NAME = 256

_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def check_pv_name(name: str) -> str:
    """The name if it can be a PV name; ValueError saying what is wrong otherwise."""
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"PV name {name[:40]!r}: must have 1 to {MAX_NAME} characters")
    if any(c.isspace() or ord(c) < 32 for c in name):
        raise ValueError(f"PV name {name[:40]!r}: no spaces or control characters")
    return name


def parse_time(text: Optional[str], now_ns: Optional[int] = None,
               default: Optional[int] = None) -> int:
    """A time in nanoseconds since the epoch from ``now``, ``-1d`` (also s, m, h, w), POSIX
    seconds, or ISO 8601 (``2024-05-01T12:00:00Z``; without a zone, UTC as in the Appliance's
    API). ValueError names the text that could not be read."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    if text is None or text.strip() == "":
        if default is None:
            raise ValueError("a time is required")
        return default
    text = text.strip()
    if text == "now":
        return now_ns
    found = _RELATIVE.match(text)
    if found:
        return now_ns - int(float(found.group(1)) * _UNITS[found.group(2)] * 1e9)
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or not 0 <= seconds < 2**33:
            raise ValueError(f"time {text!r} is out of range")
        return int(seconds * 1e9)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"time {text[:40]!r}: use now, -1d, POSIX seconds or ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def _value(sample: Sample) -> Any:
    if sample.value is not None:
        return sample.value
    if sample.text is not None and sample.text.startswith("["):
        try:
            return json.loads(sample.text)
        except ValueError:
            return sample.text
    return sample.text


def _meta(info: Optional[PvInfo], name: str) -> Dict[str, Any]:
    info = info or PvInfo(name)
    return {"name": name, "kind": info.kind, "units": info.units, "precision": info.precision,
            "enum_strs": list(info.enum_strs)}


def plot_data(storage: Storage, pv: str, start_ns: int, end_ns: int,
              buckets: int = 1000) -> Dict[str, Any]:
    """One PV's history for a plot: all samples when there are at most :data:`RAW_LIMIT`,
    else min and max per bucket computed by the database. Times in seconds; a gap is a
    point with ``gap`` true (the PV was disconnected from then on)."""
    check_pv_name(pv)
    if end_ns <= start_ns:
        raise ValueError("the end of the range must come after its start")
    result = _meta(storage.pv_info(pv), pv)
    decimated = storage.buckets(pv, start_ns, end_ns, buckets)
    if sum(b.count for b in decimated) <= RAW_LIMIT:
        samples = storage.samples(pv, start_ns, end_ns, RAW_LIMIT + 1)
        numeric = [s for s in samples if s.value is not None or s.is_gap]
        result.update(mode="raw", t=[max(s.t_ns, start_ns) / 1e9 for s in numeric],
                      min=[s.value for s in numeric], max=[s.value for s in numeric],
                      severity=[s.severity for s in numeric], gap=[s.is_gap for s in numeric])
    else:
        result.update(mode="minmax", t=[(b.t_first_ns + b.t_last_ns) / 2e9 for b in decimated],
                      min=[b.vmin for b in decimated], max=[b.vmax for b in decimated],
                      severity=[b.max_severity for b in decimated],
                      gap=[b.gaps > 0 and b.vmin is None for b in decimated])
    return result


def appliance_json(storage: Storage, pv: str, start_ns: int, end_ns: int) -> List[Dict]:
    """The Archiver Appliance's getData.json answer: ``[{"meta": {...}, "data": [{"secs",
    "nanos", "val", "severity", "status"}, ...]}]``. A disconnection is not an event there:
    the first sample after one carries ``fields`` with ``cnxlostepsecs`` and
    ``cnxregainedepsecs``, as the Appliance marks it."""
    check_pv_name(pv)
    info = storage.pv_info(pv)
    meta = {"name": pv}
    if info is not None:
        meta.update(EGU=info.units, PREC=str(info.precision))
        if info.enum_strs:
            meta["labels"] = list(info.enum_strs)
    data = []
    lost: Optional[int] = None
    for sample in storage.samples(pv, start_ns, end_ns, EXPORT_LIMIT, include_previous=False):
        if sample.is_gap:
            lost = sample.t_ns
            continue
        event = {"secs": sample.t_ns // 10**9, "nanos": sample.t_ns % 10**9,
                 "val": _value(sample), "severity": sample.severity, "status": sample.status}
        if lost is not None:
            event["fields"] = {"cnxlostepsecs": str(lost // 10**9),
                               "cnxregainedepsecs": str(sample.t_ns // 10**9)}
            lost = None
        data.append(event)
    return [{"meta": meta, "data": data}]


def csv_lines(storage: Storage, pvs: Sequence[str], start_ns: int, end_ns: int) -> Iterator[str]:
    """The raw samples of the PVs as CSV lines (pv, ISO time, POSIX time, value, severity,
    status; an empty value with status -1 is a gap), each PV in time order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["pv", "time", "posix_seconds", "value", "severity", "status"])
    for pv in pvs:
        check_pv_name(pv)
        info = storage.pv_info(pv)
        labels = info.enum_strs if info is not None and info.kind == "enum" else ()
        for sample in storage.samples(pv, start_ns, end_ns, EXPORT_LIMIT):
            value: Any = _value(sample)
            if labels and sample.value is not None and 0 <= int(sample.value) < len(labels):
                value = labels[int(sample.value)]
            stamp = datetime.fromtimestamp(sample.t_ns / 1e9, timezone.utc)
            writer.writerow([pv, stamp.isoformat(timespec="microseconds"),
                             f"{sample.t_ns / 1e9:.9f}", "" if value is None else value,
                             sample.severity, sample.status])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
