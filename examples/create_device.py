#!/usr/bin/env python
"""Create a Device: the 3 doubles, 3 integers, the mbbo, a string and the filename of a prefix.

The exercise (PyEpics class): "Create an Epics Device from the 3 double PVs, 3 integer PVs, the
mbbo PV, a regular string PV, and the filename PV."

Start the simulated beamline first (``python -m epics.sim``) and set, in this shell, the
``EPICS_CA_*`` variables it prints; then::

    python examples/create_device.py                     # id01; watches dval1 for 3 s
    python examples/create_device.py --prefix id05 --duration 10

What it shows: a `Device` subclass for one prefix (``dev.dval1`` reads ``id01:dval1``), reading
every attribute (the mbbo and the filename as text), writing through attributes and with
``put(..., wait=True)``, ``save_state``, and a callback on one attribute for ``--duration``
seconds. The values it writes (string1, mbbo1, filename) are put back at the end.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import Any, Dict, List, Optional

from epics import Device


class TrainingSet(Device):
    """The PVs of one training prefix as a Device: ``TrainingSet('id01').dval1``."""

    #: The exercise's PVs: 3 doubles, 3 integers, the mbbo, a string and the filename.
    ATTRS = ("dval1", "dval2", "dval3", "ival1", "ival2", "ival3", "mbbo1", "string1",
             "filename")
    #: Read as text: the mbbo's state name, and the filename (a CHAR waveform) as a str.
    TEXT_ATTRS = ("mbbo1", "filename")

    def __init__(self, prefix: str, timeout: float = 5.0) -> None:
        # delim=":" makes attribute 'dval1' the PV 'id01:dval1'.
        super().__init__(prefix, delim=":", attrs=self.ATTRS, timeout=timeout)

    def not_connected(self, timeout: float) -> List[str]:
        """The PV names that do not connect within `timeout` seconds (all waited on together)."""
        deadline = time.monotonic() + timeout
        return [self.PV(attr, connect=False).pvname for attr in self.ATTRS
                if not self.PV(attr, connect=False).wait_for_connection(
                    timeout=max(0.0, deadline - time.monotonic()))]

    def read(self) -> Dict[str, Any]:
        """Every attribute's current value, the text ones as text."""
        return {attr: self.get(attr, as_string=attr in self.TEXT_ATTRS) for attr in self.ATTRS}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Create a Device from PREFIX:dval1..3, "
                                                 "ival1..3, mbbo1, string1 and filename.")
    parser.add_argument("--prefix", default="id01", help="PV prefix (default %(default)s)")
    parser.add_argument("--duration", type=float, default=3.0,
                        help="seconds to watch dval1 through the device (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the PVs to connect (default %(default)s)")
    args = parser.parse_args(argv)
    if args.duration < 0:
        parser.error("--duration must be >= 0")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    dev = TrainingSet(args.prefix, timeout=args.timeout)
    missing = dev.not_connected(args.timeout)
    if missing:
        print(f"create_device: not connected after {args.timeout} s: {', '.join(missing)}\n"
              "Is the simulator running (python -m epics.sim), with its EPICS_CA_* variables "
              "set in this shell?", file=sys.stderr)
        return 1

    print(f"Create a Device: {dev!r}")
    print("Reading every attribute:")
    for attr, value in dev.read().items():
        print(f"  dev.{attr:<9} = {value!r}")
    print(f"Attribute access: dev.dval1 = {dev.dval1!r}, dev.ival1 = {dev.ival1!r}")

    saved = {attr: dev.get(attr, as_string=attr in dev.TEXT_ATTRS)
             for attr in ("string1", "mbbo1", "filename")}
    try:
        print("Writing:")
        text = f"set by create_device.py {datetime.now():%H:%M:%S}"
        dev.string1 = text                               # an attribute assignment is a put
        print(f"  dev.string1 = {text!r}")
        print(f"      read back: {dev.get('string1', use_monitor=False)!r}")
        dev.put("mbbo1", "Counting", wait=True)          # an enum takes its state name
        print("  dev.put('mbbo1', 'Counting', wait=True)")
        print(f"      read back: {dev.get('mbbo1', as_string=True, use_monitor=False)!r}")
        new_name = f"/data/{args.prefix}/create_device_example_{datetime.now():%Y%m%d_%H%M%S}.dat"
        dev.put("filename", new_name, wait=True)         # a str into a CHAR waveform
        print(f"  dev.put('filename', {new_name!r}, wait=True)")
        print(f"      read back: {dev.get('filename', as_string=True, use_monitor=False)!r}")
        print("save_state():")
        for attr, value in dev.save_state().items():
            print(f"  {attr:<9} {value!r}")

        changes: List[str] = []

        def on_dval1(pvname: Optional[str] = None, value: Any = None,
                     char_value: Optional[str] = None, **kws: Any) -> None:
            changes.append(char_value or repr(value))

        print(f"Watching dev.dval1 for {args.duration:g} s (dev.add_callback('dval1', ...)):")
        dev.add_callback("dval1", on_dval1)
        try:
            time.sleep(args.duration)
        except KeyboardInterrupt:
            print("interrupted")
        dev.remove_callbacks("dval1")
        shown = ", ".join(changes[:10]) + (" ..." if len(changes) > 10 else "")
        print(f"  {len(changes)} updates of {dev.PV('dval1').pvname}: {shown}")
    finally:
        for attr, value in saved.items():
            dev.put(attr, value, wait=True)
        print(f"Put back string1, mbbo1 and filename: "
              f"{[dev.get(a, as_string=True, use_monitor=False) for a in saved]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
