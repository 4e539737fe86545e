"""epics.motor.Motor against the simulated motor record (epics.sim.records, served by caproto).

Covers every return code of move() that a server can produce on demand, waits that end only
when the motion has ended (also against a server that completes puts early), relative, dial and
raw moves, tweak (both spellings), positions, SET/USE, stop, limits, step lists, info, callbacks,
and the slides' Motor example.

Waits are bounded: moves use a fast motor (VELO 50) unless a test needs a slow one, every
wait=True move has a timeout, and threads are joined with a deadline. Servers are stopped at the
end of the module, also on failure.
"""
from __future__ import annotations

import sys
import textwrap
import threading

import pytest

import epics
from epics import motor as motor_module
from epics.device import wait_for_condition
from epics.motor import Motor, MotorException, MotorLimitException
from epics.testing import SubprocessIoc, unique_prefix
from test_ca_helpers import DEADLINE, Recorder

#: Seconds any move of the suite may take (generous: the machine is small and shared).
MOVE_TIMEOUT = 60.0
FAST = 50.0


def start_sim(pool, argv_tail, name="sim-records"):
    """Start a simulated-records server on a pool port; returns (server, port)."""
    port = pool.take()
    server = SubprocessIoc([sys.executable, "-m", "epics.sim.records.server", "--port", "{port}",
                            *argv_tail], port=port, repeater_port=pool.repeater_port,
                           name=name)
    try:
        server.start()
    except BaseException:
        pool.release(port)
        raise
    return server, port


@pytest.fixture(scope="module")
def sim(epics_port_pool):
    """Simulated motors <prefix>m1, m2 and m3 (and a transform record, <prefix>t1) for this
    module; yields the prefix."""
    prefix = unique_prefix("mot")
    names = ",".join(f"{prefix}m{i}" for i in (1, 2, 3))
    server, port = start_sim(epics_port_pool, ["--motors", names, "--transforms", f"{prefix}t1"])
    try:
        yield prefix
    finally:
        server.stop()
        epics_port_pool.release(port)


def reset(m):
    """Put a motor back in a known state: Go, Use, no offset, limits -100..100, fast, at 0."""
    m.put("SPMG", 3, wait=True)
    m.put("SET", 0, wait=True)
    for field, value in (("DIR", 0), ("DHLM", 100.0), ("DLLM", -100.0), ("VELO", FAST),
                         ("VBAS", 0.0), ("ACCL", 0.05), ("BDST", 0.0), ("TWV", 1.0),
                         ("disabled", 0), ("DLY", 0.0)):
        m.put(field, value, wait=True)
    if fresh(m, "DMOV") != 1 or fresh(m, "MOVN"):
        m.stop()
        assert wait_for_condition([m.PV("DMOV")], lambda: fresh(m, "DMOV") == 1, DEADLINE)
    m.put("FOFF", 1, wait=True)       # Frozen: redefining the dial position moves the user one
    m.set_position(0.0, dial=True)
    m.put("OFF", 0.0, wait=True)
    m.put("FOFF", 0, wait=True)
    assert m.move(0.0, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert fresh(m, "RBV") == 0.0 and fresh(m, "DRBV") == 0.0


@pytest.fixture
def m(sim):
    """Motor m1, reset before and after the test."""
    motor = Motor(f"{sim}m1")
    reset(motor)
    yield motor
    reset(motor)
    motor.close()


def fresh(m, field):
    return m.PV(field).get(use_monitor=False)


# ---- construction --------------------------------------------------------------------------------

def test_motor_connects_and_checks_the_record_type(sim):
    motor = Motor(f"{sim}m2")
    assert motor.RTYP == "motor"
    assert repr(motor) == f"<epics.Motor: {sim}m2: ''>"
    assert str(motor) == repr(motor)


def test_motor_name_may_end_with_val_or_dot(sim):
    assert Motor(f"{sim}m2.VAL").PV("VAL").pvname == f"{sim}m2.VAL"
    assert Motor(f"{sim}m2.").PV("RBV").pvname == f"{sim}m2.RBV"


def test_motor_without_name_raises():
    with pytest.raises(MotorException, match="must supply motor name"):
        Motor()


def test_not_a_motor_raises(sim):
    with pytest.raises(MotorException, match="not an Epics Motor"):
        Motor(f"{sim}t1")


def test_missing_motor_raises(sim):
    with pytest.raises(MotorException, match="no answer"):
        Motor(f"{unique_prefix('gone')}m9", timeout=0.5)


# ---- fields and aliases --------------------------------------------------------------------------

def test_aliases_read_fields(m):
    assert m.drive == m.VAL
    assert m.readback == m.RBV
    assert m.slew_speed == pytest.approx(FAST)
    assert m.description == m.DESC
    assert m.tweak_val == pytest.approx(1.0)
    assert m.high_limit == pytest.approx(100.0)
    assert m.low_limit == pytest.approx(-100.0)
    assert m.get("device_type", as_string=True) == "asynMotor"
    assert m.disabled == 0


def test_aliases_write_fields(m):
    m.slew_speed = 20.0
    m.tweak_val = 0.1
    m.description = "Fine X"
    assert wait_for_condition([m.PV("VELO"), m.PV("TWV"), m.PV("DESC")],
                              lambda: fresh(m, "VELO") == pytest.approx(20.0)
                              and fresh(m, "TWV") == pytest.approx(0.1)
                              and fresh(m, "DESC") == "Fine X", DEADLINE)
    assert m.put("description", "", wait=True) == 1


def test_unknown_field_is_an_attribute_error_and_a_motor_exception(m, sim):
    names_before = {key[0] for key in epics.pv._PVcache_}
    with pytest.raises(AttributeError) as info:
        m.VLEO
    assert isinstance(info.value, MotorException)
    assert "VLEO" in str(info.value) and f"{sim}m1" in str(info.value)
    assert not hasattr(m, "slew_sped")
    assert {key[0] for key in epics.pv._PVcache_} == names_before


def test_fields_of_the_record_without_alias_work(m):
    assert m.HVEL > 0                 # a motor field created on first use
    assert "HVEL" in dir(m) and "slew_speed" in dir(m)


# ---- move: success and waiting -------------------------------------------------------------------

def test_move_wait_returns_done_ok_at_the_target(m):
    assert m.move(12.5, wait=True, timeout=MOVE_TIMEOUT) == motor_module.DONE_OK == 0
    # the cached values are already those at the end of the motion
    assert m.RBV == pytest.approx(12.5)
    assert m.DMOV == 1
    assert m.get_position(readback=True) == pytest.approx(12.5)


def test_move_wait_returns_only_after_dmov_went_0_then_1(m):
    rec = Recorder()
    m.PV("DMOV").add_callback(rec)
    try:
        assert m.move(-7.0, wait=True, timeout=MOVE_TIMEOUT) == 0
        # by the time move() returned the whole 0 -> 1 sequence had been delivered
        values = rec.values
        assert 0 in values and values[-1] == 1
        assert values.index(0) < len(values) - 1
    finally:
        m.PV("DMOV").remove_callback(list(m.PV("DMOV").callbacks)[-1])


def test_move_without_wait_then_wait_for_dmov(m):
    code = m.move(5.0)
    assert code in (motor_module.MOVE_BEGUN, motor_module.MOVE_BEGUN_CONFIRMED)
    assert wait_for_condition([m.PV("DMOV")], lambda: fresh(m, "DMOV") == 1 and
                              fresh(m, "RBV") == pytest.approx(5.0), MOVE_TIMEOUT)


def test_wait_for_stop_and_done_after_a_move_without_wait(m):
    assert m.wait_for_stop(timeout=1.0) and m.done      # nothing asked for: done at once
    m.put("VELO", 10.0, wait=True)
    assert m.move(10.0) in (motor_module.MOVE_BEGUN, motor_module.MOVE_BEGUN_CONFIRMED)
    assert not m.done
    assert m.wait_for_stop(0.2) is False                # 1 s of motion
    assert m.wait_for_stop(MOVE_TIMEOUT) is True
    assert m.done
    assert m.RBV == pytest.approx(10.0)                 # the cached readback is final


def test_move_confirmed_returns_1_while_moving(m):
    m.put("VELO", 2.0, wait=True)
    assert m.move(40.0, confirm_move=True) == motor_module.MOVE_BEGUN_CONFIRMED == 1
    m.stop()


def test_relative_move(m):
    assert m.move(3.0, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert m.move(-1.25, relative=True, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert m.get_position(readback=True) == pytest.approx(1.75)


def test_dial_move_with_offset_and_direction(m):
    m.put("OFF", 10.0, wait=True)
    assert m.move(2.0, dial=True, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert m.get_position(dial=True, readback=True) == pytest.approx(2.0)
    assert m.get_position(readback=True) == pytest.approx(12.0)
    m.put("DIR", 1, wait=True)       # Neg: user = -dial + OFF
    assert m.move(3.0, dial=True, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert m.get_position(readback=True) == pytest.approx(7.0)
    assert m.get_position(dial=True) == pytest.approx(3.0)


def test_raw_and_step_moves(m):
    mres = m.MRES
    assert m.move(2500, raw=True, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert m.get_position(raw=True, readback=True) == 2500
    assert m.get_position(readback=True) == pytest.approx(2500 * mres)
    assert m.move(-500, step=True, relative=True, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert m.get_position(step=True, readback=True) == 2000
    assert m.get_position(raw=True) == 2000


def test_get_position_variants(m):
    m.put("OFF", 1.0, wait=True)
    assert m.move(4.0, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert m.get_position() == pytest.approx(4.0)
    assert m.get_position(readback=True) == pytest.approx(4.0)
    assert m.get_position(dial=True) == pytest.approx(3.0)
    assert m.get_position(dial=True, readback=True) == pytest.approx(3.0)
    assert m.get_position(raw=True) == round(3.0 / m.MRES)
    assert m.get_position(raw=True, readback=True) == round(3.0 / m.MRES)


# ---- move: the other return codes ----------------------------------------------------------------

def test_outside_soft_limits_is_not_attempted(m):
    assert m.move(150.0) == motor_module.OUTSIDE_LIMITS == -12
    assert m.move(50.0, relative=True, wait=True) == 0
    assert m.move(60.0, relative=True) == -12
    assert m.move(-150.0, dial=True) == -12
    assert fresh(m, "DMOV") == 1 and fresh(m, "RBV") == pytest.approx(50.0)


def test_soft_limit_violation_seen_with_wait(m):
    assert m.move(150.0, ignore_limits=True, wait=True,
                  timeout=MOVE_TIMEOUT) == motor_module.DONEW_SOFTLIM == -4
    assert m.LVIO == 1
    assert m.get_position(readback=True) == pytest.approx(0.0)
    with pytest.raises(MotorLimitException, match="Soft limit"):
        m.check_limits()


def test_soft_limit_violation_seen_without_wait(m, monkeypatch):
    monkeypatch.setattr(motor_module, "CONFIRM_MOVE_TIMEOUT", DEADLINE)  # ends at the evidence
    assert m.move(150.0, ignore_limits=True,
                  confirm_move=True) == motor_module.NOWAIT_SOFTLIM == 4


def test_hard_limit_with_wait(m):
    m.put("DHLM", 0.0, wait=True)
    m.put("DLLM", 0.0, wait=True)     # no soft limits: the switch at dial 110 stops it
    assert m.within_limits(500.0)
    assert m.move(150.0, wait=True, timeout=MOVE_TIMEOUT) == motor_module.DONEW_HARDLIM == -3
    assert m.HLS == 1
    assert m.get_position(readback=True) == pytest.approx(110.0)
    with pytest.raises(MotorLimitException, match="High hard limit"):
        m.check_limits()
    assert m.move(-150.0, wait=True, timeout=MOVE_TIMEOUT) == -3
    assert m.LLS == 1 and m.HLS == 0


def test_hard_limit_without_wait(m):
    m.put("DHLM", 0.0, wait=True)
    m.put("DLLM", 0.0, wait=True)
    assert m.move(150.0, wait=True, timeout=MOVE_TIMEOUT) == -3
    m.put("SPMG", 1, wait=True)      # Pause: the record takes the target but does not move
    assert m.move(50.0) == motor_module.NOWAIT_HARDLIM == 3


def test_move_begun_not_confirmed(m):
    m.put("SPMG", 1, wait=True)      # Pause
    assert m.move(20.0) == motor_module.MOVE_BEGUN == 0
    assert fresh(m, "MOVN") == 0


def move_and_stop_on_the_way(m, target):
    """Start move(target, wait=True) in a thread, stop the motor once it moves; returns what
    move() returned."""
    moving = Recorder()
    index = m.PV("MOVN").add_callback(moving)
    results = []
    mover = threading.Thread(target=lambda: results.append(
        m.move(target, wait=True, timeout=MOVE_TIMEOUT)))
    mover.start()
    try:
        assert moving.wait_value(1)
        m.stop()
    finally:
        mover.join(MOVE_TIMEOUT)
        m.PV("MOVN").remove_callback(index)
    assert not mover.is_alive()
    assert len(results) == 1
    return results[0]


def test_stopped_move_ends_the_wait_with_done_ok(m):
    m.put("VELO", 2.0, wait=True)
    # PyEpics's code for a stopped move
    assert move_and_stop_on_the_way(m, 80.0) == motor_module.DONE_OK
    position = m.get_position(readback=True)
    assert 0.0 < position < 80.0
    assert m.DMOV == 1 and m.MOVN == 0


def test_timeout_while_moving(m):
    m.put("VELO", 1.0, wait=True)
    assert m.move(90.0, wait=True, timeout=0.3) == motor_module.TIMEOUT == -8
    assert fresh(m, "DMOV") == 0
    m.stop()


def test_non_float_value(m):
    assert m.move("abc") == motor_module.NONFLOAT == -13
    assert m.move(None) == -13
    assert m.move([1, 2]) == -13


def test_disabled_motor_refuses_the_move(m):
    m.put("disabled", 1, wait=True)
    assert m.move(5.0, wait=True, timeout=MOVE_TIMEOUT) == motor_module.UNKNOWN_ERROR == -5
    assert fresh(m, "RBV") == pytest.approx(0.0)


def test_unconnected_drive(epics_port_pool):
    prefix = unique_prefix("lost")
    server, port = start_sim(epics_port_pool, ["--motors", f"{prefix}m1"])
    try:
        motor = Motor(f"{prefix}m1", timeout=1.0)
    finally:
        server.stop()
        epics_port_pool.release(port)
    assert wait_for_condition([motor.PV("VAL")], lambda: not motor.PV("VAL").connected, DEADLINE)
    assert motor.move(1.0, wait=True, timeout=5.0) == motor_module.UNCONNECTED == -11
    assert motor.move(1.0, relative=True) == -11
    assert motor.tweak() == -1
    assert repr(motor) == f"<epics.Motor: {prefix}m1: '?'>"


def test_move_from_inside_a_callback(m):
    """move(wait=True) from a PV callback (the dispatcher thread) neither hangs nor returns
    early."""
    results = []
    finished = threading.Event()

    def on_twv(value=None, **kws):
        if value == pytest.approx(0.5) and not results:
            results.append(m.move(3.0, wait=True, timeout=MOVE_TIMEOUT))
            results.append(m.PV("RBV").get(use_monitor=False))
            finished.set()

    index = m.PV("TWV").add_callback(on_twv)
    try:
        m.TWV = 0.5
        assert finished.wait(MOVE_TIMEOUT)
    finally:
        m.PV("TWV").remove_callback(index)
    assert results[0] == 0
    assert results[1] == pytest.approx(3.0)


# ---- tweak, stop ---------------------------------------------------------------------------------

def test_tweak_forward_and_reverse_both_spellings(m):
    m.tweak_val = 0.25
    assert m.tweak(direction="forward", wait=True) == 0
    assert m.get_position(readback=True) == pytest.approx(0.25)
    assert m.tweak(dir="forward", wait=True) == 0
    assert m.get_position(readback=True) == pytest.approx(0.5)
    assert m.tweak("reverse", wait=True) == 0
    assert m.tweak(dir="backward", wait=True) == 0
    assert m.get_position(readback=True) == pytest.approx(0.0)
    assert m.tweak(wait=True) == 0               # default: forward
    assert m.get_position(readback=True) == pytest.approx(0.25)


def test_tweak_without_wait(m):
    assert m.tweak() == 0
    assert wait_for_condition([m.PV("DMOV")], lambda: fresh(m, "DMOV") == 1 and
                              fresh(m, "RBV") == pytest.approx(1.0), MOVE_TIMEOUT)


def test_tweak_into_the_soft_limit_returns_minus_1(m):
    assert m.move(99.5, wait=True, timeout=MOVE_TIMEOUT) == 0
    assert m.tweak(dir="forward", wait=True) == -1
    assert m.get_position(readback=True) == pytest.approx(99.5)


def test_tweak_of_a_disabled_motor_returns_minus_1(m):
    m.put("disabled", 1, wait=True)
    assert m.tweak(wait=True) == -1
    assert fresh(m, "RBV") == pytest.approx(0.0)


def test_stop_and_stopnow(m):
    m.put("VELO", 2.0, wait=True)
    for stopper in (m.stop, m.StopNow):
        assert m.move(60.0, confirm_move=True) == 1
        stopper()
        assert wait_for_condition([m.PV("DMOV")], lambda: fresh(m, "DMOV") == 1, MOVE_TIMEOUT)
        assert fresh(m, "RBV") < 60.0
        m.move(0.0, wait=True, timeout=MOVE_TIMEOUT)


# ---- set_position --------------------------------------------------------------------------------

def test_set_position_user_changes_offset_not_dial(m):
    assert m.move(2.0, wait=True, timeout=MOVE_TIMEOUT) == 0
    m.set_position(10.0)
    assert fresh(m, "SET") == 0                 # back in Use
    assert fresh(m, "RBV") == pytest.approx(10.0)
    assert fresh(m, "DRBV") == pytest.approx(2.0)
    assert fresh(m, "OFF") == pytest.approx(8.0)


def test_set_position_dial_and_raw(m):
    m.set_position(5.0, dial=True)
    assert fresh(m, "DRBV") == pytest.approx(5.0)
    assert fresh(m, "SET") == 0
    m.set_position(1000, raw=True)
    assert fresh(m, "RRBV") == 1000
    m.set_position(2000, step=True)
    assert fresh(m, "RRBV") == 2000
    assert fresh(m, "SET") == 0


def test_set_position_returns_to_use_mode_on_failure(m):
    with pytest.raises(Exception):
        m.set_position("not a number")
    assert fresh(m, "SET") == 0


# ---- limits, steps, info -------------------------------------------------------------------------

def test_within_limits_user_and_dial(m):
    m.put("OFF", 10.0, wait=True)
    assert m.within_limits(105.0)
    assert not m.within_limits(115.0)
    assert m.within_limits(95.0, dial=True)
    assert not m.within_limits(105.0, dial=True)
    assert m.check_limits() is None


def test_make_step_list(m):
    steps = m.make_step_list()
    precision = m.PREC
    expected = [j * 10.0 ** (i - precision) for i in range(10) for j in (1, 2, 5)]
    expected = [s for s in expected if s <= 0.6 * 200.0]
    assert steps == pytest.approx(expected)
    assert steps[0] == pytest.approx(0.001)
    assert m.make_step_list(minstep=0.1, maxstep=2.0) == pytest.approx([0.1, 0.2, 0.5, 1.0, 2.0])
    assert m.make_step_list(decades=1) == pytest.approx([0.001, 0.002, 0.005])


def test_get_info_and_show_info(m, capsys):
    info = m.get_info()
    assert list(info) == ["DESC", "VAL", "RBV", "PREC", "VELO", "STAT", "SET", "TWV", "LLM",
                          "HLM", "SPMG"]
    assert info["SET"] == "Use" and info["SPMG"] == "Go" and info["STAT"] == "NO_ALARM"
    assert all(isinstance(value, str) for value in info.values())
    m.show_info()
    out = capsys.readouterr().out
    assert out.startswith(repr(m)) and "SPMG" in out and "VELO" in out
    text = m.show_info(print_out=False)
    assert "HLM" in text and capsys.readouterr().out == ""


def test_show_all(m, capsys):
    text = m.show_all(print_out=False)
    assert "slew_speed" in text and f"{m._name}.VELO" in text
    m.show_all()
    assert "tweak_val" in capsys.readouterr().out


def test_get_pv_and_refresh(m):
    assert m.get_pv("drive") is m.PV("VAL")
    m.refresh()


# ---- callbacks -----------------------------------------------------------------------------------

def test_set_callback_and_clear_callback(m):
    rec = Recorder()
    index = m.set_callback("drive", rec, kws={"label": "x"})
    assert index in m.PV("VAL").callbacks
    m.move(2.0, wait=True, timeout=MOVE_TIMEOUT)
    assert rec.wait_value(2.0)
    call = [kw for kw in rec.kwargs if kw["value"] == 2.0][-1]
    assert call["motor_field"] == "drive" and call["label"] == "x"
    m.clear_callback("VAL")                      # the same field under its name
    assert index not in m.PV("VAL").callbacks


def test_set_callback_default_field_and_clear_default(m):
    rec = Recorder()
    index = m.set_callback(callback=rec)
    m.clear_callback()                           # 'drive' is VAL
    assert index not in m.PV("VAL").callbacks


# ---- a server that completes puts at once --------------------------------------------------------

EARLY_SERVER = textwrap.dedent("""
    import sys
    from epics.sim.records import server
    from epics.sim.records.motor import MotorRecord

    class EarlyMotor(MotorRecord):
        # answers a put-with-completion as soon as the motion has started
        async def put(self, field, raw, *, wait=True):
            await super().put(field, raw, wait=False)

    server.MotorRecord = EarlyMotor
    sys.exit(server.main(sys.argv[1:]))
""")


def test_wait_holds_against_a_server_that_completes_puts_early(epics_port_pool):
    prefix = unique_prefix("early")
    port = epics_port_pool.take()
    server = SubprocessIoc([sys.executable, "-c", EARLY_SERVER, "--port", "{port}", "--motors",
                            f"{prefix}m1"], port=port, repeater_port=epics_port_pool.repeater_port,
                           name="early-motor")
    try:
        with server:
            motor = Motor(f"{prefix}m1")
            motor.VELO = 5.0
            motor.ACCL = 0.05
            # the plain PV put returns at once: the motor is still moving then
            assert motor.PV("VAL").put(4.0, wait=True, timeout=DEADLINE) == 1
            assert motor.PV("DMOV").get(use_monitor=False) == 0
            motor.stop()
            assert wait_for_condition([motor.PV("DMOV")],
                                      lambda: motor.PV("DMOV").get(use_monitor=False) == 1,
                                      MOVE_TIMEOUT)
            assert motor.move(6.0, wait=True, timeout=MOVE_TIMEOUT) == 0
            assert motor.DMOV == 1
            assert motor.RBV == pytest.approx(6.0)
            motor.TWV = 0.5
            assert motor.tweak(dir="reverse", wait=True) == 0
            assert motor.RBV == pytest.approx(5.5)
    finally:
        epics_port_pool.release(port)


# ---- the slides' example -------------------------------------------------------------------------

def test_slides_motor_example(sim, capsys):
    from epics import Motor as ExportedMotor    # 'from epics import Motor', as on the slides
    m = ExportedMotor(f"{sim}m3")
    m1 = m                                       # the slides call it m and m1
    reset(m)
    m.put("DESC", "Fine X", wait=True)
    m.put("VELO", 5.0, wait=True)
    print('Motor: ', m1.DESC, ' Currently at ', m1.RBV)

    m1.tweak_val = 0.10  # or m1.TWV = 0.10

    m1.move(0.0, dial=True, wait=True)

    for i in range(10):
        m1.tweak(dir='forward', wait=True)
        print('Motor: ', m1.DESC, ' at ', m1.RBV)

    print(m.drive, m.description, m.slew_speed)

    print(m.get('device_type', as_string=True))

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Motor:", "Fine", "X", "Currently", "at", "0.0"]
    assert float(lines[10].split()[-1]) == pytest.approx(1.0)
    drive, _, _, speed = lines[11].split()
    assert float(drive) == pytest.approx(1.0) and float(speed) == pytest.approx(5.0)
    assert lines[12] == "asynMotor"
    assert m.check_limits() is None
    reset(m)
