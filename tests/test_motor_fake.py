"""epics.motor.Motor against caproto's own ``fake_motor_record``, served by epics.sim.

That server completes a put to VAL at once and drops DMOV only at its next simulation tick (up to
100 ms later), so "the put completed and DMOV reads 1" is true *before* the motion has started. A
move that waits must still return only once the motor is at its target; so must wait_for_stop()
after a move without wait. The server also keeps LVIO = 1 forever and does not tweak (TWF/TWR do
nothing), so it shows how those are read too.

One server for the module (stopped at the end, also on failure); every wait is bounded.
"""
from __future__ import annotations

import time

import pytest

from epics import motor as motor_module
from epics.device import wait_for_condition
from epics.motor import Motor
from epics.testing import unique_prefix
from test_ca_helpers import DEADLINE, Recorder
from test_motor import MOVE_TIMEOUT, move_and_stop_on_the_way, start_sim

#: The speed the tests give the fake motors (EGU/s): a 1 mm move takes ~10 ticks.
SPEED = 10.0


@pytest.fixture(scope="module")
def fake(epics_port_pool):
    """caproto fake motors <prefix>fm1 and <prefix>fm2; yields the prefix."""
    prefix = unique_prefix("fake")
    server, port = start_sim(epics_port_pool, ["--fake-motors", f"{prefix}fm1,{prefix}fm2"],
                             name="fake-motors")
    try:
        yield prefix
    finally:
        server.stop()
        epics_port_pool.release(port)


def fresh(m, field):
    return m.PV(field).get(use_monitor=False)


@pytest.fixture
def fm(fake):
    """Fake motor fm1 at 0, not moving, at SPEED."""
    m = Motor(f"{fake}fm1")
    m.put("VELO", SPEED, wait=True)
    assert m.wait_for_stop(MOVE_TIMEOUT)
    assert m.move(0.0, wait=True, timeout=MOVE_TIMEOUT) == 0
    yield m
    m.stop()
    assert m.wait_for_stop(MOVE_TIMEOUT)
    m.close()


def test_the_server_completes_a_put_long_before_the_motion_ends(fm):
    # what a plain put with completion sees: done, and the motor far from the target (DMOV
    # may even still read 1 for up to a tick)
    fm.put("VELO", 1.0, wait=True)
    assert fm.PV("VAL").put(3.0, wait=True, timeout=DEADLINE) == 1
    assert fresh(fm, "RBV") < 2.0
    fm.put("VELO", SPEED, wait=True)
    assert fm.wait_for_stop(MOVE_TIMEOUT)
    assert fresh(fm, "RBV") == pytest.approx(3.0)


def test_move_wait_returns_at_the_target_after_dmov_went_0_then_1(fm):
    dmov = Recorder()
    index = fm.PV("DMOV").add_callback(dmov)
    try:
        started = time.monotonic()
        assert fm.move(2.0, wait=True, timeout=MOVE_TIMEOUT) == motor_module.DONE_OK
        took = time.monotonic() - started
    finally:
        fm.PV("DMOV").remove_callback(index)
    assert took >= 0.8 * 2.0 / SPEED          # the motion itself takes 2 mm / 10 mm/s
    assert fresh(fm, "RBV") == pytest.approx(2.0)
    assert fm.RBV == pytest.approx(2.0)        # and the cached readback is final
    assert fm.DMOV == 1
    assert 0 in dmov.values and dmov.values[-1] == 1


def test_short_and_relative_moves_wait_too(fm):
    # a move shorter than one tick: DMOV drops and rises within a single tick
    assert fm.move(0.01, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert fresh(fm, "RBV") == pytest.approx(0.01)
    assert fm.move(1.5, relative=True, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert fresh(fm, "RBV") == pytest.approx(1.51)
    # to where it already is: returns without waiting for a motion
    started = time.monotonic()
    assert fm.move(1.51, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert time.monotonic() - started < motor_module.MOTION_START_TIMEOUT


def test_move_after_a_move_without_wait_waits_for_the_second_target(fm):
    assert fm.move(1.0) in (motor_module.MOVE_BEGUN, motor_module.MOVE_BEGUN_CONFIRMED)
    time.sleep(0.25)                           # the first motion is under way
    # the server finishes the first motion (DMOV 1 at 1.0) before it starts the second
    assert fm.move(2.0, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert fresh(fm, "RBV") == pytest.approx(2.0)


def test_wait_for_stop_after_a_move_without_wait(fm):
    fm.put("VELO", 2.0, wait=True)             # 1 s of motion
    assert fm.move(2.0) in (motor_module.MOVE_BEGUN, motor_module.MOVE_BEGUN_CONFIRMED)
    assert not fm.done                         # DMOV may still say 1: the motion is to come
    assert fm.wait_for_stop(MOVE_TIMEOUT)
    assert fm.done
    assert fresh(fm, "RBV") == pytest.approx(2.0)


def test_wait_for_stop_times_out_while_moving(fm):
    fm.put("VELO", 1.0, wait=True)
    fm.move(20.0)
    assert fm.wait_for_stop(0.3) is False
    fm.stop()
    assert fm.wait_for_stop(MOVE_TIMEOUT)


def test_move_confirmed_sees_the_motion(fm):
    fm.put("VELO", 1.0, wait=True)
    assert fm.move(20.0, confirm_move=True) == motor_module.MOVE_BEGUN_CONFIRMED


def test_timeout_while_moving(fm):
    fm.put("VELO", 1.0, wait=True)
    assert fm.move(20.0, wait=True, timeout=0.3) == motor_module.TIMEOUT
    assert fresh(fm, "DMOV") == 0


def test_stopped_move_ends_the_wait_with_done_ok(fm):
    fm.put("VELO", 2.0, wait=True)
    # the server stops the motor and puts VAL at the readback; LVIO stays 1 all along
    assert move_and_stop_on_the_way(fm, 50.0) == motor_module.DONE_OK
    assert 0.0 < fresh(fm, "RBV") < 50.0
    assert fresh(fm, "DMOV") == 1


def test_soft_limits_are_checked_by_the_client(fm):
    # the fake motor has LLM/HLM (-100, 100) but does not enforce them: Motor does, as PyEpics
    assert fm.move(150.0, wait=True) == motor_module.OUTSIDE_LIMITS
    assert fm.move(-150.0) == motor_module.OUTSIDE_LIMITS
    assert fresh(fm, "RBV") == 0.0
    assert fresh(fm, "VAL") == 0.0


def test_stuck_lvio_is_not_taken_for_a_refused_target(fm):
    # the server's LVIO stays at its initial 1; the target was accepted and reached
    assert fresh(fm, "LVIO") == 1
    assert fm.move(0.5, wait=True, timeout=MOVE_TIMEOUT) == motor_module.DONE_OK
    assert fm.move(0.6) in (motor_module.MOVE_BEGUN, motor_module.MOVE_BEGUN_CONFIRMED)
    assert fm.wait_for_stop(MOVE_TIMEOUT)
    assert fresh(fm, "RBV") == pytest.approx(0.6)


def test_two_motors_move_together(fake):
    first, second = Motor(f"{fake}fm1"), Motor(f"{fake}fm2")
    try:
        for m in (first, second):
            m.put("VELO", SPEED, wait=True)
        first.move(1.0)
        assert second.move(-1.0, wait=True, timeout=MOVE_TIMEOUT) == 0
        assert first.wait_for_stop(MOVE_TIMEOUT)
        assert fresh(first, "RBV") == pytest.approx(1.0)
        assert fresh(second, "RBV") == pytest.approx(-1.0)
        assert second.move(0.0, wait=True, timeout=MOVE_TIMEOUT) == 0
        assert wait_for_condition([first.PV("DMOV")], lambda: fresh(first, "DMOV") == 1,
                                  DEADLINE)
    finally:
        first.close()
        second.close()
