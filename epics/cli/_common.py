"""What caget, caput, camonitor and cainfo share: options, connecting, and formatting values.

The tools behave like EPICS base's tools of the same names (``modules/ca/src/tools``): the same
option letters, the same output layouts and messages, the same exit codes. This module holds the
parts they have in common, in one place:

* :class:`ToolParser`, an ``argparse`` parser whose usage errors look like base's (status 1),
  and the option groups the tools share (:func:`add_timeout_options`, :func:`add_format_options`);
* :class:`ValueFormat`, which turns the options into the DBR type to request and formats values
  as base's ``val2str`` does (``%g`` doubles, ``-e/-f/-g`` precision, ``-0x`` integers, enum
  names, ``-S`` char arrays as escaped text, ``NAME COUNT v1 v2 ...`` arrays);
* :func:`connect`, which creates every channel first and waits for all of them against one
  deadline, and :func:`report_unconnected`, base's "Channel connect timed out" message;
* :func:`out` and :func:`err`, the only writers to stdout and stderr (a closed pipe, as in
  ``caget ... | head``, ends the tool quietly).

Nothing here starts Channel Access at import: libca loads on the first :func:`connect`.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, Callable, Iterable, List, NamedTuple, NoReturn, Optional, Sequence

from epics import ca, dbr

__all__ = ["EXIT_OK", "EXIT_FAILURE", "DEFAULT_TIMEOUT", "ALARM_STATUS", "ALARM_SEVERITY",
           "ToolParser", "add_timeout_options", "add_separator_option", "add_format_options",
           "ValueFormat", "Channel", "connect", "report_unconnected", "dbr_text", "dbf_text",
           "parse_dbr_type", "format_stamp", "format_delta", "alarm_suffix", "status_text",
           "severity_text", "elements", "escape", "out", "err", "silence_closed_stdout",
           "name_field", "PipeClosed", "EXIT_INTERRUPTED", "run_tool",
           "parse_number", "positive_finite"]

#: Exit status of a tool that did all it was asked.
EXIT_OK = 0
#: Exit status when a PV did not connect, a read or write failed, or the options were wrong.
EXIT_FAILURE = 1
#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports a process killed by it).
EXIT_INTERRUPTED = 130
#: Seconds to wait for connections and answers when ``-w`` is not given (base's default).
DEFAULT_TIMEOUT = 1.0

#: Alarm status names, as libCom's ``epicsAlarmConditionStrings`` (note base's "HWLIMIT").
ALARM_STATUS = ("NO_ALARM", "READ", "WRITE", "HIHI", "HIGH", "LOLO", "LOW", "STATE", "COS",
                "COMM", "TIMEOUT", "HWLIMIT", "CALC", "SCAN", "LINK", "SOFT", "BAD_SUB", "UDF",
                "DISABLE", "SIMM", "READ_ACCESS", "WRITE_ACCESS")
#: Alarm severity names, as libCom's ``epicsAlarmSeverityStrings``.
ALARM_SEVERITY = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")

_BASE_TEXT = ("STRING", "SHORT", "FLOAT", "ENUM", "CHAR", "LONG", "DOUBLE")
_KIND_TEXT = ("", "STS_", "TIME_", "GR_", "CTRL_")
#: libca's ``dbr_text`` table: the name of each DBR code as base's tools print it.
_DBR_TEXT = tuple(f"DBR_{kind}{base}" for kind in _KIND_TEXT for base in _BASE_TEXT) + (
    "DBR_PUT_ACKT", "DBR_PUT_ACKS", "DBR_STSACK_STRING", "DBR_CLASS_NAME")


class PipeClosed(Exception):
    """stdout was closed by the reader (``caget ... | head``): the tool stops quietly."""


def out(text: str, flush: bool = False) -> None:
    """Write ``text`` to stdout (the tools' only way to print results)."""
    try:
        sys.stdout.write(text)
        if flush:
            sys.stdout.flush()
    except BrokenPipeError:
        raise PipeClosed() from None


def err(text: str) -> None:
    """Write one message line to stderr."""
    try:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass


def silence_closed_stdout() -> None:
    """After a :class:`PipeClosed`: point stdout at /dev/null, so that the interpreter's final
    flush does not complain about the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run_tool(parser: argparse.ArgumentParser,
             run: Callable[[argparse.Namespace], int],
             argv: Optional[List[str]] = None,
             interrupted: int = EXIT_INTERRUPTED) -> int:
    """The ``main()`` of every tool: parse ``argv`` (default ``sys.argv[1:]``) with ``parser``,
    call ``run`` with the options and return its exit status.

    A reader that closes stdout (``caget ... | head``) ends the tool quietly with
    :data:`EXIT_OK`; Ctrl-C returns ``interrupted`` (camonitor passes :data:`EXIT_OK`, since
    Ctrl-C is how it is normally stopped).
    """
    options = parser.parse_args(argv)
    try:
        return run(options)
    except PipeClosed:
        silence_closed_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        return interrupted


# ---- option parsing -----------------------------------------------------------------------------

class ToolParser(argparse.ArgumentParser):
    """An ArgumentParser that reports usage errors as base's tools do: one line on stderr
    naming the tool, a hint to ``-h``, and exit status 1 (argparse's own is 2)."""

    def __init__(self, prog: str, usage: str, description: str, epilog: str = "") -> None:
        super().__init__(prog=prog, usage=usage, description=description, epilog=epilog,
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        err(f"{self.prog}: {message} ('{self.prog} -h' for help.)")
        raise SystemExit(EXIT_FAILURE)


def parse_number(text: str, convert: Callable[[str], Any], noun: str,
                 valid: Callable[[Any], bool], rule: str) -> Any:
    """An option's number: ``convert(text)`` when it converts and passes ``valid``; else an
    ``argparse.ArgumentTypeError`` that says "'text' is not <noun>" or "<rule>, got 'text'"."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not {noun}") from None
    if not valid(value):
        raise argparse.ArgumentTypeError(f"{rule}, got '{text}'")
    return value


def positive_finite(value: float) -> bool:
    """Whether a number of seconds is usable: > 0 and not infinite (nor NaN)."""
    return value > 0 and not math.isinf(value)


def _seconds(text: str) -> float:
    return parse_number(text, float, "a number of seconds", positive_finite,
                        "timeout must be > 0")


def _digits(text: str) -> int:
    return parse_number(text, int, "a number of digits", lambda value: 0 <= value <= 100,
                        "number of digits must be 0..100")


def _count(text: str) -> int:
    return parse_number(text, int, "an element count", lambda value: value >= 0,
                        "element count must be >= 0")


def _separator(text: str) -> str:
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"the field separator must be one character, "
                                         f"got '{text}'")
    return text


def add_timeout_options(parser: argparse.ArgumentParser) -> None:
    """``-w sec`` (CA timeout) and ``-p prio`` (accepted for base compatibility)."""
    parser.add_argument("-w", dest="timeout", type=_seconds, default=DEFAULT_TIMEOUT,
                        metavar="sec", help="Wait time, specifies CA timeout, default is "
                        f"{DEFAULT_TIMEOUT:f} second(s)")
    parser.add_argument("-p", dest="priority", type=int, default=0, metavar="prio",
                        help="CA priority (0-99, default 0); accepted and ignored")


def add_separator_option(parser: argparse.ArgumentParser) -> None:
    """``-F ofs``: the output field separator (default a space)."""
    parser.add_argument("-F", dest="separator", type=_separator, default=" ", metavar="ofs",
                        help="Use <ofs> as an alternate output field separator")


def add_format_options(parser: argparse.ArgumentParser, server_string: bool = True,
                       numbers: bool = True) -> None:
    """The value-format options shared by caget and camonitor (and partly caput).

    ``server_string`` adds ``-s`` (server-side conversion to string), which caput lacks (its
    ``-s`` means "put as string"); ``numbers`` adds the floating-point and integer formats.
    """
    parser.add_argument("-n", dest="enum_as_number", action="store_true",
                        help="Print DBF_ENUM values as numbers (default are enum strings)")
    parser.add_argument("-#", dest="count", type=_count, default=0, metavar="count",
                        help="Request and print up to <count> array elements")
    parser.add_argument("-S", dest="char_as_string", action="store_true",
                        help="Print arrays of char as a string (long string)")
    add_separator_option(parser)
    if not numbers:
        return
    for letter in "efg":
        parser.add_argument(f"-{letter}", dest="float_format", type=_digits, metavar="nr",
                            action=_FloatFormat,
                            help=f"Use %%{letter} format, with a precision of <nr> digits")
    if server_string:
        parser.add_argument("-s", dest="server_string", action="store_true",
                            help="Get value as string (honors server-side precision)")
    for letter, word in (("x", "hex"), ("o", "octal"), ("b", "binary")):
        parser.add_argument(f"-l{letter}", dest="float_as_int", action="store_const",
                            const=letter,
                            help=f"Round to long integer and print as {word} number")
    for letter, word in (("x", "hex"), ("o", "octal"), ("b", "binary")):
        parser.add_argument(f"-0{letter}", dest="int_base", action="store_const", const=letter,
                            help=f"Print integers as {word} number")


class _FloatFormat(argparse.Action):
    """``-e/-f/-g nr``: the printf format of floating-point values (the last one given wins)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, f"%-.{values}{option_string[-1]}")


# ---- DBR names ----------------------------------------------------------------------------------

def dbr_text(code: int) -> str:
    """The name of a DBR code as base prints it: ``'DBR_TIME_DOUBLE'`` (``'DBR_invalid'``)."""
    return _DBR_TEXT[code] if 0 <= code < len(_DBR_TEXT) else "DBR_invalid"


def dbf_text(native: int) -> str:
    """The name of a native (field) type: ``'DBF_DOUBLE'``; ``'TYPENOTCONN'`` for -1."""
    if native == -1:
        return "TYPENOTCONN"
    return f"DBF_{_BASE_TEXT[native]}" if 0 <= native < len(_BASE_TEXT) else "DBF_invalid"


def parse_dbr_type(text: str) -> Optional[int]:
    """The DBR code of ``-d``'s argument: a number, or a name with or without ``DBR_``
    (``DBR_TIME_DOUBLE``, ``time_double``, ``20``). None when it is not a type a get can ask
    for (base refuses PUT_ACKT and PUT_ACKS, which are write-only)."""
    text = text.strip()
    try:
        code = int(text)
    except ValueError:
        name = text.upper()
        if not name.startswith("DBR_"):
            name = "DBR_" + name
        name = name.replace("_INT", "_SHORT") if name.endswith("_INT") else name
        code = _DBR_TEXT.index(name) if name in _DBR_TEXT else -1
    if not 0 <= code <= dbr.CLASS_NAME or code in (dbr.PUT_ACKT, dbr.PUT_ACKS):
        return None
    return code


# ---- formatting ---------------------------------------------------------------------------------

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\v": "\\v", "\\": "\\\\", "'": "\\'", '"': '\\"', "\0": "\\0"}


def escape(text: str) -> str:
    """Escape a string for printing as base's tools do (libCom's ``epicsStrnEscapedFromRaw``):
    C escapes for control characters, backslash and quotes, ``\\xHH`` for other unprintable
    characters. Printable non-ASCII characters are kept (base would escape their bytes)."""
    if text.isprintable() and not any(c in text for c in "\\'\""):
        return text
    parts = []
    for char in text:
        if char in _ESCAPES:
            parts.append(_ESCAPES[char])
        elif not char.isprintable():
            code = ord(char)
            parts.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            parts.append(char)
    return "".join(parts)


def format_stamp(posixseconds: int, nanoseconds: int) -> str:
    """Local time with microseconds, base's ``%Y-%m-%d %H:%M:%S.%06f``."""
    return (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(posixseconds))
            + f".{int(nanoseconds) // 1000:06d}")


def format_delta(seconds: float) -> str:
    """An elapsed time for camonitor's relative and incremental stamps: ``HH:MM:SS.ffffff``,
    preceded by ``N d`` past a day."""
    seconds = max(0.0, seconds)
    micro = int(round(seconds * 1e6))
    days, micro = divmod(micro, 86400 * 10 ** 6)
    hours, micro = divmod(micro, 3600 * 10 ** 6)
    minutes, micro = divmod(micro, 60 * 10 ** 6)
    secs, micro = divmod(micro, 10 ** 6)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}.{micro:06d}"
    return f"{days} d {text}" if days else text


def _name(table: Sequence[str], code: Any) -> str:
    try:
        code = int(code)
    except (TypeError, ValueError):
        return "UNKNOWN"
    return table[code] if 0 <= code < len(table) else f"UNKNOWN ({code})"


def status_text(status: Any) -> str:
    """The name of an alarm status code (``'HIGH'``)."""
    return _name(ALARM_STATUS, status)


def severity_text(severity: Any) -> str:
    """The name of an alarm severity code (``'MINOR'``)."""
    return _name(ALARM_SEVERITY, severity)


def alarm_suffix(meta: dict, separator: str) -> str:
    """``' HIGH MINOR'`` when in alarm, else two separators (base's trailing ``'  '``)."""
    status, severity = meta.get("status", 0), meta.get("severity", 0)
    if status or severity:
        return f"{separator}{status_text(status)}{separator}{severity_text(severity)}"
    return separator + separator


def name_field(name: str, separator: str, pad: bool = True) -> str:
    """The PV name column: padded to 30 characters when the separator is a space (base's
    ``%-30s``), then the separator."""
    if pad and separator == " ":
        return f"{name:<30s}{separator}"
    return name + separator


def elements(value: Any) -> list:
    """A value of any shape as a list of elements."""
    if isinstance(value, (str, bytes)):
        return [value]
    if hasattr(value, "tolist"):
        value = value.tolist()
        return value if isinstance(value, list) else [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


class ValueFormat:
    """The value options of a tool, turned into a DBR type to request and a way to print.

    Built from the parsed options (missing ones take base's defaults), so caput, which has only
    some of them, uses the same code.
    """

    def __init__(self, options: argparse.Namespace) -> None:
        self.enum_as_number: bool = getattr(options, "enum_as_number", False)
        self.char_as_string: bool = getattr(options, "char_as_string", False)
        self.separator: str = getattr(options, "separator", " ")
        self.count: int = getattr(options, "count", 0) or 0
        self.server_string: bool = getattr(options, "server_string", False)
        self.float_format: str = getattr(options, "float_format", None) or "%g"
        self.float_as_int: Optional[str] = getattr(options, "float_as_int", None)
        self.int_base: Optional[str] = getattr(options, "int_base", None)

    # -- what to ask for
    def request_type(self, native: int, time_stamp: bool = True) -> int:
        """The DBR code to read a channel of type ``native`` with (base's choice): enums as
        their state string (``-n``: as a number), floats as a server-formatted string with
        ``-s``, anything else as itself; the TIME variant when ``time_stamp``."""
        base = native
        if native == dbr.ENUM:
            base = dbr.SHORT if self.enum_as_number else dbr.STRING
        elif native in (dbr.FLOAT, dbr.DOUBLE) and self.server_string:
            base = dbr.STRING
        return base + dbr.TIME_STRING if time_stamp else base

    def request_count(self, channel_count: int) -> Optional[int]:
        """Elements to request: ``-#`` capped at the channel's count; None for the server's
        current count."""
        if self.count:
            return max(1, min(self.count, channel_count))
        return None

    def is_array(self, channel_count: int) -> bool:
        """Whether values print in the array layout (``COUNT v1 v2 ...``), as base decides:
        the channel holds more than one element, or ``-#`` was given."""
        return channel_count > 1 or bool(self.count)

    # -- printing
    def _integer(self, number: int, bits: int, style: str) -> str:
        if number < 0:
            number &= (1 << bits) - 1
        if style == "x":
            return f"0x{number:X}"
        if style == "o":
            return f"0o{number:o}"
        return f"0b{number:b}"

    def element(self, item: Any, code: int, meta: Optional[dict] = None) -> str:
        """One element as base's ``val2str`` prints it, for a value read as DBR ``code``."""
        native = dbr.native_type(code)
        if native == dbr.STRING:
            return escape(item if isinstance(item, str) else dbr.decode_string(bytes(item))
                          if isinstance(item, (bytes, bytearray)) else str(item))
        if native in (dbr.FLOAT, dbr.DOUBLE):
            number = float(item)
            if self.float_as_int is not None and math.isfinite(number):
                rounded = math.floor(abs(number) + 0.5)   # half away from zero, as C's lround
                return self._integer(int(math.copysign(rounded, number)), 32, self.float_as_int)
            return self.float_format % number
        number = int(item)
        if native == dbr.ENUM:
            strings = (meta or {}).get("enum_strs")
            if strings is not None and not self.enum_as_number:
                if 0 <= number < len(strings):
                    return f"{strings[number]} ({number})"
                return f"Illegal Value ({number})"
        if self.int_base is not None:
            bits = {dbr.SHORT: 16, dbr.ENUM: 16, dbr.CHAR: 8}.get(native, 32)
            return self._integer(number, bits, self.int_base)
        return str(number)

    def char_text(self, items: list, limit: int) -> str:
        """A CHAR array as text (``-S``): up to the first NUL and at most ``limit`` bytes,
        escaped."""
        raw = bytes(int(b) & 0xFF for b in items[:limit])
        return escape(dbr.decode_string(raw))

    def value(self, value: Any, code: int, channel_count: int, meta: Optional[dict] = None,
              with_count: bool = True) -> str:
        """The value part of an output line: one element, ``COUNT v1 v2 ...`` for arrays, or a
        char array as text with ``-S``."""
        items = elements(value)
        sep = self.separator
        array = self.is_array(channel_count)
        if self.char_as_string and dbr.native_type(code) == dbr.CHAR and array:
            return self.char_text(items, len(items))
        text = sep.join(self.element(item, code, meta) for item in items)
        if array and with_count:
            return f"{len(items)}{sep}{text}"
        return text


# ---- connecting ---------------------------------------------------------------------------------

class Channel(NamedTuple):
    """One PV named on the command line, with its channel and whether it connected."""

    name: str
    chid: Any
    connected: bool


def connect(names: Iterable[str], timeout: float, callback: Any = None) -> List[Channel]:
    """Create a channel for each name, then wait for all of them against one deadline.

    All searches go out before the first wait, so N PVs take about one timeout at most, not N.
    A name libca refuses (empty, white space) counts as not connected.
    """
    created = []
    for name in names:
        try:
            chid = ca.create_channel(name, connect=False, callback=callback)
        except ca.ChannelAccessException:
            chid = None
        created.append((name, chid))
    if any(chid is not None for _, chid in created):
        ca.flush_io()
    deadline = time.monotonic() + timeout
    channels = []
    for name, chid in created:
        connected = False
        if chid is not None:
            remaining = max(0.0, deadline - time.monotonic())
            connected = ca.connect_channel(chid, timeout=max(remaining, 1e-3))
        channels.append(Channel(name, chid, connected))
    return channels


def report_unconnected(channels: Sequence[Channel]) -> bool:
    """Say on stderr which PVs did not connect (base's words, one line per PV); returns
    whether every PV connected."""
    missing = [channel.name for channel in channels if not channel.connected]
    for name in missing:
        err(f"Channel connect timed out: '{name}' not found.")
    return not missing
