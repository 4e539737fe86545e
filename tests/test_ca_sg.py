"""Synchronous groups with epics.ca: queue gets and puts, then block until all completed."""
from __future__ import annotations

import itertools

import pytest

from epics import ca, dbr
from epics._errors import ECA
from test_ca_helpers import DEADLINE, Recorder, connected_channel, restored

_slow_values = itertools.count(201)


@pytest.fixture
def group():
    """A new synchronous group, deleted at teardown."""
    gid = ca.sg_create()
    yield gid
    ca.sg_delete(gid)


def wait_slow_done(ioc, value):
    """Wait (bounded) until slow:done shows ``value``: the slow put has completed."""
    rec = Recorder()
    subscription = ca.create_subscription(connected_channel(ioc.pv("slow:done")), callback=rec)
    try:
        assert rec.wait_value(value)
    finally:
        ca.clear_subscription(subscription)


def test_sg_create_returns_a_group_id_and_sg_delete_eca_normal():
    gid = ca.sg_create()
    assert isinstance(gid.value, int)
    assert ca.sg_delete(gid) == ECA.NORMAL


def test_sg_get_values_are_there_after_sg_block(ioc, group):
    records = {"longout": 42, "stringout": "hello", "mbbo": 0}
    data = {record: ca.sg_get(group, connected_channel(ioc.pv(record))) for record in records}
    assert ca.sg_block(group, timeout=DEADLINE) == ECA.NORMAL
    assert {record: item.value for record, item in data.items()} == records


def test_sg_get_of_an_array_reads_all_its_elements(ioc, group):
    # a group asks for the element count (NELM): elements past NORD come as zeros
    data = ca.sg_get(group, connected_channel(ioc.pv("wf:double")))
    ca.sg_block(group, timeout=DEADLINE)
    assert len(data.value) == 128
    assert data.value[:6].tolist() == [1.5, 2.5, 3.5, 4.5, 5.5, 0.0]


def test_sg_get_of_a_string_array(ioc, group):
    data = ca.sg_get(group, connected_channel(ioc.pv("wf:string")))
    ca.sg_block(group, timeout=DEADLINE)
    assert data.value[:4] == ["alpha", "beta", "gamma", ""]


def test_sg_get_data_unpacks_with_ca_unpack_as_in_pyepics(ioc, group):
    chid = connected_channel(ioc.pv("ao"))
    data = ca.sg_get(group, chid)
    ca.sg_block(group, timeout=DEADLINE)
    assert ca._unpack(chid, data) == 1.5


def test_sg_get_with_ftype_asks_for_that_type(ioc, group):
    data = ca.sg_get(group, connected_channel(ioc.pv("ao")), ftype=dbr.STRING)
    ca.sg_block(group, timeout=DEADLINE)
    assert data.value == "1.500"


def test_sg_put_values_are_written_after_sg_block(ioc, group):
    with restored(ioc.pv("ao"), ioc.pv("longout"), ioc.pv("stringout")):
        chids = [connected_channel(ioc.pv(name)) for name in ("ao", "longout", "stringout")]
        for chid, value in zip(chids, (-7.5, 77, "grouped")):
            assert ca.sg_put(group, chid, value) == ECA.NORMAL
        assert ca.sg_block(group, timeout=DEADLINE) == ECA.NORMAL
        assert [ca.get(chid) for chid in chids] == [-7.5, 77, "grouped"]


def test_sg_put_of_an_array(ioc, group):
    with restored(ioc.pv("wf:long")):
        chid = connected_channel(ioc.pv("wf:long"))
        ca.sg_put(group, chid, [9, 8, 7])
        ca.sg_block(group, timeout=DEADLINE)
        assert ca.get(chid).tolist() == [9, 8, 7]


def test_sg_put_rejects_a_bad_value_like_put(ioc, group):
    with pytest.raises(ca.CAValueError):
        ca.sg_put(group, connected_channel(ioc.pv("ao")), "not a number")


def test_sg_block_waits_for_the_processing_to_complete(ioc, group):
    value = float(next(_slow_values))
    with restored(ioc.pv("slow")):
        ca.sg_put(group, connected_channel(ioc.pv("slow")), value)
        assert ca.sg_block(group, timeout=DEADLINE) == ECA.NORMAL
        assert ca.get(connected_channel(ioc.pv("slow:done"))) == value


def test_sg_test_is_false_while_requests_are_outstanding_and_true_after_sg_block(ioc, group):
    value = float(next(_slow_values))
    with restored(ioc.pv("slow")):
        ca.sg_put(group, connected_channel(ioc.pv("slow")), value)
        assert ca.sg_test(group) is False
        ca.sg_block(group, timeout=DEADLINE)
        assert ca.sg_test(group) is True


def test_sg_test_of_an_empty_group_is_true(group):
    assert ca.sg_test(group) is True


def test_sg_block_with_a_short_timeout_returns_eca_timeout(ioc, group):
    value = float(next(_slow_values))
    with restored(ioc.pv("slow")):
        ca.sg_put(group, connected_channel(ioc.pv("slow")), value)
        assert ca.sg_block(group, timeout=0.05) == ECA.TIMEOUT
        wait_slow_done(ioc, value)


def test_sg_reset_forgets_outstanding_requests(ioc, group):
    value = float(next(_slow_values))
    with restored(ioc.pv("slow")):
        ca.sg_put(group, connected_channel(ioc.pv("slow")), value)
        assert ca.sg_reset(group) == ECA.NORMAL
        assert ca.sg_test(group) is True
        ca.flush_io()
        wait_slow_done(ioc, value)     # the put itself was still sent


def test_a_deleted_group_cannot_be_used(ioc):
    gid = ca.sg_create()
    ca.sg_delete(gid)
    with pytest.raises(ca.CASeverityException) as info:
        ca.sg_get(gid, connected_channel(ioc.pv("ao")))
    assert info.value.status == ECA.BADSYNCGRP
