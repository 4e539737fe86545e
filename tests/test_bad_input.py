"""Bad input: every mistake a user (or a server) can make gets a clear exception, or the documented
return value, naming the PV, and leaves the library usable.

The module serves ``tests/bad_input.db`` with its own IOC. After every test an autouse fixture
checks that the library still works (a write and a read back on a healthy PV) and that no get or
put was left in flight in the library's registry.

What each case gives (the library's documented behaviour):

* a PV that does not exist: ``wait_for_connection`` False after the connection timeout, reads
  and writes None (PyEpics's conventions), ``CATimeoutError`` / ``CANotConnectedError`` with
  ``raise_on_error=True`` or ``ca.RAISE_ON_ERROR``; ``disconnect`` releases the channel;
* a value the channel cannot hold (text for a number, out of range, too long, too many elements,
  None, NaN for an integer, an unknown enum state, text that cannot be encoded):
  ``CAValueError`` / ``CATypeError`` (also ``ValueError`` / ``TypeError``) naming the PV, and
  nothing is written;
* NaN and infinity to a DOUBLE, and bytes that are not UTF-8, are legal: they are written as they
  are; text read back that is not UTF-8 is decoded as latin-1;
* a zero-length array from the server reads as an empty array;
* a callback that raises is logged (logger ``epics.callbacks``) and the other callbacks run;
* ``put(wait=True)`` from inside a callback works (callbacks run on the dispatcher thread, and
  put completion does not need it);
* an empty sequence put to an array fills it with zeros, as PyEpics does (``CAValueError`` with
  ``raise_on_error``);
* an empty PV name, or one that is not text or holds a NUL: ``CAValueError`` / ``CATypeError``;
  a name with white space or control characters makes a channel that never connects, as in
  PyEpics (``CAValueError`` with ``raise_on_error``).
"""
from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy
import pytest

from epics import _dispatch, ca, caget, caput, caput_many, dbr
from epics.ca import (CANotConnectedError, CATimeoutError, CATypeError, CAValueError,
                      ChannelAccessException)
from epics.pv import PV
from epics.testing import SoftIoc, unique_prefix
from test_ca_helpers import DEADLINE, Recorder
from test_pv_helpers import make_pv, missing_pv, wait_until  # noqa: F401  (make_pv: fixture)

BAD_DB = Path(__file__).with_name("bad_input.db")
#: A short connection timeout for PVs that will not connect.
SHORT = 0.5
#: Hang check for calls that should return after SHORT.
HANG = 10.0

_sanity_values = itertools.count(1000)


@pytest.fixture(scope="module")
def prefix(epics_port_pool):
    """This module's IOC of bad_input.db; returns its PV prefix."""
    pv_prefix = unique_prefix()
    port = epics_port_pool.take()
    try:
        with SoftIoc(BAD_DB, macros={"P": pv_prefix}, port=port,
                     repeater_port=epics_port_pool.repeater_port):
            yield pv_prefix
    finally:
        epics_port_pool.release(port)


@pytest.fixture(autouse=True)
def library_still_usable(prefix):
    """After each test: a write and a read back still work, and nothing was left in flight."""
    yield
    value = next(_sanity_values)
    assert caput(prefix + "long", value, wait=True, timeout=DEADLINE) == 1
    assert caget(prefix + "long", use_monitor=False, timeout=DEADLINE) == value
    assert wait_until(lambda: not _dispatch.operations, timeout=DEADLINE), \
        f"gets/puts left in flight: {len(_dispatch.operations)}"


@pytest.fixture
def connected(make_pv, prefix):
    """``connected(record, **kwargs)``: a connected PV of this module's IOC."""
    def factory(record: str, **kwargs: Any) -> PV:
        thispv = make_pv(prefix + record, **kwargs)
        assert thispv.wait_for_connection(timeout=DEADLINE), f"{record} did not connect"
        return thispv
    return factory


def assert_names_pv(error: BaseException, pvname: str) -> None:
    """The exception carries the PV name, in its message and as ``pvname``."""
    assert isinstance(error, ChannelAccessException)
    assert error.pvname == pvname
    assert pvname in str(error)


def assert_put_refused(thispv: PV, value: Any, error: type, **kwargs: Any) -> None:
    """``thispv.put(value)`` and ``caput`` raise ``error`` naming the PV; nothing is written."""
    before = thispv.get(use_monitor=False, timeout=DEADLINE)
    with pytest.raises(error) as info:
        thispv.put(value, **kwargs)
    assert_names_pv(info.value, thispv.pvname)
    with pytest.raises(error) as info:
        caput(thispv.pvname, value, **kwargs)
    assert_names_pv(info.value, thispv.pvname)
    after = thispv.get(use_monitor=False, timeout=DEADLINE)
    if isinstance(before, numpy.ndarray):
        assert numpy.array_equal(before, after)
    else:
        assert after == before


# ---- a PV that does not exist --------------------------------------------------------------------

def test_missing_pv_honours_the_connection_timeout_and_is_released():
    name = missing_pv("bad")
    start = time.monotonic()
    thispv = PV(name, connection_timeout=SHORT)
    try:
        assert thispv.wait_for_connection() is False
        elapsed = time.monotonic() - start
        assert SHORT * 0.9 <= elapsed < HANG
        assert thispv.connected is False
        assert thispv.get() is None
        assert ca.get_cache(name) is not None
        start = time.monotonic()
        assert thispv.put(1.0) is None                       # PyEpics's convention
        assert SHORT * 0.9 <= time.monotonic() - start < HANG
        with pytest.raises(CANotConnectedError) as info:
            thispv.put(1.0, raise_on_error=True)
        assert_names_pv(info.value, name)
    finally:
        thispv.disconnect()
    assert ca.get_cache(name) is None, "disconnect() did not release the channel"


def test_caget_and_caput_of_missing_pv_return_none_or_raise_on_request(monkeypatch):
    name = missing_pv("bad")
    start = time.monotonic()
    assert caget(name, connection_timeout=SHORT) is None
    assert SHORT * 0.9 <= time.monotonic() - start < HANG
    with pytest.raises(CATimeoutError) as timeout_info:
        caget(name, connection_timeout=SHORT, raise_on_error=True)
    assert_names_pv(timeout_info.value, name)
    assert isinstance(timeout_info.value, TimeoutError)
    start = time.monotonic()
    assert caput(name, 1.0, connection_timeout=SHORT) is None
    assert SHORT * 0.9 <= time.monotonic() - start < HANG
    with pytest.raises(CANotConnectedError) as put_info:
        caput(name, 1.0, connection_timeout=SHORT, raise_on_error=True)
    assert_names_pv(put_info.value, name)
    assert isinstance(put_info.value, ConnectionError)
    monkeypatch.setattr(ca, "RAISE_ON_ERROR", True)          # the process-wide switch
    with pytest.raises(CANotConnectedError):
        caput(name, 1.0, connection_timeout=SHORT)
    with pytest.raises(CATimeoutError):
        caget(name, connection_timeout=SHORT)
    assert caget(name, connection_timeout=SHORT, raise_on_error=False) is None  # the call wins


def test_missing_channel_is_released_by_clear_channel():
    name = missing_pv("bad")
    chid = ca.create_channel(name)
    assert ca.connect_channel(chid, timeout=SHORT) is False
    assert ca.get_cache(name) is not None
    ca.clear_channel(chid)
    assert ca.get_cache(name) is None


# ---- values the channel cannot hold -----------------------------------------------------------

def test_text_put_to_a_double_raises_unless_it_is_a_number(connected):
    double = connected("double")
    assert_put_refused(double, "not a number", CAValueError)
    assert_put_refused(double, "1.5.5", CAValueError)
    assert double.put("2.25", wait=True, timeout=DEADLINE) == 1     # numeric text is parsed
    assert double.get(use_monitor=False, timeout=DEADLINE) == 2.25


def test_out_of_range_for_short_raises(connected):
    short = connected("short")
    assert ca.field_type(short.chid) == dbr.SHORT
    for value in (32768, -32769, 70000, 2**40):
        assert_put_refused(short, value, CAValueError)
    assert short.put(-32768, wait=True, timeout=DEADLINE) == 1
    assert short.get(use_monitor=False, timeout=DEADLINE) == -32768


def test_out_of_range_for_char_raises(connected):
    char = connected("char")
    assert ca.field_type(char.chid) == dbr.CHAR
    for value in (256, -129, 1000):
        assert_put_refused(char, value, CAValueError)
    assert char.put(255, wait=True, timeout=DEADLINE) == 1


def test_out_of_range_error_is_also_a_value_error(connected):
    with pytest.raises(ValueError):
        connected("short").put(10**6)


def test_enum_put_by_unknown_name_raises_and_lists_the_states(connected):
    enum = connected("enum")
    for name in ("Nope", "on", ""):
        assert_put_refused(enum, name, CAValueError)
    with pytest.raises(CAValueError) as info:
        enum.put("Nope")
    assert "Auto" in str(info.value)        # the message lists the valid states
    assert enum.put("Auto", wait=True, timeout=DEADLINE) == 1
    assert enum.get(use_monitor=False, timeout=DEADLINE) == 2
    assert enum.put("Off", wait=True, timeout=DEADLINE) == 1


def test_enum_put_of_index_outside_the_states_raises(connected):
    """The enum has three states (0..2): an index beyond them is as wrong as an unknown name
    (``put("7")`` raises already; ``put(7)`` must too, not write an undefined state)."""
    enum = connected("enum")
    enum.get_ctrlvars(timeout=DEADLINE)
    for index in ("7", -1, 65536):
        assert_put_refused(enum, index, CAValueError)
    # an index inside the C type's range goes to the server as it is by default (PyEpics)
    assert_put_refused(enum, 7, CAValueError, raise_on_error=True)
    assert enum.put(1, wait=True, timeout=DEADLINE) == 1           # a valid index works
    assert enum.get(use_monitor=False, timeout=DEADLINE) == 1
    assert enum.put(0, wait=True, timeout=DEADLINE) == 1


def test_string_longer_than_40_bytes_raises(connected):
    string = connected("string")
    for text in ("x" * 40, "y" * 100, "é" * 20):     # "é" is two bytes in UTF-8: 40 bytes
        assert_put_refused(string, text, CAValueError)
    assert string.put("z" * 39, wait=True, timeout=DEADLINE) == 1  # 39 bytes and the NUL fit
    assert string.get(use_monitor=False, timeout=DEADLINE) == "z" * 39


def test_array_longer_than_nelm_raises(connected):
    doubles = connected("doubles")
    assert doubles.nelm == 8
    assert_put_refused(doubles, list(range(9)), CAValueError)
    assert_put_refused(doubles, numpy.arange(100.0), CAValueError)
    chars = connected("chars")
    assert_put_refused(chars, "c" * 65, CAValueError)
    assert_put_refused(chars, b"c" * 65, CAValueError)
    assert doubles.put(list(range(8)), wait=True, timeout=DEADLINE) == 1
    assert list(doubles.get(use_monitor=False, timeout=DEADLINE)) == list(range(8))


def test_empty_array_put_fills_zeros_or_raises_on_request(connected):
    doubles = connected("doubles")
    assert_put_refused(doubles, [], CAValueError, raise_on_error=True)
    assert doubles.put([1.5, 2.5], wait=True, timeout=DEADLINE) == 1
    assert doubles.put([], wait=True, timeout=DEADLINE) == 1       # PyEpics: NELM zeros
    after = doubles.get(use_monitor=False, timeout=DEADLINE)
    assert len(after) == doubles.nelm and not after.any()


def test_none_raises_type_error(connected, prefix):
    for record in ("double", "string", "enum", "doubles"):
        assert_put_refused(connected(record), None, CATypeError)
    assert_put_refused(connected("doubles"), [1.0, None], CATypeError)
    chid = ca.create_channel(prefix + "double")
    assert ca.connect_channel(chid, timeout=DEADLINE)
    with pytest.raises(CATypeError) as info:
        ca.put(chid, None)
    assert isinstance(info.value, TypeError)
    assert_names_pv(info.value, prefix + "double")


def test_other_objects_raise_type_error(connected):
    double = connected("double")
    for value in (object(), {"a": 1}, {1, 2}, 1j):
        assert_put_refused(double, value, CATypeError)


def test_nan_and_infinity_are_written_to_a_double(connected):
    double = connected("double")
    for value in (float("nan"), float("inf"), -float("inf")):
        assert double.put(value, wait=True, timeout=DEADLINE) == 1
        back = double.get(use_monitor=False, timeout=DEADLINE)
        assert (math.isnan(back) if math.isnan(value) else back == value)
    assert double.put(1.5, wait=True, timeout=DEADLINE) == 1


def test_nan_and_infinity_to_an_integer_raise(connected):
    for record in ("long", "short"):
        thispv = connected(record)
        for value in (float("nan"), float("inf")):
            assert_put_refused(thispv, value, CAValueError)


def test_non_utf8_bytes_to_a_string_are_written_and_read_back_as_latin1(connected):
    string = connected("string")
    assert string.put(b"\xff\xfeab", wait=True, timeout=DEADLINE) == 1
    assert string.get(use_monitor=False, timeout=DEADLINE) == "\xff\xfeab"
    assert caget(string.pvname, as_string=True, use_monitor=False) == "\xff\xfeab"
    assert string.put("start", wait=True, timeout=DEADLINE) == 1


def test_non_utf8_bytes_to_a_char_waveform(connected):
    chars = connected("chars")
    assert chars.put(b"\xff\x80ab\x00", wait=True, timeout=DEADLINE) == 1
    value = chars.get(use_monitor=False, timeout=DEADLINE)
    assert list(value[:5]) == [255, 128, 97, 98, 0]
    assert chars.get(as_string=True, use_monitor=False, timeout=DEADLINE) == "\xff\x80ab"
    assert caget(chars.pvname, as_string=True, use_monitor=False) == "\xff\x80ab"


def test_text_that_cannot_be_encoded_raises(connected):
    for record in ("string", "chars"):
        assert_put_refused(connected(record), "a\udcffb", CAValueError)   # a lone surrogate


def test_zero_length_array_from_the_server(connected, prefix):
    updates = Recorder()
    empty = connected("empty", callback=updates)
    assert updates.wait_count(1)
    assert len(updates.values[0]) == 0
    for value in (empty.get(), empty.get(use_monitor=False, timeout=DEADLINE),
                  caget(prefix + "empty", use_monitor=False),
                  ca.get(empty.chid, timeout=DEADLINE)):
        assert isinstance(value, numpy.ndarray) and value.size == 0
    assert caget(prefix + "empty", as_numpy=False, use_monitor=False) == []
    assert empty.nelm == 16
    assert isinstance(empty.char_value, str)
    emptychars = connected("emptychars")
    assert emptychars.get(as_string=True, use_monitor=False, timeout=DEADLINE) == ""
    assert caget(prefix + "emptychars", as_string=True, use_monitor=False) == ""


# ---- callbacks ----------------------------------------------------------------------------------

def callback_errors(caplog) -> List[logging.LogRecord]:
    return [record for record in caplog.records
            if record.name == "epics.callbacks" and record.levelno >= logging.ERROR]


def test_a_value_callback_that_raises_is_logged_and_the_others_run(connected, caplog):
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("a bug in user code")

    good = Recorder()
    with caplog.at_level(logging.ERROR, logger="epics.callbacks"):
        counter = connected("counter", callback=[broken, good])
        assert good.wait_count(3), "the callback after the broken one stopped running"
    errors = callback_errors(caplog)
    assert errors, "the exception was not logged"
    assert any(counter.pvname in record.getMessage() for record in errors)
    assert any(record.exc_info and record.exc_info[0] is RuntimeError for record in errors)


def test_a_connection_callback_that_raises_is_logged_and_the_others_run(make_pv, prefix,
                                                                        caplog):
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("a bug in a connection callback")

    good = Recorder()
    with caplog.at_level(logging.ERROR, logger="epics.callbacks"):
        # a channel no other test uses, so that it connects after the PV is made
        thispv = make_pv(prefix + "double.DESC", connection_callback=broken)
        thispv.connection_callbacks.append(good)
        assert thispv.wait_for_connection(timeout=DEADLINE)
        assert good.wait_count(1)
        assert wait_until(lambda: callback_errors(caplog), timeout=DEADLINE)
    assert good.kwargs[0]["conn"] is True


def test_a_ca_subscription_callback_that_raises_is_logged(prefix, caplog):
    calls = Recorder()

    def broken(**kwargs: Any) -> None:
        calls(**kwargs)
        raise ValueError("a bug in a subscription callback")

    chid = ca.create_channel(prefix + "counter")
    assert ca.connect_channel(chid, timeout=DEADLINE)
    with caplog.at_level(logging.ERROR, logger="epics.callbacks"):
        subscription = ca.create_subscription(chid, callback=broken)
        try:
            assert calls.wait_count(3), "the subscription stopped after its callback raised"
        finally:
            ca.clear_subscription(subscription)
    assert callback_errors(caplog)


def test_put_with_wait_from_inside_a_callback_completes(connected, prefix):
    """A monitor callback writes with ``wait=True`` (the record completes 0.3 s later), plain
    puts and reads: all work, none deadlocks."""
    slow = connected("slow")
    outcome: Dict[str, Any] = {}
    done = threading.Event()

    def on_update(value: Any = None, **kwargs: Any) -> None:
        if done.is_set() or "started" in outcome:
            return
        outcome["started"] = True
        try:
            outcome["wait_put"] = slow.put(42.5, wait=True, timeout=DEADLINE)
            outcome["done_value"] = caget(prefix + "slow:done", use_monitor=False,
                                          timeout=DEADLINE)
            outcome["plain_put"] = caput(prefix + "double", 3.5)
            outcome["read"] = caget(prefix + "double", use_monitor=False, timeout=DEADLINE)
        except Exception as exc:    # reported below
            outcome["error"] = exc
        finally:
            done.set()

    connected("counter", callback=on_update)
    assert done.wait(3 * DEADLINE), "the callback hung (deadlock?)"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["wait_put"] == 1
    assert outcome["done_value"] == 42.5       # the put had really completed
    assert outcome["plain_put"] == 1
    assert outcome["read"] == 3.5


def test_put_with_wait_from_a_connection_callback_completes(make_pv, prefix):
    outcome: Dict[str, Any] = {}
    done = threading.Event()

    def on_connect(conn: bool = False, pv: Any = None, **kwargs: Any) -> None:
        if conn and not done.is_set():
            try:
                outcome["put"] = pv.put(7.25, wait=True, timeout=DEADLINE)
            except Exception as exc:    # reported below
                outcome["error"] = exc
            done.set()

    thispv = make_pv(prefix + "slow", connection_callback=on_connect)
    assert done.wait(3 * DEADLINE), "the connection callback hung (deadlock?)"
    assert outcome.get("put") == 1, outcome
    assert thispv.get(use_monitor=False, timeout=DEADLINE) == 7.25


# ---- PV names ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["", "nul\x00"])
def test_empty_name_or_one_with_nul_raises_value_error(name):
    with pytest.raises(CAValueError):
        PV(name)
    with pytest.raises(CAValueError):
        caget(name)
    with pytest.raises(CAValueError):
        caput(name, 1)
    with pytest.raises(CAValueError):
        ca.create_channel(name)


@pytest.mark.parametrize("name", ["a b", "name\n", "tab\there", "\x7f"])
def test_name_with_white_space_never_connects_or_raises_on_request(name, monkeypatch):
    assert caget(name, connection_timeout=SHORT) is None
    assert caput(name, 1, connection_timeout=SHORT) is None
    assert caput_many([name], [1], connection_timeout=SHORT) == [-1]
    with pytest.raises(CAValueError):
        caget(name, raise_on_error=True)
    with pytest.raises(CAValueError):
        caput(name, 1, raise_on_error=True)
    with pytest.raises(CAValueError):
        caput_many([name], [1], raise_on_error=True)
    monkeypatch.setattr(ca, "RAISE_ON_ERROR", True)
    with pytest.raises(CAValueError):
        PV(name)
    with pytest.raises(CAValueError):
        ca.create_channel(name)


def test_blank_name_is_empty_after_stripping():
    with pytest.raises(CAValueError):
        PV("   ")


@pytest.mark.parametrize("name", [None, 3, 2.5, ["a"]])
def test_a_name_that_is_not_text_raises_type_error(name):
    with pytest.raises(CATypeError):
        PV(name)
    with pytest.raises(CATypeError):
        ca.create_channel(name)


def test_a_name_longer_than_libca_takes_raises_value_error():
    name = "long:" + "x" * 5000
    with pytest.raises(CAValueError) as info:
        PV(name)
    assert info.value.pvname == name


def test_a_legal_but_odd_name_just_does_not_connect():
    thispv = PV("odd:{name}[with]$(chars)%", connection_timeout=SHORT)
    try:
        assert thispv.wait_for_connection() is False
        assert thispv.get() is None
    finally:
        thispv.disconnect()
