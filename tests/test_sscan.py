"""epics.devices.Scan against the simulated sscan record (epics.sim.records.sscan), served by
caproto with two simulated motors and a scaler: positioner, trigger and detector set-up, the
record's linear start/end/step arithmetic, and a real execution that moves a motor, counts the
scaler at each point and records both.

The server is stopped at the end of the module, also on failure; every wait is bounded.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from epics import caget, caput
from epics.devices import Scan
from epics.devices.scan import ScanException
from epics.testing import SubprocessIoc, unique_prefix

#: Seconds a scan of the suite may take.
RUN_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def sim(epics_port_pool):
    prefix = unique_prefix("scn")
    port = epics_port_pool.take()
    server = SubprocessIoc(
        [sys.executable, "-m", "epics.sim.records.server", "--port", "{port}",
         "--motors", f"{prefix}m1,{prefix}m2", "--scalers", f"{prefix}scaler1",
         "--sscans", f"{prefix}scan1"],
        port=port, repeater_port=epics_port_pool.repeater_port, name="sim-sscan")
    try:
        with server:
            for motor in ("m1", "m2"):
                caput(f"{prefix}{motor}.VELO", 50.0, wait=True)
                caput(f"{prefix}{motor}.ACCL", 0.01, wait=True)
            caput(f"{prefix}scaler1.TP", 0.05, wait=True)
            yield prefix
    finally:
        epics_port_pool.release(port)


@pytest.fixture
def scan(sim):
    scan = Scan(f"{sim}scan1")
    scan.reset()
    return scan


def now(scan, attr):
    return scan.PV(attr).get(use_monitor=False)


def test_a_record_that_is_not_an_sscan_is_refused(sim):
    with pytest.raises(ScanException, match="not an Epics Scan"):
        Scan(f"{sim}m1")


def test_positioners_triggers_and_detectors_take_free_slots(scan, sim):
    assert scan.add_positioner(f"{sim}m1.VAL", start=0, stop=1) == 1
    assert scan.add_positioner(f"{sim}m2.VAL", readback=f"{sim}m2.DRBV", center=5,
                               width=2) == 2
    assert now(scan, "P1PV") == f"{sim}m1.VAL"
    assert caget(f"{sim}scan1.R1PV", use_monitor=False) == f"{sim}m1.RBV"   # default read-back
    assert caget(f"{sim}scan1.R2PV", use_monitor=False) == f"{sim}m2.DRBV"
    assert scan.add_trigger(f"{sim}scaler1.CNT") == 1
    assert scan.add_detector(f"{sim}scaler1.S1") == 1
    assert scan.add_detector(f"{sim}m1.RBV") == 2
    assert now(scan, "D02PV") == f"{sim}m1.RBV"
    scan.clear_detector(1)
    assert scan.add_detector(f"{sim}scaler1.S2") == 1       # the freed slot is used again
    for _ in range(2, 4):
        scan.add_positioner(f"{sim}m2.VAL")
    with pytest.raises(ScanException, match="4 Positioners already defined"):
        scan.add_positioner(f"{sim}m1.VAL")


def test_linear_positioner_arithmetic(scan, sim):
    scan.put("NPTS", 11, wait=True)
    ipos = scan.add_positioner(f"{sim}m1.VAL", start=-1, stop=1)
    assert now(scan, f"P{ipos}SI") == pytest.approx(0.2)
    assert now(scan, f"P{ipos}CP") == pytest.approx(0.0)
    assert now(scan, f"P{ipos}WD") == pytest.approx(2.0)
    scan.set_positioner(ipos, step=0.5)                      # a new step moves the end
    assert now(scan, f"P{ipos}EP") == pytest.approx(4.0)
    scan.set_positioner(ipos, center=10, width=1)            # centre and width: start, end
    assert (now(scan, f"P{ipos}SP"), now(scan, f"P{ipos}EP")) == (pytest.approx(9.5),
                                                                  pytest.approx(10.5))
    scan.set_positioner(ipos, mode="table", absolute=False)
    assert (now(scan, f"P{ipos}SM"), now(scan, f"P{ipos}AR")) == (1, 1)


def test_execute_steps_the_motor_and_records_the_detectors(scan, sim):
    caput(f"{sim}m1.VAL", 0.0, wait=True, timeout=RUN_TIMEOUT)
    scan.put("NPTS", 5, wait=True)
    scan.add_positioner(f"{sim}m1.VAL", start=0.5, stop=1.5)
    scan.add_trigger(f"{sim}scaler1.CNT")
    scan.add_detector(f"{sim}m1.RBV")
    scan.add_detector(f"{sim}scaler1.S1")                    # the scaler's clock
    scan.after_scan("PRIOR POS")
    assert scan.run(wait=True, timeout=RUN_TIMEOUT) == 1
    assert now(scan, "CPT") == 5
    assert now(scan, "SMSG") == "SCAN Complete"
    expected = np.linspace(0.5, 1.5, 5)
    assert np.allclose(now(scan, "P1RA")[:5], expected, atol=1e-3)
    assert np.allclose(now(scan, "D01DA")[:5], expected, atol=1e-3)   # the motor got there
    clock = caget(f"{sim}scaler1.FREQ") * 0.05
    assert np.allclose(now(scan, "D02DA")[:5], clock, rtol=0.05)      # one 0.05 s count each
    assert caget(f"{sim}m1.RBV", use_monitor=False) == pytest.approx(0.0, abs=1e-3)  # PASM


def test_a_drive_the_simulator_does_not_serve_is_reported(scan, sim):
    scan.put("NPTS", 3, wait=True)
    scan.add_positioner(f"{sim}nowhere.VAL", start=0, stop=1)
    assert scan.run(wait=True, timeout=RUN_TIMEOUT) == 1
    assert now(scan, "SMSG").startswith("SCAN error")
    assert now(scan, "EXSC") == 0
