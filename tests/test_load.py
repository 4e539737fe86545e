"""Load: many threads on shared PVs, and ten thousand PVs monitored at once.

* 64 plain threads each do 1,000 mixed operations (``caput``, ``caget`` from the monitor and from
  the server, ``PV.get``, ``PV.put``) on the same seven PVs of ``tests/load.db``: no deadlock, no
  crash, no exception, and every value read back is one that some thread wrote (or the initial
  one). Every written value is unique, so a torn or mixed-up value would show. Afterwards every
  PV's monitor agrees with the server.
* 10,000 records of one IOC, monitored by 10,000 PV objects, all updated together by the IOC
  (each record adds one per "step" event the test fires): every PV sees updates and every final
  value arrives, in order.

Each part has its own IOC (module-scoped for the first, its own for the second).
"""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Set

import pytest

from epics import caget, caput
from epics.pv import PV
from epics.testing import SoftIoc, unique_prefix
from test_ca_helpers import DEADLINE, SUBPROCESS_DEADLINE
from test_pv_helpers import wait_until

LOAD_DB = Path(__file__).with_name("load.db")

N_THREADS = 64
OPS_PER_THREAD = 1000
#: Hang check for the whole group of threads (a deadlock fails the test instead of hanging it).
GROUP_DEADLINE = 300.0
DOUBLES = ("d0", "d1", "d2", "d3")
STRINGS = ("s0", "s1")
LONGS = ("l0",)
INITIAL = {"d": -1.0, "s": "initial", "l": -1}

N_MONITORED = 10_000
#: Steps the IOC takes with all 10,000 records (one update of each per step).
STEPS = 5
#: Seconds allowed for 10,000 PVs to connect, or for all their final values to arrive.
MANY_DEADLINE = 180.0


@pytest.fixture(scope="module")
def prefix(epics_port_pool):
    """This module's IOC of load.db; returns its PV prefix."""
    pv_prefix = unique_prefix()
    port = epics_port_pool.take()
    try:
        with SoftIoc(LOAD_DB, macros={"P": pv_prefix}, port=port,
                     repeater_port=epics_port_pool.repeater_port):
            yield pv_prefix
    finally:
        epics_port_pool.release(port)


def value_for(record: str, thread: int, op: int) -> Any:
    """The value thread ``thread`` writes at operation ``op``: unique across the whole test."""
    if record.startswith("d"):
        return thread * 10_000 + op + 0.5
    if record.startswith("s"):
        return f"t{thread}-op{op}"
    return thread * 10_000 + op


def test_64_threads_mixed_gets_and_puts_on_shared_pvs(prefix):
    records = DOUBLES + STRINGS + LONGS
    shared = {record: PV(prefix + record) for record in records}   # PV objects all threads use
    written: List[Dict[str, Set[Any]]] = [{r: set() for r in records} for _ in range(N_THREADS)]
    seen: List[Dict[str, List[Any]]] = [{r: [] for r in records} for _ in range(N_THREADS)]
    errors: List[BaseException] = []
    barrier = threading.Barrier(N_THREADS, timeout=GROUP_DEADLINE)

    def work(thread: int) -> None:
        rng = random.Random(thread)
        try:
            barrier.wait()
            for op in range(OPS_PER_THREAD):
                record = rng.choice(records)
                name = prefix + record
                kind = op % 6
                if kind == 0:
                    value = value_for(record, thread, op)
                    written[thread][record].add(value)
                    assert caput(name, value, timeout=DEADLINE) == 1
                elif kind == 1:
                    value = value_for(record, thread, op)
                    written[thread][record].add(value)
                    assert shared[record].put(value, wait=(op % 12 == 1),
                                              timeout=DEADLINE) == 1
                elif kind == 2:
                    seen[thread][record].append(caget(name, timeout=DEADLINE))
                elif kind == 3:
                    seen[thread][record].append(caget(name, use_monitor=False,
                                                      timeout=DEADLINE))
                elif kind == 4:
                    seen[thread][record].append(shared[record].get(timeout=DEADLINE))
                else:
                    seen[thread][record].append(shared[record].get(use_monitor=False,
                                                                   timeout=DEADLINE))
        except BaseException as exc:   # handed to the test thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,), name=f"load-{i}")
               for i in range(N_THREADS)]
    start = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, GROUP_DEADLINE - (time.monotonic() - start)))
        elapsed = time.monotonic() - start
        stuck = [thread.name for thread in threads if thread.is_alive()]
        assert not stuck, f"threads still running after {GROUP_DEADLINE} s (deadlock?): {stuck}"
        assert not errors, f"{len(errors)} threads raised, the first: {errors[0]!r}"
        total = N_THREADS * OPS_PER_THREAD
        print(f"\n{N_THREADS} threads x {OPS_PER_THREAD} operations: {elapsed:.1f} s, "
              f"{total / elapsed:.0f} operations/s")

        for record in records:
            allowed = {INITIAL[record[0]]}
            for per_thread in written:
                allowed |= per_thread[record]
            reads = [value for per_thread in seen for value in per_thread[record]]
            assert None not in reads, f"{record}: a read timed out"
            strangers = [value for value in reads if value not in allowed]
            assert not strangers, f"{record}: read values nobody wrote: {strangers[:5]}"
        # the dust settles: every PV's monitor shows what the server has
        for record, thispv in shared.items():
            assert wait_until(lambda: thispv.get() == caget(prefix + record, use_monitor=False,
                                                            timeout=DEADLINE)), \
                f"{record}: the monitor's value differs from the server's"
    finally:
        for thispv in shared.values():
            thispv.disconnect()


# ---- 10,000 PVs ---------------------------------------------------------------------------------

def many_records_db(count: int) -> str:
    """``$(P)n00000`` ..: each starts at 10 * i and adds one per ``$(P)step`` event; the record
    ``$(P)tick`` fires that event when processed."""
    lines = [f'record(event, "$(P)tick") {{\n    field(VAL, "$(P)step")\n}}\n']
    for i in range(count):
        lines.append(f'record(calc, "$(P)n{i:05d}") {{\n    field(SCAN, "Event")\n'
                     f'    field(EVNT, "$(P)step")\n    field(VAL, "{10 * i}")\n'
                     f'    field(CALC, "A+1")\n    field(INPA, "$(P)n{i:05d} NPP")\n}}\n')
    return "".join(lines)


def test_10000_pvs_monitored_at_once_every_final_value_arrives(softioc_factory, pv_prefix):
    ioc = softioc_factory(many_records_db(N_MONITORED), macros={"P": pv_prefix},
                          start_timeout=SUBPROCESS_DEADLINE * 2)
    assert ioc.running
    names = [f"{pv_prefix}n{i:05d}" for i in range(N_MONITORED)]
    final = {name: 10.0 * i + STEPS for i, name in enumerate(names)}
    history: Dict[str, List[float]] = {name: [] for name in names}
    arrived: Set[str] = set()
    lock = threading.Condition()

    def on_update(pvname: str = "", value: Any = None, **kwargs: Any) -> None:
        history[pvname].append(value)
        if value == final[pvname]:
            with lock:
                arrived.add(pvname)
                if len(arrived) == N_MONITORED:
                    lock.notify_all()

    start = time.monotonic()
    pvs = [PV(name, callback=on_update) for name in names]
    try:
        assert wait_until(lambda: all(len(history[name]) >= 1 for name in names),
                          timeout=MANY_DEADLINE, interval=0.2), \
            f"{sum(1 for n in names if not history[n])} PVs got no first value"
        connected = time.monotonic() - start
        assert all(history[name][0] == final[name] - STEPS for name in names)
        for _ in range(STEPS):
            assert caput(pv_prefix + "tick.PROC", 1, wait=True, timeout=DEADLINE) == 1
        with lock:
            assert lock.wait_for(lambda: len(arrived) == N_MONITORED, MANY_DEADLINE), \
                f"final values missing for {N_MONITORED - len(arrived)} PVs, e.g. " \
                f"{[n for n in names if n not in arrived][:5]}"
        delivered = time.monotonic() - start
        updated = sum(1 for name in names if len(history[name]) >= 2)
        events = sum(len(values) for values in history.values())
        print(f"\n{N_MONITORED} PVs: connected with first values in {connected:.1f} s; "
              f"{STEPS} steps: every final value after {delivered - connected:.1f} s more; "
              f"{events} monitor events in all")
        assert updated == N_MONITORED
        for name in names:
            values = history[name]
            assert values == sorted(values), f"{name}: updates out of order: {values}"
            assert values[-1] == final[name]
    finally:
        for thispv in pvs:
            thispv.disconnect()
