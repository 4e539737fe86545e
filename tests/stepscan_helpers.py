"""Shared set-up of the stepscan tests: the simulated beamline (epics.sim's record server) and
small helpers. The servers run in subprocesses on ports of the session's pool and are stopped
at teardown whatever happens.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, List

from epics import PV, caput
from epics.testing import SubprocessIoc, unique_prefix

SERVER_MODULE = 'epics.sim.records.server'
#: Motor speed for the tests (mm/s): short moves, real trapezoids.
TEST_VELO = 5.0


class Beamline:
    """PV names of one record server: motors m1..m3, scaler1, mca1 and a Struck SIS1."""

    def __init__(self, prefix: str, server: SubprocessIoc) -> None:
        self.prefix = prefix
        self.server = server
        self.m1, self.m2, self.m3 = (f'{prefix}m{i}' for i in (1, 2, 3))
        self.scaler = f'{prefix}scaler1'
        self.mca = f'{prefix}mca1'
        self.sis = f'{prefix}SIS1:'


def start_beamline(pool, motors=('m1', 'm2', 'm3'), extra=True) -> Beamline:
    """Start a record server on a port of ``pool`` (caller stops ``.server``)."""
    prefix = unique_prefix('ss')
    argv = [sys.executable, '-m', SERVER_MODULE, '--port', '{port}',
            '--motors', ','.join(prefix + m for m in motors), '--scalers', f'{prefix}scaler1']
    if extra:
        argv += ['--mcas', f'{prefix}mca1', '--struck', f'{prefix}SIS1:']
    port = pool.take()
    server = SubprocessIoc(argv, port=port, repeater_port=pool.repeater_port, ready='line',
                           name='stepscan-sim')
    server.pool_port = port
    server.start()
    beamline = Beamline(prefix, server)
    for motor in motors:
        caput(f'{prefix}{motor}.VELO', TEST_VELO, wait=True)
        caput(f'{prefix}{motor}.ACCL', 0.05, wait=True)
    return beamline


def stop_beamline(pool, beamline: Beamline) -> None:
    try:
        beamline.server.stop()
    finally:
        pool.release(beamline.server.pool_port)


class DmovLog:
    """When each motor was moving (DMOV = 0), from DMOV monitors."""

    def __init__(self, motors: List[str]) -> None:
        self.lock = threading.Lock()
        self.events: List[tuple] = []
        self.pvs = [PV(f'{m}.DMOV', callback=self._on_change) for m in motors]
        for pv in self.pvs:
            pv.wait_for_connection(timeout=5.0)

    def _on_change(self, pvname=None, value=None, **kws) -> None:
        with self.lock:
            self.events.append((time.monotonic(), pvname.split('.')[0], value))

    def moving_intervals(self, motor: str) -> List[tuple]:
        intervals, start = [], None
        with self.lock:
            events = list(self.events)
        for t, name, value in events:
            if name != motor:
                continue
            if value == 0 and start is None:
                start = t
            elif value == 1 and start is not None:
                intervals.append((start, t))
                start = None
        return intervals

    def close(self) -> None:
        for pv in self.pvs:
            pv.clear_callbacks()
            pv.disconnect()


def wait_for(predicate: Callable[[], object], timeout: float, what: str,
             interval: float = 0.02):
    """Poll ``predicate`` until true; raise AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f'timed out after {timeout:g} s waiting for {what}')
