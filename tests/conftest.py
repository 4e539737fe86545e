"""Shared fixtures of epicsca's own suite.

The suite runs with the ``epics.testing`` pytest plugin enabled (``epics_testing = true`` in
pyproject.toml): before any test module is imported it reserves loopback ports and puts the client
``EPICS_CA_*`` environment into ``os.environ``, so every CA context of the run finds our IOCs and
nothing else.

``ioc`` (session) serves ``tests/ioc.db`` under a random prefix; ``pvname`` turns a record name of
that database into the full PV name. Tests that stop, restart or pause an IOC start their own with
the plugin's ``softioc_factory`` instead of touching the shared one.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from epics.testing import SoftIoc, unique_prefix

#: The test database (see the comments in it for each record's purpose).
IOC_DB = Path(__file__).with_name("ioc.db")


class TestIoc:
    """The session IOC: its prefix, full PV names, and the :class:`SoftIoc` running it."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, softioc: SoftIoc, prefix: str) -> None:
        self.softioc = softioc
        self.prefix = prefix

    def pv(self, name: str) -> str:
        """Return the full PV name of record (or field) ``name`` of ``ioc.db``, e.g. ``'ao.EGU'``."""
        return self.prefix + name

    @property
    def port(self) -> int:
        return self.softioc.port

    def __repr__(self) -> str:
        return f"<TestIoc prefix={self.prefix!r} {self.softioc!r}>"


@pytest.fixture(scope="session")
def ioc(epics_port_pool):
    """Serve tests/ioc.db under a random prefix for the whole session."""
    prefix = unique_prefix()
    port = epics_port_pool.take()
    softioc = SoftIoc(IOC_DB, macros={"P": prefix}, port=port,
                      repeater_port=epics_port_pool.repeater_port)
    try:
        with softioc:
            yield TestIoc(softioc, prefix)
    finally:
        epics_port_pool.release(port)


@pytest.fixture(scope="session")
def pvname(ioc):
    """``pvname('ao')`` -> the full name of record ``ao`` of the session IOC."""
    return ioc.pv


@pytest.fixture(scope="module")
def ophyd_pyepics():
    """ophyd with its pyepics control layer selected; the global state it changes (the PV class
    get_pv makes, ca.WITH_CA_MESSAGES, PYEPICS_LIBCA) is put back after the module.

    ophyd installs its PV class only the first time its pyepics layer is set up in a process, so
    a second module re-installs it explicitly.
    """
    import os

    import epics
    from epics import ca
    saved_class = epics.pv.default_pv_class
    saved_messages = ca.WITH_CA_MESSAGES
    saved_libca = os.environ.get("PYEPICS_LIBCA")
    try:
        ophyd = pytest.importorskip(
            "ophyd", reason="ophyd is not installed (pip install ophyd: it is in the test "
                            "extras), so the ophyd tests cannot run")
        ophyd.set_cl("pyepics")     # raises ImportError if ophyd rejects this epics
        from ophyd import _pyepics_shim
        epics.pv.default_pv_class = _pyepics_shim.PyepicsShimPV
        yield ophyd
    finally:
        epics.pv.default_pv_class = saved_class
        ca.WITH_CA_MESSAGES = saved_messages
        if saved_libca is None:
            os.environ.pop("PYEPICS_LIBCA", None)
        else:
            os.environ["PYEPICS_LIBCA"] = saved_libca
