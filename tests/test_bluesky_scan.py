"""bluesky's ``scan`` plan over ophyd's EpicsMotor and EpicsSignalRO, on this package, against the
simulated motor record (epics.sim.records).

The run must complete with one event per point, each with the motor at that point and the
detector (the record's dial readback DRBV, read through EpicsSignalRO) agreeing with it. ophyd's
global state is handled by the ``ophyd_pyepics`` fixture (tests/conftest.py). Skipped when
bluesky is not installed (it is in the test extras); the server is stopped at the end, also on
failure.
"""
from __future__ import annotations

import sys

import pytest

from epics.testing import SubprocessIoc, unique_prefix
from test_ca_helpers import DEADLINE

POINTS = 5


@pytest.fixture
def sim_motor_name(epics_port_pool):
    name = f"{unique_prefix('bsk')}m1"
    port = epics_port_pool.take()
    server = SubprocessIoc([sys.executable, "-m", "epics.sim.records.server", "--port", "{port}",
                            "--motors", name], port=port,
                           repeater_port=epics_port_pool.repeater_port, name="sim-records")
    try:
        with server:
            yield name
    finally:
        epics_port_pool.release(port)


def test_scan_over_epics_motor_completes_with_one_event_per_point(ophyd_pyepics,
                                                                    sim_motor_name):
    pytest.importorskip("bluesky", reason="bluesky is not installed (it is in the test extras)")
    from bluesky import RunEngine
    from bluesky.plans import scan

    motor = ophyd_pyepics.EpicsMotor(sim_motor_name, name="m1")
    detector = ophyd_pyepics.EpicsSignalRO(f"{sim_motor_name}.DRBV", name="dial")
    try:
        motor.wait_for_connection(timeout=DEADLINE)
        detector.wait_for_connection(timeout=DEADLINE)
        motor.velocity.set(20.0).wait(timeout=DEADLINE)
        motor.acceleration.set(0.05).wait(timeout=DEADLINE)

        documents = []
        engine = RunEngine({}, call_returns_result=True)
        result = engine(scan([detector], motor, -1.0, 1.0, POINTS),
                        lambda name, doc: documents.append((name, doc)))

        assert result.exit_status == "success"
        names = [name for name, _ in documents]
        assert names[0] == "start" and names[-1] == "stop"
        events = [doc for name, doc in documents if name == "event"]
        assert len(events) == POINTS
        stop = documents[-1][1]
        assert stop["exit_status"] == "success"
        assert stop["num_events"]["primary"] == POINTS
        expected = [-1.0 + 2.0 * i / (POINTS - 1) for i in range(POINTS)]
        assert [event["data"]["m1"] for event in events] == pytest.approx(expected, abs=1e-3)
        assert [event["data"]["dial"] for event in events] == pytest.approx(expected, abs=1e-3)
    finally:
        motor.move(0.0, wait=True, timeout=60.0)
        motor.destroy()
        detector.destroy()
