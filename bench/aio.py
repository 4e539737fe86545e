"""epics.aio against synchronous epicsca and aioca 2.1, side by side on one IOC.

Measures, for N counter PVs (bench/ioc.py's database: each changes every 0.1 s, so N=10,000 make
about 100,000 events/s):

* ``read``: the best of R rounds of reading all N PVs at once: ``epics.caget_many`` (sync),
  ``await epics.aio.caget(list)``, ``await aioca.caget(list)``;
* ``monitor``: a camonitor on all N for S seconds (``all_updates=True``: every update is
  delivered, none merged), with a plain callback that counts; CPU time of the client process per
  delivered event, and the rate of updates delivered over the rate the IOC produced them (read
  from the counters before and after the window; roughly, as the reads take time).

Each tool runs in its own process (aioca from ``bench/.venv-aioca``, a venv with only aioca 2.1
and its dependencies, so it never sees this repo and this repo never sees it). The machine is small
and shared: compare the ratios of one run, not absolute figures. Nothing here is a test.

    python bench/aio.py                     # N=10,000, 5 reads, 10 s monitor window
    python bench/aio.py --n 1000 --seconds 2 --reads 3     # quick
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
AIOCA_PYTHON = HERE / ".venv-aioca" / "bin" / "python"


def counter_names(prefix: str, n: int) -> list:
    return [f"{prefix}c{i:05d}" for i in range(n)]


# --- the child processes: one tool each; they print one JSON line ------------------------------

def child_sync(names: list, reads: int, seconds: float, timeout: float) -> dict:
    import epics
    from epics import ca
    best = float("inf")
    values = epics.caget_many(names, timeout=timeout)       # connects (not timed)
    assert sum(v is not None for v in values) == len(names), "sync: not every PV read"
    for _ in range(reads):
        started = time.perf_counter()
        values = epics.caget_many(names, timeout=timeout)
        best = min(best, time.perf_counter() - started)
    assert sum(v is not None for v in values) == len(names)
    count = [0]

    def on_update(**kwargs):
        count[0] += 1
    chids = [ca.create_channel(name) for name in names]
    subscriptions = [ca.create_subscription(chid, callback=on_update) for chid in chids]
    read_at = time.monotonic()
    first = epics.caget_many(names, timeout=timeout)
    first_at = (read_at + time.monotonic()) / 2
    cpu, wall, before = time.process_time(), time.monotonic(), count[0]
    time.sleep(seconds)
    events = count[0] - before
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    read_at = time.monotonic()
    last = epics.caget_many(names, timeout=timeout)
    span = (read_at + time.monotonic()) / 2 - first_at
    for subscription in subscriptions:
        ca.clear_subscription(subscription)
    return dict(read_s=best, events=events, cpu_s=cpu, wall_s=wall,
                produced_per_s=sum(b - a for a, b in zip(first, last)) / span)


def child_async(module: str, names: list, reads: int, seconds: float, timeout: float) -> dict:
    import asyncio
    aio = __import__(module, fromlist=["caget"])

    async def main() -> dict:
        values = await aio.caget(names, timeout=timeout)     # connects (not timed)
        best = float("inf")
        for _ in range(reads):
            started = time.perf_counter()
            values = await aio.caget(names, timeout=timeout)
            best = min(best, time.perf_counter() - started)
        assert len(values) == len(names)
        count = [0]

        def on_update(value, index):
            count[0] += 1
        subscriptions = aio.camonitor(names, on_update, all_updates=True)
        while count[0] < len(names):            # every subscription made and first update in
            await asyncio.sleep(0.05)
        read_at = time.monotonic()
        first = await aio.caget(names, timeout=timeout)
        first_at = (read_at + time.monotonic()) / 2
        cpu, wall, before = time.process_time(), time.monotonic(), count[0]
        await asyncio.sleep(seconds)
        events = count[0] - before
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        read_at = time.monotonic()
        last = await aio.caget(names, timeout=timeout)
        span = (read_at + time.monotonic()) / 2 - first_at
        measured.update(read_s=best, events=events, cpu_s=cpu, wall_s=wall,
                        produced_per_s=sum(b - a for a, b in zip(first, last)) / span)
        for subscription in subscriptions:
            subscription.close()
        return measured

    measured: dict = {}
    try:
        return asyncio.run(asyncio.wait_for(main(), timeout * 10 + seconds * 2))
    except RuntimeError as exc:    # a failure of the tool's own shutdown, after the measures
        if not measured:
            raise
        measured["shutdown_error"] = repr(exc)
        return measured


def child(argv: list) -> int:
    tool, prefix, n, reads, seconds, timeout = argv[0], argv[1], int(argv[2]), int(argv[3]), \
        float(argv[4]), float(argv[5])
    names = counter_names(prefix, n)
    if tool == "sync":
        result = child_sync(names, reads, seconds, timeout)
    else:
        result = child_async("epics.aio" if tool == "epics.aio" else "aioca", names, reads,
                             seconds, timeout)
    result["tool"] = tool
    print(json.dumps(result), flush=True)
    return 0


# --- the parent: IOC, children, table ------------------------------------------------------------

def run_tool(tool: str, python: str, env: dict, args, prefix: str) -> dict:
    argv = [python, str(Path(__file__).resolve()), "--child", tool, prefix, str(args.n),
            str(args.reads), str(args.seconds), str(args.timeout)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True,
                          timeout=args.timeout * 20 + args.seconds * 3 + 120)
    if done.returncode != 0:
        return {"tool": tool, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--tools", default="sync,epics.aio,aioca")
    args = parser.parse_args()
    from ioc import make_ioc, write_db
    prefix = f"aiobench{os.getpid()}:"
    with tempfile.TemporaryDirectory() as tmp:
        db = write_db(Path(tmp) / "bench.db", prefix, args.n)
        with make_ioc(db) as ioc:
            env = dict(os.environ)
            env.update(ioc.client_env())
            results = []
            for tool in args.tools.split(","):
                if tool == "aioca" and not AIOCA_PYTHON.exists():
                    print(f"aioca: skipped (make {AIOCA_PYTHON.parent.parent} with "
                          "`python -m venv bench/.venv-aioca && bench/.venv-aioca/bin/pip "
                          "install aioca==2.1`)", file=sys.stderr)
                    continue
                python = str(AIOCA_PYTHON) if tool == "aioca" else sys.executable
                tool_env = dict(env)
                if tool != "aioca":
                    tool_env["PYTHONPATH"] = str(HERE.parent)
                print(f"running {tool}...", file=sys.stderr, flush=True)
                results.append(run_tool(tool, python, tool_env, args, prefix))
    print(f"N={args.n} PVs, best of {args.reads} reads, {args.seconds:g} s monitor window "
          "(shared machine: compare ratios within one run)")
    print(f"{'tool':10} {'read all (ms)':>14} {'events/s':>10} {'delivered':>10} "
          f"{'CPU us/event':>13}")
    for r in results:
        if "error" in r:
            print(f"{r['tool']:10} failed: {r['error']}")
            continue
        print(f"{r['tool']:10} {r['read_s'] * 1e3:14.1f} {r['events'] / r['wall_s']:10.0f} "
              f"{r['events'] / r['wall_s'] / max(1.0, r['produced_per_s']):10.1%} "
              f"{r['cpu_s'] / max(1, r['events']) * 1e6:13.2f}"
              + (f"  (then at shutdown: {r['shutdown_error']})" if "shutdown_error" in r else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
