"""PVs and plain threads: no CAThread, no attach_context by hand.

Twenty ``threading.Thread`` s create, read and write PVs at the same time; PV objects are shared
between threads; a thread's PV keeps delivering after the thread ended. The writes go to a private
IOC of twenty records, so the threads never race each other (or other modules) on a record.
"""
from __future__ import annotations

import threading
from typing import Any, Dict, List

import pytest

from epics import ca, caget, caput
from epics.pv import PV, get_pv
from epics.testing import SoftIoc, unique_prefix
from test_pv_helpers import make_pv  # noqa: F401 (a fixture)
from test_pv_helpers import DEADLINE, Recorder, connected_pv, wait_until

N_THREADS = 20
#: Seconds the whole group of threads may take (a hang check: each thread needs well under 1 s).
GROUP_DEADLINE = 60.0


@pytest.fixture(scope="module")
def twenty_records(epics_port_pool):
    """A private IOC (for this module) with records ``t0`` .. ``t19`` (ao, starting at -1);
    returns their names."""
    prefix = unique_prefix()
    db = "\n".join(f'record(ao, "$(P)t{i}") {{ field(VAL, "-1") field(PINI, "YES") '
                   f'field(PREC, "2") }}' for i in range(N_THREADS))
    port = epics_port_pool.take()
    try:
        with SoftIoc(db, macros={"P": prefix}, port=port,
                     repeater_port=epics_port_pool.repeater_port):
            yield [f"{prefix}t{i}" for i in range(N_THREADS)]
    finally:
        epics_port_pool.release(port)


def run_in_threads(target, count: int = N_THREADS) -> List[Dict[str, Any]]:
    """Start ``count`` plain threads running ``target(i, barrier)``; return each one's outcome
    (``{'value': ...}`` or ``{'error': ...}``), failing the test if any is still running after
    :data:`GROUP_DEADLINE`."""
    barrier = threading.Barrier(count, timeout=GROUP_DEADLINE)
    outcomes: List[Dict[str, Any]] = [{} for _ in range(count)]

    def body(i: int) -> None:
        try:
            outcomes[i]["value"] = target(i, barrier)
        except BaseException as exc:   # handed to the test thread
            outcomes[i]["error"] = exc

    threads = [threading.Thread(target=body, args=(i,), name=f"pv-test-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GROUP_DEADLINE)
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads still running after {GROUP_DEADLINE} s: {stuck}"
    errors = [(i, o["error"]) for i, o in enumerate(outcomes) if "error" in o]
    assert not errors, f"threads raised: {errors}"
    return outcomes


def test_twenty_threads_create_read_and_write_pvs(twenty_records):
    made: List[PV] = []
    lock = threading.Lock()

    def work(i: int, barrier: threading.Barrier) -> Any:
        barrier.wait()                       # all threads create their PV at the same moment
        thispv = PV(twenty_records[i])
        with lock:
            made.append(thispv)
        assert thispv.wait_for_connection(timeout=DEADLINE), f"{thispv.pvname} did not connect"
        before = thispv.get(timeout=DEADLINE)
        assert thispv.put(100 + i, wait=True, timeout=DEADLINE) == 1
        return before, thispv.get(use_monitor=False, timeout=DEADLINE)

    try:
        outcomes = run_in_threads(work)
        for i, outcome in enumerate(outcomes):
            before, after = outcome["value"]
            assert isinstance(before, float)
            assert after == 100.0 + i
    finally:
        for thispv in made:
            thispv.disconnect()


def test_twenty_threads_share_one_pv_object(twenty_records, make_pv):
    shared = connected_pv(make_pv, twenty_records[0])
    shared.put(7.5, wait=True, timeout=DEADLINE)
    assert wait_until(lambda: shared.get() == 7.5)

    def work(i: int, barrier: threading.Barrier) -> Any:
        barrier.wait()
        return (shared.get(), shared.get(use_monitor=False, timeout=DEADLINE),
                shared.get(as_string=True), shared.char_value, shared.units, shared.count)

    for outcome in run_in_threads(work):
        value, fresh, text, char_value, units, count = outcome["value"]
        assert value == fresh == 7.5
        assert text == char_value == "7.50"
        assert count == 1


def test_twenty_threads_use_the_procedural_interface(twenty_records):
    def work(i: int, barrier: threading.Barrier) -> Any:
        barrier.wait()
        assert caput(twenty_records[i], 200 + i, wait=True, timeout=DEADLINE,
                     connection_timeout=DEADLINE) == 1
        return caget(twenty_records[i], use_monitor=False, timeout=DEADLINE,
                     connection_timeout=DEADLINE)

    try:
        outcomes = run_in_threads(work)
        assert [o["value"] for o in outcomes] == [200.0 + i for i in range(N_THREADS)]
    finally:
        for name in twenty_records:
            get_pv(name).disconnect()


def test_twenty_threads_get_pv_the_same_name_get_one_object(twenty_records):
    name = twenty_records[1]

    def work(i: int, barrier: threading.Barrier) -> Any:
        barrier.wait()
        return get_pv(name, connect=True, timeout=DEADLINE)

    try:
        objects = [o["value"] for o in run_in_threads(work)]
        assert all(obj is objects[0] for obj in objects)
        assert objects[0].connected
    finally:
        get_pv(name).disconnect()


def test_pv_made_in_a_thread_keeps_delivering_after_the_thread_ended(ioc):
    rec = Recorder()
    holder: List[PV] = []

    def make() -> None:
        thispv = PV(ioc.pv("counter"), callback=rec)
        holder.append(thispv)
        assert thispv.wait_for_connection(timeout=DEADLINE)

    thread = threading.Thread(target=make, name="pv-maker")
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive()
    try:
        assert holder and holder[0].connected
        rec.clear()
        assert rec.wait_count(3)     # the counter changes every 0.1 s
        assert len(set(rec.values)) >= 2
        # and the main thread can use the PV made by the other one
        assert holder[0].get(use_monitor=False) is not None
    finally:
        for thispv in holder:
            thispv.disconnect()


def test_pv_made_in_main_thread_is_used_from_a_new_thread(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("longin"))
    outcome: Dict[str, Any] = {}

    def use() -> None:
        try:
            outcome["value"] = p.get(use_monitor=False, timeout=DEADLINE)
            outcome["ctrl"] = p.get_ctrlvars(timeout=DEADLINE)
            outcome["context"] = ca.current_context()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=use, name="pv-user")
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    assert isinstance(outcome["value"], int)
    assert outcome["ctrl"]["units"] == "counts"
    # the new thread was attached to the same CA context as the PV's, by itself
    assert outcome["context"] == p.context


def test_monitors_keep_delivering_while_threads_work(twenty_records, ioc, make_pv):
    rec = Recorder()
    connected_pv(make_pv, ioc.pv("fast"), callback=rec)

    def work(i: int, barrier: threading.Barrier) -> Any:
        barrier.wait()
        for n in range(5):
            caput(twenty_records[i], n, wait=True, timeout=DEADLINE, connection_timeout=DEADLINE)
        return caget(twenty_records[i], use_monitor=False, timeout=DEADLINE)

    try:
        rec.clear()
        outcomes = run_in_threads(work)
        assert [o["value"] for o in outcomes] == [4.0] * N_THREADS
        assert rec.wait_count(3)
    finally:
        for name in twenty_records:
            get_pv(name).disconnect()
