"""``caget``: read and print the values of PVs, as EPICS base's caget does.

::

    caget [options] <PV name> ...

Output layouts (base's):

* default: ``NAME VALUE`` (the name padded to 30 columns for scalars), arrays as
  ``NAME COUNT V1 V2 ...``;
* ``-t``: the value alone;
* ``-a``: ``NAME DATE TIME VALUE STATUS SEVERITY`` (status and severity only when in alarm);
* ``-d TYPE``: the value read as that DBR type, with the type's metadata, one item per line.

Exit status 0 when every PV was read, 1 when a PV did not connect (nothing is printed then, as
base does; stderr names each missing PV), a read failed or timed out, or the options were wrong.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import List, Optional

from epics import ca, dbr
from epics.cli import _common
from epics.cli._common import (EXIT_FAILURE, EXIT_OK, ValueFormat, alarm_suffix, err,
                               format_stamp, name_field, out)

__all__ = ["main", "build_parser", "run", "read_all", "format_reading", "metadata_lines",
           "Reading"]

PROG = "caget"

_USAGE = "caget [options] <PV name> ..."
_DESCRIPTION = """\
Read and print the values of EPICS PVs (Channel Access), like EPICS base's caget.
Default output format is "name value"; arrays print as "name count v1 v2 ...".
"""
_EPILOG = """\
DBR types for -d (name, the DBR_ prefix may be omitted, or number):
  DBR_STRING 0 .. DBR_DOUBLE 6, DBR_STS_xxx 7..13, DBR_TIME_xxx 14..20, DBR_GR_xxx 21..27,
  DBR_CTRL_xxx 28..34, DBR_STSACK_STRING 37, DBR_CLASS_NAME 38
  (xxx: STRING, SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE)

Exit status: 0 if every PV was read; 1 if a PV did not connect, a read failed or
timed out, or an option was wrong.

Examples:
  caget my:ai                       name and value
  caget -t -w 5 my:ai               value only, waiting up to 5 s
  caget -a -f8 my:ai other:pv       wide format, doubles as %f with 8 digits
  caget -d DBR_CTRL_DOUBLE my:ai    value with units, limits and precision
  caget -S my:char:waveform         a char array as a string
"""

#: Output layouts (the ``format`` option).
PLAIN, TERSE, WIDE, SPECIFIED = "plain", "terse", "wide", "specified"


class _DbrTypeAction(argparse.Action):
    """``-d TYPE``: request a specific DBR type; an invalid one is ignored with base's warning."""

    def __call__(self, parser, namespace, values, option_string=None):
        code = _common.parse_dbr_type(values)
        if code is None:
            err("Requested dbr type out of range or invalid - ignored. ('caget -h' for help.)")
            namespace.format = PLAIN
            namespace.dbr_type = None
            return
        namespace.format = SPECIFIED
        namespace.dbr_type = code


def build_parser() -> argparse.ArgumentParser:
    """The option parser of caget (base's option letters)."""
    parser = _common.ToolParser(PROG, _USAGE, _DESCRIPTION, _EPILOG)
    parser.set_defaults(format=PLAIN, dbr_type=None)
    group = parser.add_argument_group("Channel Access options")
    _common.add_timeout_options(group)
    group.add_argument("-c", dest="callback", action="store_true",
                       help="Asynchronous get (use ca_get_callback and wait for completion)")
    group = parser.add_argument_group("Format options")
    group.add_argument("-t", dest="format", action="store_const", const=TERSE,
                       help="Terse mode - print only value, without name")
    group.add_argument("-a", dest="format", action="store_const", const=WIDE,
                       help='Wide mode "name timestamp value stat sevr" (read PVs as '
                       "DBR_TIME_xxx)")
    group.add_argument("-d", dest="format", action=_DbrTypeAction, metavar="type",
                       help="Request specific dbr type; use string (DBR_ prefix may be "
                       "omitted) or number (see below)")
    _common.add_format_options(parser.add_argument_group("Value formats"))
    parser.add_argument("pvnames", nargs="+", metavar="PV name", help="PV names to read")
    return parser


class Reading:
    """The answer of one PV: its value and metadata, or why there is none."""

    def __init__(self, channel: _common.Channel, code: int, native: int, nelm: int) -> None:
        self.channel = channel
        self.code = code
        self.native = native
        self.nelm = nelm
        self.data: Optional[dict] = None
        self.problem: Optional[str] = None   # base's "*** ..." text when there is no value


def read_all(channels: List[_common.Channel], layout: str, fmt: ValueFormat, timeout: float,
             dbr_type: Optional[int] = None) -> List["Reading"]:
    """Read connected channels for printing in ``layout``: every read is sent first, then the
    answers are collected against one deadline of ``timeout`` seconds. ``dbr_type`` is the
    type to ask for in the SPECIFIED layout."""
    readings = []
    for channel in channels:
        native = ca.field_type(channel.chid)
        nelm = ca.element_count(channel.chid)
        if layout == SPECIFIED and dbr_type is not None:
            code = dbr_type
        else:
            code = fmt.request_type(native, time_stamp=layout == WIDE)
        reading = Reading(channel, code, native, nelm)
        readings.append(reading)
        if not ca.read_access(channel.chid):
            reading.problem = "*** no read access"
            continue
        try:
            ca.get_with_metadata(channel.chid, ftype=code, count=fmt.request_count(nelm),
                                 wait=False)
        except ca.ChannelAccessException as exc:
            reading.problem = f"*** CA error {exc}"
    deadline = time.monotonic() + timeout
    for reading in readings:
        if reading.problem is not None:
            continue
        remaining = max(1e-3, deadline - time.monotonic())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # a timed-out read warns; we report it below
                reading.data = ca.get_complete_with_metadata(
                    reading.channel.chid, ftype=reading.code,
                    count=fmt.request_count(reading.nelm), timeout=remaining)
        except ca.ChannelAccessException as exc:
            reading.problem = f"*** CA error {exc}"
            continue
        if reading.data is None:
            reading.problem = "*** no data available (timeout)"
    return readings


def _specified_block(reading: Reading, fmt: ValueFormat) -> str:
    """The ``-d TYPE`` layout: the name, then one indented item per line."""
    data = reading.data or {}
    lines = [reading.channel.name,
             f"    Native data type: {_common.dbf_text(reading.native)}",
             f"    Request type:     {_common.dbr_text(reading.code)}"]
    if reading.code == dbr.CLASS_NAME:
        lines.append(f"    Class Name:       {data.get('value', '')}")
        return "\n".join(lines) + "\n"
    items = _common.elements(data.get("value"))
    if fmt.char_as_string and dbr.native_type(reading.code) == dbr.CHAR \
            and fmt.is_array(reading.nelm):
        text = fmt.char_text(items, len(items))
    else:
        text = fmt.separator.join(fmt.element(item, reading.code, data) for item in items)
    lines.append(f"    Element count:    {len(items)}")
    lines.append(f"    Value:            {text}")
    lines.extend(metadata_lines(reading.code, data))
    return "\n".join(lines) + "\n"


def metadata_lines(code: int, data: dict) -> List[str]:
    """The metadata items of a DBR type beyond the value, as base's ``dbr2str`` prints them."""
    row = dbr.DBR_TYPES[code]
    if row.kind == dbr.PLAIN:
        return []
    status = _common.status_text(data.get("status", 0))
    severity = _common.severity_text(data.get("severity", 0))
    lines = [f"    Status:           {status}", f"    Severity:         {severity}"]
    if row.kind == dbr.STSACK:
        lines.append(f"    Ack transient?:   {'YES' if data.get('ackt') else 'NO'}")
        lines.append(f"    Ack severity:     {_common.severity_text(data.get('acks', 0))}")
        return lines
    if row.kind == dbr.TIME:
        lines.append("    Timestamp:        "
                     + format_stamp(data.get("posixseconds", dbr.EPICS_EPOCH_OFFSET),
                                    data.get("nanoseconds", 0)))
        return lines
    if row.kind not in (dbr.GR, dbr.CTRL) or row.base == dbr.STRING:
        return lines
    if row.base == dbr.ENUM:
        strings = data.get("enum_strs") or ()
        lines.append(f"    Enums:            ({len(strings):2d})")
        lines.extend(f"                      [{i:2d}] {text}" for i, text in enumerate(strings))
        return lines

    def number(key: str) -> str:
        value = data.get(key, 0)
        return "%g" % value if row.base in (dbr.FLOAT, dbr.DOUBLE) else "%d" % value

    lines.append(f"    Units:            {data.get('units', '')}")
    if "precision" in data:
        lines.append(f"    Precision:        {data['precision']}")
    lines += [f"    Lo disp limit:    {number('lower_disp_limit')}",
              f"    Hi disp limit:    {number('upper_disp_limit')}",
              f"    Lo alarm limit:   {number('lower_alarm_limit')}",
              f"    Lo warn limit:    {number('lower_warning_limit')}",
              f"    Hi warn limit:    {number('upper_warning_limit')}",
              f"    Hi alarm limit:   {number('upper_alarm_limit')}"]
    if row.kind == dbr.CTRL:
        lines += [f"    Lo ctrl limit:    {number('lower_ctrl_limit')}",
                  f"    Hi ctrl limit:    {number('upper_ctrl_limit')}"]
    return lines


def format_reading(reading: Reading, layout: str, fmt: ValueFormat) -> str:
    """One PV's output in the chosen layout (ending with a newline)."""
    sep = fmt.separator
    name = reading.channel.name
    if layout == SPECIFIED and reading.problem is None:
        return _specified_block(reading, fmt)
    if layout == WIDE:
        head = name_field(name, sep)
        if reading.problem is not None:
            return f"{head}{reading.problem}\n"
        data = reading.data
        stamp = format_stamp(data.get("posixseconds", dbr.EPICS_EPOCH_OFFSET),
                             data.get("nanoseconds", 0))
        value = fmt.value(data["value"], reading.code, reading.nelm, data)
        return f"{head}{stamp}{sep}{value}{alarm_suffix(data, sep)}\n"
    head = "" if layout == TERSE else name_field(name, sep, pad=reading.nelm <= 1)
    if reading.problem is not None:
        return f"{head}{reading.problem}\n"
    data = reading.data
    return f"{head}{fmt.value(data['value'], reading.code, reading.nelm, data)}\n"


def run(options: argparse.Namespace) -> int:
    """Read and print the PVs of parsed options; return the exit status."""
    fmt = ValueFormat(options)
    channels = _common.connect(options.pvnames, options.timeout)
    if not _common.report_unconnected(channels):
        return EXIT_FAILURE
    readings = read_all(channels, options.format, fmt, options.timeout, options.dbr_type)
    status = EXIT_OK
    for reading in readings:
        if reading.problem is not None:
            status = EXIT_FAILURE
            if reading.problem.startswith("*** no data"):
                err(f"Read operation timed out: '{reading.channel.name}' was not read.")
            else:
                err(f"Read of '{reading.channel.name}' failed: {reading.problem[4:]}")
        out(format_reading(reading, options.format, fmt))
    out("", flush=True)
    return status


def main(argv: Optional[List[str]] = None) -> int:
    """Run caget with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    return _common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
