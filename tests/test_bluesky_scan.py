"""bluesky's ``scan`` plan over ophyd's EpicsMotor and EpicsSignalRO, on this package, against the
simulated motor record (epics.sim.records).

The run must complete with one event per point, each with the motor at that point and the
detector (the record's dial readback DRBV, read through EpicsSignalRO) agreeing with it. ophyd's
global state is handled by the ``ophyd_pyepics`` fixture (tests/conftest.py). Skipped when
bluesky is not installed (it is in the test extras); the server is stopped at the end, also on
failure. The server and the EpicsMotor are tests/test_ophyd_motor.py's fixtures.
"""
from __future__ import annotations

import pytest

from test_ca_helpers import DEADLINE
from test_ophyd_motor import MOVE_TIMEOUT, motor, sim_motor  # noqa: F401 (fixtures)

POINTS = 5


def test_scan_over_epics_motor_completes_with_one_event_per_point(ophyd_pyepics, motor):
    pytest.importorskip("bluesky", reason="bluesky is not installed (it is in the test extras)")
    from bluesky import RunEngine
    from bluesky.plans import scan

    detector = ophyd_pyepics.EpicsSignalRO(f"{motor.prefix}.DRBV", name="dial")
    try:
        detector.wait_for_connection(timeout=DEADLINE)

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
        motor.move(0.0, wait=True, timeout=MOVE_TIMEOUT)
        detector.destroy()
