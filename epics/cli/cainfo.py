"""``cainfo``: print what Channel Access says about PVs, as EPICS base's cainfo does.

::

    cainfo [options] <PV name> ...

For each PV::

    NAME
        State:            connected
        Host:             HOST:PORT
        Access:           read, write
        Native data type: DBF_DOUBLE
        Request type:     DBR_DOUBLE
        Element count:    1

A PV that did not connect within ``-w`` seconds is still described (``State: never connected``)
and named on stderr. Exit status 0 when every PV connected, else 1.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from epics import ca, dbr
from epics.cli import _common
from epics.cli._common import EXIT_FAILURE, EXIT_OK, out

__all__ = ["main", "build_parser", "run", "describe"]

PROG = "cainfo"

_USAGE = "cainfo [options] <PV name> ..."
_DESCRIPTION = """\
Print the Channel Access state of EPICS PVs (connection, server, access rights,
native type, element count), like EPICS base's cainfo.
"""
_EPILOG = """\
Exit status: 0 if every PV connected; 1 if one did not or an option was wrong.

Examples:
  cainfo my:ai
  cainfo -w 5 my:ai my:waveform
"""

#: ``ca_state`` values as base's cainfo prints them.
_STATE_TEXT = ("never connected", "previously connected", "connected", "closed")


def build_parser() -> argparse.ArgumentParser:
    """The option parser of cainfo (base's option letters)."""
    parser = _common.ToolParser(PROG, _USAGE, _DESCRIPTION, _EPILOG)
    group = parser.add_argument_group("Channel Access options")
    _common.add_timeout_options(group)
    group.add_argument("-s", dest="level", type=int, default=None, metavar="level",
                       help="Call ca_client_status with the specified interest level "
                       "(libca prints its report on stdout)")
    parser.add_argument("pvnames", nargs="*", metavar="PV name", help="PV names to describe")
    return parser


def describe(channel: _common.Channel) -> str:
    """The block of lines base's cainfo prints for one channel."""
    chid = channel.chid
    if chid is None:   # a name libca refused
        return (f"{channel.name}\n    State:            never connected\n"
                "    Host:             <disconnected>\n    Access:           no read, no write\n"
                "    Native data type: TYPENOTCONN\n    Request type:     DBR_invalid\n"
                "    Element count:    0\n")
    state = ca.state(chid)
    native = ca.field_type(chid)
    state_text = _STATE_TEXT[state] if 0 <= state < len(_STATE_TEXT) else f"unknown ({state})"
    read = "" if ca.read_access(chid) else "no "
    write = "" if ca.write_access(chid) else "no "
    request = _common.dbr_text(native) if 0 <= native <= dbr.DOUBLE else "DBR_invalid"
    return (f"{channel.name}\n"
            f"    State:            {state_text}\n"
            f"    Host:             {ca.host_name(chid)}\n"
            f"    Access:           {read}read, {write}write\n"
            f"    Native data type: {_common.dbf_text(native)}\n"
            f"    Request type:     {request}\n"
            f"    Element count:    {ca.element_count(chid)}\n")


def run(options: argparse.Namespace) -> int:
    """Describe the PVs of parsed options; return the exit status."""
    if options.level is not None:
        # libca writes this report itself (to stdout, as base's cainfo -s does)
        context = ca.current_context()
        sys.stdout.flush()
        ca.client_status(context, options.level)
        if not options.pvnames:
            return EXIT_OK
    if not options.pvnames:
        _common.err(f"{PROG}: No pv name specified. ('{PROG} -h' for help.)")
        return EXIT_FAILURE
    channels = _common.connect(options.pvnames, options.timeout)
    all_connected = _common.report_unconnected(channels)
    for channel in channels:
        out(describe(channel))
    out("", flush=True)
    return EXIT_OK if all_connected else EXIT_FAILURE


def main(argv: Optional[List[str]] = None) -> int:
    """Run cainfo with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    return _common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
