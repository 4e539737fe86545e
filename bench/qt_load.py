"""Load of epics.qt: N widgets (PVLabel) on N PVs each updating at 10 Hz.

Measures, over a window of ``--seconds``:

* the GUI event loop's latency: a 10 ms QTimer notes how late each tick runs (median, 95th
  percentile, max) -- what a user feels as a sluggish GUI;
* the CPU used by this process (user + system, as % of one core) and by the IOC;
* the updates the channels received from CA and the deliveries (repaints) the pump made.

Run::

    python bench/qt_load.py                  # 1,000 widgets, 10 s
    python bench/qt_load.py --n 200 --seconds 5 --max-rate 5

The IOC is a softioc (epics.testing.SoftIoc) on a free loopback port with N ``calc`` records
scanned at 10 Hz (each scan adds 1, so each posts a monitor). Qt runs offscreen unless
QT_QPA_PLATFORM is set; all widgets are in one window large enough to show every one of them, so
each delivery is a real repaint. Prints one JSON line (and a summary on stderr).

Threads: the main thread is the GUI thread; CA callbacks run on the library's dispatcher thread.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from epics.testing import PortPool, SoftIoc, unique_prefix  # noqa: E402

TICK_MS = 10


def database(n: int) -> str:
    return "\n".join(f'record(calc, "$(P)c{i:05d}") {{ field(SCAN, ".1 second") '
                     f'field(CALC, "VAL+1") field(PREC, "0") field(EGU, "cts") }}'
                     for i in range(n))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (a server may run under a
    guard process), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu_seconds(int(child)) for child in children)


def run(n: int, seconds: float, max_rate: float, columns: int, freeze: bool = False,
        budget_ms: Optional[float] = None) -> dict:
    pool = PortPool(1)
    pool.apply()                       # the client environment, before the first CA context
    port = pool.take()
    prefix = unique_prefix("qtl")
    with SoftIoc(database(n), macros={"P": prefix}, port=port,
                 repeater_port=pool.repeater_port) as ioc:
        from qtpy.QtCore import QElapsedTimer, Qt, QTimer
        from qtpy.QtWidgets import QApplication, QGridLayout, QWidget

        from epics.qt import PVLabel
        from epics.qt._updates import pump

        app = QApplication.instance() or QApplication([])
        if budget_ms is not None:
            pump().budget = budget_ms / 1000.0
        window = QWidget()
        grid = QGridLayout(window)
        grid.setSpacing(1)
        labels = []
        for i in range(n):
            label = PVLabel(f"{prefix}c{i:05d}", max_rate=max_rate)
            label.setMinimumWidth(60)
            grid.addWidget(label, i // columns, i % columns)
            labels.append(label)
        window.resize(columns * 64, (n // columns + 1) * 20)
        window.show()

        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline and not all(label.connected for label in labels):
            app.processEvents()
            time.sleep(0.01)
        connected = sum(label.connected for label in labels)

        lateness = []
        clock = QElapsedTimer()
        state = {"last": None}

        def tick() -> None:
            now = clock.elapsed()
            if state["last"] is not None:
                lateness.append(max(0, now - state["last"] - TICK_MS))
            state["last"] = now

        if freeze:   # what an application may do once its window is built (see docs/qt.rst)
            gc.freeze()
        gc_pauses = []
        gc_generations = []
        gc_start = {}

        def gc_watch(phase: str, info: dict) -> None:
            if phase == "start":
                gc_start["t"] = time.perf_counter()
            elif "t" in gc_start:
                gc_pauses.append((time.perf_counter() - gc_start.pop("t")) * 1000)
                gc_generations.append(info.get("generation"))

        gc.callbacks.append(gc_watch)
        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.timeout.connect(tick)
        received0 = sum(label.channel.updates_received for label in labels)
        deliveries0 = pump().deliveries
        cpu0, ioc_cpu0, wall0 = time.process_time(), process_cpu_seconds(ioc.pid), \
            time.monotonic()
        clock.start()
        timer.start(TICK_MS)
        QTimer.singleShot(int(seconds * 1000), app.quit)
        app.exec()
        timer.stop()
        gc.callbacks.remove(gc_watch)
        wall = time.monotonic() - wall0
        cpu = time.process_time() - cpu0
        ioc_cpu = process_cpu_seconds(ioc.pid) - ioc_cpu0
        received = sum(label.channel.updates_received for label in labels) - received0
        deliveries = pump().deliveries - deliveries0
        pump_budget = pump().budget
        for label in labels:
            label.close_pv()
        window.deleteLater()
        app.processEvents()
    lateness.sort()
    return {
        "widgets": n, "connected": connected, "gc_freeze": freeze, "seconds": round(wall, 2),
        "max_rate": max_rate, "flush_budget_ms": round(pump_budget * 1000.0, 3),
        "updates_per_s": round(received / wall), "repaints_per_s": round(deliveries / wall),
        "latency_ms_median": statistics.median(lateness) if lateness else None,
        "latency_ms_p95": lateness[int(0.95 * (len(lateness) - 1))] if lateness else None,
        "latency_ms_max": lateness[-1] if lateness else None,
        "ticks": len(lateness),
        "gc_runs": len(gc_pauses), "gc_pause_ms_max": round(max(gc_pauses, default=0), 1),
        "gc_runs_by_generation": [gc_generations.count(g) for g in range(3)],
        "cpu_percent": round(100 * cpu / wall, 1),
        "ioc_cpu_percent": round(100 * ioc_cpu / wall, 1),
        "cpus": os.cpu_count(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="widgets and PVs")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--max-rate", type=float, default=20.0,
                        help="repaints per second per widget at most")
    parser.add_argument("--columns", type=int, default=40)
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() once the widgets are built (fewer, shorter GC pauses)")
    parser.add_argument("--budget-ms", type=float, default=None,
                        help="the pump's flush budget (default epics.qt._updates.FLUSH_BUDGET)")
    args = parser.parse_args(argv)
    result = run(args.n, args.seconds, args.max_rate, args.columns, args.gc_freeze,
                 args.budget_ms)
    print(json.dumps(result))
    print(f"{result['widgets']} widgets ({result['connected']} connected): "
          f"{result['updates_per_s']} updates/s in, {result['repaints_per_s']} repaints/s; "
          f"event-loop latency median {result['latency_ms_median']} ms, "
          f"p95 {result['latency_ms_p95']} ms, max {result['latency_ms_max']} ms; "
          f"CPU {result['cpu_percent']}% of a core (IOC {result['ioc_cpu_percent']}%)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
