"""Conversions of epics.dbr: reading DBR buffers and building put buffers, no IOC needed.

The read tests build DBR buffers from the ctypes structs, exactly as libca lays them out, and pass
their address to a reader, as a libca callback does with ``event_handler_args.dbr``.
"""
from __future__ import annotations

import ctypes
import math
import time

import numpy as np
import pytest

from epics import dbr

EPOCH = 631152000  # 1990-01-01 UTC in POSIX seconds


def dbr_buffer(code, header=None, values=()):
    """A DBR buffer of `code`: the struct `header` (or zeros), then `values` at value_offset."""
    values = np.asarray(values, dtype=dbr.native_dtype(code)).reshape(-1)
    buf = (ctypes.c_char * dbr.dbr_size(code, max(values.size, 1)))()
    if header is not None:
        ctypes.memmove(buf, ctypes.addressof(header), ctypes.sizeof(header))
    ctypes.memmove(ctypes.addressof(buf) + dbr.value_offset(code), values.ctypes.data,
                   values.nbytes)
    return buf


def read(code, buf, count=1, as_numpy=True):
    return dbr.make_reader(code, count, as_numpy)(ctypes.addressof(buf))


def stamp(posix_seconds, nanoseconds=0):
    return dbr.epicsTimeStamp(posix_seconds - EPOCH, nanoseconds)


# ---- type functions -------------------------------------------------------------------------

def test_native_type_of_every_kind():
    assert dbr.native_type(dbr.DOUBLE) == dbr.DOUBLE
    assert dbr.native_type(dbr.STS_CHAR) == dbr.CHAR
    assert dbr.native_type(dbr.TIME_DOUBLE) == dbr.DOUBLE
    assert dbr.native_type(dbr.GR_ENUM) == dbr.ENUM
    assert dbr.native_type(dbr.CTRL_STRING) == dbr.STRING
    assert dbr.native_type(dbr.STSACK_STRING) == dbr.STRING
    with pytest.raises(ValueError, match="unknown DBR type code 39"):
        dbr.native_type(39)


def test_promote_type_ctrl_wins_over_time():
    assert dbr.promote_type(dbr.DOUBLE) == dbr.DOUBLE
    assert dbr.promote_type(dbr.DOUBLE, use_time=True) == dbr.TIME_DOUBLE
    assert dbr.promote_type(dbr.LONG, use_ctrl=True) == dbr.CTRL_LONG
    assert dbr.promote_type(dbr.ENUM, use_time=True, use_ctrl=True) == dbr.CTRL_ENUM
    # as PyEpics: there is no control string struct, so the TIME variant is used
    assert dbr.promote_type(dbr.STRING, use_ctrl=True) == dbr.TIME_STRING


def test_native_dtype():
    assert [dbr.native_dtype(code) for code in range(7)] == [
        np.dtype("S40"), np.dtype(np.int16), np.dtype(np.float32), np.dtype(np.uint16),
        np.dtype(np.uint8), np.dtype(np.int32), np.dtype(np.float64)]
    assert dbr.native_dtype(dbr.CTRL_DOUBLE) == np.float64


def test_name_and_reverse_name_as_pyepics():
    assert dbr.Name(dbr.INT) == "INT"
    assert dbr.Name(dbr.TIME_DOUBLE) == "TIME_DOUBLE"
    assert dbr.Name(dbr.CTRL_SHORT) == "CTRL_SHORT"
    assert dbr.Name(999) == "unknown"
    assert dbr.Name("time_double", reverse=True) == dbr.TIME_DOUBLE
    assert dbr.Name("SHORT", reverse=True) == dbr.Name("DBR_INT", reverse=True) == 1
    assert dbr.Name("nonsense", reverse=True) == "unknown"


def test_table_and_derived_maps_agree():
    for row in dbr.DBR_TYPES:
        assert dbr.Map[row.code] is row.ctype
        assert getattr(dbr, row.name) == row.code
    assert dbr.time_double is dbr.dbr_time_double
    assert dbr.NP_Map[dbr.CHAR] is np.uint8


# ---- reading scalars --------------------------------------------------------------------------

def test_time_double_scalar():
    header = dbr.dbr_time_double(status=3, severity=2, stamp=stamp(1_413_871_163, 83_200_000),
                                 value=2.5)
    value, meta = read(dbr.TIME_DOUBLE, header)
    assert value == 2.5 and isinstance(value, float)
    assert meta == {"status": 3, "severity": 2,
                    "timestamp": pytest.approx(1_413_871_163.0832, abs=1e-6),
                    "posixseconds": 1_413_871_163, "nanoseconds": 83_200_000}
    assert isinstance(meta["posixseconds"], int)


def test_timestamp_uses_the_1990_epoch():
    header = dbr.dbr_time_long(stamp=dbr.epicsTimeStamp(0, 0), value=7)
    value, meta = read(dbr.TIME_LONG, header)
    assert value == 7
    assert meta["timestamp"] == dbr.EPICS_EPOCH_OFFSET == EPOCH
    assert time.gmtime(meta["timestamp"])[:3] == (1990, 1, 1)
    assert dbr.make_unixtime(dbr.epicsTimeStamp(10, 500_000_000)) == EPOCH + 10.5


@pytest.mark.parametrize("code, value, python_type", [
    (dbr.SHORT, -5, int), (dbr.FLOAT, 1.5, float), (dbr.ENUM, 3, int), (dbr.CHAR, 200, int),
    (dbr.LONG, -100_000, int), (dbr.DOUBLE, 1e300, float)])
def test_plain_scalars_are_python_numbers(code, value, python_type):
    got, meta = read(code, dbr_buffer(code, values=[value]))
    assert got == value and type(got) is python_type
    assert meta == {}


@pytest.mark.parametrize("code", [dbr.TIME_SHORT, dbr.TIME_FLOAT, dbr.TIME_ENUM, dbr.TIME_CHAR,
                                  dbr.TIME_LONG, dbr.TIME_DOUBLE])
def test_time_scalars_of_every_type(code):
    header = dbr.Map[code](severity=1, stamp=stamp(EPOCH + 5), value=42)
    value, meta = read(code, header)
    assert value == 42
    assert (meta["severity"], meta["posixseconds"]) == (1, EPOCH + 5)


def test_sts_scalar_has_status_and_severity():
    value, meta = read(dbr.STS_CHAR, dbr.dbr_sts_char(status=7, severity=1, value=65))
    assert (value, meta) == (65, {"status": 7, "severity": 1})


def test_string_stops_at_nul():
    assert read(dbr.STRING, dbr_buffer(dbr.STRING, values=[b"hello"]))[0] == "hello"
    raw = (ctypes.c_char * 40).from_buffer_copy(b"abc\0garbage".ljust(40, b"\0"))
    assert read(dbr.STRING, raw)[0] == "abc"


def test_string_of_40_bytes_without_nul():
    raw = (ctypes.c_char * 40).from_buffer_copy(b"x" * 40)
    assert read(dbr.STRING, raw)[0] == "x" * 40


def test_string_utf8_and_non_utf8():
    assert read(dbr.STRING, dbr_buffer(dbr.STRING, values=["µm".encode()]))[0] == "µm"
    # latin-1 bytes are not UTF-8: decoded as latin-1 instead of raising
    assert read(dbr.STRING, dbr_buffer(dbr.STRING, values=[b"caf\xe9"]))[0] == "café"


def test_time_string_scalar():
    header = dbr.dbr_time_string(severity=2, stamp=stamp(EPOCH + 1, 5), value=b"on")
    value, meta = read(dbr.TIME_STRING, header)
    assert value == "on"
    assert (meta["severity"], meta["nanoseconds"]) == (2, 5)


def test_ctrl_double_metadata():
    header = dbr.dbr_ctrl_double(status=0, severity=0, precision=3, units=b"mm",
                                 upper_disp_limit=10, lower_disp_limit=-10,
                                 upper_alarm_limit=9, upper_warning_limit=8,
                                 lower_warning_limit=-8, lower_alarm_limit=-9,
                                 upper_ctrl_limit=5, lower_ctrl_limit=-5, value=1.25)
    value, meta = read(dbr.CTRL_DOUBLE, header)
    assert value == 1.25
    assert meta == {"status": 0, "severity": 0, "precision": 3, "units": "mm",
                    "upper_disp_limit": 10.0, "lower_disp_limit": -10.0,
                    "upper_alarm_limit": 9.0, "upper_warning_limit": 8.0,
                    "lower_warning_limit": -8.0, "lower_alarm_limit": -9.0,
                    "upper_ctrl_limit": 5.0, "lower_ctrl_limit": -5.0}


def test_gr_long_has_no_ctrl_limits_and_no_precision():
    header = dbr.dbr_gr_long(units=b"counts", upper_disp_limit=100, value=4)
    value, meta = read(dbr.GR_LONG, header)
    assert value == 4
    assert meta["units"] == "counts" and meta["upper_disp_limit"] == 100
    assert "upper_ctrl_limit" not in meta and "precision" not in meta


def test_ctrl_char_limits_are_ints():
    value, meta = read(dbr.CTRL_CHAR, dbr.dbr_ctrl_char(units=b"V", upper_ctrl_limit=250,
                                                        value=7))
    assert value == 7 and meta["upper_ctrl_limit"] == 250 and meta["units"] == "V"


def test_ctrl_enum_strings():
    header = dbr.dbr_ctrl_enum(severity=1, no_str=3, value=2)
    for index, text in enumerate([b"Off", b"On", b"Fault \xb5"]):  # the last is not UTF-8
        header.strs[index].value = text
    header.strs[3].value = b"not a state"  # beyond no_str: ignored
    value, meta = read(dbr.CTRL_ENUM, header)
    assert value == 2
    assert meta == {"status": 0, "severity": 1, "enum_strs": ("Off", "On", "Fault µ")}


def test_ctrl_string_is_sts_string():
    value, meta = read(dbr.CTRL_STRING, dbr.dbr_sts_string(status=1, severity=2, value=b"x"))
    assert (value, meta) == ("x", {"status": 1, "severity": 2})


def test_stsack_string():
    header = dbr.dbr_stsack_string(status=1, severity=2, ackt=1, acks=2, value=b"alarm")
    value, meta = read(dbr.STSACK_STRING, header)
    assert value == "alarm"
    assert meta == {"status": 1, "severity": 2, "ackt": 1, "acks": 2}


# ---- reading arrays ---------------------------------------------------------------------------

def test_time_double_array_is_a_fresh_numpy_array():
    header = dbr.dbr_time_double(severity=1, stamp=stamp(EPOCH + 60))
    buf = dbr_buffer(dbr.TIME_DOUBLE, header, [0.5, 1.5, 2.5, 3.5])
    value, meta = read(dbr.TIME_DOUBLE, buf, count=4)
    assert isinstance(value, np.ndarray) and value.dtype == np.float64
    assert value.tolist() == [0.5, 1.5, 2.5, 3.5]
    assert meta["severity"] == 1 and meta["posixseconds"] == EPOCH + 60
    ctypes.memset(buf, 0, ctypes.sizeof(buf))  # libca reuses its buffer after the callback
    assert value.tolist() == [0.5, 1.5, 2.5, 3.5]
    value[0] = 9.0  # and the array is ours to change
    assert value.flags.writeable


@pytest.mark.parametrize("code", [dbr.SHORT, dbr.FLOAT, dbr.ENUM, dbr.CHAR, dbr.LONG, dbr.DOUBLE])
def test_arrays_of_every_type(code):
    data = [1, 2, 3, 120]
    value, _ = read(code, dbr_buffer(code, values=data), count=4)
    assert value.dtype == dbr.native_dtype(code) and value.tolist() == data
    as_list, _ = read(code, dbr_buffer(code, values=data), count=4, as_numpy=False)
    assert as_list == data and isinstance(as_list, list)


def test_char_waveform_as_text():
    value, _ = read(dbr.TIME_CHAR, dbr_buffer(dbr.TIME_CHAR, values=list(b"hi there\0xx")),
                    count=11)
    assert value.dtype == np.uint8
    assert dbr.char_array_to_str(value) == "hi there"


def test_string_array_is_a_list_of_str():
    buf = dbr_buffer(dbr.TIME_STRING, dbr.dbr_time_string(), [b"one", b"two", "µ".encode()])
    value, meta = read(dbr.TIME_STRING, buf, count=3)
    assert value == ["one", "two", "µ"]
    assert set(meta) == {"status", "severity", "timestamp", "posixseconds", "nanoseconds"}


def test_empty_array():
    value, meta = read(dbr.TIME_DOUBLE, dbr_buffer(dbr.TIME_DOUBLE), count=0)
    assert value.size == 0 and value.dtype == np.float64 and "timestamp" in meta


def test_readers_are_cached_and_checked():
    assert dbr.make_reader(dbr.TIME_DOUBLE, 1) is dbr.make_reader(dbr.TIME_DOUBLE, 1)
    with pytest.raises(ValueError, match="unknown DBR type code"):
        dbr.make_reader(40, 1)
    with pytest.raises(ValueError, match=">= 0"):
        dbr.make_reader(dbr.DOUBLE, -1)


def test_cast_args_views_an_event_buffer():
    header = dbr.dbr_time_short(severity=2, value=11)
    args = dbr.event_handler_args(type=dbr.TIME_SHORT, count=1, dbr=ctypes.addressof(header))
    struct_view, values = dbr.cast_args(args)
    assert struct_view.severity == 2 and list(values) == [11]
    assert dbr.cast_args(dbr.event_handler_args(type=99, count=1)) == [None, None]


# ---- strings and time -------------------------------------------------------------------------

def test_decode_string():
    assert dbr.decode_string(b"abc\0def") == "abc"
    assert dbr.decode_string(b"") == ""
    assert dbr.decode_string("°C".encode()) == "°C"
    assert dbr.decode_string(b"\xb0C") == "°C"  # latin-1 fallback


def test_char_array_to_str():
    assert dbr.char_array_to_str(np.array([72, 105, 0, 65], dtype=np.uint8)) == "Hi"
    assert dbr.char_array_to_str([72, 105]) == "Hi"
    assert dbr.char_array_to_str(65) == "A"
    assert dbr.char_array_to_str(0) == ""
    assert dbr.char_array_to_str(np.array([-80, 67], dtype=np.int8)) == "°C"  # signed bytes
    assert dbr.char_array_to_str(b"ok\0") == "ok"


@pytest.fixture
def utc(monkeypatch):
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available on this platform")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_format_timestamp(utc):
    assert dbr.format_timestamp(1_413_871_163.0832) == "2014-10-21 05:59:23.08320"
    assert dbr.format_timestamp(EPOCH) == "1990-01-01 00:00:00.00000"
    assert dbr.format_timestamp(EPOCH + 0.999999) == "1990-01-01 00:00:01.00000"  # carries


# ---- put buffers ------------------------------------------------------------------------------

def test_put_scalar_double():
    dbrtype, count, buf = dbr.make_put_buffer(dbr.DOUBLE, 1, 1.5)
    assert (dbrtype, count, list(buf)) == (dbr.DOUBLE, 1, [1.5])
    assert isinstance(buf, ctypes.Array)  # the caller keeps it alive for ca_array_put


def test_put_numpy_array_to_waveform():
    source = np.arange(5, dtype=np.float64)
    dbrtype, count, buf = dbr.make_put_buffer(dbr.DOUBLE, 10, source)
    assert (dbrtype, count) == (dbr.DOUBLE, 5)
    assert ctypes.sizeof(buf) == 5 * 8 and list(buf) == [0, 1, 2, 3, 4]
    source[0] = 99  # the buffer is a copy
    assert buf[0] == 0


def test_put_converts_to_the_native_type():
    _, _, buf = dbr.make_put_buffer(dbr.FLOAT, 3, np.array([1, 2, 3], dtype=np.int64))
    assert buf._type_ is ctypes.c_float and list(buf) == [1.0, 2.0, 3.0]
    _, n, buf = dbr.make_put_buffer(dbr.SHORT, 4, [1, -2, 3])
    assert n == 3 and buf._type_ is ctypes.c_int16 and list(buf) == [1, -2, 3]
    _, n, buf = dbr.make_put_buffer(dbr.LONG, 6, np.array([[1, 2, 3], [4, 5, 6]]))  # flattened
    assert n == 6 and list(buf) == [1, 2, 3, 4, 5, 6]


def test_put_float_to_integer_truncates_like_c():
    assert list(dbr.make_put_buffer(dbr.LONG, 1, 3.7)[2]) == [3]
    assert list(dbr.make_put_buffer(dbr.LONG, 1, -3.7)[2]) == [-3]
    assert list(dbr.make_put_buffer(dbr.SHORT, 2, np.array([1.9, -1.9]))[2]) == [1, -1]
    assert list(dbr.make_put_buffer(dbr.LONG, 1, True)[2]) == [1]


def test_put_numeric_strings_are_parsed():
    assert list(dbr.make_put_buffer(dbr.LONG, 1, "12")[2]) == [12]
    assert list(dbr.make_put_buffer(dbr.LONG, 1, "0x10")[2]) == [16]
    assert list(dbr.make_put_buffer(dbr.DOUBLE, 1, " 2.5 ")[2]) == [2.5]
    assert list(dbr.make_put_buffer(dbr.SHORT, 1, "4.0")[2]) == [4]
    assert list(dbr.make_put_buffer(dbr.DOUBLE, 3, ["1", "2.5"])[2]) == [1.0, 2.5]
    with pytest.raises(ValueError, match="'abc'.*DOUBLE.*not a number"):
        dbr.make_put_buffer(dbr.DOUBLE, 1, "abc")
    with pytest.raises(ValueError, match="not a number"):
        dbr.make_put_buffer(dbr.CHAR, 1, "A")  # a scalar CHAR is a number


def test_put_text_to_char_waveform():
    dbrtype, count, buf = dbr.make_put_buffer(dbr.CHAR, 10, "hi")
    assert (dbrtype, count, bytes(buf)) == (dbr.CHAR, 3, b"hi\0")
    assert bytes(dbr.make_put_buffer(dbr.CHAR, 10, "°C")[2]) == "°C".encode() + b"\0"
    # text that fills the waveform exactly goes without the NUL
    assert bytes(dbr.make_put_buffer(dbr.CHAR, 4, "abcd")[2]) == b"abcd"
    with pytest.raises(ValueError, match="5 given.*holds 4"):
        dbr.make_put_buffer(dbr.CHAR, 4, "abcde")
    # bytes are raw data: no NUL added
    assert bytes(dbr.make_put_buffer(dbr.CHAR, 10, b"\x01\x02")[2]) == b"\x01\x02"


def test_put_char_accepts_signed_bytes():
    assert list(dbr.make_put_buffer(dbr.CHAR, 1, -1)[2]) == [255]
    assert list(dbr.make_put_buffer(dbr.CHAR, 3, [-128, 0, 255])[2]) == [128, 0, 255]
    assert list(dbr.make_put_buffer(dbr.CHAR, 2, np.array([-2, 7], dtype=np.int8))[2]) == [254, 7]
    for bad in (256, -129):
        with pytest.raises(ValueError, match="out of range for a CHAR"):
            dbr.make_put_buffer(dbr.CHAR, 1, bad)


def test_put_state_name_to_enum_goes_as_string():
    dbrtype, count, buf = dbr.make_put_buffer(dbr.ENUM, 1, "Open")
    assert (dbrtype, count, buf[0].value) == (dbr.STRING, 1, b"Open")
    assert dbr.make_put_buffer(dbr.ENUM, 1, 2)[:2] == (dbr.ENUM, 1)


@pytest.mark.parametrize("ftype, bad", [
    (dbr.SHORT, 32768), (dbr.SHORT, -32769), (dbr.LONG, 2 ** 31), (dbr.LONG, -2 ** 31 - 1),
    (dbr.ENUM, 65536), (dbr.ENUM, -1), (dbr.FLOAT, 1e39), (dbr.DOUBLE, 10 ** 400),
    (dbr.SHORT, np.array([1, 40000], dtype=np.int32)), (dbr.LONG, [1, 2 ** 40]),
    (dbr.ENUM, np.array([3.0, 70000.0]))])
def test_put_out_of_range_is_an_error_not_a_wrap(ftype, bad):
    name = {dbr.SHORT: "SHORT", dbr.LONG: "LONG", dbr.ENUM: "ENUM", dbr.FLOAT: "FLOAT",
            dbr.DOUBLE: "DOUBLE"}[ftype]
    with pytest.raises(ValueError, match=f"out of range for an? {name} channel"):
        dbr.make_put_buffer(ftype, 5, bad)


def test_put_range_limits_are_inclusive():
    assert list(dbr.make_put_buffer(dbr.SHORT, 2, [-32768, 32767])[2]) == [-32768, 32767]
    assert list(dbr.make_put_buffer(dbr.LONG, 1, 2 ** 31 - 1)[2]) == [2 ** 31 - 1]
    assert list(dbr.make_put_buffer(dbr.ENUM, 1, 65535)[2]) == [65535]


def test_put_nan_and_inf():
    assert math.isnan(dbr.make_put_buffer(dbr.DOUBLE, 1, float("nan"))[2][0])
    assert dbr.make_put_buffer(dbr.FLOAT, 2, [math.inf, -math.inf])[2][:] == [math.inf, -math.inf]
    assert math.isnan(dbr.make_put_buffer(dbr.FLOAT, 1, "nan")[2][0])
    for bad in (float("nan"), math.inf, np.array([1.0, np.nan])):
        with pytest.raises(ValueError, match="NaN and infinity are only valid for FLOAT and"):
            dbr.make_put_buffer(dbr.LONG, 2, bad)


def test_put_string():
    dbrtype, count, buf = dbr.make_put_buffer(dbr.STRING, 1, "hello")
    assert (dbrtype, count, buf[0].value) == (dbr.STRING, 1, b"hello")
    assert ctypes.sizeof(buf) == 40
    assert dbr.make_put_buffer(dbr.STRING, 1, b"raw")[2][0].value == b"raw"
    assert dbr.make_put_buffer(dbr.STRING, 1, 1.5)[2][0].value == b"1.5"
    assert dbr.make_put_buffer(dbr.STRING, 1, "x" * 39)[2][0].value == b"x" * 39


def test_put_string_too_long():
    with pytest.raises(ValueError, match="40 bytes long.*at most 39 bytes"):
        dbr.make_put_buffer(dbr.STRING, 1, "x" * 40)
    with pytest.raises(ValueError, match="at most 39 bytes"):
        dbr.make_put_buffer(dbr.STRING, 1, "é" * 20)  # 20 characters, 40 bytes of UTF-8


def test_put_string_array():
    dbrtype, count, buf = dbr.make_put_buffer(dbr.STRING, 3, ["a", "bc"])
    assert (dbrtype, count, [item.value for item in buf]) == (dbr.STRING, 2, [b"a", b"bc"])
    assert dbr.make_put_buffer(dbr.STRING, 2, np.array(["x", "y"]))[1] == 2
    with pytest.raises(ValueError, match="3 given, but the channel holds 2"):
        dbr.make_put_buffer(dbr.STRING, 2, ["a", "b", "c"])


def test_put_too_many_elements_names_both_numbers():
    with pytest.raises(ValueError, match="too many elements: 4 given, but the channel holds 3"):
        dbr.make_put_buffer(dbr.DOUBLE, 3, np.zeros(4))
    with pytest.raises(ValueError, match="2 given, but the channel holds 1"):
        dbr.make_put_buffer(dbr.LONG, 1, [1, 2])


def test_put_none_and_non_numbers_are_type_errors():
    with pytest.raises(TypeError, match="None"):
        dbr.make_put_buffer(dbr.DOUBLE, 1, None)
    with pytest.raises(TypeError, match="None"):
        dbr.make_put_buffer(dbr.DOUBLE, 3, [1.0, None])
    with pytest.raises(TypeError, match="None"):
        dbr.make_put_buffer(dbr.STRING, 3, ["a", None])
    with pytest.raises(TypeError, match="cannot put a dict"):
        dbr.make_put_buffer(dbr.DOUBLE, 1, {"a": 1})
    with pytest.raises(TypeError, match="expected a number"):
        dbr.make_put_buffer(dbr.DOUBLE, 1, object())
    with pytest.raises(TypeError, match="complex"):
        dbr.make_put_buffer(dbr.DOUBLE, 2, np.array([1j, 2]))


def test_put_empty_and_bad_type_code():
    with pytest.raises(ValueError, match="empty"):
        dbr.make_put_buffer(dbr.DOUBLE, 5, [])
    with pytest.raises(ValueError, match="native type"):
        dbr.make_put_buffer(dbr.TIME_DOUBLE, 1, 1.0)


# ---- alarm enums ------------------------------------------------------------------------------

def test_alarm_enums_name_known_and_unknown_values():
    assert dbr.AlarmSeverity(2) is dbr.AlarmSeverity.MAJOR
    assert repr(dbr.AlarmStatus(3)) == "HIHI"
    unknown = dbr.AlarmStatus(99)
    assert unknown == 99 and unknown.name == "UNKNOWN"
