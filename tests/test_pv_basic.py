"""PV objects: attributes, get/put and their options, metadata, connection, the get_pv cache.

Against the session IOC (tests/ioc.db). Tests that write put the records back (``restored``), so
other modules still see the database's initial values. Behaviour follows PyEpics 3.5 except where
epics.pv documents a deliberate difference (a put to a PV that does not connect raises).
"""
from __future__ import annotations

import logging
import re
import time
from types import SimpleNamespace

import numpy
import pytest

import epics
from epics import ca, dbr
from epics._errors import CANotConnectedError, CAValueError
from epics.pv import PV, clear_pvcache, get_pv
from test_pv_helpers import make_pv  # noqa: F401 (a fixture)
from test_pv_helpers import (DEADLINE, SHORT_TIMEOUT, Recorder, connected_pv, last_line,
                             missing_pv, restored, run_python, wait_until)

ENUM_STATES = ("Off", "On", "Standby", "Fault", "Unknown")


# ---- attributes ----------------------------------------------------------------------------------

def test_double_pv_attributes(ioc, make_pv):
    name = ioc.pv("ao")
    with restored(name):
        ca.put(ca.create_channel(name), 1.5, wait=True, timeout=DEADLINE)
        p = connected_pv(make_pv, name)
        assert wait_until(lambda: p.get(use_monitor=False) == 1.5)
        assert p.pvname == name
        assert p.connected is True
        assert p.value == 1.5
        assert p.char_value == "1.500"       # PREC 3
        assert p.count == 1
        assert p.nelm == 1
        assert p.type == "double"
        assert p.ftype == dbr.TIME_DOUBLE
        assert p.host.endswith(f":{ioc.port}")
        assert p.access == "read/write"
        assert p.read_access is True
        assert p.write_access is True
        assert p.status == 0
        assert p.severity == 0
        assert p.precision == 3
        assert p.units == "mm"
        assert p.enum_strs is None
        assert p.auto_monitor is True
        assert p.callbacks == {}


def test_double_pv_limits(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ao"))
    assert p.upper_disp_limit == 100.0      # HOPR
    assert p.lower_disp_limit == -100.0     # LOPR
    assert p.upper_ctrl_limit == 90.0       # DRVH
    assert p.lower_ctrl_limit == -90.0      # DRVL
    assert p.upper_alarm_limit == 80.0      # HIHI
    assert p.lower_alarm_limit == -80.0     # LOLO
    assert p.upper_warning_limit == 60.0    # HIGH
    assert p.lower_warning_limit == -60.0   # LOW


def test_long_pv_limits_are_ints(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("longout"))
    assert p.type == "long"
    assert p.units == "counts"
    assert p.upper_ctrl_limit == 900 and p.lower_ctrl_limit == -900
    assert p.upper_disp_limit == 1000 and p.lower_disp_limit == -1000
    assert isinstance(p.upper_ctrl_limit, int)


def test_timestamp_attributes_agree(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("counter"))
    meta = p.get_with_metadata(use_monitor=False)   # one update: the three agree
    seconds, nanoseconds = meta["posixseconds"], meta["nanoseconds"]
    assert isinstance(seconds, int) and isinstance(nanoseconds, int)
    assert 0 <= nanoseconds < 1_000_000_000
    assert meta["timestamp"] == pytest.approx(seconds + nanoseconds / 1e9, abs=1e-6)
    assert isinstance(p.timestamp, float)
    assert isinstance(p.posixseconds, int) and isinstance(p.nanoseconds, int)
    # the counter record processes every 0.1 s: its timestamp is today's, not the EPICS epoch
    assert abs(time.time() - p.timestamp) < 3600


def test_enum_pv_attributes(ioc, make_pv):
    name = ioc.pv("mbbo")
    with restored(name):
        p = connected_pv(make_pv, name)
        p.put(0, wait=True, timeout=DEADLINE)
        assert wait_until(lambda: p.value == 0)
        assert p.type == "enum"
        assert p.ftype == dbr.TIME_ENUM
        assert p.enum_strs == ENUM_STATES
        assert p.char_value == "Off"
        assert p.count == 1


def test_string_pv_attributes(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("stringout"))
    assert p.type == "string"
    assert isinstance(p.value, str)
    assert p.char_value == p.value


def test_array_pv_count_is_the_current_length_and_nelm_the_capacity(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("wf:double"))
    value = p.get()
    assert isinstance(value, numpy.ndarray)
    assert list(value) == [1.5, 2.5, 3.5, 4.5, 5.5]
    assert p.nelm == 128
    # as PyEpics: count follows the array's current length (NORD) that the monitor delivers,
    # see the slides' "count=21/128"
    assert wait_until(lambda: p.count == 5), f"count stays {p.count}"


def test_char_waveform_char_value_is_the_text(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("wf:char"))
    assert p.type == "char"
    assert p.char_value == "hello"
    assert p.get(as_string=True) == "hello"


def test_char_value_of_a_numeric_array_is_a_summary(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("wf:double"))
    assert re.fullmatch(r"<array size=\d+, type=time_double>", p.char_value)


def test_info_is_a_paragraph_about_the_pv(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ao"))
    text = p.info
    lines = text.splitlines()
    assert lines[0] == f"== {p.pvname} (time_double) =="
    assert "units = mm" in lines
    assert "precision = 3" in lines
    assert lines[-1].startswith("=====")


# ---- value = x, put ------------------------------------------------------------------------------

def test_assigning_value_puts(ioc, make_pv):
    name = ioc.pv("ao")
    with restored(name):
        p = connected_pv(make_pv, name)
        p.value = 7.25
        assert wait_until(lambda: p.get(use_monitor=False) == 7.25)
        assert wait_until(lambda: p.value == 7.25)   # and the monitor brings it too


def test_put_returns_1(ioc, make_pv):
    name = ioc.pv("longout")
    with restored(name):
        p = connected_pv(make_pv, name)
        assert p.put(17) == 1
        assert wait_until(lambda: p.get(use_monitor=False) == 17)


def test_put_wait_returns_after_processing_completed(ioc, make_pv):
    slow = connected_pv(make_pv, ioc.pv("slow"))
    done = connected_pv(make_pv, ioc.pv("slow:done"))
    with restored(ioc.pv("slow"), ioc.pv("slow:done")):
        assert slow.put(3.25, wait=True, timeout=DEADLINE) == 1
        # slow:done is written only at the end of the 0.5 s delay: seeing it proves the wait
        assert done.get(use_monitor=False) == 3.25


def test_put_wait_timeout_returns_minus_1(ioc, make_pv):
    slow = connected_pv(make_pv, ioc.pv("slow"))
    done = connected_pv(make_pv, ioc.pv("slow:done"))
    with restored(ioc.pv("slow"), ioc.pv("slow:done")):
        assert slow.put(4.5, wait=True, timeout=0.05) == -1
        # let the processing finish before restoring, so the next put is not swallowed
        assert wait_until(lambda: done.get(use_monitor=False) == 4.5)


def test_put_use_complete_sets_put_complete(ioc, make_pv):
    slow = connected_pv(make_pv, ioc.pv("slow"))
    assert slow.put_complete is None
    with restored(ioc.pv("slow"), ioc.pv("slow:done")):
        assert slow.put(5.5, use_complete=True) == 1
        assert slow.put_complete is False
        assert wait_until(lambda: slow.put_complete is True)


def test_put_callback_gets_pvname_and_callback_data(ioc, make_pv):
    slow = connected_pv(make_pv, ioc.pv("slow"))
    rec = Recorder()
    with restored(ioc.pv("slow"), ioc.pv("slow:done")):
        slow.put(6.5, callback=rec, callback_data={"tag": 42})
        assert rec.wait_count(1)
        assert rec.kwargs[0] == {"pvname": slow.pvname, "tag": 42}
        assert slow.put_complete is True
        slow.put(6.75, callback=rec, callback_data="plain")
        assert rec.wait_count(2)
        assert rec.kwargs[1] == {"pvname": slow.pvname, "data": "plain"}


def test_put_to_a_pv_that_does_not_connect_returns_none_as_pyepics(make_pv):
    p = make_pv(missing_pv("put"), connection_timeout=SHORT_TIMEOUT)
    started = time.monotonic()
    assert p.put(1.0) is None
    assert time.monotonic() - started >= SHORT_TIMEOUT * 0.9


def test_put_to_a_pv_that_does_not_connect_raises_on_request(make_pv, monkeypatch):
    p = make_pv(missing_pv("put"), connection_timeout=SHORT_TIMEOUT)
    with pytest.raises(CANotConnectedError) as info:
        p.put(1.0, raise_on_error=True)
    assert p.pvname in str(info.value)
    monkeypatch.setattr(ca, "RAISE_ON_ERROR", True)
    with pytest.raises(CANotConnectedError):
        p.put(1.0)
    assert p.put(1.0, raise_on_error=False) is None


def test_put_array(ioc, make_pv):
    name = ioc.pv("wf:long")
    with restored(name):
        p = connected_pv(make_pv, name)
        p.put(numpy.arange(10), wait=True, timeout=DEADLINE)
        assert list(p.get(use_monitor=False)) == list(range(10))
        p.put([7, 8, 9], wait=True, timeout=DEADLINE)
        assert list(p.get(use_monitor=False)) == [7, 8, 9]


def test_put_str_to_char_waveform(ioc, make_pv):
    name = ioc.pv("wf:char256")
    with restored(name):
        p = connected_pv(make_pv, name)
        text = "a string longer than forty characters, for a char waveform PV"
        p.put(text, wait=True, timeout=DEADLINE)
        assert p.get(as_string=True, use_monitor=False) == text


# ---- enums ---------------------------------------------------------------------------------------

def test_enum_put_by_name(ioc, make_pv):
    name = ioc.pv("mbbo")
    with restored(name):
        p = connected_pv(make_pv, name)
        p.put("Standby", wait=True, timeout=DEADLINE)
        assert p.get(use_monitor=False) == 2
        assert p.get(as_string=True, use_monitor=False) == "Standby"


def test_enum_put_by_index(ioc, make_pv):
    name = ioc.pv("mbbo")
    with restored(name):
        p = connected_pv(make_pv, name)
        p.put(1, wait=True, timeout=DEADLINE)
        assert p.get(use_monitor=False) == 1
        assert wait_until(lambda: p.char_value == "On")


def test_enum_put_of_an_unknown_name_raises_naming_the_pv(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("mbbo"))
    with pytest.raises(CAValueError) as info:
        p.put("NoSuchState")
    assert p.pvname in str(info.value)
    assert "NoSuchState" in str(info.value)


# ---- get and its options -------------------------------------------------------------------------

def test_get_count_limits_array_length(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("wf:double"))
    assert list(p.get(count=3)) == [1.5, 2.5, 3.5]
    assert list(p.get(count=2, use_monitor=False)) == [1.5, 2.5]


def test_get_as_numpy_false_gives_a_list(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("wf:long"))
    value = p.get(as_numpy=False)
    assert isinstance(value, list)
    assert value == [1, 2, 3, 4, 5]
    assert isinstance(p.get(as_numpy=True), numpy.ndarray)
    assert isinstance(p.get(as_numpy=False, use_monitor=False), list)


def test_get_as_string(ioc, make_pv):
    name = ioc.pv("ao")
    with restored(name):
        p = connected_pv(make_pv, name)
        p.put(2.5, wait=True, timeout=DEADLINE)
        assert p.get(as_string=True, use_monitor=False) == "2.500"
        assert wait_until(lambda: p.get(as_string=True) == "2.500")
    strings = connected_pv(make_pv, ioc.pv("wf:string"))
    assert list(strings.get()) == ["alpha", "beta", "gamma"]


def test_get_use_monitor_false_reads_the_server(ioc, make_pv):
    # A monitor on alarm changes only: a value change within the no-alarm range does not reach
    # the cached value, so only use_monitor=False sees it.
    name = ioc.pv("ao")
    with restored(name):
        ca.put(ca.create_channel(name), 1.0, wait=True, timeout=DEADLINE)
        p = connected_pv(make_pv, name, auto_monitor=dbr.DBE_ALARM)
        assert p.get() == 1.0
        ca.put(ca.create_channel(name), 2.0, wait=True, timeout=DEADLINE)
        assert p.get() == 1.0     # the cached value: no alarm change, so no event for 2.0
        assert p.get(use_monitor=False) == 2.0


def test_get_with_ctrlvars_returns_the_value_and_fills_ctrl_metadata(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ai"))
    assert isinstance(p.get(with_ctrlvars=True), float)
    meta = p.get_with_metadata(with_ctrlvars=True)
    assert meta["units"] == "mm"
    assert meta["precision"] == 2
    assert "value" in meta and "timestamp" in meta


def test_get_of_a_pv_that_does_not_connect_returns_none(make_pv):
    p = make_pv(missing_pv("get"), connection_timeout=SHORT_TIMEOUT)
    start = time.monotonic()
    assert p.get(timeout=SHORT_TIMEOUT) is None
    assert time.monotonic() - start < DEADLINE   # hang check only


def test_get_ctrlvars(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ao"))
    ctrl = p.get_ctrlvars()
    assert "value" not in ctrl
    assert ctrl["precision"] == 3
    assert ctrl["units"] == "mm"
    for key in dbr.ctrl_limits:
        assert key in ctrl
    assert ctrl["upper_ctrl_limit"] == 90.0
    mbbo = connected_pv(make_pv, ioc.pv("mbbo"))
    assert mbbo.get_ctrlvars()["enum_strs"] == ENUM_STATES


def test_get_timevars(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ao"))
    timevars = p.get_timevars()
    assert "value" not in timevars
    assert set(timevars) >= {"status", "severity", "timestamp", "posixseconds", "nanoseconds"}
    assert timevars["severity"] == 0


def test_get_with_metadata_time_form(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ao"))
    meta = p.get_with_metadata()
    assert set(meta) >= {"value", "status", "severity", "timestamp"}
    meta = p.get_with_metadata(use_monitor=False)
    assert set(meta) >= {"value", "status", "severity", "timestamp"}


def test_get_with_metadata_form_ctrl_and_native(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ao"))
    ctrl = p.get_with_metadata(form="ctrl")
    assert ctrl["units"] == "mm" and ctrl["precision"] == 3 and "value" in ctrl
    native = p.get_with_metadata(form="native")
    assert set(native) == {"value"}          # a plain DBR_DOUBLE carries no metadata
    assert native["value"] == p.get(use_monitor=False)


def test_get_with_metadata_as_namespace(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("mbbo"))
    ns = p.get_with_metadata(as_string=True, as_namespace=True)
    assert isinstance(ns, SimpleNamespace)
    assert ns.value in ENUM_STATES
    assert ns.severity in (0, 1, 2, 3)


# ---- forms ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("form, ftype", [("native", dbr.DOUBLE), ("time", dbr.TIME_DOUBLE),
                                         ("ctrl", dbr.CTRL_DOUBLE)])
def test_form_selects_the_dbr_type(ioc, make_pv, form, ftype):
    p = connected_pv(make_pv, ioc.pv("ao"), form=form)
    assert p.ftype == ftype
    assert p.type == "double"
    assert isinstance(p.get(), float)


def test_ctrl_form_monitor_brings_ctrl_metadata(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("fast"), form="ctrl")
    assert wait_until(lambda: p._args.get("units") is not None)
    assert p.get_with_metadata()["units"] == "V"


# ---- auto_monitor --------------------------------------------------------------------------------

def test_scalar_is_monitored_by_default(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ao"))
    assert p.auto_monitor is True
    assert p.auto_monitor_mask == ca.DEFAULT_SUBSCRIPTION_MASK


def test_big_array_is_not_monitored(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("wf:big"))
    assert p.nelm >= ca.AUTOMONITOR_MAXLENGTH
    assert not p.auto_monitor
    assert p.auto_monitor_mask is None
    assert "NOT internally monitored" in p.info


def test_eight_megabyte_waveform_through_pv_get(softioc_factory, pv_prefix, make_pv):
    # A private IOC: writing the session IOC's wf:big would change it for every other module.
    softioc_factory('record(waveform, "$(P)big") { field(FTVL, "DOUBLE") '
                    'field(NELM, "1048576") }', macros={"P": pv_prefix})
    p = connected_pv(make_pv, pv_prefix + "big")
    assert p.nelm == 1048576
    assert p.auto_monitor_mask is None            # 1M elements >= AUTOMONITOR_MAXLENGTH
    data = numpy.linspace(0.0, 1.0, 1048576)
    assert p.put(data, wait=True, timeout=DEADLINE) == 1
    value = p.get(timeout=DEADLINE)
    assert isinstance(value, numpy.ndarray) and value.dtype == numpy.float64
    assert len(value) == 1048576
    assert numpy.array_equal(value, data)
    assert list(p.get(count=4, timeout=DEADLINE)) == list(data[:4])
    try:
        assert numpy.array_equal(epics.caget(p.pvname, timeout=DEADLINE), data)
    finally:
        get_pv(p.pvname).disconnect()


def test_count_argument_limits_reads_and_monitor(ioc, make_pv):
    rec = Recorder()
    p = connected_pv(make_pv, ioc.pv("wf:double"), count=3, callback=rec)
    assert p.count == 3
    assert list(p.get(use_monitor=False)) == [1.5, 2.5, 3.5]
    assert rec.wait_count(1)
    assert list(rec.kwargs[-1]["value"]) == [1.5, 2.5, 3.5]
    assert list(p.get()) == [1.5, 2.5, 3.5]


def test_verbose_logs_each_change(ioc, make_pv, caplog):
    with caplog.at_level(logging.INFO, logger="epics.pv"):
        p = connected_pv(make_pv, ioc.pv("fast"), verbose=True)
        assert wait_until(lambda: sum(r.name == "epics.pv" for r in caplog.records) >= 2)
    assert any(p.pvname in r.getMessage() for r in caplog.records if r.name == "epics.pv")


def test_auto_monitor_as_a_dbe_mask(ioc, make_pv):
    mask = dbr.DBE_VALUE | dbr.DBE_LOG
    p = connected_pv(make_pv, ioc.pv("ai"), auto_monitor=mask)
    assert p.auto_monitor == mask
    assert p.auto_monitor_mask == mask


def test_auto_monitor_false_never_monitors(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("longin"), auto_monitor=False)
    assert p.auto_monitor_mask is None
    assert p.get() is not None


def test_auto_monitor_can_be_switched_on_later(ioc, make_pv):
    name = ioc.pv("longout")
    with restored(name):
        p = connected_pv(make_pv, name, auto_monitor=False)
        p.auto_monitor = True
        assert p.auto_monitor_mask == ca.DEFAULT_SUBSCRIPTION_MASK
        rec = Recorder()
        p.add_callback(rec)
        p.put(123)
        assert rec.wait_value(123)


# ---- connection ----------------------------------------------------------------------------------

def test_wait_for_connection_and_connect(ioc, make_pv):
    p = make_pv(ioc.pv("bo"))
    assert p.wait_for_connection(timeout=DEADLINE) is True
    assert p.connect() is True
    assert p.connected is True


def test_wait_for_connection_of_a_missing_pv_returns_false(make_pv):
    p = make_pv(missing_pv("wait"))
    start = time.monotonic()
    assert p.wait_for_connection(timeout=SHORT_TIMEOUT) is False
    assert p.connected is False
    assert time.monotonic() - start < DEADLINE   # hang check only


def test_disconnect_releases_the_channel(ioc):
    name = ioc.pv("ai.DESC")   # a name no other PV of the suite uses
    p = PV(name)
    assert p.wait_for_connection(timeout=DEADLINE)
    assert ca.get_cache(name) is not None
    p.disconnect()
    assert p.connected is False
    assert ca.get_cache(name) is None


def test_a_disconnected_pv_gives_none_until_reconnect_connects_it_again(ioc):
    """PyEpics: after disconnect(), get() and put() give None; reconnect() connects again."""
    name = ioc.pv("counter.ADEL")   # a name no other PV of the suite uses (get_pv caches PVs)
    p = PV(name, auto_monitor=True)
    try:
        assert p.wait_for_connection(timeout=DEADLINE)
        assert p.get() is not None
        p.disconnect()
        assert p.connected is False
        assert p.get() is None and p.put(1.0) is None
        assert p.reconnect() is True
        assert p.connected is True and p.get() is not None
        assert ca.get_cache(name) is not None          # a channel again
    finally:
        p.disconnect()
    assert ca.get_cache(name) is None


def test_force_connect_after_disconnect_brings_back_the_monitor(ioc):
    p = PV(ioc.pv("counter"), auto_monitor=True)
    try:
        assert p.wait_for_connection(timeout=DEADLINE)
        p.disconnect()
        values = []
        p.add_callback(lambda value=None, **kws: values.append(value))
        p.force_connect()
        assert p.wait_for_connection(timeout=DEADLINE)
        assert wait_until(lambda: len(values) >= 2), "no monitor updates after force_connect"
    finally:
        p.disconnect()


def test_second_pv_on_a_name_keeps_working_after_the_first_disconnects(ioc, make_pv):
    name = ioc.pv("longout.DESC")
    first = connected_pv(make_pv, name)
    second = connected_pv(make_pv, name)
    assert first.chid.value == second.chid.value
    first.disconnect()
    assert ca.get_cache(name) is not None
    assert second.connected is True
    assert second.get(use_monitor=False) == "test long output"
    assert second.get() == "test long output"


def test_disconnect_right_after_connecting_is_safe(ioc):
    # The connection callback of a new PV runs on the dispatcher thread; a disconnect() made
    # meanwhile (the PV connected inline, in the caller's thread) must win: no libca call on the
    # cleared channel (a crash), and the PV stays disconnected. Run in a child interpreter, as a
    # crash would end this one. ``_dispatch.submit`` is used only to wait until the dispatcher
    # has run everything queued before it.
    result = run_python(f"""
        import threading
        from epics import _dispatch
        from epics.pv import PV
        still_connected = 0
        for attempt in range(100):
            p = PV({ioc.pv("ao.EGU")!r})
            assert p.wait_for_connection(timeout=10), "did not connect"
            p.disconnect()
            drained = threading.Event()
            _dispatch.submit(drained.set)
            assert drained.wait(10), "the dispatcher is stuck"
            if p.connected or p.auto_monitor_mask is not None:
                still_connected += 1
        print("still connected after disconnect:", still_connected)
    """)
    assert result.returncode == 0, (
        f"the child died (exit {result.returncode}; -11 is a segfault)\n{result.stderr[-3000:]}")
    assert last_line(result) == "still connected after disconnect: 0"


def test_disconnect_twice_is_harmless(ioc):
    p = PV(ioc.pv("bo.DESC"))
    assert p.wait_for_connection(timeout=DEADLINE)
    p.disconnect()
    p.disconnect()
    assert p.callbacks == {}


def test_reconnect(ioc, make_pv):
    name = ioc.pv("longout")
    with restored(name):
        p = connected_pv(make_pv, name)
        assert p.reconnect() is True
        assert p.connected
        rec = Recorder()
        p.add_callback(rec)
        p.put(77)
        assert rec.wait_value(77)


def test_pv_reconnects_when_its_server_comes_back(softioc_factory, pv_prefix, make_pv):
    server = softioc_factory('record(ao, "$(P)x") { field(VAL, "3") field(PINI, "YES") }',
                             macros={"P": pv_prefix})
    rec = Recorder()
    p = make_pv(pv_prefix + "x", connection_callback=rec)
    assert p.wait_for_connection(timeout=DEADLINE)
    server.stop()
    assert rec.wait_for(lambda calls: calls[-1].kwargs["conn"] is False)
    assert wait_until(lambda: not p.connected)
    server.start()
    assert rec.wait_for(lambda calls: calls[-1].kwargs["conn"] is True, timeout=60)
    assert p.wait_for_connection(timeout=DEADLINE)
    assert p.get(use_monitor=False) == 3.0
    p.put(4.0, wait=True, timeout=DEADLINE)
    assert wait_until(lambda: p.get() == 4.0)


# ---- repr ----------------------------------------------------------------------------------------

def test_repr_of_a_scalar(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ao"))
    assert repr(p) == f"<PV '{p.pvname}', count=1, type=double, access=read/write>"


def test_repr_of_an_enum(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("bo"))
    assert repr(p) == f"<PV '{p.pvname}', count=1, type=enum, access=read/write>"


def test_repr_of_an_array_shows_count_and_nelm(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("wf:char"))
    # "hello" and its NUL: 6 of 128 elements, as the slides' "count=21/128, type=char"
    expected = f"<PV '{p.pvname}', count=6/128, type=char, access=read/write>"
    assert wait_until(lambda: repr(p) == expected), repr(p)


def test_repr_of_an_unconnected_pv(make_pv):
    p = make_pv(missing_pv("repr"))
    assert repr(p) == f"<PV '{p.pvname}': not connected>"


# ---- get_pv and its cache ------------------------------------------------------------------------

def test_get_pv_returns_the_same_object_for_the_same_name_and_form(ioc):
    name = ioc.pv("stringout.DESC")
    try:
        first = get_pv(name, connect=True)
        assert get_pv(name) is first
        assert get_pv(name, form="time") is first
        assert first.connected
    finally:
        get_pv(name).disconnect()


def test_get_pv_forms_are_different_objects_sharing_one_channel(ioc):
    name = ioc.pv("mbbo.DESC")
    try:
        time_pv = get_pv(name, form="time", connect=True)
        ctrl_pv = get_pv(name, form="ctrl", connect=True)
        native_pv = get_pv(name, form="native", connect=True)
        assert len({id(time_pv), id(ctrl_pv), id(native_pv)}) == 3
        assert time_pv.chid.value == ctrl_pv.chid.value == native_pv.chid.value
        ctrl_pv.disconnect()
        assert time_pv.get(use_monitor=False) == "test enum output"
        assert native_pv.get() == "test enum output"
    finally:
        for form in ("time", "ctrl", "native"):
            get_pv(name, form=form).disconnect()


def test_get_pv_connect_false_returns_at_once(make_pv):
    name = missing_pv("getpv")
    try:
        p = get_pv(name, connect=False)
        assert p.connected is False
    finally:
        get_pv(name).disconnect()


def test_get_pv_adds_callbacks_to_an_existing_pv(ioc):
    name = ioc.pv("ai.EGU")
    try:
        first = get_pv(name, connect=True)
        assert first.get() == "mm"                    # the value is known from here on
        rec, conn = Recorder(), Recorder()
        again = get_pv(name, callback=rec, connection_callback=conn)
        assert again is first
        assert rec.wait_count(1)                      # run at once, the PV being connected
        assert rec.kwargs[0]["value"] == "mm"
        assert conn.kwargs[0]["conn"] is True and conn.kwargs[0]["pv"] is first
    finally:
        get_pv(name).disconnect()


def test_clear_pvcache_disconnects_and_forgets(ioc):
    name = ioc.pv("ao.EGU")
    p = get_pv(name, connect=True)
    assert any(cached is p for cached in epics.pv._PVcache_.values())
    clear_pvcache()
    assert not any(cached is p for cached in epics.pv._PVcache_.values())
    assert p.connected is False
    fresh = get_pv(name, connect=True)
    try:
        assert fresh is not p
        assert fresh.get() == "mm"
    finally:
        fresh.disconnect()


def test_epics_namespace_exports_the_pv_layer():
    assert epics.PV is PV
    assert epics.get_pv is get_pv
    assert epics.pv.default_pv_class is PV
    assert callable(epics.poll)
    assert epics.ca.AUTOMONITOR_MAXLENGTH == 65536     # the (and PyEpics's) default
