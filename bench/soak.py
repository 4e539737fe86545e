"""Soak: a long run of monitor events and PV create/clear cycles, watching resident memory.

Usage::

    python bench/soak.py                                 # 1,000,000 events, 10,000 cycles
    python bench/soak.py --events 50000 --cycles 1000    # the short version tests/test_soak.py runs

What it does (see bench/SOAK.md):

1. starts an IOC (``epics.testing.SoftIoc``) on a loopback port with ``--records`` counter records
   (``calc``, ``SCAN ".1 second"``: ``--records`` x 10 monitor events per second) and
   ``--batch`` passive records for the create/clear cycles;
2. monitors every counter with ``epics.PV(name, callback=...)`` (the callback counts events);
3. meanwhile the main thread runs create/clear cycles, ``--batch`` at a time: PV objects made,
   connected, read with ``PV.get()``, then ``disconnect()``-ed, which clears their channels (the
   next batch makes new channels for the same names);
4. warm-up: ``--warmup-events`` events and ``--warmup-cycles`` cycles, then ``gc.collect()`` and
   the baseline resident set size (RSS);
5. the measured phase: ``--events`` more events and ``--cycles`` more cycles, then
   ``gc.collect()`` and the final RSS. The growth (final minus baseline) must stay under
   ``--limit-mb`` (5 MB).

Progress goes to stderr; the result is one JSON line on stdout. Every wait is bounded: the whole
run gives up after ``--timeout`` seconds (reported as ``"timed_out": true``). Exit status 0 when
both counts were reached in time and the growth is under the limit, 1 otherwise (2 for a usage or
start-up error).

The environment: the script sets the CA client variables (``EPICS_CA_ADDR_LIST`` etc.) for its own
IOC before Channel Access starts, so it needs nothing from the caller; ``--port`` and
``--repeater-port`` choose the ports (a free one each by default).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:   # run from a checkout: use this repo's epics
    sys.path.insert(0, str(REPO))

#: Events per second of one counter record (SCAN ".1 second").
RATE_PER_RECORD = 10.0
#: Seconds between progress lines on stderr.
PROGRESS_INTERVAL = 5.0
#: Seconds a batch of PVs may take to connect and answer.
BATCH_TIMEOUT = 30.0
#: Seconds the IOC may take to start (a big database on a busy machine).
START_TIMEOUT = 120.0


def rss_bytes() -> int:
    """The resident set size of this process, in bytes (Linux: /proc/self/statm)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best we have
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def note(message: str) -> None:
    sys.stderr.write(f"[soak {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def make_db(records: int, cycle_records: int) -> str:
    """Counter records ``$(P)c00000``.. and passive records ``$(P)k00000``.. for the cycles."""
    lines = []
    for i in range(records):
        lines.append(f'record(calc, "$(P)c{i:05d}") {{\n    field(SCAN, ".1 second")\n'
                     f'    field(CALC, "A+1")\n    field(INPA, "$(P)c{i:05d} NPP")\n}}\n')
    for i in range(cycle_records):
        lines.append(f'record(ao, "$(P)k{i:05d}") {{\n    field(PINI, "YES")\n'
                     f'    field(VAL, "{i}")\n}}\n')
    return "".join(lines)


class EventCounter:
    """The monitor callback: counts events (it runs on the library's dispatcher thread) and
    wakes a waiter once the count reaches the waiter's target."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.reached = threading.Event()

    def __call__(self, value: Any = None, **kwargs: Any) -> None:
        self.count += 1
        if self.count >= self.target:
            self.reached.set()

    def wait_for(self, target: int, deadline: float) -> bool:
        """Wait until ``target`` events were counted; False if the deadline passed first."""
        self.target = target
        while self.count < target:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.reached.clear()
            if self.count >= target:
                break
            self.reached.wait(min(remaining, 1.0))   # re-checked at least once a second
        return True


def run_cycles(prefix: str, names: List[str], batches: int, stats: Dict[str, int],
               deadline: float) -> bool:
    """Run ``batches`` batches of create/connect/get/disconnect; False if the deadline passed."""
    from epics import PV
    for _ in range(batches):
        if time.monotonic() >= deadline:
            return False
        pvs = [PV(name) for name in names]
        for thispv in pvs:
            if not thispv.wait_for_connection(timeout=min(BATCH_TIMEOUT, max(
                    0.1, deadline - time.monotonic()))):
                stats["not_connected"] += 1
            elif thispv.get(timeout=BATCH_TIMEOUT) is None:
                stats["no_value"] += 1
        for thispv in pvs:
            thispv.disconnect()
        stats["cycles"] += len(pvs)
        del pvs
    return True


def soak(args: argparse.Namespace, prefix: str) -> Dict[str, Any]:
    """The soak itself, once the IOC runs and the environment points at it."""
    import epics
    from epics import PV

    result: Dict[str, Any] = {"name": "soak", "records": args.records, "batch": args.batch,
                              "limit_mb": args.limit_mb}
    start = time.monotonic()
    deadline = start + args.timeout
    rss_start = rss_bytes()
    counter = EventCounter()
    counter_names = [f"{prefix}c{i:05d}" for i in range(args.records)]
    cycle_names = [f"{prefix}k{i:05d}" for i in range(args.batch)]
    monitors = [PV(name, callback=counter) for name in counter_names]
    for thispv in monitors:
        if not thispv.wait_for_connection(timeout=max(0.1, deadline - time.monotonic())):
            raise RuntimeError(f"{thispv.pvname} did not connect")
    note(f"{args.records} monitors connected after {time.monotonic() - start:.1f} s "
         f"(about {args.records * RATE_PER_RECORD:,.0f} events/s)")
    stats = {"cycles": 0, "not_connected": 0, "no_value": 0}
    timed_out = False

    # warm-up: both kinds of work, until both counts are reached
    in_time = run_cycles(prefix, cycle_names, -(-args.warmup_cycles // args.batch), stats,
                         deadline)
    in_time = in_time and counter.wait_for(args.warmup_events, deadline)
    if not in_time:
        timed_out = True
    gc.collect()
    baseline = rss_bytes()
    events_at_baseline, cycles_at_baseline = counter.count, stats["cycles"]
    measured_start = time.monotonic()
    note(f"warm-up done: {events_at_baseline:,} events, {cycles_at_baseline:,} cycles; "
         f"baseline RSS {baseline / 1e6:.2f} MB")

    # the measured phase: cycles in this thread while events arrive, paced so that both spread
    # over the whole phase (a batch runs whenever the cycles are behind the events' progress)
    rss_max = baseline
    next_progress = time.monotonic() + PROGRESS_INTERVAL
    target_events = events_at_baseline + args.events
    target_cycles = cycles_at_baseline + args.cycles
    while not timed_out and (counter.count < target_events or stats["cycles"] < target_cycles):
        if time.monotonic() >= deadline:
            timed_out = True
            break
        events_done = (counter.count - events_at_baseline) / args.events
        cycles_done = (stats["cycles"] - cycles_at_baseline) / args.cycles
        if stats["cycles"] < target_cycles and (cycles_done <= events_done
                                                or counter.count >= target_events):
            if not run_cycles(prefix, cycle_names, 1, stats, deadline):
                timed_out = True
        else:
            step = max(1, args.events * args.batch // args.cycles)
            counter.wait_for(min(target_events, counter.count + step), deadline)
        rss_max = max(rss_max, rss_bytes())
        if time.monotonic() >= next_progress:
            next_progress = time.monotonic() + PROGRESS_INTERVAL
            note(f"{counter.count - events_at_baseline:,}/{args.events:,} events, "
                 f"{stats['cycles'] - cycles_at_baseline:,}/{args.cycles:,} cycles, RSS "
                 f"{rss_bytes() / 1e6:.2f} MB (+{(rss_bytes() - baseline) / 1e6:.2f})")
    measured_seconds = time.monotonic() - measured_start
    events_measured = counter.count - events_at_baseline
    cycles_measured = stats["cycles"] - cycles_at_baseline
    gc.collect()
    final = rss_bytes()
    rss_max = max(rss_max, final)
    growth_mb = (final - baseline) / 1e6
    for thispv in monitors:
        thispv.disconnect()
    result.update({
        "events": events_measured, "cycles": cycles_measured,
        "warmup_events": events_at_baseline, "warmup_cycles": cycles_at_baseline,
        "events_target": args.events, "cycles_target": args.cycles,
        "not_connected": stats["not_connected"], "no_value": stats["no_value"],
        "rss_start_mb": round(rss_start / 1e6, 3), "rss_baseline_mb": round(baseline / 1e6, 3),
        "rss_final_mb": round(final / 1e6, 3), "rss_max_mb": round(rss_max / 1e6, 3),
        "rss_growth_mb": round(growth_mb, 3),
        "measured_seconds": round(measured_seconds, 1),
        "events_per_s": round(events_measured / measured_seconds) if measured_seconds else None,
        "seconds": round(time.monotonic() - start, 1), "timed_out": timed_out,
        "epics": os.path.dirname(epics.__file__),
    })
    result["ok"] = (not timed_out and events_measured >= args.events
                    and cycles_measured >= args.cycles and growth_mb < args.limit_mb
                    and stats["not_connected"] == 0 and stats["no_value"] == 0)
    return result


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000,
                   help="monitor events in the measured phase (default 1,000,000)")
    p.add_argument("--cycles", type=int, default=10_000,
                   help="PV create/clear cycles in the measured phase (default 10,000)")
    p.add_argument("--warmup-events", type=int, default=None,
                   help="events before the baseline (default: a tenth of --events)")
    p.add_argument("--warmup-cycles", type=int, default=None,
                   help="cycles before the baseline (default: a tenth of --cycles)")
    p.add_argument("--records", type=int, default=2000,
                   help="monitored counter records, 10 events/s each (default 2000)")
    p.add_argument("--batch", type=int, default=100,
                   help="PV objects created and cleared together (default 100)")
    p.add_argument("--limit-mb", type=float, default=5.0,
                   help="largest RSS growth after warm-up that passes (default 5 MB)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds the whole run may take (default 600)")
    p.add_argument("--port", type=int, default=None, help="the IOC's port (default: a free one)")
    p.add_argument("--repeater-port", type=int, default=None,
                   help="the CA repeater port (default: a free one)")
    args = p.parse_args(argv)
    if args.warmup_events is None:
        args.warmup_events = max(1, args.events // 10)
    if args.warmup_cycles is None:
        args.warmup_cycles = max(args.batch, args.cycles // 10)
    if min(args.events, args.cycles, args.records, args.batch) < 1 or args.timeout <= 0:
        p.error("counts, --records and --batch must be positive, --timeout too")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from epics.testing import SoftIoc, free_port, unique_prefix   # does not start CA

    prefix = unique_prefix("soak")
    port = args.port if args.port is not None else free_port()
    repeater_port = args.repeater_port if args.repeater_port is not None else free_port()
    ioc = SoftIoc(make_db(args.records, args.batch), macros={"P": prefix}, port=port,
                  repeater_port=repeater_port, start_timeout=START_TIMEOUT)
    try:
        started = time.monotonic()
        ioc.start()
        note(f"IOC with {args.records + args.batch} records on port {port} started in "
             f"{time.monotonic() - started:.1f} s")
        os.environ.update(ioc.client_env())   # before CA starts: libca reads it once
        result = soak(args, prefix)
    except Exception as exc:   # reported in the JSON line
        result = {"name": "soak", "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        ioc.stop()
    print(json.dumps(result), flush=True)
    note(f"RSS growth after warm-up: {result.get('rss_growth_mb')} MB (limit "
         f"{args.limit_mb} MB) over {result.get('events')} events and {result.get('cycles')} "
         f"cycles: {'OK' if result.get('ok') else 'FAILED'}")
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
