"""From an aioca request (datatype, format, count) to a DBR code, and from libca's answer to an
augmented value; from a value to write to the buffer ``ca_array_put`` sends.

Decided once per request (``read_plan``), so that the conversion run per answer or per monitor
update (on the dispatcher thread) only builds the value. No thread of its own; pure functions.
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, NamedTuple, Optional, Tuple

import numpy

from .. import ca, dbr
from ._constants import (DBR_CHAR_BYTES, DBR_CHAR_STR, DBR_CHAR_UNICODE, DBR_CLASS_NAME,
                         DBR_ENUM_STR, DBR_PUT_ACKS, DBR_PUT_ACKT, DBR_STSACK_STRING,
                         FORMAT_CTRL, FORMAT_RAW, FORMAT_TIME)
from ._values import augment, ca_array, ca_bytes, ca_float, ca_int, ca_str

__all__ = ["ReadPlan", "read_plan", "put_buffer"]

_BASIC = frozenset(range(7))
_CHAR_TEXT = frozenset((DBR_CHAR_STR, DBR_CHAR_BYTES, DBR_CHAR_UNICODE))
# numpy type characters to the DBR type that carries them (aioca's choices)
_NUMPY_CHAR_TO_DBR = {
    "b": dbr.CHAR, "B": dbr.CHAR, "?": dbr.CHAR, "h": dbr.SHORT, "H": dbr.SHORT,
    "i": dbr.LONG, "I": dbr.LONG, "l": dbr.LONG, "L": dbr.LONG, "f": dbr.FLOAT,
    "d": dbr.DOUBLE, "S": dbr.STRING, "U": dbr.STRING,
}


class ReadPlan(NamedTuple):
    """How to ask for a value and how to turn the answer into an augmented value."""
    dbrcode: int
    count: int
    convert: Callable[[Any, dict], Any]   # (value, metadata from epics.dbr) -> augmented value


def _base_type(name: str, datatype: Any) -> int:
    """The DBR base type a python type, numpy dtype or DBR code asks for."""
    if datatype in _BASIC:
        return int(datatype)
    try:
        return _NUMPY_CHAR_TO_DBR[numpy.dtype(datatype).char]
    except (TypeError, KeyError) as exc:
        raise ca.CATypeError(f"datatype {datatype!r} is not supported for PV {name!r}",
                             pvname=name) from exc


def _with_format(name: str, base: int, format: int) -> int:
    if format == FORMAT_RAW:
        return base
    if format == FORMAT_TIME:
        return base + dbr.TIME_STRING
    if format == FORMAT_CTRL:   # there is no CTRL_STRING: the richest for strings is TIME
        return dbr.TIME_STRING if base == dbr.STRING else base + dbr.CTRL_STRING
    raise ca.CAValueError(f"format {format!r} is not FORMAT_RAW, FORMAT_TIME or FORMAT_CTRL "
                          f"(PV {name!r})", pvname=name)


def _first_text(raw: bytes) -> bytes:
    end = raw.find(b"\0")
    return raw if end < 0 else raw[:end]


def _char_bytes(value: Any) -> bytes:
    if isinstance(value, (int, numpy.integer)):
        return bytes((int(value) & 0xFF,))
    return _first_text(numpy.asarray(value, dtype=numpy.uint8).tobytes())


def _scalar_maker(base: int, text: Optional[int], as_bytes: bool) -> Callable[[Any], Any]:
    """value -> ca_ type, for a channel of one element."""
    if text == DBR_CHAR_BYTES:
        return lambda value: ca_bytes(_char_bytes(value))
    if text is not None:
        return lambda value: ca_str(_char_bytes(value).decode("utf-8", "replace"))
    if base in (dbr.STRING, DBR_STSACK_STRING, DBR_CLASS_NAME):
        if as_bytes:
            return lambda value: ca_bytes((value[0] if isinstance(value, list) else value)
                                          .encode("utf-8"))
        return lambda value: ca_str(value[0] if isinstance(value, list) else value)
    if base in (dbr.FLOAT, dbr.DOUBLE):
        return ca_float
    return ca_int


def _array_maker(base: int, text: Optional[int], as_bytes: bool) -> Callable[[Any], Any]:
    """value -> ca_array (or ca_str/ca_bytes for a CHAR array read as text)."""
    if text is not None:
        return _scalar_maker(base, text, as_bytes)
    if base == dbr.STRING:
        kind = "S" if as_bytes else "U"

        def strings(value: Any) -> ca_array:
            items = [value] if isinstance(value, str) else list(value)
            if as_bytes:
                items = [item.encode("utf-8") for item in items]
            width = max((len(item) for item in items), default=1) or 1
            return numpy.array(items, dtype=f"{kind}{width}").view(ca_array)
        return strings
    dtype = dbr.native_dtype(base)

    def array(value: Any) -> ca_array:
        if not isinstance(value, numpy.ndarray):
            value = numpy.array([value], dtype=dtype)
        return value.view(ca_array)
    return array


def read_plan(name: str, field_type: int, element_count: int, datatype: Any, format: int,
              count: int) -> ReadPlan:
    """The request and conversion for a read of a connected channel (aioca's rules).

    ``datatype`` None reads the native type (a CHAR array whose name ends in ``$`` as a str);
    DBR_ENUM_STR reads an ENUM as its state name; DBR_CHAR_STR/BYTES/UNICODE read a CHAR array
    as text; a python type or numpy dtype picks the DBR type that carries it. ``count`` < 0 is
    the channel's element count, 0 the server's current count, else at most the element count.
    """
    text: Optional[int] = None
    as_bytes = False
    if datatype is None:
        base = field_type
        if base == dbr.CHAR and name.endswith("$"):
            text = DBR_CHAR_STR
    elif datatype == DBR_ENUM_STR:
        base = dbr.STRING if field_type == dbr.ENUM else field_type
    elif datatype in _CHAR_TEXT:
        base, text = dbr.CHAR, datatype
    elif datatype in (DBR_STSACK_STRING, DBR_CLASS_NAME):
        base = datatype
    else:
        base = _base_type(name, datatype)
        as_bytes = isinstance(datatype, type) and issubclass(datatype, bytes)
    dbrcode = base if base > dbr.DOUBLE else _with_format(name, base, format)
    if count < 0:
        count = element_count
    elif count > 0:
        count = min(count, element_count)
    make = (_scalar_maker if element_count == 1 else _array_maker)(base, text, as_bytes)
    fields = {"name": name, "ok": True, "datatype": base, "element_count": element_count}

    def convert(value: Any, metadata: dict) -> Any:
        return augment(make(value), metadata, fields)
    return ReadPlan(dbrcode, count, convert)


def put_buffer(name: str, field_type: int, element_count: int, datatype: Any,
               value: Any) -> Tuple[int, int, Any]:
    """``(dbrtype, count, buffer)`` to write ``value`` (aioca's rules: text without a datatype
    goes out as DBR_STRING and the server converts it, except to a CHAR array, which takes its
    bytes; DBR_CHAR_STR writes text to a CHAR array; DBR_PUT_ACKT/ACKS write one number)."""
    if datatype in (DBR_PUT_ACKT, DBR_PUT_ACKS):
        return int(datatype), 1, (ctypes.c_uint16 * 1)(int(value))
    if datatype is None:
        if isinstance(value, (str, bytes)):
            text_to_chars = field_type == dbr.CHAR and (element_count > 1 or name.endswith("$"))
            base = dbr.CHAR if text_to_chars else dbr.STRING
        else:
            base = field_type
    elif datatype in _CHAR_TEXT:
        base = dbr.CHAR
    else:
        base = _base_type(name, datatype)
    try:
        return dbr.make_put_buffer(base, max(1, element_count), value)
    except TypeError as exc:
        raise ca.CATypeError(f"cannot put {value!r:.80} to PV {name!r}: {exc}", pvname=name,
                             function="caput") from exc
    except (ValueError, OverflowError) as exc:
        raise ca.CAValueError(f"cannot put {value!r:.80} to PV {name!r}: {exc}", pvname=name,
                              function="caput") from exc
