"""``caput``: write a value to a PV, as EPICS base's caput does.

::

    caput [options] <PV name> <PV value>
    caput -a [options] <PV name> <no of values> <PV value> ...

Prints the value before and after the write (``Old : NAME VALUE`` / ``New : NAME VALUE``), or with
``-t`` only the new value. Words after the PV name are joined with spaces into one value (as base
does), so ``caput my:string hello world`` writes "hello world".

Values: a numeric channel parses the text (``12``, ``0x1F``, ``1.5e3``); an enum channel takes a
state name or, failing that, an index (``-n``: index only, ``-s``: name only); ``-s`` on any other
channel sends the text as DBR_STRING for the server to convert; ``-S`` writes text to a char
array. A value that does not fit the channel (a string over 39 bytes, a number out of range) is
refused before anything is sent.

Exit status 0 when the write was done (and, with ``-c``, completed), 1 when the PV did not
connect, the value was refused, the write failed or did not complete within ``-w`` seconds, or the
options were wrong; stderr names the PV.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, List, Optional, Tuple

from epics import ca, dbr
from epics.cli import _common, caget
from epics.cli._common import EXIT_FAILURE, EXIT_OK, ValueFormat, err, out

__all__ = ["main", "build_parser", "run"]

PROG = "caput"

_USAGE = ("caput [options] <PV name> <PV value>\n"
          "       caput -a [options] <PV name> <no of values> <PV value> ...")
_DESCRIPTION = """\
Write a value to an EPICS PV (Channel Access), like EPICS base's caput, and print
the value before and after ("Old : name value", "New : name value").
"""
_EPILOG = """\
Enum format:
  Default: Auto - try value as ENUM string, then as index number
Values starting with '-' that are not plain numbers (e.g. -1e3) follow '--':
  caput -- my:ao -1e3

Exit status: 0 if the value was written; 1 if the PV did not connect, the value was
refused, the write failed or (with -c) did not complete in time, or an option was wrong.

Examples:
  caput my:ao 1.2                  write 1.2
  caput -c -w 10 my:motor 5        write and wait up to 10 s for processing to finish
  caput -a my:waveform 3 1 2 3     write an array of 3 elements
  caput my:mbbo Standby            an enum by state name (or -n 2 by index)
  caput -S my:char:waveform "a long text"
"""


class PutError(Exception):
    """A value that cannot be written; the message is printed as is."""


def build_parser() -> argparse.ArgumentParser:
    """The option parser of caput (base's option letters)."""
    parser = _common.ToolParser(PROG, _USAGE, _DESCRIPTION, _EPILOG)
    group = parser.add_argument_group("Channel Access options")
    _common.add_timeout_options(group)
    group.add_argument("-c", dest="wait", action="store_true",
                       help="Asynchronous put (use ca_put_callback and wait for completion)")
    group = parser.add_argument_group("Format options")
    group.add_argument("-t", dest="layout", action="store_const", const=caget.TERSE,
                       default=caget.PLAIN,
                       help="Terse mode - print only successfully written value, without name")
    group.add_argument("-l", dest="layout", action="store_const", const=caget.WIDE,
                       help='Long mode "name timestamp value stat sevr" (read PVs as '
                       "DBR_TIME_xxx)")
    _common.add_separator_option(group)
    group = parser.add_argument_group("Enum format")
    group.add_argument("-n", dest="numbers_only", action="store_true",
                       help="Force interpretation of values as numbers")
    group.add_argument("-s", dest="as_string", action="store_true",
                       help="Force interpretation of values as strings")
    group = parser.add_argument_group("Arrays")
    group.add_argument("-a", dest="array", action="store_true",
                       help="Put array; value format: number of requested values, then list "
                       "of values")
    group.add_argument("-S", dest="char_as_string", action="store_true",
                       help="Put string as an array of chars (long string)")
    parser.add_argument("pvname", metavar="PV name", help="the PV to write")
    parser.add_argument("values", nargs="+", metavar="PV value",
                        help="the value (with -a: the number of values, then the values)")
    return parser


def _values_to_write(options: argparse.Namespace) -> List[str]:
    """The words to write: one value (the words joined by spaces), or the -a array."""
    if not options.array:
        return [" ".join(options.values)]
    text, words = options.values[0], options.values[1:]
    try:
        count = int(text, 0)
    except ValueError:
        raise PutError(f"caput: the number of array values must be an integer, got '{text}'")
    if count < 1:
        raise PutError(f"caput: the number of array values must be at least 1, got {count}")
    if len(words) != count:
        raise PutError(f"caput: {count} array value(s) announced but {len(words)} given")
    return words


def _enum_index(text: str, strings: Tuple[str, ...], options: argparse.Namespace,
                name: str) -> int:
    """The state index to write for ``text`` to an enum channel (base's rules)."""
    if not options.numbers_only and text in strings:
        return strings.index(text)
    if options.as_string:
        raise PutError(f"Enum string value '{text}' invalid for '{name}'.")
    try:
        index = int(text, 0)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise PutError(f"Enum string value '{text}' invalid for '{name}'.") from None
        if number != int(number):
            raise PutError(f"Enum index value '{text}' is not an integer for '{name}'.")
        index = int(number)
    if index < 0:
        raise PutError(f"Enum index value '{text}' is negative for '{name}'.")
    if index >= len(strings):
        err(f"Warning: enum index value '{text}' may be too large.")
    return index


def _prepare(chid: Any, name: str, words: List[str],
             options: argparse.Namespace) -> Tuple[Any, Optional[int]]:
    """Turn the words into ``(value, ftype)`` for :func:`epics.ca.put`."""
    native = ca.field_type(chid)
    nelm = ca.element_count(chid)
    if native == dbr.ENUM:
        strings = tuple(ca.get_enum_strings(chid) or ())
        indexes = [_enum_index(word, strings, options, name) for word in words]
        return (indexes if options.array else indexes[0]), None
    if options.as_string:
        return (words if options.array else words[0]), dbr.STRING
    if options.array:
        return words, None
    text = words[0]
    if native == dbr.CHAR and not (options.char_as_string and nelm > 1):
        return [text], None   # a number for the first element, parsed like array elements
    return text, None


def _show(chid: Any, channel: _common.Channel, options: argparse.Namespace,
          fmt: ValueFormat, prefix: str) -> bool:
    """Read the PV and print it after ``prefix``; returns whether the read worked."""
    reading = caget.read_all([channel], options.layout, fmt, options.timeout)[0]
    out(prefix + caget.format_reading(reading, options.layout, fmt), flush=True)
    return reading.problem is None


def run(options: argparse.Namespace) -> int:
    """Write the value of parsed options and print old and new values; return the status."""
    fmt = ValueFormat(options)
    try:
        words = _values_to_write(options)
    except PutError as exc:
        err(str(exc))
        return EXIT_FAILURE
    channels = _common.connect([options.pvname], options.timeout)
    if not _common.report_unconnected(channels):
        return EXIT_FAILURE
    channel = channels[0]
    chid, name = channel.chid, channel.name
    status = EXIT_OK
    if options.layout != caget.TERSE:
        if not _show(chid, channel, options, fmt, "Old : "):
            status = EXIT_FAILURE
    if not ca.write_access(chid):
        err(f"Error occurred writing data to '{name}': Write access denied")
        return EXIT_FAILURE
    try:
        value, ftype = _prepare(chid, name, words, options)
        result = ca.put(chid, value, wait=options.wait, timeout=options.timeout, ftype=ftype)
    except PutError as exc:
        err(str(exc))
        return EXIT_FAILURE
    except ca.ChannelAccessException as exc:
        # the library's message repeats the value and the PV; its cause says just what is wrong
        err(f"Error occurred writing data to '{name}': {exc.__cause__ or exc}")
        return EXIT_FAILURE
    if result != dbr.ECA_NORMAL:
        err(f"Write operation timed out: '{name}' did not complete within {options.timeout:g} "
            "seconds (data may not have been written).")
        return EXIT_FAILURE
    prefix = "" if options.layout == caget.TERSE else "New : "
    if not _show(chid, channel, options, fmt, prefix):
        status = EXIT_FAILURE
    return status


def main(argv: Optional[List[str]] = None) -> int:
    """Run caput with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    return _common.run_tool(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
