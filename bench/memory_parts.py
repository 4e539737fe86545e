"""Where the Python bytes of monitored PVs go, by line of code (tracemalloc).

Usage::

    python bench/memory_parts.py [--n 10000] [--top 25]

Starts the benchmark IOC (bench/ioc.py) with N counters, creates N monitored ``PV`` objects,
waits for them to connect and update, and prints the bytes and objects per PV that each line
of code allocated between a snapshot before and one after. bench/README.md ("Where the time and
memory go") groups the result. Runs on the main thread; the waits are bounded (60 s to connect);
the IOC is stopped on the way out, also on failure.
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ioc as bench_ioc  # noqa: E402

CONNECT_DEADLINE = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    prefix = "memparts:"
    folder = Path(tempfile.mkdtemp(prefix="epicsca-memparts-"))
    server = bench_ioc.LocalIoc(bench_ioc.write_db(folder / "memparts.db", prefix, args.n))
    server.start()
    try:
        os.environ.update(server.client_env())
        import epics
        warm = epics.PV(prefix + "warm")
        warm.wait_for_connection(10)
        warm.get()
        gc.collect()
        tracemalloc.start(1)
        before = tracemalloc.take_snapshot()
        pvs = [epics.PV(bench_ioc.counter_name(prefix, i), auto_monitor=True)
               for i in range(args.n)]
        deadline = time.monotonic() + CONNECT_DEADLINE
        while time.monotonic() < deadline and not all(pv.connected for pv in pvs):
            time.sleep(0.2)
        time.sleep(1.0)   # an update or more for each
        gc.collect()
        after = tracemalloc.take_snapshot()
        stats = after.compare_to(before, "lineno")
        connected = sum(pv.connected for pv in pvs)
        total = sum(stat.size_diff for stat in stats)
        print(f"{connected} of {args.n} connected; {total / args.n:.0f} Python bytes per PV "
              f"(the list holding the PVs included)")
        for stat in stats[:args.top]:
            print(f"{stat.size_diff / args.n:8.1f} B/PV {stat.count_diff / args.n:6.2f} objects/PV"
                  f"  {stat.traceback[0]}")
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
