"""ophyd on top of epics: its pyepics control layer, EpicsSignal and EpicsSignalRO against the
session IOC.

ophyd (bluesky's device layer) reaches into PyEpics: it checks ``epics.__version__``, replaces
``epics.pv.default_pv_class`` with its own PV subclass, pops entries of ``epics.pv._PVcache_``,
calls ``PV._getarg`` and reads ``PV._args``, ``PV.chid`` and ``PV.context``, and uses
``ca.CAThread``, ``ca.WITH_CA_MESSAGES``, ``ca.find_libca`` and ``ca.DEFAULT_SUBSCRIPTION_MASK``.
The first tests check those internals without ophyd; the rest skip when ophyd is not installed.

Importing ophyd changes global state (it selects a control layer at import, installs its PV class
and sets ``PYEPICS_LIBCA``), so it is imported only by the module fixture below, which puts that
state back afterwards. The signals use ``.VAL`` names, which no other test uses, so ophyd's PV
objects never meet another module's in the get_pv cache.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import epics
from epics import ca, dbr
from epics.pv import PV
from test_pv_helpers import make_pv  # noqa: F401 (a fixture)
from test_pv_helpers import DEADLINE, Recorder, connected_pv, restored, wait_until

#: The oldest PyEpics version ophyd accepts (ophyd/_pyepics_shim.py).
OPHYD_MIN_PYEPICS = "3.4.2"


def _parse_version(text: str) -> Any:
    from packaging.version import parse   # what ophyd compares with
    return parse(text)


# ---- the internals ophyd touches (no ophyd needed) ---------------------------------------------

def test_version_passes_ophyds_gate():
    assert _parse_version(epics.__version__) >= _parse_version(OPHYD_MIN_PYEPICS)


def test_pv_module_internals_exist():
    assert epics.pv.default_pv_class is PV
    assert isinstance(epics.pv._PVcache_, dict)
    assert callable(PV._getarg)


def test_pv_instance_internals(ioc, make_pv):
    p = connected_pv(make_pv, ioc.pv("ao"))
    assert isinstance(p._args, dict)
    for key in ("value", "status", "severity", "timestamp", "units", "precision", "count",
                "upper_ctrl_limit", "lower_ctrl_limit"):
        assert key in p._args
    assert p._getarg("units") == "mm"
    assert p.chid is not None and ca.isConnected(p.chid)
    assert p.context == ca.current_context()
    # ophyd's cache key is (pvname, form, pv.context): the same key get_pv uses
    cached = epics.get_pv(ioc.pv("ao.PREC"), connect=True)
    try:
        assert epics.pv._PVcache_[(cached.pvname, cached.form, cached.context)] is cached
    finally:
        cached.disconnect()


def test_ca_internals_exist():
    assert issubclass(ca.CAThread, threading.Thread)
    assert isinstance(ca.WITH_CA_MESSAGES, bool)
    assert Path(ca.find_libca()).exists()
    assert ca.DEFAULT_SUBSCRIPTION_MASK == dbr.DBE_VALUE | dbr.DBE_ALARM


def test_ca_thread_runs_with_the_initial_context():
    outcome = {}

    def body():
        outcome["context"] = ca.current_context()

    thread = ca.CAThread(target=body)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive()
    assert outcome["context"] == ca.initial_context


# ---- ophyd itself --------------------------------------------------------------------------------

@pytest.fixture
def signals(ophyd_pyepics) -> Iterator[Any]:
    """``signals(cls, *args, **kwargs)`` makes an ophyd signal; all are destroyed at teardown."""
    made: List[Any] = []

    def factory(cls_name: str, *args: Any, **kwargs: Any) -> Any:
        cls = getattr(ophyd_pyepics, cls_name)
        signal = cls(*args, **kwargs)
        made.append(signal)
        signal.wait_for_connection(timeout=DEADLINE)
        return signal

    try:
        yield factory
    finally:
        for signal in reversed(made):
            signal.destroy()


def test_ophyd_selects_the_pyepics_layer(ophyd_pyepics):
    assert ophyd_pyepics.cl.name == "pyepics"
    assert issubclass(epics.pv.default_pv_class, PV)
    assert epics.pv.default_pv_class is not PV    # ophyd installed its own PV class


def test_epics_signal_ro_reads(ioc, signals):
    sig = signals("EpicsSignalRO", ioc.pv("ai.VAL"), name="ai")
    assert sig.connected
    value = sig.get()
    assert isinstance(value, float)
    reading = sig.read()
    assert set(reading) == {"ai"}
    assert reading["ai"]["value"] == value      # ai changes only when ao is written
    assert reading["ai"]["timestamp"] > 0
    description = sig.describe()["ai"]
    assert description["dtype"] == "number"
    assert description["units"] == "mm"
    assert description["precision"] == 2
    assert description["source"] == f"PV:{ioc.pv('ai.VAL')}"


def test_epics_signal_writes_and_reads_back(ioc, signals):
    name = ioc.pv("ao.VAL")
    with restored(ioc.pv("ao")):
        sig = signals("EpicsSignal", name, name="ao")
        status = sig.set(12.25)
        status.wait(timeout=DEADLINE)
        assert status.success
        assert wait_until(lambda: sig.get() == 12.25)
        assert epics.caget(ioc.pv("ao"), use_monitor=False) == 12.25
        sig.put(13.5)
        assert wait_until(lambda: sig.get() == 13.5)
        assert sig.limits == (-90.0, 90.0)
        assert sig.precision == 3
        assert sig.metadata["units"] == "mm"


def test_epics_signal_read_and_write_pvs(ioc, signals):
    with restored(ioc.pv("ao")):
        sig = signals("EpicsSignal", ioc.pv("ai.VAL"), write_pv=ioc.pv("ao.VAL"), name="pair")
        sig.set(21.5).wait(timeout=DEADLINE)
        # ai follows ao through a CP link: the readback catches up
        assert wait_until(lambda: sig.get() == 21.5)


def test_epics_signal_put_complete(ioc, signals):
    with restored(ioc.pv("slow"), ioc.pv("slow:done")):
        sig = signals("EpicsSignal", ioc.pv("slow.VAL"), name="slow", put_complete=True)
        status = sig.set(6.25)
        status.wait(timeout=DEADLINE)
        assert status.success
        # completion came from the put callback, after the record's 0.5 s delay
        assert epics.caget(ioc.pv("slow:done"), use_monitor=False) == 6.25


def test_epics_signal_string_enum(ioc, signals):
    with restored(ioc.pv("mbbo")):
        sig = signals("EpicsSignal", ioc.pv("mbbo.VAL"), name="mode", string=True)
        sig.set("Standby").wait(timeout=DEADLINE)
        assert wait_until(lambda: sig.get() == "Standby")
        assert epics.caget(ioc.pv("mbbo"), use_monitor=False) == 2
        assert "Standby" in sig.enum_strs


def test_epics_signal_ro_subscription_gets_monitor_updates(ioc, signals):
    sig = signals("EpicsSignalRO", ioc.pv("fast.VAL"), name="fast", auto_monitor=True)
    rec = Recorder()
    cid = sig.subscribe(rec, run=False)
    try:
        assert rec.wait_count(3)
        kwargs = rec.kwargs[-1]
        assert kwargs["obj"] is sig
        assert isinstance(kwargs["value"], float)
        assert kwargs["sub_type"] == sig.SUB_VALUE
    finally:
        sig.unsubscribe(cid)


def test_epics_signal_subscription_sees_its_own_writes(ioc, signals):
    with restored(ioc.pv("longout")):
        sig = signals("EpicsSignal", ioc.pv("longout.VAL"), name="lo")
        rec = Recorder()
        cid = sig.subscribe(rec, run=False)
        try:
            for value in (501, 502):
                sig.put(value)
                assert rec.wait_value(value)
        finally:
            sig.unsubscribe(cid)


def test_destroyed_signal_releases_its_pv(ioc, ophyd_pyepics):
    name = ioc.pv("bo.VAL")
    sig = ophyd_pyepics.EpicsSignalRO(name, name="bo")
    sig.wait_for_connection(timeout=DEADLINE)
    assert any(key[0] == name for key in epics.pv._PVcache_)
    sig.destroy()
    assert not any(key[0] == name for key in epics.pv._PVcache_)
