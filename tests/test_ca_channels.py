"""Channels with epics.ca: create, connect, inspect and clear them (against the session IOC)."""
from __future__ import annotations

import threading
import time

import pytest

from epics import ca, dbr
from epics._errors import ECA
from test_ca_helpers import DEADLINE, MISSING_PV, Recorder, connected_channel


# ---- create_channel --------------------------------------------------------------------------

def test_create_channel_returns_a_chid_that_connects(ioc):
    chid = ca.create_channel(ioc.pv("ao"))
    assert isinstance(chid, ca.chid_t)
    assert ca.connect_channel(chid, timeout=DEADLINE) is True


def test_create_channel_twice_for_one_name_gives_the_same_chid(ioc):
    first = ca.create_channel(ioc.pv("longout"))
    second = ca.create_channel(ioc.pv("longout"))
    assert first.value == second.value


def test_create_channel_for_different_names_gives_different_chids(ioc):
    assert ca.create_channel(ioc.pv("ao")).value != ca.create_channel(ioc.pv("ai")).value


def test_create_channel_with_connect_waits_for_the_connection(ioc):
    chid = ca.create_channel(ioc.pv("bo"), connect=True)
    assert ca.isConnected(chid)


def test_connection_callback_gets_pvname_chid_and_conn(ioc):
    pvname = ioc.pv("wf:short")
    rec = Recorder()
    chid = ca.create_channel(pvname, callback=rec)
    assert rec.wait_for(lambda calls: any(c.kwargs["conn"] for c in calls))
    assert rec.kwargs[-1] == {"pvname": pvname, "chid": chid.value, "conn": True}


def test_connection_callback_is_called_at_once_when_already_connected(ioc):
    chid = connected_channel(ioc.pv("wf:float"))
    rec = Recorder()
    ca.create_channel(ioc.pv("wf:float"), callback=rec)
    # no waiting: the channel was connected, so create_channel called it before returning
    assert rec.kwargs == [{"pvname": ioc.pv("wf:float"), "chid": chid.value, "conn": True}]


def test_connection_callback_reports_the_server_going_away(softioc_factory, pv_prefix):
    server = softioc_factory('record(ao, "$(P)x") {}', macros={"P": pv_prefix})
    rec = Recorder()
    chid = ca.create_channel(pv_prefix + "x", callback=rec)
    try:
        assert rec.wait_for(lambda calls: any(c.kwargs["conn"] for c in calls))
        server.stop()
        assert rec.wait_for(lambda calls: calls[-1].kwargs["conn"] is False)
        assert not ca.isConnected(chid)
        assert ca.state(chid) == dbr.CS_PREV_CONN
    finally:
        ca.clear_channel(chid)


def test_a_removed_connection_callback_hears_no_more_changes(softioc_factory, pv_prefix):
    server = softioc_factory('record(ao, "$(P)x") {}', macros={"P": pv_prefix})
    kept, removed = Recorder(), Recorder()
    # removed comes first: were it still there, it would hear the disconnection before kept
    chid = ca.create_channel(pv_prefix + "x", callback=removed)
    ca.create_channel(pv_prefix + "x", callback=kept)
    try:
        assert kept.wait_for(lambda calls: any(c.kwargs["conn"] for c in calls))
        assert removed.wait_for(lambda calls: any(c.kwargs["conn"] for c in calls))
        ca.remove_connection_callback(chid, removed)
        server.stop()
        assert kept.wait_for(lambda calls: calls[-1].kwargs["conn"] is False)
        assert [c.kwargs["conn"] for c in removed.calls] == [True]
    finally:
        ca.clear_channel(chid)


def test_connection_callbacks_have_run_when_a_read_returns_as_in_pyepics(softioc_factory,
                                                                         pv_prefix):
    # PyEpics runs connection callbacks in libca's thread before the connection is seen: a
    # script may create a channel with a callback, read it, and find what the callback recorded
    # (PyEpics's own test_CreateChidWithConn). Here a slow callback keeps the dispatcher busy.
    softioc_factory('record(ao, "$(P)slow") {}\nrecord(ao, "$(P)x") {field(VAL, "2.5")}',
                    macros={"P": pv_prefix})
    dispatcher_busy = threading.Event()

    def slow(conn: bool, **_: object) -> None:
        if conn:
            dispatcher_busy.set()
            time.sleep(0.5)

    slow_chid = ca.create_channel(pv_prefix + "slow", callback=slow)
    seen = {}
    chid = None
    try:
        assert dispatcher_busy.wait(DEADLINE)
        chid = ca.create_channel(pv_prefix + "x",
                                 callback=lambda pvname, conn, **_: seen.update({pvname: conn}))
        assert ca.get(chid) == 2.5
        assert seen == {pv_prefix + "x": True}
    finally:
        ca.clear_channel(slow_chid)
        if chid is not None:
            ca.clear_channel(chid)


@pytest.mark.parametrize("pvname", ["", b""])
def test_create_channel_with_an_empty_name_raises_CAValueError(pvname):
    with pytest.raises(ca.CAValueError):
        ca.create_channel(pvname)


def test_create_channel_with_a_nul_in_the_name_raises_CAValueError():
    with pytest.raises(ca.CAValueError) as info:
        ca.create_channel("nul\x00")
    assert info.value.pvname == "nul\x00"


@pytest.mark.parametrize("pvname", ["two words", "tab\tname", "new\nline"])
def test_a_name_with_white_space_makes_a_channel_that_never_connects_as_pyepics(pvname):
    chid = ca.create_channel(pvname)
    try:
        assert ca.connect_channel(chid, timeout=0.5) is False
        assert ca.name(chid) == pvname
    finally:
        ca.clear_channel(chid)


@pytest.mark.parametrize("pvname", ["two words", "tab\tname", "new\nline"])
def test_a_name_with_white_space_raises_CAValueError_with_RAISE_ON_ERROR(pvname, monkeypatch):
    monkeypatch.setattr(ca, "RAISE_ON_ERROR", True)
    with pytest.raises(ca.CAValueError) as info:
        ca.create_channel(pvname)
    assert info.value.pvname == pvname


@pytest.mark.parametrize("pvname", [None, 42, 1.5, ["ao"]])
def test_create_channel_with_a_non_string_name_raises_CATypeError(pvname):
    with pytest.raises(ca.CATypeError):
        ca.create_channel(pvname)


def test_create_channel_accepts_a_bytes_name(ioc):
    chid = ca.create_channel(ioc.pv("ao").encode())
    assert ca.name(chid) == ioc.pv("ao")


# ---- connect_channel -------------------------------------------------------------------------

def test_connect_channel_returns_true_for_a_served_pv(ioc):
    chid = ca.create_channel(ioc.pv("stringout"))
    assert ca.connect_channel(chid, timeout=DEADLINE) is True


def test_connect_channel_returns_false_after_its_timeout_for_a_missing_pv():
    chid = ca.create_channel(MISSING_PV + ":connect")
    assert ca.connect_channel(chid, timeout=0.3) is False


def test_connect_channel_counts_failed_attempts_in_the_cache_entry():
    pvname = MISSING_PV + ":failures"
    chid = ca.create_channel(pvname)
    ca.connect_channel(chid, timeout=0.1)
    ca.connect_channel(chid, timeout=0.1)
    assert ca.get_cache(pvname).failures == 2


def test_connect_channel_accepts_an_int_chid(ioc):
    chid = ca.create_channel(ioc.pv("ao"))
    assert ca.connect_channel(chid.value, timeout=DEADLINE) is True


# ---- clear_channel ---------------------------------------------------------------------------

def test_clear_channel_returns_eca_normal_and_forgets_the_channel(ioc):
    pvname = ioc.pv("wf:long")
    chid = connected_channel(pvname)
    assert ca.clear_channel(chid) == ECA.NORMAL
    assert ca.get_cache(pvname) is None
    with pytest.raises(ca.ChannelAccessException):
        ca.name(chid)


def test_a_cleared_channel_can_be_created_again(ioc):
    pvname = ioc.pv("wf:long")
    ca.clear_channel(connected_channel(pvname))
    chid = connected_channel(pvname)
    assert list(ca.get(chid)[:2]) == [1, 2]


def test_clear_channel_of_an_unknown_chid_raises():
    with pytest.raises(ca.ChannelAccessException):
        ca.clear_channel(12345)


# ---- what a channel tells about itself -------------------------------------------------------

def test_name_is_the_pv_name(ioc):
    assert ca.name(ca.create_channel(ioc.pv("ao"))) == ioc.pv("ao")


def test_host_name_names_the_server_and_its_port(ioc):
    chid = connected_channel(ioc.pv("ao"))
    host, _, port = ca.host_name(chid).rpartition(":")
    assert host and int(port) == ioc.port


@pytest.mark.parametrize("record, count", [("ao", 1), ("stringout", 1), ("wf:double", 128),
                                           ("wf:string", 10), ("wf:big", 1048576)])
def test_element_count_is_the_number_of_elements(ioc, record, count):
    assert ca.element_count(connected_channel(ioc.pv(record))) == count


def test_element_count_of_a_disconnected_channel_is_zero():
    assert ca.element_count(ca.create_channel(MISSING_PV)) == 0


@pytest.mark.parametrize("record, ftype", [
    ("ao", dbr.DOUBLE), ("longout", dbr.LONG), ("mbbo", dbr.ENUM), ("bo", dbr.ENUM),
    ("stringout", dbr.STRING), ("wf:char", dbr.CHAR), ("wf:short", dbr.SHORT),
    ("wf:long", dbr.LONG), ("wf:float", dbr.FLOAT), ("wf:double", dbr.DOUBLE),
    ("wf:string", dbr.STRING)])
def test_field_type_is_the_native_dbr_type(ioc, record, ftype):
    assert ca.field_type(connected_channel(ioc.pv(record))) == ftype


def test_field_type_of_a_disconnected_channel_is_minus_one():
    assert ca.field_type(ca.create_channel(MISSING_PV)) == -1


def test_read_and_write_access_are_1_for_an_open_record(ioc):
    chid = connected_channel(ioc.pv("ao"))
    assert ca.read_access(chid) == 1
    assert ca.write_access(chid) == 1


def test_access_of_an_open_record_is_read_write(ioc):
    assert ca.access(connected_channel(ioc.pv("ao"))) == "read/write"


def test_access_of_a_disconnected_channel_is_no_access():
    assert ca.access(ca.create_channel(MISSING_PV)) == "no access"


def test_state_is_cs_conn_when_connected(ioc):
    assert ca.state(connected_channel(ioc.pv("ao"))) == dbr.CS_CONN


def test_state_is_cs_never_conn_for_a_missing_pv():
    assert ca.state(ca.create_channel(MISSING_PV)) == dbr.CS_NEVER_CONN


def test_isConnected_is_true_when_connected(ioc):
    assert ca.isConnected(connected_channel(ioc.pv("ao"))) is True


def test_isConnected_is_false_for_a_missing_pv():
    assert ca.isConnected(ca.create_channel(MISSING_PV)) is False


@pytest.mark.parametrize("use_time, use_ctrl, expected", [
    (False, False, dbr.DOUBLE), (True, False, dbr.TIME_DOUBLE), (False, True, dbr.CTRL_DOUBLE),
    (True, True, dbr.CTRL_DOUBLE)])
def test_promote_type_gives_the_time_or_ctrl_variant(ioc, use_time, use_ctrl, expected):
    chid = connected_channel(ioc.pv("ao"))
    assert ca.promote_type(chid, use_time=use_time, use_ctrl=use_ctrl) == expected


def test_promote_type_of_a_string_with_ctrl_gives_time_string(ioc):
    # there is no DBR_CTRL_STRING: PyEpics asks for TIME_STRING instead
    chid = connected_channel(ioc.pv("stringout"))
    assert ca.promote_type(chid, use_ctrl=True) == dbr.TIME_STRING


@pytest.mark.parametrize("ftype, expected", [(dbr.ENUM, dbr.CTRL_ENUM), (dbr.CHAR, dbr.CTRL_CHAR),
                                             (dbr.LONG, dbr.CTRL_LONG)])
def test_promote_fieldtype_works_on_type_codes(ftype, expected):
    assert ca.promote_fieldtype(ftype, use_ctrl=True) == expected


@pytest.mark.parametrize("function", [ca.name, ca.host_name, ca.element_count, ca.read_access,
                                      ca.write_access, ca.field_type, ca.state, ca.isConnected,
                                      ca.access])
def test_channel_functions_reject_an_unknown_chid(function):
    with pytest.raises(ca.ChannelAccessException):
        function(987654321)
