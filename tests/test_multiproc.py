"""CAProcess and CAPool: Channel Access in child processes, with the fork and spawn start methods.

The parent has a live CA context with a monitor before each child starts; the child reads a PV of
the session IOC (a forked child must get a fresh context of its own), and afterwards the parent's
monitor must still deliver. Children run module-level functions so that spawn can import them.
"""
from __future__ import annotations

import multiprocessing
import queue as queue_module
from typing import Any, Iterator, Tuple

import pytest

import epics
from epics import CAPool, CAProcess
from epics.pv import PV
from test_pv_helpers import DEADLINE, SUBPROCESS_DEADLINE, Recorder

START_METHODS = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]


# ---- what the children run (module level, for spawn) ---------------------------------------------

def child_caget(pvname: str) -> Any:
    """Read a PV in the child: caget, and a PV object with a monitor."""
    value = epics.caget(pvname, timeout=DEADLINE, connection_timeout=DEADLINE)
    thispv = epics.PV(pvname)
    connected = thispv.wait_for_connection(timeout=DEADLINE)
    return value, connected, thispv.get(timeout=DEADLINE)


def child_main(pvname: str, results: Any) -> None:
    """CAProcess target: report what :func:`child_caget` saw (or the error) to the parent."""
    try:
        results.put(("ok", child_caget(pvname)))
    except BaseException as exc:   # reported to the parent test
        results.put(("error", repr(exc)))


def child_value(pvname: str) -> Any:
    """CAPool worker: the value of a PV."""
    return epics.caget(pvname, use_monitor=False, timeout=DEADLINE,
                       connection_timeout=DEADLINE)


# ---- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(params=START_METHODS)
def start_method(request) -> Iterator[str]:
    """Each start method in turn, made the default for the test (CAProcess, like PyEpics's, uses
    the default); the previous default is put back afterwards."""
    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method(request.param, force=True)
    try:
        yield request.param
    finally:
        multiprocessing.set_start_method(previous, force=True)


@pytest.fixture
def parent_monitor(ioc) -> Iterator[Tuple[PV, Recorder]]:
    """A monitored PV in the parent (the counter changes every 0.1 s), live before any child
    starts, so that fork copies a process with a running CA context."""
    rec = Recorder()
    thispv = PV(ioc.pv("counter"), callback=rec)
    assert thispv.wait_for_connection(timeout=DEADLINE)
    assert rec.wait_count(1)
    try:
        yield thispv, rec
    finally:
        thispv.disconnect()


def assert_still_delivering(rec: Recorder) -> None:
    rec.clear()
    assert rec.wait_count(2), "the parent's monitor stopped delivering after the child ran"


# ---- CAProcess -----------------------------------------------------------------------------------

def test_caprocess_child_reads_a_pv(ioc, start_method, parent_monitor):
    _, rec = parent_monitor
    expected = epics.caget(ioc.pv("longin"), use_monitor=False)
    results = multiprocessing.get_context(start_method).Queue()
    child = CAProcess(target=child_main, args=(ioc.pv("longin"), results))
    child.start()
    try:
        status, payload = results.get(timeout=SUBPROCESS_DEADLINE)
    except queue_module.Empty:
        pytest.fail(f"the {start_method} child reported nothing within {SUBPROCESS_DEADLINE} s")
    finally:
        child.join(SUBPROCESS_DEADLINE)
        if child.is_alive():
            child.terminate()
            child.join(DEADLINE)
    assert status == "ok", payload
    value, connected, pv_value = payload
    assert value == expected
    assert connected is True
    assert pv_value == expected
    assert child.exitcode == 0
    assert_still_delivering(rec)


def test_caprocess_is_a_multiprocessing_process():
    assert issubclass(CAProcess, multiprocessing.Process)


def test_caprocess_child_reads_a_string_pv(ioc, start_method):
    results = multiprocessing.get_context(start_method).Queue()
    child = CAProcess(target=child_main, args=(ioc.pv("stringout"), results))
    child.start()
    try:
        status, payload = results.get(timeout=SUBPROCESS_DEADLINE)
    finally:
        child.join(SUBPROCESS_DEADLINE)
        if child.is_alive():
            child.terminate()
            child.join(DEADLINE)
    assert status == "ok", payload
    assert isinstance(payload[0], str)


# ---- CAPool --------------------------------------------------------------------------------------

def test_capool_workers_read_pvs(ioc, start_method, parent_monitor):
    _, rec = parent_monitor
    names = [ioc.pv("longin"), ioc.pv("stringout"), ioc.pv("wf:string.DESC"), ioc.pv("bo.DESC")]
    expected = [epics.caget(name, use_monitor=False) for name in names]
    pool = CAPool(processes=2, context=multiprocessing.get_context(start_method))
    try:
        result = pool.map_async(child_value, names)
        values = result.get(timeout=SUBPROCESS_DEADLINE)
    finally:
        pool.terminate()
        pool.join()
    assert values == expected
    assert_still_delivering(rec)


def test_capool_with_the_default_start_method(ioc, start_method):
    with CAPool(processes=2) as pool:
        values = pool.map_async(child_value, [ioc.pv("longin")] * 3).get(
            timeout=SUBPROCESS_DEADLINE)
    assert len(set(values)) == 1 and isinstance(values[0], int)
