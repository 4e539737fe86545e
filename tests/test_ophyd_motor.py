"""ophyd's EpicsMotor, on its pyepics control layer (that is, on this package), moves the simulated
motor record of epics.sim.records.

Skipped when ophyd is not installed (it is in the test extras; this module installs nothing).
Importing ophyd changes global state (it selects a control layer, installs its PV class, sets
``PYEPICS_LIBCA``): the module fixture puts that back afterwards. Every wait is bounded (ophyd
status objects are waited on with a timeout); the simulator is stopped at the end of the module,
also on failure.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Iterator

import pytest

import epics
from epics import ca
from epics.testing import SubprocessIoc, unique_prefix
from test_ca_helpers import DEADLINE

#: Seconds any move may take.
MOVE_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def sim_motor(epics_port_pool, ophyd_pyepics):
    """A simulated motor record on a pool port; yields its name."""
    name = f"{unique_prefix('oph')}m1"
    port = epics_port_pool.take()
    server = SubprocessIoc([sys.executable, "-m", "epics.sim.records.server", "--port", "{port}",
                            "--motors", name], port=port,
                           repeater_port=epics_port_pool.repeater_port, name="sim-records")
    try:
        with server:
            yield name
    finally:
        epics_port_pool.release(port)


@pytest.fixture
def motor(ophyd_pyepics, sim_motor):
    """ophyd's EpicsMotor on the simulated motor, fast, destroyed at the end."""
    device = ophyd_pyepics.EpicsMotor(sim_motor, name="m1")
    device.wait_for_connection(timeout=DEADLINE)
    device.velocity.set(20.0).wait(timeout=DEADLINE)
    device.acceleration.set(0.05).wait(timeout=DEADLINE)
    try:
        yield device
    finally:
        device.destroy()


def test_ophyd_uses_this_package(ophyd_pyepics):
    assert ophyd_pyepics.cl.name == "pyepics"
    assert issubclass(epics.pv.default_pv_class, epics.pv.PV)


def test_epics_motor_moves_and_reports(motor):
    status = motor.set(2.5)
    status.wait(timeout=MOVE_TIMEOUT)
    assert status.success and status.done
    assert motor.position == pytest.approx(2.5)
    assert motor.user_readback.get() == pytest.approx(2.5)
    assert motor.motor_done_move.get() == 1
    reading = motor.read()
    assert reading["m1"]["value"] == pytest.approx(2.5)
    assert motor.egu == "mm"
    assert motor.limits == (-100.0, 100.0)
    motor.move(0.0, wait=True, timeout=MOVE_TIMEOUT)
    assert motor.position == pytest.approx(0.0)


def test_epics_motor_stop(motor):
    motor.velocity.set(1.0).wait(timeout=DEADLINE)
    status = motor.set(50.0)
    try:
        motor.stop()
        try:
            status.wait(timeout=MOVE_TIMEOUT)    # ends (successfully or not: ophyd's choice)
        except Exception:
            pass
        assert status.done
        assert epics.caget(f"{motor.prefix}.DMOV", use_monitor=False) == 1
        assert epics.caget(f"{motor.prefix}.RBV", use_monitor=False) < 50.0
    finally:
        motor.velocity.set(20.0).wait(timeout=DEADLINE)
        motor.move(0.0, wait=True, timeout=MOVE_TIMEOUT)
    assert motor.position == pytest.approx(0.0)


def test_epics_motor_refuses_targets_outside_limits(motor, ophyd_pyepics):
    from ophyd.utils import LimitError
    with pytest.raises(LimitError):
        motor.move(500.0, wait=True, timeout=MOVE_TIMEOUT)


def test_epics_motor_set_current_position(motor):
    motor.move(1.0, wait=True, timeout=MOVE_TIMEOUT)
    motor.set_current_position(5.0)
    assert epics.caget(f"{motor.prefix}.RBV", use_monitor=False) == pytest.approx(5.0)
    assert epics.caget(f"{motor.prefix}.SET", use_monitor=False) == 0
    motor.set_current_position(1.0)
    motor.move(0.0, wait=True, timeout=MOVE_TIMEOUT)
