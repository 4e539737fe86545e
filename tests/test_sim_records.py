"""Tests of the simulated synApps records (epics.sim.records), driven over Channel Access.

The record server runs in a subprocess on a loopback port of the session's pool (the
``epics.testing`` plugin put the client environment in ``os.environ``), under a random prefix,
and is stopped at teardown whatever happens.  The client is caproto's synchronous one, so these
tests do not depend on our libca layer.  Every wait is bounded; durations are only checked from
below (a move cannot finish faster than its profile), never from above.
"""
from __future__ import annotations

import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from caproto.sync.client import read, write

from epics.sim.records.server import build_pvgroups
from epics.sim.records.transform import CalcError, compile_calc
from epics.testing import SubprocessIoc, unique_prefix
from epics.testing.ioc import client_environment, free_port, restore_environment
from epics.testing.plugin import get_session

SERVER_MODULE = 'epics.sim.records.server'
TIMEOUT = 5.0          # one CA request
MOVE_TIMEOUT = 60.0    # a whole move, count or acquisition

#: Every field PyEpics' Motor class names (its alias table and init list).
PYEPICS_MOTOR_FIELDS = (
    'ACCL BACC BDST BVEL CARD DHLM DIR DLLM DLY DMOV DRBV DESC DVAL EGU ERES FOFF FRAC HHSV '
    'HIGH HIHI HLM HLS HLSV HOMF HOMR HOPR HSV ICOF JAR JOGF JOGR JVEL LDVL LLM LLS LLSV LOLO '
    'LOPR LOW LRLV LRVL LSPG LSV LVAL LVIO MIP MISS MOVN MRES MSTA OFF OMSL OUT PCOF PREC RBV '
    'RCNT RDBD RDIF REP RHLS RLLS RLV RMP RRBV RRES RTRY RVAL RVEL S SBAK SBAS SET SMAX SPMG '
    'SREV STOP TDIR TWF TWR TWV UEIP UREV URIP VAL VBAS VELO VERS VMAX ATHM DCOF CNEN DTYP '
    'RTYP STAT').split()


# ---- helpers -------------------------------------------------------------------------------------
def caget(pvname: str, timeout: float = TIMEOUT):
    """Read a PV: a scalar (str for strings, int index for enums) or a numpy array."""
    response = read(pvname, timeout=timeout, repeater=False, force_int_enums=True)
    data = response.data
    if len(data) and isinstance(data[0], bytes):           # DBR_STRING
        values = [v.decode('latin-1') for v in data]
        return values[0] if len(values) == 1 else values
    if len(data) == 1:
        return data[0].item()
    return np.asarray(data)


def caput(pvname: str, value, wait: bool = False, timeout: float = TIMEOUT) -> None:
    """Write a PV; with ``wait`` use put-completion and return when the server says done."""
    write(pvname, value, notify=wait, timeout=timeout, repeater=False)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate`` until it returns a true value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    pytest.fail(f'timed out after {timeout:g} s waiting for {what}')


class Sim:
    """The running record server: its prefix and PV names."""

    def __init__(self, prefix: str, server: SubprocessIoc):
        self.prefix = prefix
        self.server = server
        self.m1 = prefix + 'm1'
        self.m2 = prefix + 'm2'
        self.m3 = prefix + 'm3'
        self.scaler = prefix + 'scaler1'
        self.mca = prefix + 'mca1'
        self.transform = prefix + 'tr1'
        self.sis = prefix + 'SIS1:'


def _record_args(prefix: str):
    return ['--motors', f'{prefix}m1,{prefix}m2,{prefix}m3',
            '--scalers', f'{prefix}scaler1', '--mcas', f'{prefix}mca1',
            '--transforms', f'{prefix}tr1', '--struck', f'{prefix}SIS1:']


@pytest.fixture(scope='module')
def port_and_env(request):
    """A server port, with the client environment pointing at it (restored afterwards)."""
    session = get_session(request.config)
    if session is not None:         # the plugin already lists the pool's ports for clients
        port = session.pool.take()
        try:
            yield port, session.pool.repeater_port
        finally:
            session.pool.release(port)
        return
    port, repeater = free_port(), free_port()
    env = client_environment([port], repeater)
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield port, repeater
    finally:
        restore_environment(previous)


@pytest.fixture(scope='module')
def sim(port_and_env):
    """The record server, serving a random prefix for this module."""
    port, repeater = port_and_env
    prefix = unique_prefix('sim')
    server = SubprocessIoc([sys.executable, '-m', SERVER_MODULE, '--port', '{port}']
                           + _record_args(prefix),
                           port=port, repeater_port=repeater, ready='line',
                           name='sim-records')
    with server:
        yield Sim(prefix, server)


# ---- the calc engine (no server) -----------------------------------------------------------------
@pytest.mark.parametrize('expr, args, expected', [
    ('1+2*3', [], 7.0),
    ('(1+2)*3', [], 9.0),
    ('2^3^2', [], 512.0),
    ('2**10', [], 1024.0),
    ('-2^2', [], -4.0),
    ('A*2+1', [3.0], 7.0),
    ('a+b', [1.0, 2.0], 3.0),
    ('A>1?10:20', [2.0], 10.0),
    ('A>1?10:20', [0.0], 20.0),
    ('A=1 && B#2', [1.0, 3.0], 1.0),
    ('!A || B', [1.0, 0.0], 0.0),
    ('7%3', [], 1.0),
    ('-7%3', [], -1.0),
    ('6 AND 3', [], 2.0),
    ('6 OR 3', [], 7.0),
    ('6 XOR 3', [], 5.0),
    ('1<<4', [], 16.0),
    ('-16>>2', [], -4.0),
    ('~0', [], -1.0),
    ('0x10+1', [], 17.0),
    ('1.5e3', [], 1500.0),
    ('ABS(-2)+SQRT(16)+SQR(9)', [], 9.0),
    ('MAX(1,5,3)-MIN(4,2)', [], 3.0),
    ('NINT(2.5)+NINT(-2.5)+FLOOR(1.7)+CEIL(1.2)', [], 3.0),
    ('LOG(100)+LN(EXP(2))', [], 4.0),
    ('SIN(PI/2)+COS(0)', [], 2.0),
    ('ATAN2(1,0)', [], 0.0),
    ('R2D*D2R', [], 1.0),
    ('ISNAN(SQRT(-1))+FINITE(1,2)+ISINF(1/0)', [], 3.0),
    ('B:=A*2;B+1', [4.0, 0.0], 9.0),
])
def test_calc_engine_evaluates(expr, args, expected):
    calc = compile_calc(expr, nargs=16)
    assert calc(list(args)) == pytest.approx(expected)


def test_calc_engine_division_follows_ieee():
    assert compile_calc('1/0')([]) == math.inf
    assert compile_calc('-1/0')([]) == -math.inf
    assert math.isnan(compile_calc('0/0')([]))


@pytest.mark.parametrize('expr', ['', '1+', '(1+2', 'A B', 'FOO(1)', '__import__("os")',
                                  'M+1', 'MAX()', 'ATAN2(1)', '1 $ 2', 'A:=', 'Q:=1'])
def test_calc_engine_rejects_bad_expressions(expr):
    with pytest.raises(CalcError):
        compile_calc(expr, nargs=12)


def test_calc_engine_runtime_errors_raise_calc_error():
    with pytest.raises(CalcError):
        compile_calc('A%B')([1.0, 0.0])


def test_calc_engine_bounds_nesting():
    with pytest.raises(CalcError):
        compile_calc('(' * 200 + '1' + ')' * 200)


# ---- the PV database (no server) -----------------------------------------------------------------
def test_build_pvgroups_names():
    db = build_pvgroups(motors=['q:m1'], scalers='q:sc1', mcas=['q:mca1'],
                        transforms=['q:t1'], struck=['q:SIS1'])
    for name in ('q:m1', 'q:m1.VAL', 'q:m1.RBV', 'q:m1.RTYP', 'q:m1_able', 'q:m1_able.VAL',
                 'q:sc1.CNT', 'q:sc1.S32', 'q:sc1.NM1', 'q:sc1_calcEnable.VAL',
                 'q:sc1_calc1.CALC', 'q:sc1_calc8.VAL', 'q:mca1.VAL', 'q:mca1.R31NM',
                 'q:mca1.R0N', 'q:t1.CLCP', 'q:t1.IAV', 'q:t1.LP', 'q:t1.CMTA',
                 'q:SIS1:EraseStart', 'q:SIS1:Dwell.VAL', 'q:SIS1:mca8.NORD', 'q:SIS1:mca1'):
        assert name in db, name
    assert db['q:m1'] is db['q:m1.VAL']


def test_build_pvgroups_refuses_duplicates():
    with pytest.raises(ValueError):
        build_pvgroups(motors=['q:m1', 'q:m1'])


# ---- motor -----------------------------------------------------------------------------------------
def _reset_motor(motor: str, velo: float = 2.0, accl: float = 0.1) -> None:
    """Put a motor at user 0 with known speed, no offset, default limits."""
    caput(motor + '.SPMG', 3)
    caput(motor + '.SET', 0)
    caput(motor + '.VELO', velo)
    caput(motor + '.ACCL', accl)
    caput(motor + '.DHLM', 100.0)
    caput(motor + '.DLLM', -100.0)
    caput(motor + '.OFF', 0.0)
    caput(motor + '.VAL', 0.0, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.DMOV') == 1


def test_motor_serves_pyepics_fields(sim):
    assert caget(sim.m1 + '.RTYP') == 'motor'
    missing = []
    for field in PYEPICS_MOTOR_FIELDS:
        try:
            caget(f'{sim.m1}.{field}')
        except Exception:           # noqa: BLE001 - collect and report them all
            missing.append(field)
    assert not missing, f'fields not served: {missing}'
    assert caget(sim.m1 + '_able.VAL') == 0
    assert caget(sim.m1) == caget(sim.m1 + '.VAL')


def test_motor_moves_at_velo_with_dmov(sim):
    motor = sim.m1
    velo, distance = 2.0, 4.0
    _reset_motor(motor, velo=velo, accl=0.1)
    start = time.monotonic()
    caput(motor + '.VAL', distance)
    wait_for(lambda: caget(motor + '.DMOV') == 0, 10.0, 'DMOV to go to 0')
    assert caget(motor + '.MOVN') == 1
    # sample the readback while moving: it never runs ahead of VELO
    samples = []
    for _ in range(400):
        before = time.monotonic()
        rbv = caget(motor + '.RBV')
        samples.append((before, time.monotonic(), rbv))
        if caget(motor + '.DMOV') == 1:
            break
        time.sleep(0.1)
    wait_for(lambda: caget(motor + '.DMOV') == 1, MOVE_TIMEOUT, 'DMOV to go back to 1')
    elapsed = time.monotonic() - start
    assert caget(motor + '.MOVN') == 0
    assert caget(motor + '.RBV') == pytest.approx(distance, abs=1e-6)
    assert caget(motor + '.DRBV') == pytest.approx(distance, abs=1e-6)
    assert caget(motor + '.RRBV') == round(distance / caget(motor + '.MRES'))
    assert elapsed >= 0.95 * distance / velo
    assert any(0.0 < rbv < distance for _, _, rbv in samples), 'no intermediate readback'
    for (b1, _a1, r1), (_b2, a2, r2) in zip(samples, samples[1:]):
        assert r2 - r1 <= velo * (a2 - b1 + 0.15) + 1e-9


def test_motor_put_completion_waits_for_the_move(sim):
    motor = sim.m1
    velo, distance = 2.0, 3.0
    _reset_motor(motor, velo=velo)
    start = time.monotonic()
    caput(motor + '.VAL', distance, wait=True, timeout=MOVE_TIMEOUT)
    elapsed = time.monotonic() - start
    assert caget(motor + '.DMOV') == 1
    assert caget(motor + '.MOVN') == 0
    assert caget(motor + '.RBV') == pytest.approx(distance, abs=1e-6)
    assert elapsed >= 0.95 * distance / velo
    # relative, dial and raw moves also complete at the end of the move
    caput(motor + '.RLV', -1.0, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.RBV') == pytest.approx(distance - 1.0, abs=1e-6)
    assert caget(motor + '.RLV') == 0
    caput(motor + '.DVAL', 0.5, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.DRBV') == pytest.approx(0.5, abs=1e-6)
    mres = caget(motor + '.MRES')
    caput(motor + '.RVAL', 1500, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.RRBV') == 1500
    assert caget(motor + '.RBV') == pytest.approx(1500 * mres, abs=1e-6)
    caput(motor + '.TWV', 0.25)
    caput(motor + '.TWF', 1, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.RBV') == pytest.approx(1500 * mres + 0.25, abs=1e-6)
    assert caget(motor + '.TWF') == 0
    caput(motor + '.TWR', 1, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.RBV') == pytest.approx(1500 * mres, abs=1e-6)


def test_motor_soft_limit_refuses_move(sim):
    motor = sim.m1
    _reset_motor(motor)
    caput(motor + '.HLM', 10.0)
    assert caget(motor + '.DHLM') == pytest.approx(10.0)
    caput(motor + '.VAL', 1.0, wait=True, timeout=MOVE_TIMEOUT)
    caput(motor + '.VAL', 25.0, wait=True, timeout=MOVE_TIMEOUT)   # completes at once
    assert caget(motor + '.LVIO') == 1
    assert caget(motor + '.VAL') == pytest.approx(1.0)
    assert caget(motor + '.RBV') == pytest.approx(1.0, abs=1e-6)
    assert caget(motor + '.DMOV') == 1
    caput(motor + '.VAL', 2.0, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.LVIO') == 0
    assert caget(motor + '.RBV') == pytest.approx(2.0, abs=1e-6)
    caput(motor + '.HLM', 100.0)


def test_motor_stop_ends_a_move_early(sim):
    motor = sim.m1
    _reset_motor(motor, velo=1.0)
    caput(motor + '.VAL', 40.0)                       # 40 s at 1 mm/s
    wait_for(lambda: caget(motor + '.MOVN') == 1, 10.0, 'the move to start')
    time.sleep(0.3)
    caput(motor + '.STOP', 1)
    wait_for(lambda: caget(motor + '.DMOV') == 1, 10.0, 'the motor to stop')
    rbv = caget(motor + '.RBV')
    assert 0.0 < rbv < 40.0
    assert caget(motor + '.VAL') == pytest.approx(rbv, abs=1e-6)   # target reset to position
    assert caget(motor + '.STOP') == 0
    assert caget(motor + '.MOVN') == 0


def test_motor_spmg_pause_and_go(sim):
    motor = sim.m3
    _reset_motor(motor, velo=2.0)
    caput(motor + '.SPMG', 1)                         # Pause: a new target waits
    caput(motor + '.VAL', 1.0, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.VAL') == pytest.approx(1.0)
    assert caget(motor + '.RBV') == pytest.approx(0.0, abs=1e-6)
    caput(motor + '.SPMG', 3, wait=True, timeout=MOVE_TIMEOUT)   # Go: moves there
    wait_for(lambda: caget(motor + '.DMOV') == 1, MOVE_TIMEOUT, 'the move after Go')
    assert caget(motor + '.RBV') == pytest.approx(1.0, abs=1e-6)


def test_motor_set_use_changes_offset(sim):
    motor = sim.m1
    _reset_motor(motor)
    caput(motor + '.VAL', 2.0, wait=True, timeout=MOVE_TIMEOUT)
    dial = caget(motor + '.DRBV')
    caput(motor + '.SET', 1)
    caput(motor + '.VAL', 12.5, wait=True, timeout=TIMEOUT)
    assert caget(motor + '.DMOV') == 1                # no motion in Set mode
    caput(motor + '.SET', 0)
    assert caget(motor + '.OFF') == pytest.approx(12.5 - dial)
    assert caget(motor + '.RBV') == pytest.approx(12.5, abs=1e-6)
    assert caget(motor + '.DRBV') == pytest.approx(dial, abs=1e-6)
    assert caget(motor + '.HLM') == pytest.approx(100.0 + 12.5 - dial)
    # back in Use mode, VAL moves again (in user coordinates)
    caput(motor + '.VAL', 13.0, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.DRBV') == pytest.approx(dial + 0.5, abs=1e-6)
    caput(motor + '.OFF', 0.0)
    assert caget(motor + '.RBV') == pytest.approx(dial + 0.5, abs=1e-6)


def test_motor_dir_negates_user_coordinates(sim):
    motor = sim.m3
    _reset_motor(motor)
    caput(motor + '.DIR', 1)
    try:
        caput(motor + '.VAL', 1.5, wait=True, timeout=MOVE_TIMEOUT)
        assert caget(motor + '.DRBV') == pytest.approx(-1.5, abs=1e-6)
        assert caget(motor + '.RBV') == pytest.approx(1.5, abs=1e-6)
        assert caget(motor + '.HLM') == pytest.approx(100.0)
        assert caget(motor + '.LLM') == pytest.approx(-100.0)
    finally:
        caput(motor + '.DIR', 0)


def test_motor_hard_limit_sets_hls(sim):
    motor = sim.m2
    _reset_motor(motor, velo=100.0, accl=0.05)
    caput(motor + '.DHLM', 0.0)
    caput(motor + '.DLLM', 0.0)                       # no soft limits
    caput(motor + '.VAL', 500.0, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.HLS') == 1
    assert caget(motor + '.LLS') == 0
    rbv = caget(motor + '.RBV')
    assert 0.0 < rbv < 500.0
    assert caget(motor + '.VAL') == pytest.approx(rbv, abs=1e-6)
    caput(motor + '.VAL', 0.0, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.HLS') == 0
    _reset_motor(motor)


def test_motor_disabled_refuses_moves(sim):
    motor = sim.m2
    _reset_motor(motor)
    caput(motor + '_able', 1)
    try:
        with pytest.raises(Exception):
            caput(motor + '.VAL', 1.0, wait=True)
        assert caget(motor + '.RBV') == pytest.approx(0.0, abs=1e-6)
    finally:
        caput(motor + '_able', 0)
    caput(motor + '.VAL', 0.5, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(motor + '.RBV') == pytest.approx(0.5, abs=1e-6)


# ---- scaler ----------------------------------------------------------------------------------------
def test_scaler_counts_for_tp_and_clears_cnt(sim):
    scaler = sim.scaler
    assert caget(scaler + '.RTYP') == 'scaler'
    caput(scaler + '.TP', 0.5)
    assert caget(scaler + '.PR1') == pytest.approx(0.5 * caget(scaler + '.FREQ'))
    start = time.monotonic()
    caput(scaler + '.CNT', 1, wait=True, timeout=MOVE_TIMEOUT)
    elapsed = time.monotonic() - start
    assert caget(scaler + '.CNT') == 0
    assert elapsed >= 0.45
    assert caget(scaler + '.T') == pytest.approx(0.5)
    assert caget(scaler + '.S1') == pytest.approx(0.5 * 1e7)
    assert caget(scaler + '.S2') > 0
    assert caget(scaler + '.NM1') == 'clock'
    # without put-completion: CNT reads 1 while counting, then goes back to 0
    caput(scaler + '.TP', 1.0)
    caput(scaler + '.CNT', 1)
    wait_for(lambda: caget(scaler + '.CNT') == 0, MOVE_TIMEOUT, 'CNT back to 0')
    assert caget(scaler + '.S1') == pytest.approx(1e7)


def test_scaler_calc_records(sim):
    scaler = sim.scaler
    assert caget(scaler + '_calcEnable.VAL') == 1
    caput(scaler + '_calc2.CALC', 'B*2')
    caput(scaler + '.TP', 0.3)
    caput(scaler + '.CNT', 1, wait=True, timeout=MOVE_TIMEOUT)
    s2 = caget(scaler + '.S2')
    assert s2 > 0
    wait_for(lambda: caget(scaler + '_calc2.VAL') == pytest.approx(2 * s2), 10.0,
             'calc2 = 2*S2')
    assert caget(scaler + '_calc1.VAL') == pytest.approx(caget(scaler + '.S1'))


def test_scaler_abort(sim):
    scaler = sim.scaler
    caput(scaler + '.TP', 30.0)
    caput(scaler + '.CNT', 1)
    wait_for(lambda: caget(scaler + '.T') > 0, 10.0, 'counting to start')
    caput(scaler + '.CNT', 0)
    wait_for(lambda: caget(scaler + '.CNT') == 0, 10.0, 'the count to stop')
    assert caget(scaler + '.T') < 30.0


# ---- mca ---------------------------------------------------------------------------------------------
def test_mca_acquires_a_spectrum(sim):
    mca = sim.mca
    assert caget(mca + '.RTYP') == 'mca'
    nmax = caget(mca + '.NMAX')
    assert caget(mca + '.NUSE') == nmax == 2048
    caput(mca + '.PRTM', 0.6)
    caput(mca + '.R0LO', 630)
    caput(mca + '.R0HI', 650)                        # Fe K-alpha at 6.40 keV, 0.01 keV/bin
    caput(mca + '.R0NM', 'Fe Ka')
    start = time.monotonic()
    caput(mca + '.ERST', 1, wait=True, timeout=MOVE_TIMEOUT)
    assert time.monotonic() - start >= 0.55
    assert caget(mca + '.ACQG') == 0
    assert caget(mca + '.ERTM') == pytest.approx(0.6)
    assert 0 < caget(mca + '.ELTM') <= 0.6
    spectrum = caget(mca + '.VAL')
    assert len(spectrum) == nmax
    assert spectrum.sum() > 0
    assert caget(mca + '.R0') == pytest.approx(spectrum[630:651].sum())
    assert caget(mca + '.R0NM') == 'Fe Ka'
    assert spectrum[630:651].mean() > 5 * np.median(spectrum[1000:1500] + 1)
    assert caget(mca + '.CALS') == pytest.approx(0.01)


def test_mca_stop_and_erase(sim):
    mca = sim.mca
    caput(mca + '.PRTM', 0.0)                        # no preset: runs until STOP
    caput(mca + '.ERST', 1)
    wait_for(lambda: caget(mca + '.ACQG') == 1, 10.0, 'acquisition to start')
    wait_for(lambda: caget(mca + '.ERTM') > 0.2, 10.0, 'time to pass')
    caput(mca + '.STOP', 1, wait=True, timeout=MOVE_TIMEOUT)
    assert caget(mca + '.ACQG') == 0
    caput(mca + '.ERAS', 1)
    assert caget(mca + '.VAL').sum() == 0
    assert caget(mca + '.ERTM') == 0


# ---- transform ---------------------------------------------------------------------------------------
def test_transform_computes(sim):
    tr = sim.transform
    assert caget(tr + '.RTYP') == 'transform'
    caput(tr + '.CLCB', 'A*2+1')
    caput(tr + '.CLCC', 'B+A')
    caput(tr + '.A', 3.0)
    assert caget(tr + '.B') == pytest.approx(7.0)
    assert caget(tr + '.C') == pytest.approx(10.0)          # rows see earlier rows' results
    assert caget(tr + '.CBV') == 0
    assert caget(tr + '.LB') == pytest.approx(7.0)
    caput(tr + '.CLCD', 'B+')                                # does not parse
    assert caget(tr + '.CDV') != 0
    caput(tr + '.CMTB', 'twice A plus one')
    assert caget(tr + '.CMTB') == 'twice A plus one'
    # Conditional: a value a client writes is kept in that processing
    caput(tr + '.B', 100.0)
    assert caget(tr + '.B') == pytest.approx(100.0)
    assert caget(tr + '.C') == pytest.approx(103.0)


def test_transform_links_to_local_pvs(sim):
    tr = sim.transform
    caput(tr + '.INPE', sim.m3 + '.HLM')
    assert caget(tr + '.IEV') == 2                           # Local PV
    caput(tr + '.CLCF', 'E/2')
    caput(tr + '.OUTF', tr + '.VAL')
    assert caget(tr + '.OFV') == 2
    caput(tr + '.PROC', 1)
    hlm = caget(sim.m3 + '.HLM')
    assert caget(tr + '.F') == pytest.approx(hlm / 2)
    wait_for(lambda: caget(tr + '.VAL') == pytest.approx(hlm / 2), 10.0, 'the output link')
    caput(tr + '.INPG', 'nosuch:pv')
    assert caget(tr + '.IGV') == 0                           # Ext PV NC


# ---- struck --------------------------------------------------------------------------------------------
def test_struck_acquires_time_bins(sim):
    sis = sim.sis
    assert caget(sis + 'Model') == 'SIS3820'
    caput(sis + 'ChannelAdvance', 0)
    caput(sis + 'Dwell', 0.01)
    caput(sis + 'NuseAll', 20)
    assert caget(sis + 'mca1.NUSE') == 20
    caput(sis + 'EraseStart', 1)
    wait_for(lambda: caget(sis + 'Acquiring') == 0 and caget(sis + 'CurrentChannel') == 20,
             MOVE_TIMEOUT, 'the acquisition to end')
    assert caget(sis + 'mca1.NORD') == 20
    clock = caget(sis + 'mca1')
    assert len(clock) >= 20
    assert list(clock[:20]) == [round(50e6 * 0.01)] * 20
    assert caget(sis + 'mca2')[:20].sum() > 0
    assert caget(sis + 'ElapsedReal') >= 0.19


def test_struck_external_advance(sim):
    sis = sim.sis
    caput(sis + 'ChannelAdvance', 1)
    caput(sis + 'NuseAll', 3)
    try:
        caput(sis + 'EraseStart', 1)
        wait_for(lambda: caget(sis + 'Acquiring') == 1, 10.0, 'acquisition to start')
        for expected in (1, 2):
            caput(sis + 'SoftwareChannelAdvance', 1)
            wait_for(lambda: caget(sis + 'CurrentChannel') == expected, 10.0,
                     f'bin {expected}')
        caput(sis + 'StopAll', 1)
        wait_for(lambda: caget(sis + 'Acquiring') == 0, 10.0, 'the stop')
        assert caget(sis + 'mca1.NORD') == 2
    finally:
        caput(sis + 'StopAll', 1)
        caput(sis + 'ChannelAdvance', 0)


# ---- server lifecycle ------------------------------------------------------------------------------
def test_server_prints_ready_and_exits_cleanly_on_sigterm(port_and_env):
    """Run the CLI directly (no kit) to see its own exit status after SIGTERM."""
    _port, repeater = port_and_env
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    prefix = unique_prefix('simx')
    proc = subprocess.Popen([sys.executable, '-m', SERVER_MODULE, '--port', str(port),
                             '--motors', prefix + 'm1'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout],
                              daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60.0
        seen = []
        for _ in range(1000):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                break
            seen.append(line)
            if line.strip() == 'READY':
                break
        assert any(line.strip() == 'READY' for line in seen), ''.join(seen)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=5)
