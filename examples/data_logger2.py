#!/usr/bin/env python
"""Data Logger #2: print all 6 values of a prefix whenever any of them changes.

The exercise (PyEpics class): "Modify your program [Data Logger #1] to print out all 6 values
when any of them changes."

Start the simulated beamline first (``python -m epics.sim``) and set, in this shell, the
``EPICS_CA_*`` variables it prints; then::

    python examples/data_logger2.py                  # id01, for 10 s
    python examples/data_logger2.py --prefix id03 --duration 30

How: each PV gets a callback, run by the library on its dispatcher thread each time the IOC
sends a new value. The callback does the minimum (it records the value and queues a snapshot of
all six); the main thread prints, so a slow terminal never holds up the updates. A '*' marks the
value that changed. The first value of each PV arrives as a monitor update too: rows start once
all six are known.
"""
from __future__ import annotations

import argparse
import queue
import sys
import time
from datetime import datetime
from typing import Any, Dict, List, Optional

from epics import PV

#: The six PVs of each prefix, in column order.
FIELDS = ("dval1", "dval2", "dval3", "ival1", "ival2", "ival3")
COLUMN = 11     # width of a value column (one more than Data Logger #1's, for the '*')


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Data Logger #2: print PREFIX:dval1..3 and "
                                                 "PREFIX:ival1..3 whenever one changes.")
    parser.add_argument("--prefix", default="id01", help="PV prefix (default %(default)s)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds to log (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the PVs to connect (default %(default)s)")
    args = parser.parse_args(argv)
    if args.duration < 0:
        parser.error("--duration must be >= 0")
    return args


def format_value(value: Any, precision: Optional[int], changed: bool) -> str:
    """A value right-aligned in its column; doubles with the PV's precision; '*' if it changed."""
    mark = "*" if changed else " "
    if isinstance(value, float):
        text = f"{value:.{precision if precision is not None else 4}f}"
    else:
        text = str(value)
    return f"{text + mark:>{COLUMN}}"


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    names = [f"{args.prefix}:{field}" for field in FIELDS]
    latest: Dict[str, Any] = {}
    changes: "queue.Queue[tuple]" = queue.Queue()

    def on_change(pvname: Optional[str] = None, value: Any = None,
                  timestamp: Optional[float] = None, **kws: Any) -> None:
        # All callbacks run on the library's one dispatcher thread, in order: `latest` is only
        # touched here, so it needs no lock. The main thread gets copies through the queue.
        latest[pvname] = value
        changes.put((timestamp, pvname, dict(latest)))

    pvs = [PV(name, callback=on_change) for name in names]
    deadline = time.monotonic() + args.timeout
    missing = [pv.pvname for pv in pvs
               if not pv.wait_for_connection(timeout=max(0.0, deadline - time.monotonic()))]
    if missing:
        print(f"data_logger2: not connected after {args.timeout} s: {', '.join(missing)}\n"
              "Is the simulator running (python -m epics.sim), with its EPICS_CA_* variables "
              "set in this shell?", file=sys.stderr)
        return 1
    precision = {pv.pvname: (pv.get_ctrlvars() or {}).get("precision") for pv in pvs}

    print(f"Data Logger #2: {args.prefix}:dval1..3 and ival1..3 on every change, for "
          f"{args.duration:g} s ('*' marks the value that changed)")
    print(f"{'time':<12}" + "".join(f"{field:>{COLUMN}}" for field in FIELDS))
    rows = 0
    start = time.monotonic()
    stop_at = start + args.duration
    try:
        while True:
            remaining = stop_at - time.monotonic()
            if remaining <= 0:
                break
            try:
                timestamp, changed, snapshot = changes.get(timeout=remaining)
            except queue.Empty:
                break
            if len(snapshot) < len(names):
                continue        # some first values are still on their way
            when = datetime.fromtimestamp(timestamp) if timestamp else datetime.now()
            first = rows == 0
            line = (f"{when.strftime('%H:%M:%S.%f')[:-3]:<12}"
                    + "".join(format_value(snapshot[name], precision[name],
                                           name == changed and not first) for name in names))
            print(line.rstrip() + ("   (first values)" if first else ""), flush=True)
            rows += 1
    except KeyboardInterrupt:
        print("interrupted")
    for pv in pvs:
        pv.clear_callbacks()
    print(f"Data Logger #2: {max(0, rows - 1)} changes in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
