"""Python workloads of the benchmark, written only against the PyEpics 3.5 public API.

The same script runs under PyEpics 3.5.10 and under epicsca (whichever ``epics`` the interpreter
imports); bench/run.py starts it in a fresh subprocess for every run and parses the one JSON line
it prints on stdout::

    python bench/workloads.py WORKLOAD --prefix P [--n N] [--seconds T] [--reads R] ...

Workloads (see bench/README.md for what each number means):

``import``      wall time of ``import epics``, then of the first CA context
                (``from epics import ca; ca.initialize_libca()``), separately.
``caget_many``  ``epics.caget_many`` of N counter PVs (connect and read), wall time.
``connect``     ``epics.ca.create_channel`` for N names, then ``epics.ca.connect_channel`` each.
``waveform``    R reads of the 8 MB waveform with ``PV.get()`` (``auto_monitor=False``) and R with
                ``epics.caget``; seconds per read (median over the R reads), MB/s.
``monitor``     N ``epics.PV(name, callback=cb)``; RSS growth per connected monitored PV, then
                events delivered to the callbacks in a T-second window, events/s, process CPU
                per event, and the fraction of the IOC's updates that were delivered.
``batch``       epicsca only (PyEpics has no such API): one ``epics.batch.MonitorSet`` of the N
                counters, drained every ``--drain-period`` s in a T-second window; the same
                figures as ``monitor`` plus the events the set dropped (ring full).

Only names PyEpics 3.5 documents are used (``epics.ca.initialize_libca``, ``create_channel``,
``connect_channel``, ``isConnected``, ``epics.PV``, ``PV.get``, ``PV.wait_for_connection``,
``epics.caget``, ``epics.caget_many``), so any difference in the numbers is the library's.
Every wait is bounded by ``--timeout``; errors are reported as ``{"error": ...}`` in the JSON line.
"""
from __future__ import annotations

import sys
import time

# The import workload times ``import epics`` before this script imports anything else, so that
# modules the script needs (json, argparse, ...) are not counted for or against a library.
_IMPORT_RESULT = None
if __name__ == "__main__" and sys.argv[1:2] == ["import"]:
    try:
        _t0 = time.perf_counter()
        import epics  # noqa: F401
        _IMPORT_RESULT = time.perf_counter() - _t0
    except BaseException as _exc:  # reported by run_import
        _IMPORT_RESULT = _exc

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import traceback  # noqa: E402

#: Elements of the benchmark waveform (bench/ioc.py makes it).
WAVEFORM_ELEMENTS = 1_048_576
#: Each counter record adds 1 per scan at 10 Hz.
RATE_PER_RECORD = 10.0


def counter_name(prefix: str, i: int) -> str:
    """The i-th counter record's name (bench/ioc.py and the C programs use the same)."""
    return f"{prefix}c{i:05d}"


def rss_kb() -> float:
    """Current resident set size of this process in kB (from /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024.0


def _library_info(epics) -> dict:
    return {"epics_file": getattr(epics, "__file__", None),
            "epics_version": str(getattr(epics, "__version__", "?"))}


def _import_epics():
    """Import ``epics`` and make the first CA context, outside any timed section.

    ``from epics import ca`` is PyEpics's documented idiom and works whether or not a library's
    ``epics/__init__`` imports ``ca`` itself.
    """
    import epics
    from epics import ca
    ca.initialize_libca()
    return epics


def run_import(args) -> dict:
    if isinstance(_IMPORT_RESULT, BaseException):
        raise _IMPORT_RESULT
    if _IMPORT_RESULT is None:
        raise RuntimeError("the import workload must be run as the script's first argument")
    import epics
    t1 = time.perf_counter()
    from epics import ca  # a no-op in PyEpics; may import the module in a lazier library
    ca.initialize_libca()
    context_s = time.perf_counter() - t1
    return {"import_s": _IMPORT_RESULT, "context_s": context_s,
            "import_context_s": _IMPORT_RESULT + context_s, **_library_info(epics)}


def run_caget_many(args) -> dict:
    epics = _import_epics()
    names = [counter_name(args.prefix, i) for i in range(args.n)]
    t0 = time.perf_counter()
    values = epics.caget_many(names, connection_timeout=args.timeout)
    elapsed = time.perf_counter() - t0
    got = sum(v is not None for v in values)
    return {"n": args.n, "values": got, "caget_many_s": elapsed, **_library_info(epics)}


def run_connect(args) -> dict:
    epics = _import_epics()
    from epics import ca
    names = [counter_name(args.prefix, i) for i in range(args.n)]
    t0 = time.perf_counter()
    chids = [ca.create_channel(name) for name in names]
    t1 = time.perf_counter()
    deadline = time.monotonic() + args.timeout
    for chid in chids:
        ca.connect_channel(chid, timeout=max(0.01, deadline - time.monotonic()))
    t2 = time.perf_counter()
    connected = sum(bool(ca.isConnected(chid)) for chid in chids)
    return {"n": args.n, "connected": connected, "create_s": t1 - t0, "connect_s": t2 - t0,
            **_library_info(epics)}


def _timed_reads(read, reads: int, expected: int) -> tuple:
    """Call ``read()`` ``reads`` times; return (seconds per read, all data correct)."""
    times, ok = [], True
    for _ in range(reads):
        t0 = time.perf_counter()
        value = read()
        times.append(time.perf_counter() - t0)
        ok = bool(ok and value is not None and len(value) == expected
                  and value[-1] == expected - 1)
    return times, ok


def run_waveform(args) -> dict:
    epics = _import_epics()
    name = args.prefix + "wf"
    pv = epics.PV(name, auto_monitor=False)
    if not pv.wait_for_connection(timeout=args.timeout):
        raise TimeoutError(f"{name} did not connect in {args.timeout} s")
    count = pv.count
    t0 = time.perf_counter()
    pv.get(timeout=args.timeout)  # the first get also fetches what PV caches (not timed below)
    pv_first = time.perf_counter() - t0
    pv_times, pv_ok = _timed_reads(lambda: pv.get(timeout=args.timeout), args.reads, count)

    t0 = time.perf_counter()
    epics.caget(name, timeout=args.timeout, connection_timeout=args.timeout)  # connects, caches
    caget_first = time.perf_counter() - t0
    caget_times, caget_ok = _timed_reads(
        lambda: epics.caget(name, timeout=args.timeout, connection_timeout=args.timeout),
        args.reads, count)
    pv_median = statistics.median(pv_times)
    return {"count": count, "reads": args.reads, "data_ok": pv_ok and caget_ok,
            "pv_get_first_s": pv_first, "pv_get_best_s": min(pv_times),
            "pv_get_median_s": pv_median, "caget_first_s": caget_first,
            "caget_best_s": min(caget_times), "caget_median_s": statistics.median(caget_times),
            "mb_per_s": count * 8 / 1e6 / pv_median, **_library_info(epics)}


class _Slot:
    """Per-PV callback state: the callback copies the value out and counts the event.

    One slot per PV, so no two threads ever update the same counter (each library delivers one
    PV's events in order).
    """

    __slots__ = ("value", "events")

    def __init__(self) -> None:
        self.value = None
        self.events = 0

    def callback(self, pvname=None, value=None, **kws) -> None:
        self.value = value
        self.events += 1


def _sample(slots) -> tuple:
    """(events so far, the last value of each PV, None where it has none yet)."""
    return sum(slot.events for slot in slots), [slot.value for slot in slots]


def _produced(before, after) -> float:
    """Updates the IOC produced between two samples: each counter adds 1 per update.

    Only PVs with a value in both samples count (a PV whose first event came during the window
    would otherwise add its whole value).
    """
    return float(sum(b - a for a, b in zip(before, after) if a is not None and b is not None))


def run_monitor(args) -> dict:
    epics = _import_epics()
    # Warm up: one monitored PV on a record outside the measured set, so code and buffers that
    # every PV shares are loaded before the RSS baseline.
    warm_slot = _Slot()
    warm = epics.PV(args.prefix + "warm", callback=warm_slot.callback)
    warm.wait_for_connection(timeout=args.timeout)
    rss0 = rss_kb()

    slots = [_Slot() for _ in range(args.n)]
    t0 = time.perf_counter()
    pvs = [epics.PV(counter_name(args.prefix, i), callback=slots[i].callback)
           for i in range(args.n)]
    deadline = time.monotonic() + args.timeout
    for pv in pvs:
        pv.wait_for_connection(timeout=max(0.01, deadline - time.monotonic()))
    connected = sum(bool(pv.connected) for pv in pvs)
    # bounded wait for every PV's first monitor event
    for _ in range(int(args.timeout / 0.05) + 1):
        first = sum(slot.events > 0 for slot in slots)
        if first >= connected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    connect_s = time.perf_counter() - t0
    rss1 = rss_kb()

    time.sleep(args.settle)
    e0, s0 = _sample(slots)  # sampled outside the CPU window
    w0, c0 = time.perf_counter(), time.process_time()
    time.sleep(args.seconds)
    w1, c1 = time.perf_counter(), time.process_time()
    e1, s1 = _sample(slots)
    rss2 = rss_kb()
    events, window, cpu, produced = e1 - e0, w1 - w0, c1 - c0, _produced(s0, s1)
    return {"n": args.n, "connected": connected, "first_events": first,
            "connect_s": connect_s, "window_s": window, "events": events,
            "events_per_s": events / window, "cpu_s": cpu,
            "cpu_us_per_event": 1e6 * cpu / events if events else None,
            "produced": produced, "delivered_fraction": events / produced if produced else None,
            "expected_events": args.n * RATE_PER_RECORD * window,
            "rss_kb_per_pv": (rss1 - rss0) / args.n,
            "rss_kb_per_pv_end": (rss2 - rss0) / args.n, **_library_info(epics)}


def run_batch(args) -> dict:
    epics = _import_epics()
    import numpy as np
    from epics.batch import MonitorSet
    names = [counter_name(args.prefix, i) for i in range(args.n)]
    t0 = time.perf_counter()
    monitors = MonitorSet(names, capacity=args.capacity, dtype=float)
    monitors.wait_for_connection(timeout=args.timeout)
    connected = int(monitors.connected.sum())
    last = np.full(args.n, np.nan)
    deadline = time.monotonic() + args.timeout
    while np.isnan(last).sum() > args.n - connected and time.monotonic() < deadline:
        batch = monitors.drain(timeout=0.1)
        np.fmax.at(last, batch.index, batch.value)
    connect_s = time.perf_counter() - t0
    first = int((~np.isnan(last)).sum())
    time.sleep(args.settle)
    batch = monitors.drain()                     # the backlog of the settle time
    np.fmax.at(last, batch.index, batch.value)
    s0 = last.copy()
    dropped_before = int(monitors.dropped.sum())   # the ring overflows while 100k PVs connect
    events = 0
    w0, c0 = time.perf_counter(), time.process_time()
    end = w0 + args.seconds
    while time.perf_counter() < end:
        time.sleep(args.drain_period)
        batch = monitors.drain()
        np.fmax.at(last, batch.index, batch.value)   # the counters only grow: keep the max
        events += len(batch)
    w1, c1 = time.perf_counter(), time.process_time()
    dropped = int(monitors.dropped.sum()) - dropped_before
    window, cpu = w1 - w0, c1 - c0
    produced = _produced([None if np.isnan(v) else v for v in s0],
                         [None if np.isnan(v) else v for v in last])
    return {"n": args.n, "connected": connected, "first_events": first, "uses_c": monitors.uses_c,
            "connect_s": connect_s, "window_s": window, "events": events,
            "events_per_s": events / window, "cpu_s": cpu,
            "cpu_us_per_event": 1e6 * cpu / events if events else None, "dropped": dropped,
            "produced": produced, "delivered_fraction": events / produced if produced else None,
            "expected_events": args.n * RATE_PER_RECORD * window, **_library_info(epics)}


def _plain(obj):
    """JSON fallback for numpy scalars and anything else odd a library hands back."""
    item = getattr(obj, "item", None)
    return item() if callable(item) else repr(obj)


WORKLOADS = {"import": run_import, "caget_many": run_caget_many, "connect": run_connect,
             "waveform": run_waveform, "monitor": run_monitor, "batch": run_batch}


def main() -> int:
    parser = argparse.ArgumentParser(description="One benchmark workload; prints one JSON line.")
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--tool", default="python", help="label copied into the output")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="monitor window")
    parser.add_argument("--settle", type=float, default=1.0, help="pause before the window")
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--capacity", type=int, default=2_000_000, help="batch ring size")
    parser.add_argument("--drain-period", type=float, default=0.05, help="batch drain period")
    parser.add_argument("--timeout", type=float, default=60.0, help="bound on every wait")
    args = parser.parse_args()
    out = {"tool": args.tool, "workload": args.workload}
    status = 0
    try:
        out.update(WORKLOADS[args.workload](args))
    except BaseException as exc:  # reported to the harness, which never crashes on it
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc(limit=8)
        status = 1
    sys.stdout.write(json.dumps(out, default=_plain) + "\n")
    sys.stdout.flush()
    # Skip the library's exit handlers: shutdown is not measured and must not eat the timeout.
    os._exit(status)


if __name__ == "__main__":
    main()
