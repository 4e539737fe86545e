"""Shared pieces of the epics.instruments tests: simulated motors and quick motor setup.

Motors are epics.sim's simulated motor record (served by caproto in a subprocess); they are
made fast (VELO 20, ACCL 0.05 s) so that every move of these tests takes well under a second.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator, Sequence

from epics import caput
from epics.testing import SubprocessIoc

#: Seconds any wait of these tests may take (generous: the machine is small and shared).
DEADLINE = 60.0


@contextlib.contextmanager
def simulated_motors(pool, names: Sequence[str]) -> Iterator[SubprocessIoc]:
    """Serve motor records ``names`` on a port of ``pool`` until the block ends."""
    port = pool.take()
    server = SubprocessIoc([sys.executable, "-m", "epics.sim.records.server", "--port", "{port}",
                            "--motors", ",".join(names)], port=port,
                           repeater_port=pool.repeater_port, name="instrument-motors")
    try:
        with server:
            yield server
    finally:
        pool.release(port)


def prepare_motor(name: str, position: float = 0.0, low: float = -100.0,
                  high: float = 100.0) -> None:
    """Fast motor with soft limits ``low``..``high``, moved to ``position`` (waits)."""
    for field, value in (("DHLM", high), ("DLLM", low), ("VELO", 20.0), ("ACCL", 0.05),
                         ("BDST", 0.0)):
        assert caput(f"{name}.{field}", value, wait=True, timeout=DEADLINE) == 1
    assert caput(f"{name}.VAL", position, wait=True, timeout=DEADLINE) == 1
