"""Shared pieces of the epics.aio tests: their IOC (tests/aio.db under a random prefix, one per
test module) and bounds."""
from __future__ import annotations

from pathlib import Path

import pytest

from epics.testing import SoftIoc, unique_prefix

AIO_DB = Path(__file__).with_name("aio.db")
#: Seconds any single wait of these tests may take before the test fails.
DEADLINE = 5.0


class AioIoc:
    """The module's IOC: ``pv('ao')`` is the full name of record ``ao`` of tests/aio.db."""

    __test__ = False

    def __init__(self, softioc: SoftIoc, prefix: str) -> None:
        self.softioc = softioc
        self.prefix = prefix

    def pv(self, name: str) -> str:
        return self.prefix + name


@pytest.fixture(scope="module")
def aio_ioc(epics_port_pool):
    """Serve tests/aio.db for one test module; stopped at its end, also on failure."""
    prefix = unique_prefix("aio")
    port = epics_port_pool.take()
    softioc = SoftIoc(AIO_DB, macros={"P": prefix}, port=port,
                      repeater_port=epics_port_pool.repeater_port)
    try:
        with softioc:
            yield AioIoc(softioc, prefix)
    finally:
        epics_port_pool.release(port)
