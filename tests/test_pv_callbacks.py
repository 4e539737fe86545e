"""PV callbacks: value callbacks and their keywords, connection and access-rights callbacks, and
what a callback may do (put, put with wait, blocking get) without deadlocking.

Callbacks run on the library's dispatcher thread; every wait below is on a :class:`Recorder` (a
Condition) with a deadline, never a sleep.
"""
from __future__ import annotations

import concurrent.futures
import logging
import sys
import threading
from pathlib import Path

import pytest

from epics import ca, caget, dbr
from epics.pv import PV
from epics.testing import GUARDED_ACF
from test_pv_helpers import make_pv  # noqa: F401 (a fixture)
from test_pv_helpers import (DEADLINE, Recorder, ThreadRecorder, connected_pv, last_line,
                             restored, run_python, wait_until)

#: The session IOC's database, served by a private IOC where a test needs access security.
IOC_DB = Path(__file__).with_name("ioc.db")

#: The keywords every value callback gets (PyEpics 3.5's set).
CALLBACK_KEYS = {"pvname", "value", "char_value", "count", "ftype", "type", "status", "severity",
                 "timestamp", "posixseconds", "nanoseconds", "precision", "units", "enum_strs",
                 "upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
                 "lower_alarm_limit", "upper_warning_limit", "lower_warning_limit",
                 "upper_ctrl_limit", "lower_ctrl_limit", "cb_info"}


# ---- add_callback / remove / clear / run ---------------------------------------------------------

def test_add_callback_returns_increasing_indices(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ai"))
    first = p.add_callback(Recorder())
    second = p.add_callback(Recorder())
    assert first == 1          # PyEpics numbers callbacks from 1
    assert second == 2
    assert p.add_callback(Recorder(), index=10) == 10
    assert sorted(p.callbacks) == [1, 2, 10]


def test_callback_given_to_the_constructor_gets_updates(ioc, make_pv):
    rec = Recorder()
    p = connected_pv(make_pv, ioc.pv("fast"), callback=rec)
    assert rec.wait_count(2)
    assert all(kw["pvname"] == p.pvname for kw in rec.kwargs)
    assert 0 in p.callbacks


#: Updates after which a PV's data must not have grown (dict growth showed after about 8).
STEADY_UPDATES = 30


def test_a_pv_with_a_callback_does_not_grow_with_its_updates(ioc, make_pv):
    # 10,000 monitored PVs were 1.3 kB each bigger after a few updates than after the first:
    # the data dict had a key added and removed at every update.
    rec = Recorder()
    p = connected_pv(make_pv, ioc.pv("ao"), callback=rec)
    assert rec.wait_count(1)
    size_after_first = sys.getsizeof(p._args)
    with restored(p.pvname):
        for step in range(1, STEADY_UPDATES + 1):
            assert p.put(10.0 + step, wait=True, timeout=DEADLINE) == 1
        assert rec.wait_value(10.0 + STEADY_UPDATES)
    assert sys.getsizeof(p._args) == size_after_first
    assert rec.kwargs[-1]["cb_info"] == (0, p)
    assert "cb_info" not in p.get_with_metadata(use_monitor=True)


def test_callback_list_given_to_the_constructor(ioc, make_pv):
    recs = [Recorder(), Recorder()]
    connected_pv(make_pv, ioc.pv("fast"), callback=recs)
    assert recs[0].wait_count(1) and recs[1].wait_count(1)


def test_callback_gets_every_pyepics_keyword(ioc, make_pv):
    rec = Recorder()
    p = connected_pv(make_pv, ioc.pv("fast"))
    index = p.add_callback(rec)
    # add_callback has read the CTRL metadata (with_ctrlvars=True) when it returns: the updates
    # from then on carry precision and units
    rec.clear()
    assert rec.wait_count(1)
    kwargs = rec.kwargs[-1]
    assert set(kwargs) >= CALLBACK_KEYS
    assert kwargs["pvname"] == p.pvname
    assert isinstance(kwargs["value"], float)
    assert kwargs["char_value"] == f"{kwargs['value']:.2f}"     # PREC 2
    assert kwargs["count"] == 1
    assert kwargs["ftype"] == dbr.TIME_DOUBLE
    assert kwargs["type"] == "double"
    assert kwargs["status"] == 0 and kwargs["severity"] == 0
    assert kwargs["timestamp"] == pytest.approx(
        kwargs["posixseconds"] + kwargs["nanoseconds"] / 1e9, abs=1e-6)
    assert kwargs["precision"] == 2
    assert kwargs["units"] == "V"
    assert kwargs["cb_info"] == (index, p)


def test_callback_values_follow_the_record(ioc, make_pv):
    name = ioc.pv("longout")
    with restored(name):
        rec = Recorder()
        p = connected_pv(make_pv, name)
        p.add_callback(rec)
        for value in (11, 12, 13):
            p.put(value, wait=True, timeout=DEADLINE)
        assert rec.wait_value(13)
        values = rec.values
        assert values[-3:] == [11, 12, 13]


def test_array_callback_count_is_the_length_of_the_update(ioc, make_pv):
    # as PyEpics: ``count`` is the number of elements the update carries (NORD), not NELM
    name = ioc.pv("wf:long")
    with restored(name):
        rec = Recorder()
        p = connected_pv(make_pv, name)
        p.add_callback(rec)
        p.put([7, 8, 9], wait=True, timeout=DEADLINE)
        assert rec.wait_for(lambda calls: any(list(c.kwargs["value"]) == [7, 8, 9]
                                              for c in calls))
        update = [kw for kw in rec.kwargs if list(kw["value"]) == [7, 8, 9]][-1]
        assert update["count"] == 3
        assert p.count == 3
        assert p.nelm == 128


def test_add_callback_passes_its_keywords(ioc, make_pv):
    rec = Recorder()
    p = connected_pv(make_pv, ioc.pv("fast"))
    p.add_callback(rec, detector="d1", gain=3)
    assert rec.wait_count(1)
    assert rec.kwargs[0]["detector"] == "d1" and rec.kwargs[0]["gain"] == 3


def test_add_callback_run_now_calls_it_at_once(ioc, make_pv):
    rec = ThreadRecorder()
    p = connected_pv(make_pv, ioc.pv("stringout"))
    index = p.add_callback(rec, run_now=True)
    mine = rec.calls_from_this_thread()   # called before add_callback returned, in this thread
    assert len(mine) == 1
    assert mine[0]["value"] == p.get()
    assert mine[0]["cb_info"] == (index, p)


def test_remove_callback_stops_it(ioc, make_pv):
    removed, kept = Recorder(), Recorder()
    p = connected_pv(make_pv, ioc.pv("fast"))
    index = p.add_callback(removed)
    p.add_callback(kept)
    assert removed.wait_count(1)
    p.remove_callback(index)
    assert index not in p.callbacks
    count_at_removal = len(removed.calls)
    kept.clear()
    assert kept.wait_count(3)   # three more updates dispatched after the removal
    assert len(removed.calls) <= count_at_removal + 1   # one may have been in flight


def test_remove_callback_of_an_unknown_index_is_harmless(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ai"))
    p.remove_callback(12345)


def test_clear_callbacks(ioc, make_pv):
    conn, access = Recorder(), Recorder()
    p = connected_pv(make_pv, ioc.pv("ai"), connection_callback=conn, access_callback=access)
    p.add_callback(Recorder())
    p.add_callback(Recorder())
    p.clear_callbacks()
    assert p.callbacks == {}
    assert p.connection_callbacks == [conn] and p.access_callbacks == [access]
    p.clear_callbacks(with_access_callback=True, with_connect_callback=True)
    assert p.connection_callbacks == [] and p.access_callbacks == []


def test_run_callbacks_runs_all_synchronously(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("stringout"))
    first, second = ThreadRecorder(), ThreadRecorder()
    p.add_callback(first)
    p.add_callback(second)
    p.run_callbacks()
    # only the calls made by this thread (the first monitor update may be delivered meanwhile)
    mine_first, mine_second = first.calls_from_this_thread(), second.calls_from_this_thread()
    assert len(mine_first) == 1 and len(mine_second) == 1
    assert mine_first[0]["value"] == mine_second[0]["value"] == p.get()


def test_run_callback_runs_one(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("stringout"))
    first, second = ThreadRecorder(), ThreadRecorder()
    p.add_callback(first)
    index = p.add_callback(second)
    p.run_callback(index)
    assert len(first.calls_from_this_thread()) == 0
    mine = second.calls_from_this_thread()
    assert len(mine) == 1
    assert mine[0]["cb_info"] == (index, p)


def test_poll_returns(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ai"))
    assert p.poll() is None
    assert p.poll(evt=1e-3, iot=0.1) is None


def test_ctrl_form_callbacks_get_ctrl_metadata_from_each_update(ioc, make_pv):
    rec = Recorder()
    p = connected_pv(make_pv, ioc.pv("fast"), form="ctrl")
    p.add_callback(rec, with_ctrlvars=False)
    assert rec.wait_count(2)
    kwargs = rec.kwargs[-1]
    assert kwargs["ftype"] == dbr.CTRL_DOUBLE
    assert kwargs["units"] == "V"
    assert kwargs["precision"] == 2
    for key in dbr.ctrl_limits:
        assert kwargs[key] is not None


def test_enum_callback_char_value_is_the_state_name(ioc, make_pv):
    name = ioc.pv("mbbo")
    with restored(name):
        rec = Recorder()
        p = connected_pv(make_pv, name)
        p.add_callback(rec)
        p.put("Fault", wait=True, timeout=DEADLINE)
        assert rec.wait_value(3)
        last = [kw for kw in rec.kwargs if kw["value"] == 3][-1]
        assert last["char_value"] == "Fault"
        assert last["severity"] == 2                         # THSV MAJOR
        assert last["enum_strs"] == ("Off", "On", "Standby", "Fault", "Unknown")


def test_raising_callback_does_not_stop_the_others_and_is_logged(ioc, make_pv, caplog):
    def broken(**kwargs):
        raise RuntimeError("deliberately broken callback")

    after = Recorder()
    p = connected_pv(make_pv, ioc.pv("fast"))
    with caplog.at_level(logging.ERROR, logger="epics.callbacks"):
        p.add_callback(broken)
        p.add_callback(after)
        assert after.wait_count(3)
    errors = [r for r in caplog.records if r.name == "epics.callbacks"]
    assert errors, "the exception of the broken callback was not logged to epics.callbacks"
    assert any("deliberately broken callback" in (r.exc_text or "") or
               (r.exc_info and "deliberately" in str(r.exc_info[1])) for r in errors)


def test_raising_callback_in_run_callbacks_does_not_stop_the_others(ioc, make_pv, caplog):
    def broken(**kwargs):
        raise ValueError("broken")

    p = connected_pv(make_pv, ioc.pv("stringout"))
    after = ThreadRecorder()
    p.add_callback(broken)
    p.add_callback(after)
    with caplog.at_level(logging.ERROR, logger="epics.callbacks"):
        p.run_callbacks()
    assert len(after.calls_from_this_thread()) == 1
    assert any(r.name == "epics.callbacks" for r in caplog.records)


# ---- connection callbacks ------------------------------------------------------------------------

def test_connection_callback_on_connect(ioc, make_pv):
    rec = Recorder()
    p = make_pv(ioc.pv("longin"), connection_callback=rec)
    assert rec.wait_for(lambda calls: any(c.kwargs["conn"] for c in calls))
    kwargs = [c.kwargs for c in rec.calls if c.kwargs["conn"]][0]
    assert kwargs == {"pvname": p.pvname, "conn": True, "pv": p}


def test_connection_callback_of_a_second_pv_on_a_connected_channel(ioc, make_pv):
    """A PV made on a channel another PV already connected is told of the connection too,
    exactly once."""
    first = make_pv(ioc.pv("longin"))
    assert first.wait_for_connection(DEADLINE)
    rec = Recorder()
    second = make_pv(ioc.pv("longin"), form="ctrl", connection_callback=rec)
    assert rec.wait_for(lambda calls: any(c.kwargs["conn"] for c in calls))
    assert second.wait_for_connection(DEADLINE)
    ca.poll(0.2)
    assert [c.kwargs["conn"] for c in rec.calls] == [True]


def test_connection_callback_on_server_loss(softioc_factory, pv_prefix, make_pv):
    server = softioc_factory('record(ao, "$(P)y") {}', macros={"P": pv_prefix})
    rec = Recorder()
    p = make_pv(pv_prefix + "y", connection_callback=rec)
    assert rec.wait_for(lambda calls: any(c.kwargs["conn"] for c in calls))
    server.stop()
    assert rec.wait_for(lambda calls: calls[-1].kwargs["conn"] is False)
    assert rec.kwargs[-1]["pv"] is p
    assert wait_until(lambda: p.connected is False)


# ---- access rights callbacks ---------------------------------------------------------------------

def test_access_callback_follows_access_security(softioc_factory, pv_prefix, make_pv):
    softioc_factory(IOC_DB, macros={"P": pv_prefix}, asg=GUARDED_ACF)
    rec = Recorder()
    guarded = make_pv(pv_prefix + "guarded", access_callback=rec)
    control = connected_pv(make_pv, pv_prefix + "asg:write")
    assert guarded.wait_for_connection(timeout=DEADLINE)
    # the IOC's own links to asg:write/asg:read connect shortly after start: wait for write
    assert rec.wait_for(lambda calls: calls and calls[-1].args[:2] == (True, True))
    assert rec.kwargs[-1] == {"pv": guarded}
    control.put(0, wait=True, timeout=DEADLINE)
    assert rec.wait_for(lambda calls: calls[-1].args[:2] == (True, False))
    assert guarded.write_access is False
    assert guarded.read_access is True
    assert guarded.access == "read-only"
    assert "read-only" in repr(guarded)
    with pytest.raises(ca.CAAccessDenied):
        guarded.put(1.0, wait=True, timeout=DEADLINE)
    control.put(1, wait=True, timeout=DEADLINE)
    assert rec.wait_for(lambda calls: calls[-1].args[:2] == (True, True))
    assert guarded.access == "read/write"

#: PVs made one after the other on one connected channel (the race it checks is narrow).
SHARED_CHANNEL_PVS = 40


def test_every_pv_on_an_already_connected_channel_is_told_its_access_rights(ioc, make_pv):
    # The channel is connected (as caget or another PV leaves it): each new PV on it must still
    # get one access callback with the current rights, even when the rights event overtakes the
    # end of the PV's construction (a regression: the event was dropped then).
    first = connected_pv(make_pv, ioc.pv("ao"))
    for attempt in range(SHARED_CHANNEL_PVS):
        rec = Recorder()
        shared = make_pv(first.pvname, access_callback=rec)
        assert shared.chid.value == first.chid.value   # one channel, shared
        assert rec.wait_for(lambda calls: bool(calls)), f"no access callback (PV {attempt})"
        assert rec.calls[-1].args == (True, True)
        assert rec.kwargs[-1] == {"pv": shared}
        shared.disconnect()


def test_monitor_of_a_pv_on_an_already_connected_channel_is_delivered(ioc):
    # In a fresh process: the channel is connected first (as caget or another PV would do), then
    # a PV with a callback is made on it, so the PV subscribes at once, in this thread, and
    # nothing else happens on the callback thread before. The subscription must reach the
    # server, and a callback's CA calls must use the PV's context. In a child interpreter, so
    # that nothing done before in this one helps.
    result = run_python(f"""
        import threading
        from epics import ca
        from epics.pv import PV
        name = {ioc.pv("fast")!r}
        chid = ca.create_channel(name)
        assert ca.connect_channel(chid, timeout=10), "did not connect"
        got = []
        enough = threading.Event()
        def on_change(value=None, **kwargs):
            got.append((value, ca.current_context()))
            if len(got) >= 2:
                enough.set()
        p = PV(name, callback=on_change)
        assert p.wait_for_connection(timeout=10), "did not connect"
        delivered = enough.wait(10)
        contexts_ok = all(context == p.context for _, context in got)
        print("delivered", delivered, "contexts_ok", contexts_ok)
    """)
    assert last_line(result) == "delivered True contexts_ok True", result.stderr[-3000:]


def test_callbacks_run_attached_to_the_pvs_context(ioc, make_pv):
    # A callback may call CA (put, get, new PVs): its thread must be attached to the context the
    # PV's channels live in, not to a context of its own.
    rec = Recorder()
    p = connected_pv(make_pv, ioc.pv("fast"))
    p.add_callback(lambda **kwargs: rec(context=ca.current_context()))
    assert rec.wait_count(1)
    assert rec.kwargs[0]["context"] == p.context == ca.initial_context


# ---- what a callback may do ----------------------------------------------------------------------

def test_put_from_inside_a_callback(ioc, make_pv):
    target_name = ioc.pv("longout")
    with restored(target_name):
        target = connected_pv(make_pv, target_name)
        source = connected_pv(make_pv, ioc.pv("fast"))
        outcome = Recorder()
        fired = threading.Event()

        def on_change(value=None, **kwargs):
            if fired.is_set():
                return
            fired.set()
            try:
                outcome(result=target.put(555))
            except Exception as exc:   # reported to the test thread
                outcome(error=exc)

        source.add_callback(on_change)
        assert outcome.wait_count(1)
        assert "error" not in outcome.kwargs[0], outcome.kwargs[0]
        assert outcome.kwargs[0]["result"] == 1
        assert wait_until(lambda: target.get(use_monitor=False) == 555)


def test_put_wait_from_inside_a_callback_does_not_deadlock(ioc, make_pv):
    with restored(ioc.pv("slow"), ioc.pv("slow:done")):
        slow = connected_pv(make_pv, ioc.pv("slow"))
        done = connected_pv(make_pv, ioc.pv("slow:done"))
        source = connected_pv(make_pv, ioc.pv("fast"))
        outcome = Recorder()
        fired = threading.Event()
        others = Recorder()

        def on_change(value=None, **kwargs):
            if fired.is_set():
                return
            fired.set()
            try:
                outcome(result=slow.put(8.5, wait=True, timeout=DEADLINE))
            except Exception as exc:   # e.g. a clear "would deadlock" error is acceptable
                outcome(error=exc)

        source.add_callback(on_change)
        assert outcome.wait_count(1, timeout=2 * DEADLINE), "put(wait=True) in a callback hung"
        kwargs = outcome.kwargs[0]
        if "error" in kwargs:
            assert "deadlock" in str(kwargs["error"]).lower(), kwargs["error"]
        else:
            assert kwargs["result"] == 1
            assert done.get(use_monitor=False) == 8.5
        # callbacks keep being delivered afterwards
        source.add_callback(others)
        assert others.wait_count(2)


def test_blocking_get_from_inside_a_callback_does_not_deadlock(ioc, make_pv):
    other = connected_pv(make_pv, ioc.pv("longout"))
    expected = other.get(use_monitor=False)
    source = connected_pv(make_pv, ioc.pv("fast"))
    outcome = Recorder()
    fired = threading.Event()

    def on_change(value=None, **kwargs):
        if fired.is_set():
            return
        fired.set()
        try:
            outcome(value=other.get(use_monitor=False, timeout=DEADLINE),
                    ctrl=other.get_ctrlvars(timeout=DEADLINE))
        except Exception as exc:
            outcome(error=exc)

    source.add_callback(on_change)
    assert outcome.wait_count(1, timeout=2 * DEADLINE), "a blocking get in a callback hung"
    kwargs = outcome.kwargs[0]
    assert "error" not in kwargs, kwargs
    assert kwargs["value"] == expected
    assert kwargs["ctrl"]["units"] == "counts"


def test_a_callback_may_wait_for_a_read_made_by_another_thread(ioc, make_pv):
    # The callback thread is busy running this callback while another thread connects and reads:
    # the replies must reach that thread without the callback thread's help.
    source = connected_pv(make_pv, ioc.pv("fast"))
    outcome = Recorder()
    fired = threading.Event()

    def on_change(**kwargs):
        if fired.is_set():
            return
        fired.set()
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                future = pool.submit(caget, ioc.pv("wf:short.DESC"), timeout=DEADLINE)
                outcome(value=future.result(timeout=2 * DEADLINE))
        except Exception as exc:
            outcome(error=exc)

    source.add_callback(on_change)
    assert outcome.wait_count(1, timeout=3 * DEADLINE), "the callback never finished"
    assert outcome.kwargs[0] == {"value": "short array"}


def test_new_pv_created_and_read_inside_a_callback(ioc):
    source = PV(ioc.pv("fast"))
    outcome = Recorder()
    fired = threading.Event()
    made = []

    def on_change(**kwargs):
        if fired.is_set():
            return
        fired.set()
        try:
            fresh = PV(ioc.pv("wf:short.DESC"))
            made.append(fresh)
            connected = fresh.wait_for_connection(timeout=DEADLINE)
            outcome(connected=connected, value=fresh.get(timeout=DEADLINE))
        except Exception as exc:
            outcome(error=exc)

    try:
        source.add_callback(on_change)
        assert outcome.wait_count(1, timeout=2 * DEADLINE)
        kwargs = outcome.kwargs[0]
        assert "error" not in kwargs, kwargs
        assert kwargs["connected"] is True
        assert kwargs["value"] == "short array"
    finally:
        source.disconnect()
        for thispv in made:
            thispv.disconnect()
