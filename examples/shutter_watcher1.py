#!/usr/bin/env python
"""Shutter Watcher #1: print when any of the shutters opens or closes.

The exercise (PyEpics class): "The 36 shutter PVs are opening and closing periodically, somewhat
randomly. Write a program to print out when any shutter opens or closes."

Start the simulated beamline first (``python -m epics.sim``) and set, in this shell, the
``EPICS_CA_*`` variables it prints; then::

    python examples/shutter_watcher1.py                  # id01..id36, for 10 s
    python examples/shutter_watcher1.py --count 3 --duration 60
    python examples/shutter_watcher1.py --prefixes id02,id05

How: one PV per shutter with a callback. The library runs callbacks on its dispatcher thread,
one at a time, in the order the updates arrived; the callback only queues (name, value, text,
time) and the main thread prints. The first update of each PV is its state when we connected,
not an opening or closing: it is collected into the "initial states" line.
"""
from __future__ import annotations

import argparse
import queue
import sys
import time
from datetime import datetime
from typing import Any, Dict, List, Optional

from epics import PV


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Shutter Watcher #1: print each opening and "
                                                 "closing of the PREFIX:shutter PVs.")
    parser.add_argument("--count", type=int, default=36,
                        help="watch id01 .. idNN (default %(default)s)")
    parser.add_argument("--prefixes", default=None,
                        help="comma-separated prefixes to watch instead (id01,id07,...)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds to watch (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the PVs to connect (default %(default)s)")
    args = parser.parse_args(argv)
    if args.prefixes:
        args.prefix_list = [p.strip() for p in args.prefixes.split(",") if p.strip()]
    else:
        if not 1 <= args.count <= 99:
            parser.error("--count must be 1..99")
        args.prefix_list = [f"id{i:02d}" for i in range(1, args.count + 1)]
    if args.duration < 0:
        parser.error("--duration must be >= 0")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    events: "queue.Queue[tuple]" = queue.Queue()

    def on_change(pvname: Optional[str] = None, value: Any = None,
                  char_value: Optional[str] = None, timestamp: Optional[float] = None,
                  **kws: Any) -> None:
        events.put((pvname, value, char_value, timestamp))

    def on_connection(pvname: Optional[str] = None, conn: bool = True, **kws: Any) -> None:
        events.put((pvname, None, "connected" if conn else "disconnected", time.time()))

    pvs = [PV(f"{prefix}:shutter", callback=on_change, connection_callback=on_connection)
           for prefix in args.prefix_list]
    deadline = time.monotonic() + args.timeout
    connected = [pv for pv in pvs
                 if pv.wait_for_connection(timeout=max(0.0, deadline - time.monotonic()))]
    missing = [pv.pvname for pv in pvs if pv not in connected]
    if not connected:
        print(f"shutter_watcher1: no shutter connected after {args.timeout} s "
              f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})\n"
              "Is the simulator running (python -m epics.sim), with its EPICS_CA_* variables "
              "set in this shell?", file=sys.stderr)
        return 1
    if missing:
        print(f"not connected (ignored): {', '.join(missing)}")
    for pv in connected:
        pv.get_ctrlvars()       # the state names (Closed, Open) for char_value

    print(f"Shutter Watcher #1: {len(connected)} shutters for {args.duration:g} s")
    state: Dict[str, Any] = {}          # pvname -> last value (0 closed, 1 open)
    changes = 0
    start = time.monotonic()
    stop_at = start + args.duration
    reported_initial = False
    try:
        while True:
            remaining = stop_at - time.monotonic()
            if remaining <= 0:
                break
            try:
                name, value, text, timestamp = events.get(timeout=remaining)
            except queue.Empty:
                break
            when = datetime.fromtimestamp(timestamp) if timestamp else datetime.now()
            stamp = when.strftime("%H:%M:%S.%f")[:-3]
            if value is None:                       # a connection event
                if text == "disconnected" or name in state:
                    print(f"{stamp}  {name:<14} {text}", flush=True)
                continue
            previous = state.get(name)
            state[name] = value
            if previous is None:                    # its state when we connected
                if not reported_initial and len(state) == len(connected):
                    opened = sorted(n.split(":")[0] for n, v in state.items() if v)
                    print(f"initial states: {len(opened)} open ({' '.join(opened) or 'none'}), "
                          f"{len(state) - len(opened)} closed", flush=True)
                    reported_initial = True
                continue
            if value != previous:
                changes += 1
                print(f"{stamp}  {name:<14} {text}", flush=True)
    except KeyboardInterrupt:
        print("interrupted")
    for pv in pvs:
        pv.clear_callbacks(with_connect_callback=True)
    print(f"Shutter Watcher #1: {changes} openings and closings in "
          f"{time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
