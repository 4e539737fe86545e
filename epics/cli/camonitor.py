"""``camonitor``: print every change of PVs as it arrives, as EPICS base's camonitor does.

::

    camonitor [options] <PV name> ...

Each update prints one line, ``NAME DATE TIME VALUE [STATUS SEVERITY]`` (arrays as
``COUNT V1 V2 ...``); a lost connection prints ``NAME TIME *** disconnected``; a PV not found
within ``-w`` seconds prints ``NAME *** Not connected (PV not found)`` and is still watched.

It runs until Ctrl-C (SIGINT), like base's. Two options of ours bound it for scripts and tests:
``--count N`` stops after N updates (all PVs together), ``--duration S`` after S seconds.
Exit status: 0, or 1 when a PV never connected (or the options were wrong).

Threads: libca's threads and the library's dispatcher only put events (connections, values) on a
queue; the main thread takes them off, subscribes, and prints, so output lines never interleave.
SIGINT puts a stop marker on the same queue (``SimpleQueue.put`` is safe in a signal handler).
"""
from __future__ import annotations

import argparse
import math
import queue
import signal
import sys
import time
from typing import Any, Dict, List, Optional, Set, Tuple

from epics import ca, dbr
from epics.cli import _common
from epics.cli._common import (EXIT_FAILURE, EXIT_OK, ValueFormat, alarm_suffix, err,
                               format_delta, format_stamp, name_field, out)

__all__ = ["main", "build_parser", "run", "parse_mask"]

PROG = "camonitor"

_USAGE = "camonitor [options] <PV name> ..."
_DESCRIPTION = """\
Print the value of EPICS PVs (Channel Access) each time it changes, like EPICS base's
camonitor: "name timestamp value status severity". Runs until Ctrl-C, or as bounded
by --count / --duration.
"""
_EPILOG = """\
Timestamps (-t <key>, <key> made of these letters):
  s = CA server (remote) timestamps (the default)
  c = CA client (local) timestamps, shown in '()'s
  n = no timestamps
  r = relative timestamps (time elapsed since the start of the program)
  i = incremental timestamps (time elapsed since the last update)
  I = incremental timestamps (time elapsed since the last update of the channel)
  e.g. -tsc prints both the server and the client timestamp.

Exit status: 0; 1 if a PV never connected or an option was wrong.

Examples:
  camonitor my:ai other:ai          until Ctrl-C
  camonitor --count 10 my:ai        the first 10 updates, then exit
  camonitor -m va -g4 my:ai         value and alarm changes, doubles with 4 digits
  camonitor -tnc my:ai              client timestamps only
"""

_MASK_LETTERS = {"v": dbr.DBE_VALUE, "a": dbr.DBE_ALARM, "l": dbr.DBE_LOG,
                 "p": dbr.DBE_PROPERTY}
_DEFAULT_MASK = dbr.DBE_VALUE | dbr.DBE_ALARM
_STOP = ("stop",)


def parse_mask(text: str) -> int:
    """The event mask of ``-m``: letters v (value), a (alarm), l (log/archive), p (property).
    An unknown letter gives base's warning and the default mask (value and alarm)."""
    mask = 0
    for letter in text:
        if letter not in _MASK_LETTERS:
            err(f"Invalid argument '{text}' for option '-m' - ignored.")
            return _DEFAULT_MASK
        mask |= _MASK_LETTERS[letter]
    return mask or _DEFAULT_MASK


class _Stamps(argparse.Action):
    """``-t key``: timestamp sources and type (base's letters)."""

    def __call__(self, parser, namespace, values, option_string=None):
        server = client = False
        kind = "absolute"
        for letter in values:
            if letter == "s":
                server = True
            elif letter == "c":
                client = True
            elif letter == "n":
                pass
            elif letter in "riI":
                kind = {"r": "relative", "i": "incremental", "I": "by_channel"}[letter]
            else:
                err(f"Invalid argument '{letter}' for option '-t' - ignored.")
        if kind != "absolute" and not (server or client) and "n" not in values:
            server = True   # "-tr": relative server stamps (base would print none)
        namespace.stamp_server, namespace.stamp_client, namespace.stamp_kind = (
            server, client, kind)


def _positive_count(text: str) -> int:
    return _common.parse_number(text, int, "a number of updates", lambda value: value >= 1,
                                "the number of updates must be >= 1")


def _duration(text: str) -> float:
    return _common.parse_number(text, float, "a number of seconds", _common.positive_finite,
                                "the duration must be > 0")


def build_parser() -> argparse.ArgumentParser:
    """The option parser of camonitor (base's option letters, plus --count and --duration)."""
    parser = _common.ToolParser(PROG, _USAGE, _DESCRIPTION, _EPILOG)
    parser.set_defaults(stamp_server=True, stamp_client=False, stamp_kind="absolute")
    group = parser.add_argument_group("Channel Access options")
    _common.add_timeout_options(group)
    group.add_argument("-m", dest="mask", type=parse_mask, default=_DEFAULT_MASK,
                       metavar="mask", help="Specify CA event mask to use. <mask> is any "
                       "combination of 'v' (value), 'a' (alarm), 'l' (log/archive), "
                       "'p' (property). Default event mask is 'va'")
    group = parser.add_argument_group("Timestamps")
    group.add_argument("-t", dest="stamps", action=_Stamps, metavar="key",
                       help="Timestamp source(s) and type (see below)")
    _common.add_format_options(parser.add_argument_group("Value formats"))
    group = parser.add_argument_group("Bounds (not in EPICS base)")
    group.add_argument("--count", dest="max_updates", type=_positive_count, default=None,
                       metavar="N", help="Exit after N updates, all PVs together")
    group.add_argument("--duration", dest="duration", type=_duration, default=None,
                       metavar="S", help="Exit after S seconds")
    parser.add_argument("pvnames", nargs="+", metavar="PV name", help="PV names to monitor")
    return parser


class _Monitor:
    """The state of one camonitor run: channels, subscriptions, and timestamp references."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.fmt = ValueFormat(options)
        self.sep = self.fmt.separator
        self.events: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()
        self.start = time.time()
        self.channels: Dict[str, Any] = {}
        self.subscribed: Dict[str, Tuple[int, int, Any]] = {}   # name -> (code, nelm, sub)
        self.connected_once: Set[str] = set()
        self.last_any: Optional[Tuple[float, float]] = None        # (server, client) stamps
        self.last_by_channel: Dict[str, Tuple[float, float]] = {}

    # -- called on other threads: enqueue only
    def on_connection(self, pvname: str = "", chid: Any = None, conn: bool = False,
                      **_: Any) -> None:
        self.events.put(("conn", pvname, conn, time.time()))

    def on_value(self, pvname: str = "", value: Any = None, **meta: Any) -> None:
        self.events.put(("value", pvname, value, meta, time.time()))

    def stop(self, *_: Any) -> None:
        self.events.put(_STOP)

    # -- main thread
    def subscribe(self, name: str) -> None:
        """Subscribe to a channel on its first connection (libca keeps it across reconnects)."""
        chid = self.channels[name]
        native = ca.field_type(chid)
        nelm = ca.element_count(chid)
        code = self.fmt.request_type(native, time_stamp=True)
        count = self.fmt.request_count(nelm) or 0
        subscription = ca.create_subscription(chid, ftype=code, mask=self.options.mask,
                                              callback=self.on_value, count=count)
        ca.flush_io()   # send the request now rather than at the dispatcher's deferred flush
        self.subscribed[name] = (code, nelm, subscription)

    def _stamp_text(self, name: str, server: float, client: float) -> str:
        """The timestamp column(s) of one update, per ``-t``."""
        options = self.options
        kind = options.stamp_kind
        if kind == "relative":
            reference: Optional[Tuple[float, float]] = (self.start, self.start)
        elif kind == "incremental":
            reference = self.last_any
        elif kind == "by_channel":
            reference = self.last_by_channel.get(name)
        else:
            reference = None
        self.last_any = self.last_by_channel[name] = (server, client)
        parts = []
        for wanted, stamp, ref_index in ((options.stamp_server, server, 0),
                                         (options.stamp_client, client, 1)):
            if not wanted:
                continue
            if reference is None:
                seconds = math.floor(stamp)
                text = format_stamp(seconds, int(round((stamp - seconds) * 1e9)))
            else:
                text = format_delta(stamp - reference[ref_index])
            parts.append(f"({text})" if ref_index == 1 else text)
        return " ".join(parts)

    def value_line(self, name: str, value: Any, meta: dict, client: float) -> str:
        code, nelm, _ = self.subscribed.get(name, (dbr.TIME_STRING, 1, None))
        if "posixseconds" in meta:
            server = meta["posixseconds"] + meta.get("nanoseconds", 0) / 1e9
        else:
            server = meta.get("timestamp", client)
        stamps = self._stamp_text(name, server, client)
        head = name_field(name, self.sep) + (stamps + self.sep if stamps else "")
        return f"{head}{self.fmt.value(value, code, nelm, meta)}{alarm_suffix(meta, self.sep)}\n"

    def now_text(self, client: float) -> str:
        seconds = math.floor(client)
        return format_stamp(seconds, int(round((client - seconds) * 1e9)))

    def run(self) -> int:
        options = self.options
        names = list(dict.fromkeys(options.pvnames))   # each PV once, in order
        for name in names:
            try:
                self.channels[name] = ca.create_channel(name, callback=self.on_connection)
            except ca.ChannelAccessException as exc:
                err(f"{PROG}: cannot monitor '{name}': {exc}")
        ca.flush_io()
        started = time.monotonic()
        connect_deadline = started + options.timeout
        end = started + options.duration if options.duration else None
        reported = False
        updates = 0
        while True:
            now = time.monotonic()
            if not reported and now >= connect_deadline:
                reported = True
                for name in names:
                    if name not in self.connected_once:
                        out(f"{name_field(name, self.sep)}*** Not connected (PV not found)\n",
                            flush=True)
                        err(f"Channel connect timed out: '{name}' not found.")
            if end is not None and now >= end:
                break
            waits = [t - now for t in ((None if reported else connect_deadline), end)
                     if t is not None]
            try:
                event = self.events.get(timeout=max(0.0, min(waits)) if waits else None)
            except queue.Empty:
                continue
            if event is _STOP:
                break
            if event[0] == "conn":
                _, name, up, client = event
                if up:
                    self.connected_once.add(name)
                    if name not in self.subscribed and name in self.channels:
                        self.subscribe(name)
                elif name in self.connected_once:
                    out(f"{name_field(name, self.sep)}{self.now_text(client)} "
                        "*** disconnected\n", flush=True)
            else:
                _, name, value, meta, client = event
                out(self.value_line(name, value, meta, client), flush=True)
                updates += 1
                if options.max_updates is not None and updates >= options.max_updates:
                    break
        missing = [name for name in names if name not in self.connected_once]
        return EXIT_FAILURE if missing else EXIT_OK


def run(options: argparse.Namespace) -> int:
    """Monitor the PVs of parsed options until stopped; return the exit status."""
    monitor = _Monitor(options)
    previous = signal.signal(signal.SIGINT, monitor.stop)
    try:
        return monitor.run()
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: Optional[List[str]] = None) -> int:
    """Run camonitor with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    # Ctrl-C before run() installs its handler also ends camonitor normally
    return _common.run_tool(build_parser(), run, argv, interrupted=EXIT_OK)


if __name__ == "__main__":
    sys.exit(main())
