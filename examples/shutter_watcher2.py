#!/usr/bin/env python
"""Shutter Watcher #2: how long is each shutter open during an interval? Print a table.

The exercise (PyEpics class): "Measure how long each shutter is open during a 5 minute interval
and print out a table of result."

Start the simulated beamline first (``python -m epics.sim``) and set, in this shell, the
``EPICS_CA_*`` variables it prints; then::

    python examples/shutter_watcher2.py                      # id01..id36, 5 minutes
    python examples/shutter_watcher2.py --interval 20 --count 6 --verbose

Ctrl-C ends the interval early and prints the table for the time measured so far.

How: one PV per shutter with a callback that queues (name, value, arrival time); the main thread
feeds them to an `OpenTimer`. The interval starts once the shutters are connected: a shutter open
at that moment counts from the start, one still open at the end counts until the end. Times are
measured with this program's monotonic clock when each update arrives (the IOC's timestamps
would do too, if its clock and ours agree).
"""
from __future__ import annotations

import argparse
import queue
import sys
import time
from typing import Dict, List, Optional, Sequence

from epics import PV


class OpenTimer:
    """The open time and openings of each shutter within one interval, from its updates.

    Call :meth:`update` with every value (truthy = open) in time order, :meth:`begin` when the
    interval starts and :meth:`end` when it ends. Updates before :meth:`begin` only set the
    state; times before the start are clamped to it.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.state: Dict[str, Optional[bool]] = dict.fromkeys(self.names)
        self.open_time: Dict[str, float] = dict.fromkeys(self.names, 0.0)
        self.openings: Dict[str, int] = dict.fromkeys(self.names, 0)
        self._open_since: Dict[str, float] = {}
        self.start: Optional[float] = None
        self.stop: Optional[float] = None

    def begin(self, when: float) -> None:
        """Start the interval at `when`: shutters open now count from here."""
        self.start = when
        self._open_since = {name: when for name, is_open in self.state.items() if is_open}

    def update(self, name: str, is_open: bool, when: float) -> None:
        """Shutter `name` reported `is_open` at time `when`."""
        was_open = self.state.get(name)
        is_open = bool(is_open)
        self.state[name] = is_open
        if self.start is None or self.stop is not None or was_open == is_open:
            return
        when = max(when, self.start)
        if is_open:
            self._open_since[name] = when
            if was_open is not None:        # None: its first report, not an opening
                self.openings[name] += 1
        elif name in self._open_since:
            self.open_time[name] += when - self._open_since.pop(name)

    def end(self, when: float) -> None:
        """End the interval at `when`: shutters still open count until here."""
        for name, since in self._open_since.items():
            self.open_time[name] += max(0.0, when - since)
        self._open_since.clear()
        self.stop = when

    @property
    def length(self) -> float:
        """The interval's length in seconds (so far, before :meth:`end`)."""
        if self.start is None:
            return 0.0
        return (self.stop if self.stop is not None else time.monotonic()) - self.start

    def table(self) -> List[str]:
        """The result as lines of text: one row per shutter, then the totals."""
        length = self.length
        lines = [f"{'shutter':<14}{'open (s)':>10}{'open (%)':>10}{'openings':>10}"]
        for name in self.names:
            seconds = self.open_time[name]
            share = 100.0 * seconds / length if length > 0 else 0.0
            lines.append(f"{name:<14}{seconds:>10.2f}{share:>10.1f}{self.openings[name]:>10d}")
        if self.names:
            mean = sum(self.open_time.values()) / len(self.names)
            share = 100.0 * mean / length if length > 0 else 0.0
            lines.append(f"{'mean':<14}{mean:>10.2f}{share:>10.1f}"
                         f"{sum(self.openings.values()) / len(self.names):>10.1f}")
        return lines


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Shutter Watcher #2: measure how long each "
                                                 "PREFIX:shutter is open during an interval.")
    parser.add_argument("--count", type=int, default=36,
                        help="watch id01 .. idNN (default %(default)s)")
    parser.add_argument("--prefixes", default=None,
                        help="comma-separated prefixes to watch instead (id01,id07,...)")
    parser.add_argument("--interval", type=float, default=300.0,
                        help="seconds to measure (default %(default)s: 5 minutes)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the PVs to connect (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print each opening and closing")
    args = parser.parse_args(argv)
    if args.prefixes:
        args.prefix_list = [p.strip() for p in args.prefixes.split(",") if p.strip()]
    else:
        if not 1 <= args.count <= 99:
            parser.error("--count must be 1..99")
        args.prefix_list = [f"id{i:02d}" for i in range(1, args.count + 1)]
    if args.interval <= 0:
        parser.error("--interval must be > 0")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    updates: "queue.Queue[tuple]" = queue.Queue()

    def on_change(pvname: Optional[str] = None, value=None, **kws) -> None:
        updates.put((pvname, value, time.monotonic()))

    pvs = [PV(f"{prefix}:shutter", callback=on_change) for prefix in args.prefix_list]
    deadline = time.monotonic() + args.timeout
    connected = [pv.pvname for pv in pvs
                 if pv.wait_for_connection(timeout=max(0.0, deadline - time.monotonic()))]
    missing = [pv.pvname for pv in pvs if pv.pvname not in connected]
    if not connected:
        print(f"shutter_watcher2: no shutter connected after {args.timeout} s "
              f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})\n"
              "Is the simulator running (python -m epics.sim), with its EPICS_CA_* variables "
              "set in this shell?", file=sys.stderr)
        return 1
    if missing:
        print(f"not connected (ignored): {', '.join(missing)}")

    timer = OpenTimer(connected)

    def apply(item: tuple) -> None:
        name, value, when = item
        if name in timer.state and value is not None:
            if args.verbose and timer.state[name] is not None and bool(value) != timer.state[name]:
                print(f"  {name:<14} {'opened' if value else 'closed'} at "
                      f"t = {max(0.0, when - (timer.start or when)):.2f} s", flush=True)
            timer.update(name, value, when)

    # The first values (the states at connection) are already queued or on their way; those
    # that arrived are applied before the interval starts, the others are clamped to its start.
    while not updates.empty():
        apply(updates.get_nowait())
    timer.begin(time.monotonic())
    print(f"Shutter Watcher #2: measuring {len(connected)} shutters for {args.interval:g} s "
          f"(Ctrl-C ends early)", flush=True)
    stop_at = timer.start + args.interval
    try:
        while True:
            remaining = stop_at - time.monotonic()
            if remaining <= 0:
                break
            try:
                apply(updates.get(timeout=remaining))
            except queue.Empty:
                break
    except KeyboardInterrupt:
        print("interrupted: the table covers the time measured so far")
    for pv in pvs:
        pv.clear_callbacks()
    # Updates that arrived up to now belong to the interval (or are clamped to its end).
    end = min(time.monotonic(), stop_at)
    while not updates.empty():
        name, value, when = updates.get_nowait()
        apply((name, value, min(when, end)))
    timer.end(end)
    print(f"Open time of each shutter during {timer.length:.1f} s:")
    print("\n".join(timer.table()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
