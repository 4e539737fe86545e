#!/usr/bin/env python
"""Data Logger #1: print the 3 double and 3 integer PVs of a prefix every second.

The exercise (PyEpics class): "There are 3 double and 3 integer PVs updated somewhat randomly.
Write a program to print out these values every second."

Start the simulated beamline first (``python -m epics.sim``) and set, in this shell, the
``EPICS_CA_*`` variables it prints; then::

    python examples/data_logger1.py                  # id01, every second, for 10 s
    python examples/data_logger1.py --prefix id07 --duration 60 --period 0.5

How: one PV object per name, made once. Each keeps a monitor, so ``pv.get()`` every second
returns the latest value the IOC sent without a network round trip. The rows are paced by a
schedule of absolute times (start + k * period), so they do not drift.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import List, Optional

from epics import PV

#: The six PVs of each prefix, in column order.
FIELDS = ("dval1", "dval2", "dval3", "ival1", "ival2", "ival3")
COLUMN = 10     # width of a value column


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Data Logger #1: print PREFIX:dval1..3 and "
                                                 "PREFIX:ival1..3 every PERIOD seconds.")
    parser.add_argument("--prefix", default="id01", help="PV prefix (default %(default)s)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds to log (default %(default)s)")
    parser.add_argument("--period", type=float, default=1.0,
                        help="seconds between rows (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the PVs to connect (default %(default)s)")
    args = parser.parse_args(argv)
    if args.period <= 0 or args.duration < 0:
        parser.error("--period must be > 0 and --duration >= 0")
    return args


def connect(pvs: List[PV], timeout: float) -> List[str]:
    """Wait (all PVs together, at most `timeout` s) for the PVs; return the names not connected."""
    deadline = time.monotonic() + timeout
    return [pv.pvname for pv in pvs
            if not pv.wait_for_connection(timeout=max(0.0, deadline - time.monotonic()))]


def format_value(pv: PV, value) -> str:
    """A value right-aligned in its column: doubles with the PV's precision, '---' for none."""
    if value is None:
        return f"{'---':>{COLUMN}}"
    if isinstance(value, float):
        precision = pv.precision if pv.precision is not None else 4
        return f"{value:{COLUMN}.{precision}f}"
    return f"{value:>{COLUMN}}"


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    pvs = [PV(f"{args.prefix}:{field}") for field in FIELDS]
    missing = connect(pvs, args.timeout)
    if missing:
        print(f"data_logger1: not connected after {args.timeout} s: {', '.join(missing)}\n"
              "Is the simulator running (python -m epics.sim), with its EPICS_CA_* variables "
              "set in this shell?", file=sys.stderr)
        return 1
    for pv in pvs:
        pv.get_ctrlvars()       # precision and units, read once

    rows = max(1, int(round(args.duration / args.period)))
    print(f"Data Logger #1: {args.prefix}:dval1..3 and ival1..3 every {args.period:g} s, "
          f"{rows} rows")
    print(f"{'time':<12}" + "".join(f"{field:>{COLUMN}}" for field in FIELDS))
    print(f"{'':<12}" + "".join(f"{(pv.units or ''):>{COLUMN}}" for pv in pvs))
    start = time.monotonic()
    printed = 0
    try:
        for row in range(rows):
            # Sleep until this row's time on the schedule (no drift, no spinning).
            delay = start + row * args.period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
            print(f"{stamp:<12}" + "".join(format_value(pv, pv.get()) for pv in pvs),
                  flush=True)
            printed += 1
    except KeyboardInterrupt:
        print("interrupted")
    print(f"Data Logger #1: {printed} rows in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
