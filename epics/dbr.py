"""DBR type codes, the C structs of ``db_access.h`` as ctypes classes, and DBR buffer conversion.

This is layer 2 of the package: above ``_cadef`` (whose callback structs it re-exports under
PyEpics's names) and ``_errors``, below ``ca``. Importing it loads no library, so it can be used
and tested without libca.

One table, :data:`DBR_TYPES`, maps every DBR code to its name, its base (native) type, its kind
(plain, sts, time, gr, ctrl, stsack) and its ctypes layout; every other map here is derived from it.
The ctypes structs are generated from a compact description of ``db_access.h`` (the header members
per kind, plus the explicit ``RISC_pad`` members the header puts before ``value``), and
``tests/test_dbr_layout.py`` checks each ``sizeof`` and ``offsetof`` against the C compiler and
libca's own ``dbr_value_offset`` and ``dbr_size`` tables.

Reading: :func:`make_reader` decides the conversion once per ``(code, count, as_numpy)`` and returns
a small function that turns the address of a DBR buffer (``event_handler_args.dbr``) into
``(value, meta)`` with one ``struct.unpack_from`` for scalars and one ``memmove`` for arrays.

Writing: :func:`make_put_buffer` turns a Python value into the ``(dbrtype, count, buffer)`` triple
that ``ca_array_put`` takes, refusing (with a message) what would otherwise be silently wrapped or
truncated.

The public names of PyEpics's ``epics.dbr`` module (type codes, ``Name``, ``native_type``, ``Map``,
``NP_Map``, ``ctrl_limits``, ``make_unixtime``, ``cast_args``, ``make_callback``, the ``time_*`` and
``ctrl_*`` struct names, ``AlarmStatus``, ``AlarmSeverity``, ...) are all importable from here.
"""
from __future__ import annotations

import collections.abc
import ctypes
import enum
import functools
import math
import os
import platform
import struct
import sys
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ._cadef import (access_rights_handler_args, ca_access_rights, connection_handler_args,
                     event_handler_args)
from ._errors import ECA

__all__ = [
    # type codes
    "STRING", "INT", "SHORT", "FLOAT", "ENUM", "CHAR", "LONG", "DOUBLE",
    "STS_STRING", "STS_INT", "STS_SHORT", "STS_FLOAT", "STS_ENUM", "STS_CHAR", "STS_LONG",
    "STS_DOUBLE",
    "TIME_STRING", "TIME_INT", "TIME_SHORT", "TIME_FLOAT", "TIME_ENUM", "TIME_CHAR", "TIME_LONG",
    "TIME_DOUBLE",
    "GR_STRING", "GR_INT", "GR_SHORT", "GR_FLOAT", "GR_ENUM", "GR_CHAR", "GR_LONG", "GR_DOUBLE",
    "CTRL_STRING", "CTRL_INT", "CTRL_SHORT", "CTRL_FLOAT", "CTRL_ENUM", "CTRL_CHAR", "CTRL_LONG",
    "CTRL_DOUBLE",
    "PUT_ACKT", "PUT_ACKS", "STSACK_STRING", "CLASS_NAME", "LAST_BUFFER_TYPE",
    # kinds
    "PLAIN", "STS", "TIME", "GR", "CTRL", "STSACK",
    # event masks, channel states, connection ops, status codes
    "DBE_VALUE", "DBE_LOG", "DBE_ARCHIVE", "DBE_ALARM", "DBE_PROPERTY",
    "CS_NEVER_CONN", "CS_PREV_CONN", "CS_CONN", "CS_CLOSED", "CS_NEVER_SEARCH",
    "OP_CONN_UP", "OP_CONN_DOWN",
    "ECA_NORMAL", "ECA_TIMEOUT", "ECA_IODONE", "ECA_ISATTACHED", "ECA_BADCHID",
    # sizes and time
    "MAX_STRING_SIZE", "MAX_UNITS_SIZE", "MAX_ENUM_STRING_SIZE", "MAX_ENUM_STATES", "MAX_ENUMS",
    "EPICS_EPOCH_OFFSET", "EPICS2UNIX_EPOCH",
    # ctypes aliases (PyEpics names)
    "HAS_NUMPY", "PY64_WINDOWS",
    "chid_t", "short_t", "ushort_t", "int_t", "uint_t", "long_t", "ulong_t", "float_t",
    "double_t", "byte_t", "ubyte_t", "string_t", "char_t", "char_p", "void_p", "py_obj",
    # the table and its derived maps
    "DbrType", "DBR_TYPES", "Map", "NP_Map", "ctrl_limits",  # noqa: F822 (NP_Map: __getattr__)
    # structs
    "epicsTimeStamp", "TimeStamp",
    "dbr_sts_string", "dbr_sts_short", "dbr_sts_int", "dbr_sts_float", "dbr_sts_enum",
    "dbr_sts_char", "dbr_sts_long", "dbr_sts_double",
    "dbr_time_string", "dbr_time_short", "dbr_time_float", "dbr_time_enum", "dbr_time_char",
    "dbr_time_long", "dbr_time_double",
    "dbr_gr_short", "dbr_gr_int", "dbr_gr_float", "dbr_gr_enum", "dbr_gr_char", "dbr_gr_long",
    "dbr_gr_double",
    "dbr_ctrl_short", "dbr_ctrl_int", "dbr_ctrl_float", "dbr_ctrl_enum", "dbr_ctrl_char",
    "dbr_ctrl_long", "dbr_ctrl_double",
    "dbr_stsack_string",
    "time_string", "time_short", "time_float", "time_enum", "time_char", "time_long",
    "time_double",
    "ctrl_enum", "ctrl_short", "ctrl_char", "ctrl_long", "ctrl_float", "ctrl_double",
    "ca_access_rights", "event_handler_args", "connection_handler_args", "connection_args",
    "access_rights_handler_args",
    # functions
    "native_type", "promote_type", "value_offset", "dbr_size", "native_dtype", "Name",
    "make_reader", "make_buffer_reader", "decode_string", "char_array_to_str", "make_put_buffer", "format_timestamp",
    "make_unixtime", "cast_args", "make_callback",
    # alarm enums
    "DefaultIntEnum", "AlarmStatus", "AlarmSeverity",
]

# ---------------------------------------------------------------------------------------------
# Constants (db_access.h, caeventmask.h, cadef.h, epicsTypes.h, epicsTime.h)
# ---------------------------------------------------------------------------------------------

#: Base (native, DBF) types. ``INT`` is the old name of ``SHORT``.
STRING, INT, SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE = 0, 1, 1, 2, 3, 4, 5, 6
STS_STRING, STS_INT, STS_SHORT, STS_FLOAT, STS_ENUM, STS_CHAR, STS_LONG, STS_DOUBLE = (
    7, 8, 8, 9, 10, 11, 12, 13)
TIME_STRING, TIME_INT, TIME_SHORT, TIME_FLOAT, TIME_ENUM, TIME_CHAR, TIME_LONG, TIME_DOUBLE = (
    14, 15, 15, 16, 17, 18, 19, 20)
GR_STRING, GR_INT, GR_SHORT, GR_FLOAT, GR_ENUM, GR_CHAR, GR_LONG, GR_DOUBLE = (
    21, 22, 22, 23, 24, 25, 26, 27)
CTRL_STRING, CTRL_INT, CTRL_SHORT, CTRL_FLOAT, CTRL_ENUM, CTRL_CHAR, CTRL_LONG, CTRL_DOUBLE = (
    28, 29, 29, 30, 31, 32, 33, 34)
PUT_ACKT = 35
PUT_ACKS = 36
STSACK_STRING = 37
CLASS_NAME = 38
LAST_BUFFER_TYPE = CLASS_NAME

#: Kinds of DBR codes: what comes with the value.
PLAIN, STS, TIME, GR, CTRL, STSACK = "plain", "sts", "time", "gr", "ctrl", "stsack"

#: Subscription event masks (caeventmask.h). ``DBE_LOG`` is the old name of ``DBE_ARCHIVE``.
DBE_VALUE = 1
DBE_ARCHIVE = DBE_LOG = 2
DBE_ALARM = 4
DBE_PROPERTY = 8

#: Channel states as ``ca_state`` returns them (enum channel_state in cadef.h).
CS_NEVER_CONN, CS_PREV_CONN, CS_CONN, CS_CLOSED = 0, 1, 2, 3
#: Not a libca state: PyEpics's marker for a channel whose search was never sent.
CS_NEVER_SEARCH = 4
#: ``connection_handler_args.op`` values.
OP_CONN_UP, OP_CONN_DOWN = 6, 7

#: The CA status codes PyEpics exposes from ``dbr`` (the table is in ``_errors``).
ECA_NORMAL, ECA_TIMEOUT, ECA_IODONE = ECA.NORMAL, ECA.TIMEOUT, ECA.IODONE
ECA_BADCHID, ECA_ISATTACHED = ECA.BADCHID, ECA.ISATTACHED

MAX_STRING_SIZE = 40
MAX_UNITS_SIZE = 8
MAX_ENUM_STRING_SIZE = 26
MAX_ENUM_STATES = 16
MAX_ENUMS = MAX_ENUM_STATES  # PyEpics's name

#: Seconds from the POSIX epoch (1970-01-01 UTC) to the EPICS epoch (1990-01-01 UTC).
EPICS_EPOCH_OFFSET = 631152000
EPICS2UNIX_EPOCH = float(EPICS_EPOCH_OFFSET)  # PyEpics's name

# ctypes aliases under PyEpics's names. Handles are pointers (c_void_p): 64-bit safe everywhere.
HAS_NUMPY = True


class _Numpy:
    """numpy, imported at the first array this module converts (``np.X``): a script that only
    reads and writes scalars never loads it, and ``import epics`` takes a third of the time.
    Before that import no value can be a numpy object, which is what :func:`_numpy_loaded`
    lets the scalar paths ask without importing it."""

    def __getattr__(self, name: str) -> Any:
        import numpy
        value = getattr(numpy, name)
        setattr(self, name, value)   # later lookups are plain instance attributes
        return value


np: Any = _Numpy()


def _numpy_loaded() -> bool:
    """Whether numpy has been imported (by anyone): if not, no value is a numpy object."""
    return "numpy" in sys.modules
PY64_WINDOWS = os.name == "nt" and platform.architecture()[0].startswith("64")
chid_t = ctypes.c_void_p
short_t = ctypes.c_short
ushort_t = ctypes.c_ushort
int_t = ctypes.c_int
uint_t = ctypes.c_uint
long_t = ctypes.c_long
ulong_t = ctypes.c_ulong
float_t = ctypes.c_float
double_t = ctypes.c_double
byte_t = ctypes.c_byte
ubyte_t = ctypes.c_ubyte
string_t = ctypes.c_char * MAX_STRING_SIZE
char_t = ctypes.c_char
char_p = ctypes.c_char_p
void_p = ctypes.c_void_p
py_obj = ctypes.py_object

# ---------------------------------------------------------------------------------------------
# The C layouts
# ---------------------------------------------------------------------------------------------


class epicsTimeStamp(ctypes.Structure):
    """``epicsTimeStamp`` (epicsTime.h): seconds and nanoseconds since 1990-01-01 UTC."""

    _fields_ = [("secPastEpoch", ctypes.c_uint32), ("nsec", ctypes.c_uint32)]

    @property
    def secs(self) -> int:
        """``secPastEpoch`` under PyEpics's field name."""
        return self.secPastEpoch


TimeStamp = epicsTimeStamp  # PyEpics's name

#: The C type of one element of each base type (dbr_string_t, dbr_short_t, ... in db_access.h).
_ELEMENT_CTYPE = {
    STRING: ctypes.c_char * MAX_STRING_SIZE,
    SHORT: ctypes.c_int16,
    FLOAT: ctypes.c_float,
    ENUM: ctypes.c_uint16,
    CHAR: ctypes.c_uint8,
    LONG: ctypes.c_int32,
    DOUBLE: ctypes.c_double,
}
_BASE_NAMES = ("STRING", "SHORT", "FLOAT", "ENUM", "CHAR", "LONG", "DOUBLE")
_BASE_TYPES = tuple(range(len(_BASE_NAMES)))
_KINDS = (PLAIN, STS, TIME, GR, CTRL)  # in code order: code = 7 * kind index + base type

#: The limit members of the GR (first six) and CTRL (all eight) structs, in header order.
ctrl_limits = ("upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
               "upper_warning_limit", "lower_warning_limit", "lower_alarm_limit",
               "upper_ctrl_limit", "lower_ctrl_limit")
_N_LIMITS = {GR: 6, CTRL: 8}

#: The alignment member between ``precision`` and ``units`` of the FLOAT/DOUBLE GR/CTRL structs
#: (the header names it RISC_pad0, except in dbr_ctrl_float).
_PRECISION_PAD = {(GR, FLOAT): "RISC_pad0", (GR, DOUBLE): "RISC_pad0",
                  (CTRL, FLOAT): "RISC_pad", (CTRL, DOUBLE): "RISC_pad0"}

#: The alignment members db_access.h puts just before ``value``; the other structs have none.
_VALUE_PADS = {
    (STS, CHAR): [("RISC_pad", ctypes.c_uint8)],
    (STS, DOUBLE): [("RISC_pad", ctypes.c_int32)],
    (TIME, SHORT): [("RISC_pad", ctypes.c_int16)],
    (TIME, ENUM): [("RISC_pad", ctypes.c_int16)],
    (TIME, CHAR): [("RISC_pad0", ctypes.c_int16), ("RISC_pad1", ctypes.c_uint8)],
    (TIME, DOUBLE): [("RISC_pad", ctypes.c_int32)],
    (GR, CHAR): [("RISC_pad", ctypes.c_uint8)],
    (CTRL, CHAR): [("RISC_pad", ctypes.c_uint8)],
}


def _header_members(kind: str, base: int) -> List[Tuple[str, Any]]:
    """Return the members of ``dbr_<kind>_<base>`` that come before its padding and value."""
    members: List[Tuple[str, Any]] = [("status", ctypes.c_int16), ("severity", ctypes.c_int16)]
    if kind == STS:
        return members
    if kind == TIME:
        return members + [("stamp", epicsTimeStamp)]
    if base == ENUM:  # gr and ctrl enum: the state strings instead of units and limits
        return members + [("no_str", ctypes.c_int16),
                          ("strs", (ctypes.c_char * MAX_ENUM_STRING_SIZE) * MAX_ENUM_STATES)]
    if (kind, base) in _PRECISION_PAD:
        members += [("precision", ctypes.c_int16), (_PRECISION_PAD[kind, base], ctypes.c_int16)]
    members.append(("units", ctypes.c_char * MAX_UNITS_SIZE))
    element = _ELEMENT_CTYPE[base]
    return members + [(name, element) for name in ctrl_limits[:_N_LIMITS[kind]]]


def _make_struct(kind: str, base: int) -> Any:
    """Build the ctypes class of ``struct dbr_<kind>_<base>`` from the description above."""
    name = f"dbr_{kind}_{_BASE_NAMES[base].lower()}"
    fields = (_header_members(kind, base) + _VALUE_PADS.get((kind, base), [])
              + [("value", _ELEMENT_CTYPE[base])])
    return type(name, (ctypes.Structure,),
                {"_fields_": fields, "__module__": __name__,
                 "__doc__": f"``struct {name}`` of db_access.h; ``value`` is the first element."})


class dbr_stsack_string(ctypes.Structure):
    """``struct dbr_stsack_string``: a string with status, severity and alarm acknowledgement."""

    _fields_ = [("status", ctypes.c_uint16), ("severity", ctypes.c_uint16),
                ("ackt", ctypes.c_uint16), ("acks", ctypes.c_uint16),
                ("value", ctypes.c_char * MAX_STRING_SIZE)]


class DbrType(NamedTuple):
    """One row of :data:`DBR_TYPES`: everything known about one DBR code."""

    code: int
    #: PyEpics's name ('INT' for code 1 as ``Name`` returns it, 'TIME_SHORT' for 15, ...).
    name: str
    #: The base (native) type: STRING, SHORT, FLOAT, ENUM, CHAR, LONG or DOUBLE.
    base: int
    #: PLAIN, STS, TIME, GR, CTRL or STSACK.
    kind: str
    #: The ctypes layout: a Structure, or the element type for plain codes.
    ctype: Any


def _build_table() -> Tuple[DbrType, ...]:
    """Build the one table of DBR codes 0..38."""
    rows = []
    structs: Dict[Tuple[str, int], Any] = {}
    for kind_index, kind in enumerate(_KINDS):
        for base in _BASE_TYPES:
            code = 7 * kind_index + base
            if kind == PLAIN:
                ctype = _ELEMENT_CTYPE[base]
                # PyEpics calls code 1 'INT' but code 15 'TIME_SHORT'; Name() keeps that.
                name = "INT" if base == SHORT else _BASE_NAMES[base]
            else:
                # db_access.h has no gr/ctrl string struct: those codes use dbr_sts_string
                layout_kind = STS if base == STRING and kind in (GR, CTRL) else kind
                if (layout_kind, base) not in structs:
                    structs[layout_kind, base] = _make_struct(layout_kind, base)
                ctype = structs[layout_kind, base]
                name = f"{kind.upper()}_{_BASE_NAMES[base]}"
            rows.append(DbrType(code, name, base, kind, ctype))
    rows += [DbrType(PUT_ACKT, "PUT_ACKT", ENUM, PLAIN, ctypes.c_uint16),  # dbr_put_ackt_t
             DbrType(PUT_ACKS, "PUT_ACKS", ENUM, PLAIN, ctypes.c_uint16),  # dbr_put_acks_t
             DbrType(STSACK_STRING, "STSACK_STRING", STRING, STSACK, dbr_stsack_string),
             DbrType(CLASS_NAME, "CLASS_NAME", STRING, PLAIN, _ELEMENT_CTYPE[STRING])]
    return tuple(rows)


#: The one table: ``DBR_TYPES[code]`` for every code 0..LAST_BUFFER_TYPE.
DBR_TYPES: Tuple[DbrType, ...] = _build_table()

#: code -> ctypes layout (PyEpics's ``Map``), for all codes.
Map: Dict[int, Any] = {row.code: row.ctype for row in DBR_TYPES}
_VALUE_OFFSETS = tuple(row.ctype.value.offset if issubclass(row.ctype, ctypes.Structure) else 0
                       for row in DBR_TYPES)
#: base type -> numpy dtype name of one element.
_DTYPE_NAMES = {SHORT: "int16", FLOAT: "float32", ENUM: "uint16", CHAR: "uint8", LONG: "int32",
                DOUBLE: "float64", STRING: f"S{MAX_STRING_SIZE}"}


@functools.lru_cache(maxsize=None)
def _dtype(base: int) -> Any:
    return np.dtype(_DTYPE_NAMES[base])


def __getattr__(name: str) -> Any:
    # base type -> numpy scalar type, for the numeric base types (PyEpics's ``NP_Map``), made
    # when first asked for, since it needs numpy
    if name == "NP_Map":
        table = {base: _dtype(base).type for base in _BASE_TYPES if base != STRING}
        globals()["NP_Map"] = table
        return table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
_NAME_TO_CODE: Dict[str, int] = {row.name: row.code for row in DBR_TYPES}
for _row_ in DBR_TYPES:  # SHORT and INT are both names of the short codes
    if _row_.base == SHORT and _row_.kind != STSACK:
        _prefix = "" if _row_.kind == PLAIN else _row_.kind.upper() + "_"
        _NAME_TO_CODE[_prefix + "SHORT"] = _NAME_TO_CODE[_prefix + "INT"] = _row_.code
del _row_, _prefix

# The struct names of db_access.h (generated above, bound here so they can be found by name).
dbr_sts_string = Map[STS_STRING]
dbr_sts_short = dbr_sts_int = Map[STS_SHORT]
dbr_sts_float = Map[STS_FLOAT]
dbr_sts_enum = Map[STS_ENUM]
dbr_sts_char = Map[STS_CHAR]
dbr_sts_long = Map[STS_LONG]
dbr_sts_double = Map[STS_DOUBLE]
dbr_time_string = Map[TIME_STRING]
dbr_time_short = Map[TIME_SHORT]
dbr_time_float = Map[TIME_FLOAT]
dbr_time_enum = Map[TIME_ENUM]
dbr_time_char = Map[TIME_CHAR]
dbr_time_long = Map[TIME_LONG]
dbr_time_double = Map[TIME_DOUBLE]
dbr_gr_short = dbr_gr_int = Map[GR_SHORT]
dbr_gr_float = Map[GR_FLOAT]
dbr_gr_enum = Map[GR_ENUM]
dbr_gr_char = Map[GR_CHAR]
dbr_gr_long = Map[GR_LONG]
dbr_gr_double = Map[GR_DOUBLE]
dbr_ctrl_short = dbr_ctrl_int = Map[CTRL_SHORT]
dbr_ctrl_float = Map[CTRL_FLOAT]
dbr_ctrl_enum = Map[CTRL_ENUM]
dbr_ctrl_char = Map[CTRL_CHAR]
dbr_ctrl_long = Map[CTRL_LONG]
dbr_ctrl_double = Map[CTRL_DOUBLE]

# PyEpics's names for the same structs.
time_string, time_short, time_float, time_enum = (dbr_time_string, dbr_time_short,
                                                  dbr_time_float, dbr_time_enum)
time_char, time_long, time_double = dbr_time_char, dbr_time_long, dbr_time_double
ctrl_enum, ctrl_short, ctrl_char = dbr_ctrl_enum, dbr_ctrl_short, dbr_ctrl_char
ctrl_long, ctrl_float, ctrl_double = dbr_ctrl_long, dbr_ctrl_float, dbr_ctrl_double


# The callback argument structs of cadef.h are declared with the prototypes (``_cadef``);
# PyEpics's dbr module exports them, so they are importable from here too.
connection_args = connection_handler_args  # PyEpics's name


# ---------------------------------------------------------------------------------------------
# Type functions
# ---------------------------------------------------------------------------------------------


def _row(code: int) -> DbrType:
    """Return the table row of ``code``, or raise ValueError naming the bad code."""
    try:
        if code >= 0:
            return DBR_TYPES[code]
    except (IndexError, TypeError):
        pass
    raise ValueError(f"unknown DBR type code {code!r} (valid codes are 0..{LAST_BUFFER_TYPE})")


def native_type(code: int) -> int:
    """Return the base (native) type of any DBR code.

    Parameters
    ----------
    code : int
        A DBR code, 0..38 (e.g. ``TIME_DOUBLE``).

    Returns
    -------
    int
        STRING, SHORT, FLOAT, ENUM, CHAR, LONG or DOUBLE (``native_type(TIME_DOUBLE) == DOUBLE``).
        PUT_ACKT and PUT_ACKS give ENUM (same C type), STSACK_STRING and CLASS_NAME give STRING.

    Raises
    ------
    ValueError
        for a code outside 0..38.
    """
    return _row(code).base


def promote_type(ftype: int, use_time: bool = False, use_ctrl: bool = False) -> int:
    """Return the TIME or CTRL code for a channel of native type ``ftype``.

    As in PyEpics, ``use_ctrl`` wins over ``use_time``, and CTRL_STRING is promoted to TIME_STRING:
    the C library has no control string struct (it is a plain dbr_sts_string), so the time variant
    carries strictly more.

    Parameters
    ----------
    ftype : int
        The native field type (any code of that base type is accepted).
    use_time : bool
        Ask for the TIME variant (status, severity, timestamp).
    use_ctrl : bool
        Ask for the CTRL variant (status, severity, units, limits, precision or enum strings).

    Returns
    -------
    int
        The promoted code, or the native type if neither flag is set.
    """
    base = native_type(ftype)
    if use_ctrl and base != STRING:
        return CTRL_STRING + base
    if use_ctrl or use_time:
        return TIME_STRING + base
    return base


def value_offset(code: int) -> int:
    """Return the byte offset of ``value`` in the DBR struct of ``code`` (libca's dbr_value_offset).

    Parameters
    ----------
    code : int
        A DBR code.

    Returns
    -------
    int
        The offset in bytes (0 for plain codes).

    Raises
    ------
    ValueError
        for an unknown code.

    Notes
    -----
    PyEpics's ``dbr.value_offset`` is libca's array, indexed; this is a function, called.
    """
    return _VALUE_OFFSETS[_row(code).code]


def dbr_size(code: int, count: int = 1) -> int:
    """Return the size in bytes of a DBR buffer of ``code`` holding ``count`` elements.

    This is libca's ``dbr_size_n``: the struct plus ``count - 1`` more elements after it (a negative
    count means the bare struct, as in C).

    Parameters
    ----------
    code : int
        A DBR code.
    count : int
        The number of elements.

    Returns
    -------
    int
        The number of bytes.
    """
    row = _row(code)
    size = ctypes.sizeof(row.ctype)
    if count < 0:
        return size
    return size + (count - 1) * ctypes.sizeof(_ELEMENT_CTYPE[row.base])


def native_dtype(code: int) -> Any:
    """Return the numpy dtype of one element of ``code``'s value.

    Parameters
    ----------
    code : int
        A DBR code (only its base type matters).

    Returns
    -------
    numpy.dtype
        int16, float32, uint16, uint8, int32, float64 for SHORT..DOUBLE, ``'S40'`` for STRING.

    Raises
    ------
    ValueError
        for an unknown code.
    """
    return _dtype(_row(code).base)


def Name(ftype: Any, reverse: bool = False) -> Any:  # noqa: N802 (PyEpics's name)
    """Return the name of a DBR code, or with ``reverse=True`` the code of a name (as PyEpics).

    Parameters
    ----------
    ftype : int or str
        A DBR code, or with ``reverse=True`` a name such as ``'TIME_DOUBLE'`` (case-insensitive; the
        ``DBR_`` prefix and the SHORT/INT aliases are accepted).
    reverse : bool
        Look up a name instead of a code.

    Returns
    -------
    str or int
        The name (``'INT'`` for 1, ``'TIME_SHORT'`` for 15, as PyEpics), the code for a reverse look
        up, or ``'unknown'`` when there is no match (as PyEpics).
    """
    if reverse:
        name = str(ftype).upper()
        if name.startswith("DBR_"):
            name = name[4:]
        return _NAME_TO_CODE.get(name, "unknown")
    try:
        return _row(ftype).name
    except ValueError:
        return "unknown"


# ---------------------------------------------------------------------------------------------
# Strings and time
# ---------------------------------------------------------------------------------------------


def decode_string(raw: bytes) -> str:
    """Decode a C string from a DBR buffer: up to the first NUL, UTF-8, never raising.

    Bytes that are not valid UTF-8 (old IOCs often use latin-1) are decoded as latin-1, so every
    byte maps to a character and nothing is lost.

    Parameters
    ----------
    raw : bytes
        The bytes of the field (e.g. the 40 bytes of a dbr_string_t).

    Returns
    -------
    str
        The text.
    """
    end = raw.find(b"\0")
    if end >= 0:
        raw = raw[:end]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def char_array_to_str(arr: Any) -> str:
    """Return a CHAR waveform as text, stopping at the first NUL (see :func:`decode_string`).

    Parameters
    ----------
    arr : numpy.ndarray, sequence of int, bytes or int
        The value of a CHAR channel: an array of bytes, or a single byte as an int. Values -128..-1
        (a signed view of the bytes) are taken as their two's-complement byte.

    Returns
    -------
    str
        The text.
    """
    if isinstance(arr, (bytes, bytearray, memoryview)):
        return decode_string(bytes(arr))
    if isinstance(arr, str):
        return arr
    raw = np.asarray(arr).ravel().astype(np.uint8).tobytes()
    return decode_string(raw)


def make_unixtime(stamp: epicsTimeStamp) -> float:
    """Return the POSIX time of an ``epicsTimeStamp`` (PyEpics's helper).

    Parameters
    ----------
    stamp : epicsTimeStamp
        Seconds and nanoseconds since the EPICS epoch, 1990-01-01 UTC.

    Returns
    -------
    float
        Seconds since 1970-01-01 UTC.
    """
    return stamp.secPastEpoch + EPICS_EPOCH_OFFSET + stamp.nsec / 1e9


def format_timestamp(posix: float) -> str:
    """Format a POSIX time as local time with 5 decimals, like ``'2014-10-21 05:59:23.08320'``.

    Parameters
    ----------
    posix : float
        Seconds since 1970-01-01 UTC (``meta['timestamp']``).

    Returns
    -------
    str
        The format of PyEpics's cainfo and camonitor output. The fraction is rounded, carrying into
        the seconds when it rounds up to 1 (PyEpics would print six digits there).
    """
    seconds, fraction = divmod(round(posix * 100000), 100000)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(seconds))}.{fraction:05d}"


# ---------------------------------------------------------------------------------------------
# Reading DBR buffers
# ---------------------------------------------------------------------------------------------

_ENUM_BLOCK = MAX_ENUM_STRING_SIZE


class _Layout(NamedTuple):
    """The struct.Struct view of one DBR code, derived from its ctypes layout."""

    keys: Tuple[str, ...]  # names of the header members that are read (pads excluded)
    header: struct.Struct  # the header up to the value
    scalar: struct.Struct  # the header and one value element
    offset: int  # byte offset of the value


def _leaf_members(ctype: Any, start: int = 0):
    """Yield ``(name, offset, ctype)`` for every non-struct member of a ctypes layout."""
    if not issubclass(ctype, ctypes.Structure):
        yield "value", start, ctype
        return
    for name, member_type in ctype._fields_:
        offset = start + getattr(ctype, name).offset
        if issubclass(member_type, ctypes.Structure):
            yield from _leaf_members(member_type, offset)
        else:
            yield name, offset, member_type


def _struct_format(members: Sequence[Tuple[str, int, Any]]) -> str:
    """Return a standard-size ``struct`` format reading ``members``, with 'x' over the gaps."""
    parts, position = ["="], 0
    for _name, offset, member_type in members:
        if offset > position:
            parts.append(f"{offset - position}x")
        if issubclass(member_type, ctypes.Array):
            parts.append(f"{ctypes.sizeof(member_type)}s")  # strings and string tables as bytes
        else:
            parts.append(member_type._type_)
        position = offset + ctypes.sizeof(member_type)
    return "".join(parts)


@functools.lru_cache(maxsize=None)
def _layout(code: int) -> _Layout:
    """Return the struct.Struct layout of ``code`` (cached; there are 39 codes)."""
    members = [m for m in _leaf_members(Map[code]) if not m[0].startswith("RISC_pad")]
    header = [m for m in members if m[0] != "value"]
    value = [m for m in members if m[0] == "value"]
    offset = value_offset(code)
    header_format = _struct_format(header)
    if offset > struct.calcsize(header_format):  # pads just before the value
        header_format += f"{offset - struct.calcsize(header_format)}x"
    return _Layout(tuple(m[0] for m in header), struct.Struct(header_format),
                   struct.Struct(_struct_format(header + value)), offset)


def _no_meta(_values: tuple) -> dict:
    return {}


def _sts_meta(values: tuple) -> dict:
    return {"status": values[0], "severity": values[1]}


def _time_meta(values: tuple) -> dict:
    status, severity, seconds, nanoseconds = values
    posix = seconds + EPICS_EPOCH_OFFSET
    return {"status": status, "severity": severity, "timestamp": posix + nanoseconds / 1e9,
            "posixseconds": posix, "nanoseconds": nanoseconds}


def _enum_meta(values: tuple) -> dict:
    status, severity, no_str, table = values
    count = max(0, min(no_str, MAX_ENUM_STATES))
    strings = tuple(decode_string(table[i * _ENUM_BLOCK:(i + 1) * _ENUM_BLOCK])
                    for i in range(count))
    return {"status": status, "severity": severity, "enum_strs": strings}


def _make_meta_function(keys: Tuple[str, ...]) -> Callable[[tuple], dict]:
    """Choose how the header values of a layout become PyEpics's metadata dict."""
    if not keys:
        return _no_meta
    if keys == ("status", "severity"):
        return _sts_meta
    if keys == ("status", "severity", "secPastEpoch", "nsec"):
        return _time_meta
    if "strs" in keys:
        return _enum_meta
    if "units" in keys:  # gr and ctrl numbers: limits, precision, units
        def limits_meta(values: tuple) -> dict:
            meta = {key: value for key, value in zip(keys, values)
                    if not key.startswith("RISC_pad")}
            meta["units"] = sys.intern(decode_string(meta["units"]))   # one copy per unit
            return meta
        return limits_meta
    return lambda values: dict(zip(keys, values))  # stsack: status, severity, ackt, acks


def _identity(value: Any) -> Any:
    return value


def _time_scalar_reader(unpack: Callable, convert: Callable):
    """The per-event hot path of monitors: a TIME struct with one element, unpacked once."""
    if convert is _identity:
        def read_time(buffer: Any, at: int, _epoch: int = EPICS_EPOCH_OFFSET) -> Tuple[Any, dict]:
            status, severity, seconds, nanoseconds, value = unpack(buffer, at)
            posix = seconds + _epoch
            return value, {"status": status, "severity": severity,
                           "timestamp": posix + nanoseconds / 1e9,
                           "posixseconds": posix, "nanoseconds": nanoseconds}
        return read_time

    def read_time_string(buffer: Any, at: int,
                         _epoch: int = EPICS_EPOCH_OFFSET) -> Tuple[Any, dict]:
        status, severity, seconds, nanoseconds, value = unpack(buffer, at)
        posix = seconds + _epoch
        return convert(value), {"status": status, "severity": severity,
                                "timestamp": posix + nanoseconds / 1e9,
                                "posixseconds": posix, "nanoseconds": nanoseconds}
    return read_time_string


@functools.lru_cache(maxsize=1024)
def make_buffer_reader(code: int, count: int, as_numpy: bool = True
                       ) -> Callable[[Any, int], Tuple[Any, dict]]:
    """Like :func:`make_reader`, for a DBR buffer that starts at byte ``at`` of a Python buffer
    object: ``reader(buffer, at) -> (value, meta)``. The dispatcher reads batches of monitor
    updates this way, straight out of the event buffer, without an object per update."""
    row = _row(code)
    count = int(count)
    if count < 0:
        raise ValueError(f"element count must be >= 0, got {count}")
    layout = _layout(row.code)
    meta_of = _make_meta_function(layout.keys)
    convert = decode_string if row.base == STRING else _identity
    if count == 1:
        unpack = layout.scalar.unpack_from
        if meta_of is _time_meta:
            return _time_scalar_reader(unpack, convert)
        if meta_of is _no_meta:
            def read_plain(buffer: Any, at: int) -> Tuple[Any, dict]:
                return convert(unpack(buffer, at)[0]), {}
            return read_plain

        def read_scalar(buffer: Any, at: int) -> Tuple[Any, dict]:
            values = unpack(buffer, at)
            return convert(values[-1]), meta_of(values[:-1])
        return read_scalar

    if layout.header.size:
        unpack_header = layout.header.unpack_from

        def read_meta(buffer: Any, at: int) -> dict:
            return meta_of(unpack_header(buffer, at))
    else:
        def read_meta(buffer: Any, at: int) -> dict:
            return {}
    offset = layout.offset

    if row.base == STRING:
        nbytes = count * MAX_STRING_SIZE

        def read_strings(buffer: Any, at: int) -> Tuple[List[str], dict]:
            raw = bytes(memoryview(buffer)[at + offset:at + offset + nbytes])
            return ([decode_string(raw[i:i + MAX_STRING_SIZE])
                     for i in range(0, nbytes, MAX_STRING_SIZE)], read_meta(buffer, at))
        return read_strings

    dtype = _dtype(row.base)
    frombuffer = np.frombuffer

    def read_array(buffer: Any, at: int) -> Tuple[Any, dict]:
        # One copy: frombuffer is a view of libca's (or the event buffer's) memory, copy() makes
        # the array we own. Timed 2.5x faster than np.empty + ctypes.memmove.
        return frombuffer(buffer, dtype, count, at + offset).copy(), read_meta(buffer, at)

    if as_numpy:
        return read_array

    def read_list(buffer: Any, at: int) -> Tuple[list, dict]:
        out, meta = read_array(buffer, at)
        return out.tolist(), meta
    return read_list


@functools.lru_cache(maxsize=1024)
def make_reader(code: int, count: int, as_numpy: bool = True) -> Callable[[int], Tuple[Any, dict]]:
    """Return a function that converts a DBR buffer, given by address, to ``(value, meta)``.

    The conversion is decided here, once per ``(code, count, as_numpy)`` (and cached), so the
    returned function only unpacks and copies; it is meant to be called from libca callbacks with
    ``event_handler_args.dbr``. Keep the reader of a subscription while its count is unchanged.

    Parameters
    ----------
    code : int
        The DBR code of the buffer (``event_handler_args.type``).
    count : int
        The number of elements in the buffer (``event_handler_args.count``); 0 is an empty array.
    as_numpy : bool
        Return numeric arrays as numpy arrays (else as lists).

    Returns
    -------
    callable
        ``reader(addr) -> (value, meta)``. ``value`` is a Python scalar when ``count == 1`` (float
        for FLOAT/DOUBLE, int for SHORT/LONG/CHAR/ENUM, str for STRING); otherwise a fresh numpy
        array of the native dtype (made with one copy), a list with ``as_numpy=False``, and a list
        of str for STRING. ``meta`` has PyEpics's keys: ``status``, ``severity`` (STS and up);
        ``timestamp`` (float POSIX seconds), ``posixseconds`` (int), ``nanoseconds`` (TIME);
        ``units``, the limits and ``precision`` (FLOAT/DOUBLE) for GR/CTRL numbers; ``enum_strs``
        for GR/CTRL ENUM; ``{}`` for plain codes. Both are new objects on each call.

    Raises
    ------
    ValueError
        for an unknown code or a negative count.
    """
    read = make_buffer_reader(code, count, as_numpy)
    layout = _layout(_row(code).code)
    size = max(layout.scalar.size,
               layout.offset + count * (MAX_STRING_SIZE if _row(code).base == STRING
                                        else ctypes.sizeof(_ELEMENT_CTYPE[_row(code).base])))
    memory_at = (ctypes.c_char * size).from_address

    def read_at(addr: int) -> Tuple[Any, dict]:
        return read(memory_at(addr), 0)
    return read_at


def cast_args(args: event_handler_args) -> list:
    """Return ``[struct or None, ctypes array of the values]`` viewing an event's DBR buffer.

    PyEpics's helper: the struct is None for plain codes, and both are None for an unknown code.
    These are views into libca's buffer, valid only during the callback; prefer :func:`make_reader`.
    """
    try:
        row = _row(args.type)
    except ValueError:
        return [None, None]
    if not args.dbr:  # a failed operation delivers no buffer
        return [None, None]
    values = (_ELEMENT_CTYPE[row.base] * args.count).from_address(args.dbr + value_offset(row.code))
    header = row.ctype.from_address(args.dbr) if row.kind != PLAIN else None
    return [header, values]


def make_callback(func: Callable, args: Any) -> Any:
    """Wrap ``func`` as a C callback taking one ``args`` struct by value (PyEpics's helper).

    The caller must keep the returned object alive as long as libca may call it.
    """
    return ctypes.CFUNCTYPE(None, args)(func)


# ---------------------------------------------------------------------------------------------
# Building put buffers
# ---------------------------------------------------------------------------------------------


class _NumberRule(NamedTuple):
    name: str
    dtype: str   # numpy's name of the C type
    low: float  # smallest accepted value
    high: float  # largest accepted value
    integer: bool

    @property
    def channel(self) -> str:
        """'a SHORT channel', 'an ENUM channel': for error messages."""
        return f"{'an' if self.name[0] in 'AEIOU' else 'a'} {self.name} channel"


_FLOAT32_MAX = float.fromhex("0x1.fffffep+127")
_FLOAT64_MAX = sys.float_info.max
#: What a numeric channel accepts. CHAR also takes -128..-1: the record's DBF_CHAR is a signed
#: epicsInt8, so a negative byte is meaningful; it is sent as its two's-complement byte.
_NUMBER_RULES = {
    SHORT: _NumberRule("SHORT", _DTYPE_NAMES[SHORT], -32768, 32767, True),
    FLOAT: _NumberRule("FLOAT", _DTYPE_NAMES[FLOAT], -_FLOAT32_MAX, _FLOAT32_MAX, False),
    ENUM: _NumberRule("ENUM", _DTYPE_NAMES[ENUM], 0, 65535, True),
    CHAR: _NumberRule("CHAR", _DTYPE_NAMES[CHAR], -128, 255, True),
    LONG: _NumberRule("LONG", _DTYPE_NAMES[LONG], -2 ** 31, 2 ** 31 - 1, True),
    DOUBLE: _NumberRule("DOUBLE", _DTYPE_NAMES[DOUBLE], -_FLOAT64_MAX, _FLOAT64_MAX, False),
}


def _range_error(value: Any, rule: _NumberRule) -> ValueError:
    if _numpy_loaded() and isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    if len(text) > 40:
        text = text[:20] + "..." + text[-10:]
    limits = f"{rule.low}..{rule.high}" if rule.integer else f"magnitude at most {rule.high:.6g}"
    return ValueError(f"value {text} is out of range for {rule.channel} "
                      f"({rule.dtype}: {limits})")


def _is_scalar(value: Any) -> bool:
    """True for one value (numbers, str, bytes, 0-d arrays), False for sequences and arrays."""
    if isinstance(value, (str, bytes)):
        return True
    if _numpy_loaded() and isinstance(value, np.ndarray):
        return value.ndim == 0
    return not (hasattr(value, "__len__") or hasattr(value, "__iter__"))


def _parse_number(text: Any, rule: _NumberRule) -> Any:
    """Parse a str (or bytes) given for a numeric channel: int(text, 0) or float(text)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        return int(text, 0)  # '12', '0x1F', '0b101'
    except ValueError:
        pass
    try:
        return float(text)  # '1.5', '1e3', 'nan'
    except ValueError:
        raise ValueError(f"cannot put {text!r} to {rule.channel}: "
                         f"it is not a number") from None


def _convert_number(value: Any, rule: _NumberRule) -> Any:
    """Check one Python value for a numeric channel; return the int or float to store."""
    if value is None:
        raise TypeError(f"cannot put None to {rule.channel}")
    if isinstance(value, (str, bytes)) or (
            _numpy_loaded() and isinstance(value, (np.str_, np.bytes_))):
        value = _parse_number(value, rule)
    if isinstance(value, bool) or (_numpy_loaded() and isinstance(value, np.bool_)):
        value = int(value)
    if isinstance(value, int) or (_numpy_loaded() and isinstance(value, np.integer)):
        value = int(value)
        if not rule.low <= value <= rule.high:
            raise _range_error(value, rule)
        return value if rule.integer else float(value)
    try:
        number = float(value)
    except OverflowError:
        raise _range_error(value, rule) from None
    except (TypeError, ValueError):
        raise TypeError(f"cannot put a {type(value).__name__} ({value!r}) to "
                        f"{rule.channel}: expected a number") from None
    if math.isnan(number) or math.isinf(number):
        if rule.integer:
            raise ValueError(f"cannot put {number!r} to {rule.channel}: "
                             f"NaN and infinity are only valid for FLOAT and DOUBLE")
        return number
    if rule.integer:
        number = math.trunc(number)  # as the C conversion (and PyEpics) do
    if not rule.low <= number <= rule.high:
        raise _range_error(value, rule)
    return number


def _check_count(given: int, count: int) -> None:
    if given > count:
        raise ValueError(f"too many elements: {given} given, but the channel holds {count}")
    if given == 0:
        raise ValueError("cannot put an empty sequence")


def _numeric_array(value: Any, rule: _NumberRule, count: int) -> Any:
    """Check a sequence or array for a numeric channel; return an array to copy from."""
    if not isinstance(value, (np.ndarray, collections.abc.Sequence)):
        value = list(value)  # other iterables: sets, generators, ...
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged nested sequences
        raise ValueError(f"cannot put a nested sequence of uneven lengths to "
                         f"{rule.channel}") from None
    arr = arr.reshape(-1)
    _check_count(arr.size, count)
    if arr.dtype.kind in "OUSV":  # strings, None, Python objects: element by element
        return np.array([_convert_number(item, rule) for item in arr.tolist()],
                        dtype=np.int64 if rule.integer else np.float64)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    if arr.dtype.kind == "c":
        raise TypeError(f"cannot put complex values to {rule.channel}")
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"cannot put an array of {arr.dtype} to {rule.channel}")
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if rule.integer and not finite.all():
            raise ValueError(f"cannot put {arr[~finite][0].item()!r} to {rule.channel}: "
                             f"NaN and infinity are only valid for FLOAT and DOUBLE")
        if rule.integer:
            arr = np.trunc(arr)
        if rule.dtype != arr.dtype and finite.any():
            low, high = arr[finite].min(), arr[finite].max()
            if low < rule.low or high > rule.high:
                raise _range_error(low if low < rule.low else high, rule)
    elif rule.integer and not np.can_cast(arr.dtype, rule.dtype) and arr.size:
        low, high = arr.min(), arr.max()
        if low < rule.low or high > rule.high:
            raise _range_error(int(low if low < rule.low else high), rule)
    return arr


def _encode_string(item: Any) -> bytes:
    """Return the bytes of one element for a STRING channel, at most 39 of them."""
    if isinstance(item, str):
        raw = item.encode("utf-8")
    elif isinstance(item, bytes):
        raw = item
    elif isinstance(item, (int, float)) or (
            _numpy_loaded() and isinstance(item, (np.number, np.bool_))):
        raw = str(item).encode("ascii")
    elif item is None:
        raise TypeError("cannot put None to a STRING channel")
    else:
        raise TypeError(f"cannot put a {type(item).__name__} ({item!r}) to a STRING channel: "
                        f"expected str or bytes")
    if len(raw) > MAX_STRING_SIZE - 1:
        raise ValueError(f"string {item!r} is {len(raw)} bytes long: a STRING value holds at most "
                         f"{MAX_STRING_SIZE - 1} bytes (UTF-8) plus the terminating NUL")
    return raw


def _string_buffer(value: Any, count: int) -> Tuple[int, int, Any]:
    if _is_scalar(value):
        items = [value.item() if _numpy_loaded() and isinstance(value, np.ndarray) else value]
    elif _numpy_loaded() and isinstance(value, np.ndarray):
        items = value.reshape(-1).tolist()
    else:
        items = list(value)
    _check_count(len(items), count)
    data = b"".join(_encode_string(item).ljust(MAX_STRING_SIZE, b"\0") for item in items)
    return STRING, len(items), (string_t * len(items)).from_buffer_copy(data)


def _is_empty_sequence(value: Any) -> bool:
    """An empty list, tuple, array or bytes (not an empty str, which is a value of its own)."""
    if isinstance(value, str):
        return False
    try:
        return len(value) == 0
    except TypeError:
        return False


def make_put_buffer(ftype: int, count: int, value: Any, empty_fills: bool = False
                    ) -> Tuple[int, int, Any]:
    """Convert a Python value into the buffer ``ca_array_put`` sends to a channel.

    Parameters
    ----------
    ftype : int
        The channel's native type (STRING, SHORT, FLOAT, ENUM, CHAR, LONG or DOUBLE).
    count : int
        The channel's element count (NELM).
    value : object
        What to put. Numbers, sequences and numpy arrays go out as the native C type (numpy input is
        cast and copied in one pass; arrays are flattened in C order). A str given to a numeric
        channel is parsed (``int(text, 0)``, else ``float(text)``). A str given to a CHAR channel
        with ``count > 1`` goes out as its UTF-8 bytes plus a NUL (the NUL is left out when the text
        fills the channel exactly); bytes given to a CHAR channel go out as they are. A str (or
        bytes) given to an ENUM channel goes out as DBR_STRING, so the server maps the state name.
        STRING channels take str or bytes of at most 39 encoded bytes (numbers are formatted with
        ``str``), or a sequence of them for string arrays. Integer channels truncate floats toward
        zero, as PyEpics and the C conversion do; CHAR accepts -128..255 (negative values are the
        signed view of the byte, DBF_CHAR being an epicsInt8 in the IOC).
    empty_fills : bool
        What an empty sequence means for an array channel (``count > 1``): False, an error;
        True, ``count`` empty strings or zeros, which is what PyEpics writes.

    Returns
    -------
    tuple
        ``(dbrtype, n_elements, buffer)``: the DBR code to put as, the number of elements, and the
        ctypes array holding them. Keep ``buffer`` alive until ``ca_array_put`` returns.

    Raises
    ------
    TypeError
        for None, or a value that is not a number (or a str) where one is needed.
    ValueError
        for an unknown ``ftype``, text that is not a number for a numeric channel, a value out of
        range of the channel's C type (no silent wrap), NaN or infinity for an integer channel, a
        STRING longer than 39 bytes, an empty sequence (unless ``empty_fills``), or more elements
        than ``count``. The message says what was wrong; the caller adds the PV name.
    """
    if value is None:
        raise TypeError("cannot put None")
    if isinstance(value, (collections.abc.Mapping, collections.abc.Set)):  # no element order
        raise TypeError(f"cannot put a {type(value).__name__}: expected a number, a str or a "
                        f"sequence")
    if ftype not in _BASE_TYPES:
        raise ValueError(f"cannot put to native type {ftype!r}: expected a native type 0..6")
    count = int(count)
    if count < 1:
        raise ValueError(f"channel element count must be >= 1, got {count}")
    if empty_fills and count > 1 and _is_empty_sequence(value):
        value = [""] * count if ftype == STRING else np.zeros(count, dtype=np.uint8)
    if ftype == STRING or (ftype == ENUM and isinstance(value, (str, bytes))):
        return _string_buffer(value, count)
    rule = _NUMBER_RULES[ftype]
    ctype = _ELEMENT_CTYPE[ftype]
    text_to_waveform = isinstance(value, str) and count > 1
    if ftype == CHAR and (text_to_waveform or isinstance(value, bytes)):
        raw = value.encode("utf-8") if isinstance(value, str) else value
        if isinstance(value, str) and len(raw) < count:
            raw += b"\0"
        _check_count(len(raw), count)
        return CHAR, len(raw), (ctype * len(raw)).from_buffer_copy(raw)
    if _is_scalar(value):
        if _numpy_loaded() and isinstance(value, np.ndarray):
            value = value.item()
        number = _convert_number(value, rule)
        if ftype == CHAR and number < 0:
            number &= 0xFF
        return ftype, 1, (ctype * 1)(number)
    arr = _numeric_array(value, rule, count)
    buffer = (ctype * arr.size)()
    np.copyto(np.frombuffer(buffer, dtype=rule.dtype), arr, casting="unsafe")
    return ftype, arr.size, buffer


# ---------------------------------------------------------------------------------------------
# Alarm enums (PyEpics's names)
# ---------------------------------------------------------------------------------------------


class DefaultIntEnum(enum.IntEnum):
    """An IntEnum that maps unknown values to a member named UNKNOWN instead of raising."""

    @classmethod
    def _missing_(cls, value: object) -> Optional["DefaultIntEnum"]:
        if not isinstance(value, int):
            return None
        member = int.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    def __repr__(self) -> str:
        return self.name


class AlarmStatus(DefaultIntEnum):
    """Alarm status codes (menuAlarmStat.h); HW_LIMIT is PyEpics's name of HWLIMIT."""

    NO_ALARM = 0
    READ = 1
    WRITE = 2
    HIHI = 3
    HIGH = 4
    LOLO = 5
    LOW = 6
    STATE = 7
    COS = 8
    COMM = 9
    TIMEOUT = 10
    HW_LIMIT = 11
    CALC = 12
    SCAN = 13
    LINK = 14
    SOFT = 15
    BAD_SUB = 16
    UDF = 17
    DISABLE = 18
    SIMM = 19
    READ_ACCESS = 20
    WRITE_ACCESS = 21


class AlarmSeverity(DefaultIntEnum):
    """Alarm severities (menuAlarmSevr.h)."""

    NO_ALARM = 0
    MINOR = 1
    MAJOR = 2
    INVALID = 3
