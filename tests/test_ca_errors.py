"""Errors with epics.ca: missing PVs, values that cannot be written, user callbacks that raise,
and the exception classes (each is a ChannelAccessException and the matching builtin)."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from epics import ca
from epics._errors import ECA
from test_ca_helpers import DEADLINE, MISSING_PV, Recorder, connected_channel, restored


def raise_error(*args, **kwargs):
    raise RuntimeError("this callback fails on purpose")


def callback_errors(caplog):
    """The records logged to 'epics.callbacks' for a callback that raised RuntimeError."""
    return [record for record in caplog.records if record.name == "epics.callbacks"
            and record.exc_info and record.exc_info[0] is RuntimeError]


# ---- a PV that does not exist ----------------------------------------------------------------

def test_get_of_a_missing_pv_returns_none_after_the_timeout():
    assert ca.get(ca.create_channel(MISSING_PV + ":get"), timeout=0.3) is None


def test_get_with_metadata_of_a_missing_pv_returns_none():
    assert ca.get_with_metadata(ca.create_channel(MISSING_PV + ":meta"), timeout=0.3) is None


def test_put_to_a_missing_pv_raises_CANotConnectedError(monkeypatch):
    monkeypatch.setattr(ca, "DEFAULT_CONNECTION_TIMEOUT", 0.2)
    pvname = MISSING_PV + ":put"
    with pytest.raises(ca.CANotConnectedError) as info:
        ca.put(ca.create_channel(pvname), 1.0)
    assert info.value.pvname == pvname
    assert isinstance(info.value, ConnectionError)


def test_create_subscription_of_a_missing_pv_raises_CANotConnectedError():
    chid = ca.create_channel(MISSING_PV + ":monitor")
    with pytest.raises(ca.CANotConnectedError):
        ca.create_subscription(chid, callback=Recorder(), timeout=0.2)


# ---- values that cannot be written -----------------------------------------------------------

def test_put_of_non_numeric_text_to_a_double_raises_CAValueError_naming_the_pv(ioc):
    with pytest.raises(ca.CAValueError) as info:
        ca.put(connected_channel(ioc.pv("ao")), "not a number")
    assert info.value.pvname == ioc.pv("ao")
    assert ioc.pv("ao") in str(info.value)


def test_put_of_a_string_longer_than_39_bytes_raises_CAValueError(ioc):
    with pytest.raises(ca.CAValueError) as info:
        ca.put(connected_channel(ioc.pv("stringout")), "x" * 40)
    assert info.value.pvname == ioc.pv("stringout")


def test_a_rejected_string_leaves_the_record_unchanged(ioc):
    chid = connected_channel(ioc.pv("stringout"))
    with pytest.raises(ca.CAValueError):
        ca.put(chid, "y" * 100)
    assert ca.get(chid) == "hello"


@pytest.mark.parametrize("record, value", [("wf:double", np.zeros(129)),
                                           ("wf:string", ["s"] * 11),
                                           ("wf:char", "z" * 129)])
def test_put_of_too_many_elements_raises_CAValueError(ioc, record, value):
    with pytest.raises(ca.CAValueError) as info:
        ca.put(connected_channel(ioc.pv(record)), value)
    assert info.value.pvname == ioc.pv(record)


@pytest.mark.parametrize("record", ["ao", "longout", "stringout", "mbbo", "wf:double"])
def test_put_of_none_raises_CATypeError(ioc, record):
    with pytest.raises(ca.CATypeError) as info:
        ca.put(connected_channel(ioc.pv(record)), None)
    assert info.value.pvname == ioc.pv(record)


def test_put_of_an_arbitrary_object_raises_CATypeError(ioc):
    with pytest.raises(ca.CATypeError):
        ca.put(connected_channel(ioc.pv("ao")), object())


@pytest.mark.parametrize("value", [2 ** 40, float("nan"), "1e20"])
def test_put_of_a_value_out_of_range_of_a_long_raises_CAValueError(ioc, value):
    with pytest.raises(ca.CAValueError):
        ca.put(connected_channel(ioc.pv("longout")), value)


def test_put_of_an_unknown_state_name_to_an_enum_raises_with_raise_on_error(ioc):
    # the server cannot map the text to a state: libca reports the failed put (by default it
    # is logged and put returns 1, as in PyEpics: see test_ca_put.py)
    chid = connected_channel(ioc.pv("mbbo"))
    with restored(ioc.pv("mbbo")):
        with pytest.raises(ca.ChannelAccessException):
            ca.put(chid, "No such state", wait=True, timeout=DEADLINE, raise_on_error=True)


def test_value_errors_are_ValueErrors_and_type_errors_TypeErrors(ioc):
    chid = connected_channel(ioc.pv("ao"))
    with pytest.raises(ValueError):
        ca.put(chid, "abc")
    with pytest.raises(TypeError):
        ca.put(chid, None)


# ---- user callbacks that raise ---------------------------------------------------------------

def test_a_monitor_callback_that_raises_is_logged_and_keeps_receiving(ioc, caplog):
    failing = Recorder(action=raise_error)
    subscription = ca.create_subscription(connected_channel(ioc.pv("counter")), callback=failing)
    try:
        assert failing.wait_count(3)      # called again after raising
    finally:
        ca.clear_subscription(subscription)
    assert len(callback_errors(caplog)) >= 2


def test_a_monitor_callback_that_raises_does_not_stop_the_others(ioc, caplog):
    chid = connected_channel(ioc.pv("counter"))
    failing = Recorder(action=raise_error)
    working = Recorder()
    subscriptions = [ca.create_subscription(chid, callback=failing),
                     ca.create_subscription(chid, callback=working)]
    try:
        assert failing.wait_count(2)
        assert working.wait_count(len(failing.calls) + 2)
    finally:
        for subscription in subscriptions:
            ca.clear_subscription(subscription)
    assert callback_errors(caplog)


def test_a_connection_callback_that_raises_when_called_at_once_is_logged(ioc, caplog):
    chid = connected_channel(ioc.pv("longin"))
    assert ca.create_channel(ioc.pv("longin"), callback=raise_error).value == chid.value
    assert callback_errors(caplog)


def test_a_connection_callback_that_raises_does_not_stop_the_others(softioc_factory,
                                                                    pv_prefix, caplog):
    server = softioc_factory('record(ao, "$(P)x") {}', macros={"P": pv_prefix})
    failing = Recorder(action=raise_error)
    working = Recorder()
    chid = ca.create_channel(pv_prefix + "x", callback=failing)
    try:
        assert failing.wait_count(1)
        ca.create_channel(pv_prefix + "x", callback=working)
        server.stop()     # disconnection: both callbacks are called, the failing one first
        assert working.wait_for(lambda calls: calls[-1].kwargs["conn"] is False)
        assert failing.calls[-1].kwargs["conn"] is False
    finally:
        ca.clear_channel(chid)
    assert len(callback_errors(caplog)) >= 2


def test_a_put_callback_that_raises_is_logged_and_later_puts_still_call_back(ioc, caplog):
    chid = connected_channel(ioc.pv("ao"))
    failing = Recorder(action=raise_error)
    working = Recorder()
    with restored(ioc.pv("ao")):
        ca.put(chid, 5.0, callback=failing)
        ca.put(chid, 6.0, callback=working)
        assert working.wait_count(1)
    assert failing.calls and callback_errors(caplog)


def test_an_access_rights_callback_that_raises_is_logged(ioc, caplog):
    chid = connected_channel(ioc.pv("bo"))
    failing = Recorder(action=raise_error)
    working = Recorder()
    ca.replace_access_rights_event(chid, callback=failing)
    ca.replace_access_rights_event(chid, callback=working)
    assert working.wait_count(1)
    assert failing.calls and callback_errors(caplog)


# ---- the exception classes -------------------------------------------------------------------

@pytest.mark.parametrize("error, builtin", [
    (ca.CATimeoutError, TimeoutError), (ca.CANotConnectedError, ConnectionError),
    (ca.CAAccessDenied, PermissionError), (ca.CAValueError, ValueError),
    (ca.CATypeError, TypeError), (ca.CAFinalizedError, RuntimeError),
    (ca.CADeadlockError, RuntimeError)])
def test_each_exception_is_a_channel_access_exception_and_a_builtin(error, builtin):
    assert issubclass(error, ca.ChannelAccessException)
    assert issubclass(error, builtin)


@pytest.mark.parametrize("status, builtin", [(ECA.TIMEOUT, TimeoutError),
                                             (ECA.NOWTACCESS, PermissionError),
                                             (ECA.NORDACCESS, PermissionError),
                                             (ECA.BADCOUNT, ValueError),
                                             (ECA.DISCONN, ConnectionError)])
def test_a_bad_ca_status_is_catchable_as_severity_exception_and_builtin(status, builtin):
    with pytest.raises(builtin) as info:
        ca.PySEVCHK("some_call", status)
    assert isinstance(info.value, ca.CASeverityException)
    assert isinstance(info.value, ca.ChannelAccessException)
    assert info.value.status == status


def test_a_bad_ca_status_carries_libcas_message():
    with pytest.raises(ca.CATimeoutError) as info:
        ca.PySEVCHK("pend_io", ECA.TIMEOUT)
    assert ca.message(ECA.TIMEOUT) in str(info.value)
    assert "pend_io" in str(info.value)


def test_channel_access_exception_carries_the_pvname(ioc):
    try:
        ca.put(connected_channel(ioc.pv("longout")), "forty-two")
    except ca.ChannelAccessException as exc:
        assert exc.pvname == ioc.pv("longout")
    else:
        pytest.fail("no exception")


def test_callback_errors_go_to_the_epics_callbacks_logger(ioc, caplog):
    caplog.set_level(logging.ERROR, logger="epics.callbacks")
    failing = Recorder(action=raise_error)
    subscription = ca.create_subscription(connected_channel(ioc.pv("counter")), callback=failing)
    try:
        assert failing.wait_count(2)
    finally:
        ca.clear_subscription(subscription)
    record = callback_errors(caplog)[0]
    assert record.levelno == logging.ERROR
    assert "this callback fails on purpose" in caplog.text
