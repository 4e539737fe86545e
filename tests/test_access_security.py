"""Access security seen through PV objects and caget/caput: an IOC of ``tests/ioc.db`` with the
access security file :data:`epics.testing.GUARDED_ACF`.

``$(P)guarded`` is writable while ``$(P)asg:write`` is 1 and readable while ``$(P)asg:read`` is 1;
writing those two records changes the rules at run time (the IOC applies them a moment later, and
says so with an access rights event, which is what the tests wait for). Checked here:

* a read-only PV reports ``write_access`` False (and ``access`` 'read-only');
* a put to it raises :class:`CAAccessDenied` (also a ``PermissionError``) naming the PV, from
  ``PV.put`` (with and without ``wait``, with a callback), ``pv.value = ...`` and ``caput``, and the
  value does not change;
* when the rights change at run time the access callback fires with the new rights and
  ``read_access`` / ``write_access`` follow; writes work again once allowed;
* without read access a read raises :class:`CAAccessDenied`, and the monitor delivers again once
  read access is given back.

The module has its own IOC (the rules are changed, so it cannot be the session's).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest

from epics import caget, caput
from epics.ca import CAAccessDenied
from epics.pv import PV
from epics.testing import GUARDED_ACF, SoftIoc, unique_prefix
from test_ca_helpers import DEADLINE, Recorder

IOC_DB = Path(__file__).with_name("ioc.db")
#: The value $(P)guarded is given before each test (its database value is 2.5).
START_VALUE = 2.5


@pytest.fixture(scope="module")
def prefix(epics_port_pool) -> Iterator[str]:
    """This module's IOC: tests/ioc.db with GUARDED_ACF; returns its PV prefix."""
    pv_prefix = unique_prefix()
    port = epics_port_pool.take()
    try:
        with SoftIoc(IOC_DB, macros={"P": pv_prefix}, port=port, asg=GUARDED_ACF,
                     repeater_port=epics_port_pool.repeater_port):
            yield pv_prefix
    finally:
        epics_port_pool.release(port)


def allow(prefix: str, read: bool, write: bool) -> None:
    """Set the rules of $(P)guarded (the IOC applies them a moment later)."""
    for record, allowed in (("asg:read", read), ("asg:write", write)):
        assert caput(prefix + record, int(allowed), wait=True, timeout=DEADLINE) == 1


def rights_are(rec: Recorder, read: bool, write: bool) -> bool:
    """Wait for the last access callback to report ``(read, write)``."""
    return rec.wait_for(lambda calls: bool(calls) and calls[-1].args == (read, write))


def reported(rec: Recorder) -> str:
    """What an access callback Recorder received, for failure messages."""
    return f"access callbacks received: {[call.args for call in rec.calls]}"


@pytest.fixture
def guarded(prefix) -> Iterator[Tuple[PV, Recorder, Recorder]]:
    """$(P)guarded as a PV, readable and writable and holding START_VALUE, with Recorders of its
    access callback and its monitor. Full access is given back at teardown."""
    rights, updates = Recorder(), Recorder()
    thispv = PV(prefix + "guarded", access_callback=rights, callback=updates)
    try:
        assert thispv.wait_for_connection(timeout=DEADLINE)
        allow(prefix, read=True, write=True)
        # the IOC denies access until its own links to the asg:* records connect: wait for it
        assert rights_are(rights, True, True), reported(rights)
        assert thispv.put(START_VALUE, wait=True, timeout=DEADLINE) == 1
        assert updates.wait_value(START_VALUE)
        yield thispv, rights, updates
    finally:
        allow(prefix, read=True, write=True)
        assert rights_are(rights, True, True), reported(rights)
        thispv.disconnect()


def make_read_only(prefix: str, rights: Recorder) -> None:
    allow(prefix, read=True, write=False)
    assert rights_are(rights, True, False), reported(rights)


# ---- read-only -----------------------------------------------------------------------------------

def test_read_only_pv_reports_no_write_access(prefix, guarded):
    thispv, rights, _ = guarded
    make_read_only(prefix, rights)
    assert thispv.write_access is False
    assert thispv.read_access is True
    assert thispv.access == "read-only"
    assert rights.calls[-1].kwargs["pv"] is thispv


@pytest.mark.parametrize("how", ["put", "put wait", "put callback", "value", "caput",
                                 "caput wait"])
def test_put_to_read_only_pv_raises_and_changes_nothing(prefix, guarded, how):
    thispv, rights, updates = guarded
    make_read_only(prefix, rights)
    updates.clear()
    completions = Recorder()
    with pytest.raises(CAAccessDenied) as info:
        if how == "put":
            thispv.put(9.5)
        elif how == "put wait":
            thispv.put(9.5, wait=True, timeout=DEADLINE)
        elif how == "put callback":
            thispv.put(9.5, callback=completions)
        elif how == "value":
            thispv.value = 9.5
        elif how == "caput":
            caput(thispv.pvname, 9.5)
        else:
            caput(thispv.pvname, 9.5, wait=True, timeout=DEADLINE)
    assert isinstance(info.value, PermissionError)
    assert info.value.pvname == thispv.pvname
    assert thispv.pvname in str(info.value)
    assert thispv.get(use_monitor=False, timeout=DEADLINE) == START_VALUE
    assert caget(thispv.pvname, use_monitor=False, timeout=DEADLINE) == START_VALUE
    # the IOC re-sends the current value when access rights change, so an update may come, but
    # never with another value
    assert all(value == START_VALUE for value in updates.values), \
        f"the monitor saw a change: {updates.values}"
    assert not completions.calls


# ---- rights changing at run time ----------------------------------------------------------------

def test_access_callback_fires_and_write_access_follows(prefix, guarded):
    thispv, rights, _ = guarded
    assert thispv.write_access is True
    for _ in range(2):
        allow(prefix, read=True, write=False)
        assert rights_are(rights, True, False), reported(rights)
        assert thispv.write_access is False and thispv.access == "read-only"
        allow(prefix, read=True, write=True)
        assert rights_are(rights, True, True), reported(rights)
        assert thispv.write_access is True and thispv.access == "read/write"
    assert all(call.kwargs["pv"] is thispv for call in rights.calls)


def test_write_works_again_once_allowed(prefix, guarded):
    thispv, rights, updates = guarded
    make_read_only(prefix, rights)
    with pytest.raises(CAAccessDenied):
        thispv.put(5.5, wait=True, timeout=DEADLINE)
    allow(prefix, read=True, write=True)
    assert rights_are(rights, True, True), reported(rights)
    assert thispv.put(5.5, wait=True, timeout=DEADLINE) == 1
    assert updates.wait_value(5.5)
    assert caget(thispv.pvname, use_monitor=False, timeout=DEADLINE) == 5.5


def test_no_access_reports_both_false_and_a_read_raises(prefix, guarded):
    thispv, rights, _ = guarded
    allow(prefix, read=False, write=False)
    assert rights_are(rights, False, False), reported(rights)
    assert thispv.read_access is False and thispv.write_access is False
    assert thispv.access == "no access"
    with pytest.raises(CAAccessDenied) as info:
        thispv.get(use_monitor=False, timeout=DEADLINE)
    assert info.value.pvname == thispv.pvname


def test_monitor_delivers_again_once_read_access_is_given_back(prefix, guarded):
    thispv, rights, updates = guarded
    allow(prefix, read=False, write=False)
    assert rights_are(rights, False, False), reported(rights)
    allow(prefix, read=True, write=True)
    assert rights_are(rights, True, True), reported(rights)
    updates.clear()
    assert thispv.put(6.5, wait=True, timeout=DEADLINE) == 1
    assert updates.wait_value(6.5)


def test_a_new_pv_on_a_read_only_channel_sees_the_rights_at_once(prefix, guarded):
    thispv, rights, _ = guarded
    make_read_only(prefix, rights)
    second_rights = Recorder()
    second = PV(prefix + "guarded.DESC", access_callback=second_rights)
    try:
        assert second.wait_for_connection(timeout=DEADLINE)
        assert second.write_access is False
        assert second_rights.wait_for(lambda calls: bool(calls) and
                                      calls[-1].args == (True, False))
        with pytest.raises(CAAccessDenied):
            second.put("changed")
    finally:
        second.disconnect()


def test_unguarded_pvs_of_the_same_ioc_stay_writable(prefix, guarded):
    thispv, rights, _ = guarded
    make_read_only(prefix, rights)
    other = PV(prefix + "ao")
    try:
        assert other.wait_for_connection(timeout=DEADLINE)
        assert other.write_access is True
        assert other.put(1.25, wait=True, timeout=DEADLINE) == 1
    finally:
        other.disconnect()


def test_access_callback_keyword_pv_is_the_pv(prefix, guarded):
    thispv, rights, _ = guarded
    kwargs: Any = rights.calls[-1].kwargs
    assert kwargs == {"pv": thispv}
