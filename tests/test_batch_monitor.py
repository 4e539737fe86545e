"""epics.batch.MonitorSet against real softioc IOCs: every update in order per PV with its value,
timestamp and alarm, the DROP NEWEST overflow policy with per-PV counts, disconnect/reconnect,
close, and the pure-Python path giving the same results as the C ring."""
from __future__ import annotations

import time

import numpy as np
import pytest

from epics import ca
from epics.batch import DISCONNECTED, INVALID_SEVERITY, PURE_PYTHON_ENV, MonitorSet

N_PVS = 8
#: ao records with alarm limits (5 -> MINOR HIGH, 8 -> MAJOR HIHI), a string, an enum.
DB = "".join(f"""
record(ao, "$(P)ao{i}") {{
    field(VAL, "0")
    field(HIGH, "5")
    field(HSV, "MINOR")
    field(HIHI, "8")
    field(HHSV, "MAJOR")
}}
""" for i in range(N_PVS)) + """
record(stringout, "$(P)text") {
    field(VAL, "start")
}
record(mbbo, "$(P)mode") {
    field(ZRST, "off")
    field(ONST, "on")
    field(TWST, "auto")
    field(VAL, "0")
}
"""
PATHS = [pytest.param(True, id="C-ring"), pytest.param(False, id="pure-Python")]
HIGH_STATUS, HIHI_STATUS = 4, 3     # EPICS alarm status values


@pytest.fixture
def names(softioc_factory, pv_prefix):
    softioc_factory(DB, macros={"P": pv_prefix})
    return [f"{pv_prefix}ao{i}" for i in range(N_PVS)]


def drain_until(monitors: MonitorSet, wanted: int, timeout: float = 10.0) -> list:
    """Drain until ``wanted`` events came (or timeout); the records, in order."""
    records = []
    deadline = time.monotonic() + timeout
    while len(records) < wanted and time.monotonic() < deadline:
        records += monitors.records(timeout=0.2)
    return records


def per_pv(records: list) -> dict:
    result: dict = {}
    for record in records:
        result.setdefault(record.pvname, []).append(record)
    return result


def expected_alarm(value: float) -> tuple:
    if value >= 8:
        return 2, HIHI_STATUS
    if value >= 5:
        return 1, HIGH_STATUS
    return 0, 0


@pytest.mark.parametrize("use_c", PATHS)
def test_every_update_arrives_in_order_with_value_time_and_alarm(names, use_c):
    started = time.time()
    with MonitorSet(names, capacity=10_000, use_c=use_c) as monitors:
        assert monitors.uses_c is use_c
        assert monitors.wait_for_connection(timeout=10)
        assert len(drain_until(monitors, N_PVS)) == N_PVS     # each PV's current value first
        for value in range(1, 10):
            for name in names:
                ca.put(ca.create_channel(name), float(value), wait=True)
        records = drain_until(monitors, 9 * N_PVS)
        assert len(records) == 9 * N_PVS
        assert monitors.drain(timeout=0.3).index.size == 0      # nothing more came
        for name, events in per_pv(records).items():
            assert [event.value for event in events] == [float(v) for v in range(1, 10)], name
            assert [(event.severity, event.status) for event in events] == \
                [expected_alarm(v) for v in range(1, 10)], name
            stamps = [event.timestamp for event in events]
            assert stamps == sorted(stamps) and started - 1 < stamps[0] <= time.time() + 1
            last_time = ca.get_timevars(ca.create_channel(name))["timestamp"]
            assert stamps[-1] == pytest.approx(last_time, abs=1e-6)
        assert not monitors.dropped.any()


@pytest.mark.parametrize("use_c", PATHS)
def test_the_arrays_form_of_a_drain(names, use_c):
    with MonitorSet(names[:2], capacity=100, use_c=use_c) as monitors:
        assert monitors.wait_for_connection(timeout=10)
        drain_until(monitors, 2)
        ca.put(ca.create_channel(names[1]), 6.5, wait=True)
        batch = monitors.drain(timeout=5)
        index, value, timestamp, severity, status = batch
        assert index.dtype == np.int32 and value.dtype == np.float64
        assert timestamp.dtype == np.float64 and severity.dtype == status.dtype == np.int16
        assert list(index) == [1] and list(value) == [6.5]
        assert list(severity) == [1] and list(status) == [HIGH_STATUS]
        assert batch.dropped.tolist() == [0, 0]


@pytest.mark.parametrize("use_c", PATHS)
def test_a_full_ring_drops_the_newest_and_counts_per_pv(names, use_c):
    with MonitorSet(names[:2], capacity=5, use_c=use_c) as monitors:
        assert monitors.wait_for_connection(timeout=10)
        drain_until(monitors, 2)
        first, second = (ca.create_channel(name) for name in names[:2])
        for value in range(1, 8):
            ca.put(first, float(value), wait=True)
        ca.put(second, 3.0, wait=True)
        deadline = time.monotonic() + 10
        while monitors.stats()["received"] < 2 + 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        batch = monitors.drain()
        # the first five updates stay, the later ones (of both PVs) are counted as dropped
        assert batch.index.tolist() == [0] * 5 and batch.value.tolist() == [1, 2, 3, 4, 5]
        assert batch.dropped.tolist() == [2, 1]
        assert monitors.dropped.tolist() == [2, 1]
        assert monitors.stats() == {"received": 10, "dropped": 3}
        ca.put(first, 9.0, wait=True)                 # room again: updates flow on
        assert [r.value for r in drain_until(monitors, 1)] == [9.0]
        assert monitors.dropped.tolist() == [2, 1]


@pytest.mark.parametrize("use_c", PATHS)
def test_strings_and_enums(names, pv_prefix, use_c):
    with MonitorSet([pv_prefix + "text"], dtype=str, use_c=use_c) as texts, \
            MonitorSet([pv_prefix + "mode"], dtype=int, use_c=use_c) as modes:
        assert texts.wait_for_connection(timeout=10) and modes.wait_for_connection(timeout=10)
        ca.put(ca.create_channel(pv_prefix + "text"), "hello there", wait=True)
        ca.put(ca.create_channel(pv_prefix + "mode"), 2, wait=True)
        assert [r.value for r in drain_until(texts, 2)] == ["start", "hello there"]
        batch = modes.drain(timeout=5)
        deadline = time.monotonic() + 5
        values = batch.value.tolist()
        while len(values) < 2 and time.monotonic() < deadline:
            values += modes.drain(timeout=0.2).value.tolist()
        assert values == [0, 2]


@pytest.mark.parametrize("use_c", PATHS)
def test_a_lost_ioc_is_reported_and_updates_resume_after_it_returns(softioc_factory,
                                                                     pv_prefix, use_c):
    ioc = softioc_factory(DB, macros={"P": pv_prefix})
    names = [f"{pv_prefix}ao{i}" for i in range(2)]
    with MonitorSet(names, use_c=use_c) as monitors:
        assert monitors.wait_for_connection(timeout=10)
        ca.put(ca.create_channel(names[0]), 4.0, wait=True)
        drain_until(monitors, 3)
        ioc.stop()
        records = drain_until(monitors, 2, timeout=30)
        assert sorted(r.pvname for r in records) == sorted(names)
        for record in records:
            assert (record.severity, record.status) == (INVALID_SEVERITY, DISCONNECTED)
            assert np.isnan(record.value)
        assert not monitors.connected.any()
        ioc.start()
        records = drain_until(monitors, 2, timeout=30)
        assert sorted((r.pvname, r.value) for r in records) == [(names[0], 0.0), (names[1], 0.0)]
        assert monitors.wait_for_connection(timeout=10) and monitors.connected.all()


def test_close_releases_the_channels_it_made_and_keeps_shared_ones(names):
    import epics
    shared = epics.PV(names[0])
    assert shared.wait_for_connection(timeout=10)
    monitors = MonitorSet(names[:3])
    assert monitors.wait_for_connection(timeout=10)
    monitors.close()
    monitors.close()                                  # idempotent
    assert ca.get_cache(names[1]) is None and ca.get_cache(names[2]) is None
    assert ca.get_cache(names[0]) is not None and shared.connected
    assert monitors.drain(timeout=0.1).index.size == 0
    ca.put(ca.create_channel(names[0]), 2.0, wait=True)
    assert shared.get(use_monitor=False) == 2.0     # the shared channel still works
    shared.disconnect()


def test_the_pure_python_path_can_be_forced_and_gives_the_same_events(names, monkeypatch):
    with MonitorSet(names, use_c=True) as fast:
        monkeypatch.setenv(PURE_PYTHON_ENV, "1")
        with MonitorSet(names) as slow:
            assert fast.uses_c and not slow.uses_c
            assert fast.wait_for_connection(timeout=10) and slow.wait_for_connection(timeout=10)
            for value in (1.0, 6.0, 9.0):
                for name in names:
                    ca.put(ca.create_channel(name), value, wait=True)
            got_fast = per_pv(drain_until(fast, 4 * N_PVS))
            got_slow = per_pv(drain_until(slow, 4 * N_PVS))
            assert got_fast == got_slow and len(got_fast) == N_PVS


def test_bad_input_is_refused_with_the_name(names):
    with pytest.raises(ValueError, match="appears twice"):
        MonitorSet([names[0], names[0]])
    with pytest.raises(ValueError, match="capacity"):
        MonitorSet(names, capacity=0)
    with pytest.raises(ValueError, match="dtype"):
        MonitorSet(names, dtype=complex)
    with pytest.raises(ValueError, match="white space"):
        MonitorSet(["bad name"])


def test_the_c_ring_takes_updates_without_the_dispatcher(names):
    from epics import _dispatch
    with MonitorSet(names, use_c=True) as monitors:
        assert monitors.wait_for_connection(timeout=10)
        # libca calls the C ring directly: no Python subscription record, so no Python per event
        assert not any(sub.pvname in names for sub in _dispatch.subscriptions.values())
        assert len(drain_until(monitors, N_PVS)) == N_PVS


@pytest.mark.parametrize("use_c", PATHS)
def test_threads_draining_one_set_share_the_events_without_loss(names, use_c):
    import threading
    with MonitorSet(names, use_c=use_c) as monitors:
        assert monitors.wait_for_connection(timeout=10)
        drain_until(monitors, N_PVS)
        got: list = []
        stop = threading.Event()

        def drainer() -> None:
            while not stop.is_set():
                got.extend(monitors.records(timeout=0.05))

        threads = [threading.Thread(target=drainer) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            for value in range(1, 6):
                for name in names:
                    ca.put(ca.create_channel(name), float(value), wait=True)
            deadline = time.monotonic() + 10
            while len(got) < 5 * N_PVS and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=5)
        assert sorted((r.pvname, r.value) for r in got) == \
            sorted((name, float(v)) for name in names for v in range(1, 6))
