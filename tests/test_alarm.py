"""epics.alarm.Alarm against a real IOC (the record alarm:temp of tests/devices.db): every
comparison, the callback's keywords, alert_delay, reset, and the slides' example.

Alarm callbacks run on the dispatcher thread, after the PV's earlier callbacks: after each write
a test waits, with a deadline, until a callback added after the alarm's has received the value,
so the alarm has seen it too.
"""
from __future__ import annotations

import logging
import operator

import pytest

from epics.alarm import Alarm, AlarmError
from epics.pv import get_pv
from devices_helpers import devices_ioc
from test_ca_helpers import DEADLINE, Recorder



@pytest.fixture(scope="module")
def aioc(epics_port_pool):
    """tests/devices.db served under a random prefix for this module; yields the prefix."""
    with devices_ioc(epics_port_pool, "alm") as prefix:
        yield prefix


@pytest.fixture
def temp(aioc):
    """The PV alarm:temp, at 0 before and after the test."""
    thispv = get_pv(f"{aioc}alarm:temp")
    assert thispv.wait_for_connection(DEADLINE)
    thispv.put(0.0, wait=True)
    yield thispv
    thispv.put(0.0, wait=True)


@pytest.fixture
def alarms():
    """Alarms made by the test, closed at the end."""
    made = []
    yield made
    for alarm in made:
        alarm.close()


def write_all(thispv, values):
    """Write values one by one; after each, wait (with a deadline) until a callback added after
    the alarm's has received it, so the alarm has seen it too. A value equal to the current one
    is skipped: the record posts no update for it."""
    seen = Recorder()
    index = thispv.add_callback(seen, with_ctrlvars=False)
    try:
        current = thispv.get(use_monitor=False)
        for value in values:
            if value == current:
                continue
            before = len(seen.calls)
            assert thispv.put(value, wait=True, timeout=DEADLINE) == 1
            assert seen.wait_for(lambda calls: any(call.kwargs.get("value") == value
                                                   for call in calls[before:])), \
                f"the update to {value} did not arrive"
            current = value
    finally:
        thispv.remove_callback(index)


CASES = [  # comparison, trip point, values that trip it, values that do not
    ("eq", 5.0, [5.0], [4.0, 6.0]), ("==", 5.0, [5.0], [4.0, 6.0]),
    ("ne", 0.0, [1.0], [0.0]), ("!=", 0.0, [-1.0], [0.0]),
    ("le", 5.0, [5.0, 4.0], [6.0]), ("<=", 5.0, [5.0, -3.0], [6.0]),
    ("lt", 5.0, [4.0], [5.0, 6.0]), ("<", 5.0, [4.9], [5.0, 7.0]),
    ("ge", 5.0, [5.0, 6.0], [4.0]), (">=", 5.0, [5.0, 9.0], [4.0]),
    ("gt", 5.0, [6.0], [5.0, 4.0]), (">", 5.0, [5.5], [5.0, 1.0]),
]


@pytest.mark.parametrize("comparison, trip, tripping, quiet", CASES,
                         ids=[case[0] for case in CASES])
def test_each_comparison(temp, alarms, comparison, trip, tripping, quiet):
    start = 100.0 if comparison in ("le", "<=", "lt", "<", "ne", "!=") else -100.0
    if comparison in ("ne", "!="):
        start = trip
    write_all(temp, [start])
    rec = Recorder()
    alarms.append(Alarm(temp, comparison=comparison, trip_point=trip, callback=rec,
                        alert_delay=0))
    for value in quiet:
        write_all(temp, [value])
    assert rec.calls == [], f"{comparison} {trip} fired for {quiet}"
    for value in tripping:
        write_all(temp, [start, value])     # a transition into the alarm state each time
    assert rec.values == tripping


def test_callback_gets_pv_keywords_and_trip_details(temp, alarms, aioc):
    rec = Recorder()
    alarms.append(Alarm(f"{aioc}alarm:temp", comparison=">", trip_point=100.0, callback=rec,
                        alert_delay=600))
    write_all(temp, [101.5])
    assert rec.wait_count(1)
    kws = rec.kwargs[0]
    assert kws["pvname"] == f"{aioc}alarm:temp"
    assert kws["value"] == pytest.approx(101.5)
    assert kws["char_value"] == "101.5"
    assert kws["trip_point"] == 100.0
    assert kws["comparison"] == ">"
    for key in ("status", "severity", "timestamp", "count", "ftype", "cb_info"):
        assert key in kws


def test_alert_delay_suppresses_repeats_while_bouncing(temp, alarms):
    rec = Recorder()
    alarms.append(Alarm(temp, comparison="gt", trip_point=10.0, callback=rec, alert_delay=3600))
    write_all(temp, [11.0, 9.0, 12.0, 8.0, 13.0, 10.5])
    assert rec.values == [11.0]


def test_without_delay_every_transition_alerts_but_not_every_update(temp, alarms):
    rec = Recorder()
    alarms.append(Alarm(temp, comparison="gt", trip_point=10.0, callback=rec, alert_delay=0))
    write_all(temp, [11.0, 12.0, 9.0, 13.0, 14.0])
    assert rec.values == [11.0, 13.0]          # not 12 or 14: the alarm was already on


def test_reset_re_arms_the_alarm(temp, alarms):
    rec = Recorder()
    alarm = Alarm(temp, comparison="gt", trip_point=10.0, callback=rec, alert_delay=3600)
    alarms.append(alarm)
    write_all(temp, [11.0])
    assert alarm.alarm_state is True and alarm.last_alert > 0
    alarm.reset()
    assert alarm.alarm_state is False and alarm.last_alert == 0
    write_all(temp, [12.0])                   # still above: counts as a new transition
    assert rec.values == [11.0, 12.0]


def test_alarm_already_tripped_when_made_fires_at_once(temp, alarms):
    write_all(temp, [50.0])
    rec = Recorder()
    alarms.append(Alarm(temp, comparison=">=", trip_point=50.0, callback=rec))
    assert rec.wait_count(1)
    assert rec.values == [50.0]


def test_callable_comparison(temp, alarms):
    def outside_band(value, trip_point):
        return abs(value) > trip_point

    rec = Recorder()
    alarm = Alarm(temp, comparison=outside_band, trip_point=3.0, callback=rec, alert_delay=0)
    alarms.append(alarm)
    write_all(temp, [2.0, -4.0, 0.0, 5.0])
    assert rec.values == [-4.0, 5.0]
    assert rec.kwargs[0]["comparison"] == "outside_band"


def test_dunder_names_work_as_comparisons(temp, alarms):
    rec = Recorder()
    alarms.append(Alarm(temp, comparison="__gt__", trip_point=1.0, callback=rec, alert_delay=0))
    write_all(temp, [2.0])
    assert rec.values == [2.0]
    assert Alarm.ops["gt"] is operator.gt


def test_without_callback_the_alarm_is_logged(temp, alarms, caplog):
    with caplog.at_level(logging.WARNING, logger="epics.alarm"):
        alarms.append(Alarm(temp, comparison="gt", trip_point=1.0))
        write_all(temp, [3.0])
    assert any("Alarm:" in record.getMessage() and temp.pvname in record.getMessage()
               for record in caplog.records)


def test_a_failing_callback_is_logged_and_the_alarm_goes_on(temp, alarms, caplog):
    def broken(**kws):
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="epics.callbacks"):
        alarm = Alarm(temp, comparison="gt", trip_point=1.0, callback=broken, alert_delay=0)
        alarms.append(alarm)
        write_all(temp, [3.0, 0.0, 4.0])
    assert sum("boom" in (record.exc_text or "") or "broken" in record.getMessage()
               for record in caplog.records) >= 2


def test_close_stops_the_alarm(temp):
    rec = Recorder()
    alarm = Alarm(temp, comparison="gt", trip_point=1.0, callback=rec, alert_delay=0)
    alarm.close()
    alarm.close()
    write_all(temp, [3.0])
    assert rec.calls == []


@pytest.mark.parametrize("kwargs", [dict(comparison=None, trip_point=1.0),
                                    dict(comparison="gt", trip_point=None),
                                    dict(comparison="is bigger", trip_point=1.0)])
def test_invalid_alarms_raise(temp, kwargs):
    with pytest.raises(AlarmError) as info:
        Alarm(temp, **kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, UserWarning)


def test_no_pv_raises():
    with pytest.raises(UserWarning):
        Alarm(None, comparison="gt", trip_point=1.0)


def test_repr(temp, alarms):
    alarm = Alarm(temp, comparison="gt", trip_point=1.5)
    alarms.append(alarm)
    assert repr(alarm) == f"<Alarm pvname='{temp.pvname}', comp='gt', trip_point=1.5>"


def test_slides_alarm_example(temp, aioc, capsys):
    from epics import Alarm, poll       # as on the slides

    def alertMe(pvname=None, char_value=None, **kw):
        print("Soup is on!  %s = %s" % (pvname, char_value))

    my_alarm = Alarm(pvname=f'{aioc}alarm:temp',
                     comparison='>',
                     callback=alertMe,
                     trip_point=100.0,
                     alert_delay=600)   # the slides write 'alert.delay = 600' (a typo)
    try:
        for value in (50.0, 101.0, 99.0, 102.0):   # instead of 'while True: poll()'
            write_all(temp, [value])
            poll()
    finally:
        my_alarm.close()
    assert capsys.readouterr().out == f"Soup is on!  {aioc}alarm:temp = 101.0\n"
