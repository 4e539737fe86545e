"""Benchmark of epics.archiver: N PVs at 10 Hz archived into SQLite, and the plot query.

1. Archiving: the benchmark IOC (bench/ioc.py: N ``calc`` counters, each adding 1 every 0.1 s)
   is archived by an in-process :class:`epics.archiver.Engine` into a fresh SQLite file for a
   window of ``--seconds``. Then the engine stops (writing what waits) and, per PV, the number of
   samples stored is compared with the number of updates the IOC served between the first and
   the last stored value (last - first + 1, since each update adds exactly 1): the difference is
   what was lost (the engine stops with ``disconnect=False``, as the CLI does: clearing 10,000
   subscriptions one by one under a full stream of updates is slow, see the docs). The engine
   process's CPU (user + system, in cores) and RSS are reported, and
   the most samples that waited for the database at once.
2. Query: one day of 1 Hz samples (86,400) of one PV in SQLite; the plot's query (min/max per
   bucket, 1,000 buckets, in SQL) and the raw read are timed, best and median of ``--reps``.

The machine is small and shared with other work: the figures are one run's, not a
specification. Nothing here is a test.

    python bench/archiver.py                 # N=10,000, 20 s window
    python bench/archiver.py --n 1000 --seconds 5
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from ioc import counter_name, make_ioc, write_db  # noqa: E402

DAY = 86_400


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_archiving(n: int, seconds: float, timeout: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="epics-archiver-bench-"))
    prefix = f"arb{os.getpid()}:"
    db = write_db(folder / "bench.db", prefix, n)
    with make_ioc(db) as ioc:
        os.environ.update(ioc.client_env())
        from epics.archiver import Engine, EngineSettings, PvPolicy, open_storage
        names = [counter_name(prefix, i) for i in range(n)]
        url = f"sqlite:///{folder / 'archive.db'}"
        settings = EngineSettings(flush_interval=0.5, batch_size=50_000, max_buffered=5_000_000)
        rss_before = rss_mb()
        engine = Engine([PvPolicy(name, max_interval=3600.0) for name in names],
                        open_storage(url), settings)
        started = time.monotonic()
        engine.start()
        deadline = started + timeout
        while engine.status().connected < n and time.monotonic() < deadline:
            time.sleep(0.1)
        connect_time = time.monotonic() - started
        time.sleep(2.0)   # the first values and the metadata reads settle
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        most_waiting = 0
        while time.monotonic() - wall0 < seconds:
            time.sleep(0.5)
            most_waiting = max(most_waiting, engine.status().buffered)
        cpu = (cpu_seconds() - cpu0) / (time.monotonic() - wall0)
        rss_end = rss_mb()
        stop0 = time.monotonic()
        engine.stop(timeout=timeout, disconnect=False)
        stop_time = time.monotonic() - stop0
        status = engine.status()
    storage = open_storage(url)
    rows = storage._run(lambda c: c.execute(
        "SELECT pvs.name, COUNT(*), MIN(value), MAX(value) FROM samples JOIN pvs ON "
        "pvs.id = samples.pv_id WHERE value IS NOT NULL GROUP BY pvs.name").fetchall())
    stored = sum(count for _, count, _, _ in rows)
    served = sum(int(high - low) + 1 for _, _, low, high in rows)
    storage.close()
    return {"pvs": n, "connected": status.connected, "window_s": seconds,
            "connect_s": round(connect_time, 2), "samples_stored": stored,
            "updates_served": served, "updates_received": status.received,
            "lost_in_storage": status.received - stored if status.received >= stored else None,
            "not_delivered_by_ca": served - status.received,
            "samples_per_s_while_archiving": round(stored / (stop0 - started), 0),
            "engine_cpu_cores": round(cpu, 2), "rss_mb_before": round(rss_before, 1),
            "rss_mb_end": round(rss_end, 1), "most_waiting_for_db": most_waiting,
            "dropped": status.dropped, "stop_s": round(stop_time, 2),
            "db_mb": round((folder / "archive.db").stat().st_size / 2**20, 1)}


def bench_query(reps: int) -> dict:
    from epics.archiver import Sample, open_storage
    from epics.archiver.retrieval import plot_data
    folder = Path(tempfile.mkdtemp(prefix="epics-archiver-query-"))
    storage = open_storage(f"sqlite:///{folder / 'day.db'}")
    end = time.time_ns()
    start = end - DAY * 10**9
    storage.write([Sample("S:day", start + i * 10**9, float(i % 977), None, 0, 0)
                   for i in range(DAY)])
    storage.write([Sample("S:other", start + i * 10**9, 1.0) for i in range(0, DAY, 10)])

    def timed(function) -> list:
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            function()
            times.append((time.perf_counter() - t0) * 1000)
        return times

    buckets = timed(lambda: storage.buckets("S:day", start, end, 1000))
    plot = timed(lambda: plot_data(storage, "S:day", start, end, 1000))
    raw = timed(lambda: storage.samples("S:day", start, end, 10**6))
    storage.close()
    summary = lambda t: {"best_ms": round(min(t), 1), "median_ms": round(statistics.median(t), 1)}  # noqa: E731
    return {"samples": DAY, "buckets_sql_1000": summary(buckets),
            "plot_data_1000": summary(plot), "raw_read_86400": summary(raw)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--only", choices=["archiving", "query"])
    args = parser.parse_args()
    results = {"machine": f"{os.cpu_count()} cores, shared with other work during the run"}
    if args.only != "archiving":
        results["query"] = bench_query(args.reps)
        print(json.dumps({"query": results["query"]}), file=sys.stderr, flush=True)
    if args.only != "query":
        results["archiving"] = bench_archiving(args.n, args.seconds, args.timeout)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
