"""Monitors with epics.ca: create_subscription with each event mask, TIME/CTRL metadata in the
callback, clear_subscription, and where and in which order callbacks run."""
from __future__ import annotations

import gc
import sys
import threading
import time

import pytest

from epics import ca, dbr
from epics.testing import SoftIoc, unique_prefix
from test_ca_helpers import (DEADLINE, Recorder, connected_channel, last_line, restored,
                             run_python)

#: A private IOC for masks that need records configured for them (deadbands, properties).
MASKS_DB = """
# deadband: value events on every change (MDEL 0), archive (DBE_LOG) events only for changes
# of 10 or more (ADEL 10). Starts at 0.
record(ao, "$(P)deadband") {
    field(PINI, "YES")
    field(VAL, "0")
    field(MDEL, "0")
    field(ADEL, "10")
}
# units: for DBE_PROPERTY, posted when a property field such as EGU changes.
record(ao, "$(P)units") {
    field(PINI, "YES")
    field(VAL, "1")
    field(EGU, "mm")
    field(PREC, "2")
}
"""


@pytest.fixture(scope="module")
def masks_ioc(epics_port_pool):
    """A soft IOC serving MASKS_DB; returns its PV prefix."""
    prefix = unique_prefix()
    port = epics_port_pool.take()
    try:
        with SoftIoc(MASKS_DB, macros={"P": prefix}, port=port,
                     repeater_port=epics_port_pool.repeater_port):
            yield prefix
    finally:
        epics_port_pool.release(port)


@pytest.fixture
def subscribe():
    """``subscribe(chid, **kwargs)``: create_subscription with a Recorder as callback; returns
    the Recorder. Every subscription is cleared at teardown."""
    made = []

    def make(chid, **kwargs):
        rec = Recorder()
        made.append(ca.create_subscription(chid, callback=rec, **kwargs))
        return rec

    yield make
    for subscription in made:
        try:
            ca.clear_subscription(subscription)
        except ca.ChannelAccessException:
            pass  # cleared by the test, or with its channel


def put(chid, value):
    assert ca.put(chid, value, wait=True, timeout=DEADLINE) == 1


# ---- the callback ----------------------------------------------------------------------------

def test_subscription_delivers_the_current_value_at_once(ioc, subscribe):
    rec = subscribe(connected_channel(ioc.pv("wf:string")))
    assert rec.wait_count(1)
    assert rec.values[0] == ["alpha", "beta", "gamma"]


def test_a_new_subscription_is_sent_without_any_further_ca_call(ioc):
    # in a fresh process, so that nothing else has been sent or attached before
    script = f"""
        import threading
        from epics import ca
        arrived = threading.Event()
        chid = ca.create_channel({ioc.pv("wf:short")!r})
        assert ca.connect_channel(chid, timeout=10)
        ca.create_subscription(chid, callback=lambda **kwargs: arrived.set())
        print("first value arrived:", arrived.wait(10))
    """
    assert last_line(run_python(script)) == "first value arrived: True"


def test_subscription_callback_gets_value_pvname_chid_ftype_and_count(ioc, subscribe):
    chid = connected_channel(ioc.pv("longout"))
    rec = subscribe(chid)
    assert rec.wait_count(1)
    assert rec.kwargs[0] == {"value": 42, "pvname": ioc.pv("longout"), "chid": chid.value,
                             "ftype": dbr.LONG, "count": 1}


def test_subscription_to_an_array_delivers_arrays_and_their_count(ioc, subscribe):
    rec = subscribe(connected_channel(ioc.pv("wf:double")))
    assert rec.wait_count(1)
    assert rec.values[0].tolist() == [1.5, 2.5, 3.5, 4.5, 5.5]
    assert rec.kwargs[0]["count"] == 5


def test_subscription_with_count_delivers_that_many_elements(ioc, subscribe):
    rec = subscribe(connected_channel(ioc.pv("wf:long")), count=2)
    assert rec.wait_count(1)
    assert rec.values[0].tolist() == [1, 2]


def test_subscription_delivers_each_change_in_order(ioc, subscribe):
    rec = subscribe(connected_channel(ioc.pv("counter")))
    assert rec.wait_count(5)
    values = rec.values[:5]
    assert values == sorted(values) and len(set(values)) == 5


def test_subscription_callback_runs_on_the_dispatcher_thread(ioc, subscribe):
    threads = []
    rec = Recorder(action=lambda **kwargs: threads.append(threading.current_thread().name))
    subscription = ca.create_subscription(connected_channel(ioc.pv("counter")), callback=rec)
    try:
        assert rec.wait_count(2)
    finally:
        ca.clear_subscription(subscription)
    assert set(threads) == {"epics-callbacks"}


def test_subscription_callback_may_read_other_channels(ioc):
    other = connected_channel(ioc.pv("wf:short"))
    read = []
    rec = Recorder(action=lambda **kwargs: read.append(ca.get(other, timeout=DEADLINE)[0]))
    subscription = ca.create_subscription(connected_channel(ioc.pv("counter")), callback=rec)
    try:
        assert rec.wait_count(2)
    finally:
        ca.clear_subscription(subscription)
    assert read[:2] == [-2, -2]


def test_every_new_subscription_receives_its_first_value(ioc, subscribe):
    chid = connected_channel(ioc.pv("ao"))
    recorders = [subscribe(chid) for _ in range(50)]
    deadline = time.monotonic() + DEADLINE
    missing = [index for index, rec in enumerate(recorders)
               if not rec.wait_count(1, timeout=max(0.0, deadline - time.monotonic()))]
    assert missing == []


def test_a_first_value_arriving_before_create_subscription_returns_is_delivered(ioc, subscribe):
    # Make the worst case certain: pause the calling thread just as ca.subscribe (the libca
    # call) returns to create_subscription, long enough for the first value to arrive.
    def pause_when_subscribe_returns(frame, event, arg):
        if event == "return" and frame.f_code is ca.subscribe.__code__:
            time.sleep(0.5)

    chid = connected_channel(ioc.pv("wf:short"))
    sys.setprofile(pause_when_subscribe_returns)
    try:
        rec = subscribe(chid)
    finally:
        sys.setprofile(None)
    assert rec.wait_count(1)
    assert rec.values[0].tolist() == [-2, -1, 0, 1, 2]


def test_subscription_made_before_the_channel_connects_delivers_once_it_does(ioc, subscribe):
    # with an explicit ftype, no connection is needed to subscribe (as in PyEpics)
    chid = ca.create_channel(ioc.pv("wf:float"))
    rec = subscribe(chid, ftype=dbr.FLOAT)
    assert rec.wait_count(1)
    assert rec.values[0].tolist() == [0.5, 1.5, 2.5]


def test_subscription_is_kept_alive_by_the_library(ioc):
    rec = Recorder()
    chid = connected_channel(ioc.pv("counter"))
    event_id = ca.create_subscription(chid, callback=rec).event_id   # the tuple is dropped
    gc.collect()
    try:
        assert rec.wait_count(3)
    finally:
        ca.clear_subscription(event_id)


# ---- metadata --------------------------------------------------------------------------------

def test_subscription_with_use_time_passes_alarm_and_timestamp(ioc, subscribe):
    rec = subscribe(connected_channel(ioc.pv("counter")), use_time=True)
    assert rec.wait_count(1)
    kwargs = rec.kwargs[0]
    assert kwargs["ftype"] == dbr.TIME_DOUBLE
    assert kwargs["status"] == 0 and kwargs["severity"] == 0
    assert kwargs["timestamp"] > 1_000_000_000
    assert {"posixseconds", "nanoseconds"} <= set(kwargs)


def test_subscription_with_use_ctrl_passes_units_precision_and_limits(ioc, subscribe):
    rec = subscribe(connected_channel(ioc.pv("ao")), use_ctrl=True)
    assert rec.wait_count(1)
    kwargs = rec.kwargs[0]
    assert kwargs["ftype"] == dbr.CTRL_DOUBLE
    assert kwargs["units"] == "mm" and kwargs["precision"] == 3
    assert (kwargs["lower_alarm_limit"], kwargs["upper_alarm_limit"]) == (-80.0, 80.0)
    assert (kwargs["lower_ctrl_limit"], kwargs["upper_ctrl_limit"]) == (-90.0, 90.0)


def test_subscription_with_use_ctrl_of_an_enum_passes_the_state_names(ioc, subscribe):
    rec = subscribe(connected_channel(ioc.pv("mbbo")), use_ctrl=True)
    assert rec.wait_count(1)
    assert rec.kwargs[0]["enum_strs"] == ("Off", "On", "Standby", "Fault", "Unknown")


def test_subscription_with_an_explicit_ftype_gets_that_type(ioc, subscribe):
    rec = subscribe(connected_channel(ioc.pv("ao")), ftype=dbr.TIME_STRING)
    assert rec.wait_count(1)
    assert rec.values[0] == "1.500" and "timestamp" in rec.kwargs[0]


# ---- event masks -----------------------------------------------------------------------------

def test_mask_dbe_value_reports_value_changes(ioc, subscribe):
    chid = connected_channel(ioc.pv("ao"))
    with restored(ioc.pv("ao")):
        rec = subscribe(chid, mask=dbr.DBE_VALUE)
        assert rec.wait_count(1)
        put(chid, 5.5)
        assert rec.wait_value(5.5)


def test_mask_dbe_alarm_reports_only_alarm_changes(ioc, subscribe):
    chid = connected_channel(ioc.pv("ao"))
    with restored(ioc.pv("ao")):
        put(chid, 0.0)
        rec = subscribe(chid, mask=dbr.DBE_ALARM, use_time=True)
        assert rec.wait_count(1)
        put(chid, 70.0)    # crosses HIGH (60): MINOR alarm
        put(chid, 65.0)    # still MINOR: no alarm change, no event
        put(chid, 0.0)     # back to no alarm
        assert rec.wait_count(3)
    assert rec.values == [0.0, 70.0, 0.0]
    assert [kwargs["severity"] for kwargs in rec.kwargs] == [0, 1, 0]


def test_mask_dbe_log_uses_the_archive_deadband(masks_ioc, subscribe):
    chid = connected_channel(masks_ioc + "deadband")
    value_events = subscribe(chid, mask=dbr.DBE_VALUE)
    log_events = subscribe(chid, mask=dbr.DBE_LOG)
    assert value_events.wait_count(1) and log_events.wait_count(1)
    put(chid, 1.0)     # within ADEL (10) of the last archived value: no DBE_LOG event
    put(chid, 20.0)
    assert value_events.wait_value(20.0) and log_events.wait_value(20.0)
    assert value_events.values == [0.0, 1.0, 20.0]
    assert log_events.values == [0.0, 20.0]


def test_mask_dbe_property_reports_a_change_of_units(masks_ioc, subscribe):
    chid = connected_channel(masks_ioc + "units")
    rec = subscribe(chid, mask=dbr.DBE_PROPERTY, use_ctrl=True)
    assert rec.wait_count(1)
    put(chid, 2.0)                                        # a value change: not a property
    put(connected_channel(masks_ioc + "units.EGU"), "cm")
    assert rec.wait_count(2)
    assert [kwargs["units"] for kwargs in rec.kwargs] == ["mm", "cm"]
    assert rec.values == [1.0, 2.0]


# ---- clearing --------------------------------------------------------------------------------

def test_clear_subscription_returns_eca_normal(ioc):
    subscription = ca.create_subscription(connected_channel(ioc.pv("ao")))
    assert ca.clear_subscription(subscription) == 1


def test_no_callbacks_after_clear_subscription(ioc, subscribe):
    chid = connected_channel(ioc.pv("counter"))
    cleared = Recorder()
    subscription = ca.create_subscription(chid, callback=cleared)
    clock = subscribe(chid)           # keeps running: its events show time passing
    assert cleared.wait_count(2)
    ca.clear_subscription(subscription)
    seen = len(cleared.calls)
    clock_seen = len(clock.calls)
    assert clock.wait_count(clock_seen + 4)
    assert len(cleared.calls) == seen


def test_clear_subscription_accepts_the_event_id(ioc):
    subscription = ca.create_subscription(connected_channel(ioc.pv("ao")))
    assert ca.clear_subscription(subscription[2]) == 1


def test_clear_subscription_twice_raises(ioc):
    subscription = ca.create_subscription(connected_channel(ioc.pv("ao")))
    ca.clear_subscription(subscription)
    with pytest.raises(ca.ChannelAccessException):
        ca.clear_subscription(subscription)


def test_no_callbacks_after_clear_channel(ioc, subscribe):
    pvname = ioc.pv("counter")
    cleared = Recorder()
    chid = connected_channel(pvname)
    ca.create_subscription(chid, callback=cleared)
    assert cleared.wait_count(2)
    ca.clear_channel(chid)
    seen = len(cleared.calls)
    clock = subscribe(connected_channel(pvname))
    assert clock.wait_count(5)
    assert len(cleared.calls) == seen
