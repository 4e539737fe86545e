"""Access rights with epics.ca: replace_access_rights_event, read_access/write_access/access, and
what a denied read or write raises. Run-time changes use an IOC of tests/ioc.db with the access
security file epics.testing.GUARDED_ACF: writing $(P)asg:write / $(P)asg:read grants or revokes
write / read access to $(P)guarded."""
from __future__ import annotations

from pathlib import Path

import pytest

from epics import ca
from epics.testing import GUARDED_ACF, SoftIoc, unique_prefix
from test_ca_helpers import DEADLINE, Recorder, connected_channel

IOC_DB = Path(__file__).with_name("ioc.db")


@pytest.fixture(scope="module")
def asg_ioc(epics_port_pool):
    """tests/ioc.db served with GUARDED_ACF; returns its PV prefix."""
    prefix = unique_prefix()
    port = epics_port_pool.take()
    try:
        with SoftIoc(IOC_DB, macros={"P": prefix}, port=port, asg=GUARDED_ACF,
                     repeater_port=epics_port_pool.repeater_port):
            yield prefix
    finally:
        epics_port_pool.release(port)


def last_rights(rec):
    return rec.calls[-1].args if rec.calls else None


def allow(prefix, read, write):
    """Set the rules of $(P)guarded (the IOC applies them a moment later)."""
    for record, allowed in (("asg:read", read), ("asg:write", write)):
        ca.put(connected_channel(prefix + record), int(allowed), wait=True, timeout=DEADLINE)


@pytest.fixture
def guarded(asg_ioc):
    """The channel of $(P)guarded, readable and writable, with a Recorder of its access rights
    events; full access is given back at teardown."""
    rec = Recorder()
    chid = connected_channel(asg_ioc + "guarded")
    ca.replace_access_rights_event(chid, callback=rec)
    allow(asg_ioc, read=True, write=True)
    # the IOC denies access until its own links to the asg:* records connect: wait for it
    assert rec.wait_for(lambda calls: calls and calls[-1].args == (True, True))
    yield chid, rec
    allow(asg_ioc, read=True, write=True)
    assert rec.wait_for(lambda calls: calls[-1].args == (True, True))
    rec.clear()


# ---- the callback ----------------------------------------------------------------------------

def test_access_rights_callback_is_called_at_once_with_read_and_write(ioc):
    rec = Recorder()
    ca.replace_access_rights_event(connected_channel(ioc.pv("longin")), callback=rec)
    assert rec.wait_count(1)
    assert rec.calls[0].args == (True, True)


def test_access_rights_callback_reports_write_access_revoked(asg_ioc, guarded):
    chid, rec = guarded
    allow(asg_ioc, read=True, write=False)
    assert rec.wait_for(lambda calls: calls[-1].args == (True, False))


def test_access_rights_callback_reports_read_access_revoked(asg_ioc, guarded):
    chid, rec = guarded
    allow(asg_ioc, read=False, write=False)
    assert rec.wait_for(lambda calls: calls[-1].args == (False, False))


def test_access_rights_callback_reports_access_given_back(asg_ioc, guarded):
    chid, rec = guarded
    allow(asg_ioc, read=True, write=False)
    assert rec.wait_for(lambda calls: calls[-1].args == (True, False))
    allow(asg_ioc, read=True, write=True)
    assert rec.wait_for(lambda calls: calls[-1].args == (True, True))


# ---- the channel's view ----------------------------------------------------------------------

def test_a_read_only_channel_has_read_but_no_write_access(asg_ioc, guarded):
    chid, rec = guarded
    allow(asg_ioc, read=True, write=False)
    assert rec.wait_for(lambda calls: calls[-1].args == (True, False))
    assert (ca.read_access(chid), ca.write_access(chid)) == (1, 0)
    assert ca.access(chid) == "read-only"


def test_a_forbidden_channel_has_no_access(asg_ioc, guarded):
    chid, rec = guarded
    allow(asg_ioc, read=False, write=False)
    assert rec.wait_for(lambda calls: calls[-1].args == (False, False))
    assert (ca.read_access(chid), ca.write_access(chid)) == (0, 0)
    assert ca.access(chid) == "no access"


def test_a_guarded_channel_is_read_write_while_allowed(guarded):
    chid, _ = guarded
    assert ca.access(chid) == "read/write"


# ---- denied operations -----------------------------------------------------------------------

def test_put_without_write_access_raises_CAAccessDenied_naming_the_pv(asg_ioc, guarded):
    chid, rec = guarded
    allow(asg_ioc, read=True, write=False)
    assert rec.wait_for(lambda calls: calls[-1].args == (True, False))
    with pytest.raises(ca.CAAccessDenied) as info:
        ca.put(chid, 1.0)
    assert info.value.pvname == asg_ioc + "guarded"
    assert asg_ioc + "guarded" in str(info.value)


def test_put_without_write_access_is_a_PermissionError(asg_ioc, guarded):
    chid, rec = guarded
    allow(asg_ioc, read=True, write=False)
    assert rec.wait_for(lambda calls: calls[-1].args == (True, False))
    with pytest.raises(PermissionError):
        ca.put(chid, 1.0, wait=True, timeout=DEADLINE)


def test_get_without_read_access_raises_CAAccessDenied(asg_ioc, guarded):
    chid, rec = guarded
    allow(asg_ioc, read=False, write=False)
    assert rec.wait_for(lambda calls: calls[-1].args == (False, False))
    with pytest.raises(ca.CAAccessDenied) as info:
        ca.get(chid, timeout=DEADLINE)
    assert isinstance(info.value, PermissionError)
    assert info.value.pvname == asg_ioc + "guarded"


def test_put_works_again_once_write_access_is_given_back(asg_ioc, guarded):
    chid, rec = guarded
    allow(asg_ioc, read=True, write=False)
    assert rec.wait_for(lambda calls: calls[-1].args == (True, False))
    allow(asg_ioc, read=True, write=True)
    assert rec.wait_for(lambda calls: calls[-1].args == (True, True))
    assert ca.put(chid, 3.25, wait=True, timeout=DEADLINE) == 1
    assert ca.get(chid) == 3.25


def test_monitor_delivers_again_once_read_access_is_given_back(asg_ioc, guarded):
    chid, rec = guarded
    updates = Recorder()
    subscription = ca.create_subscription(chid, callback=updates)
    try:
        assert updates.wait_count(1)
        allow(asg_ioc, read=False, write=False)
        assert rec.wait_for(lambda calls: calls[-1].args == (False, False))
        allow(asg_ioc, read=True, write=True)
        assert rec.wait_for(lambda calls: calls[-1].args == (True, True))
        ca.put(chid, 4.5, wait=True, timeout=DEADLINE)
        assert updates.wait_value(4.5)
    finally:
        ca.clear_subscription(subscription)
