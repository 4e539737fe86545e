"""How scans end when something goes wrong or someone intervenes: a motor at a limit, a
detector that never finishes, an IOC that dies mid-scan, Ctrl-C (pause, resume, abort) and
abort() from another thread. Each ends with a clear message and a valid SPEC file (read back
by silx), never a hang.
"""
from __future__ import annotations

import io
import os
import signal
import threading
import time

import numpy as np
import pytest

from epics import PV, caget, caput
from epics.stepscan import (ConnectionLost, DetectorTimeout, MotionError, Positioner,
                            ScalerDetector, SpecScan, StepScan)
from epics.stepscan.progress import TerminalProgress

from stepscan_helpers import start_beamline, stop_beamline, wait_for

from silx.io import specfile  # in the test extra: a missing reader must fail, not skip

MRES = 0.001


@pytest.fixture(scope='module')
def beamline(epics_port_pool):
    beamline = start_beamline(epics_port_pool, extra=False)
    try:
        yield beamline
    finally:
        stop_beamline(epics_port_pool, beamline)


def rows_and_comments(filename):
    """(data columns of the last scan as silx reads them, its #C lines)."""
    sf = specfile.SpecFile(str(filename))
    try:
        scan = sf[len(sf) - 1]
        data = np.array(scan.data) if scan.data.size else np.zeros((len(scan.labels), 0))
        return data, [line for line in scan.header if line.startswith('#C')]
    finally:
        sf.close()


def spec_scan(beamline, filename, **detector) -> SpecScan:
    scan = SpecScan(filename=str(filename))
    scan.add_motors(x=beamline.m1, y=beamline.m2, z=beamline.m3)
    scan.add_detector(beamline.scaler, kind='scaler', nchan=2, **detector)
    scan.progress = False
    scan.interactive = False
    return scan


def test_motor_hitting_a_limit_switch_ends_the_scan(beamline, tmp_path):
    motor = beamline.m3
    caput(f'{motor}.DHLM', 0, wait=True)     # no soft limits: the hard limit (110) stops it
    caput(f'{motor}.DLLM', 0, wait=True)
    caput(f'{motor}.VELO', 400, wait=True)
    try:
        scan = spec_scan(beamline, tmp_path / 'limit.spec')
        with pytest.raises(MotionError, match=r'hit its high limit switch \(HLS\) while moving '
                                              r'to 150') as error:
            scan.ascan('z', 0.0, 150.0, 3, 0.02)
        assert error.value.pvname == f'{motor}.HLS'
        data, comments = rows_and_comments(tmp_path / 'limit.spec')
        assert data[0].tolist() == [0.0, 75.0]           # the two points taken
        assert comments[-1].startswith('#C scan failed after 2 of 3 points:')
    finally:
        caput(f'{motor}.VAL', 0, wait=True, timeout=30)
        caput(f'{motor}.VELO', 5, wait=True)
        caput(f'{motor}.DHLM', 100, wait=True)
        caput(f'{motor}.DLLM', -100, wait=True)


def test_position_outside_the_soft_limits_is_refused_before_anything_moves(beamline, tmp_path):
    caput(f'{beamline.m1}.VAL', 0.0, wait=True)
    scan = spec_scan(beamline, tmp_path / 'soft.spec')
    with pytest.raises(MotionError, match=r'position 150 \(point 2\) is outside the limits of '
                                          rf'{beamline.m1}.VAL \[-100, 100\]'):
        scan.ascan('x', 50.0, 150.0, 3, 0.02)
    assert caget(f'{beamline.m1}.RBV', use_monitor=False) == 0.0


def test_detector_that_never_finishes_times_out_and_is_stopped(beamline, tmp_path):
    """The scan sets no dwell time; the scaler, set to count 60 s, does not finish within
    the trigger's 0.5 s."""
    caput(f'{beamline.scaler}.TP', 60.0, wait=True)
    scan = StepScan(filename=str(tmp_path / 'stuck.spec'))
    scan.add_positioner(Positioner(beamline.m1, label='x', array=[0.0, 0.01]))
    detector = scan.add_detector(ScalerDetector(beamline.scaler, nchan=2))
    detector.triggers[0].timeout = 0.5
    try:
        t0 = time.monotonic()
        with pytest.raises(DetectorTimeout, match=rf'{beamline.scaler}.CNT did not complete'):
            scan.run(progress=False)
        assert time.monotonic() - t0 < 15.0
        wait_for(lambda: caget(f'{beamline.scaler}.CNT', use_monitor=False) == 0, 5.0,
                 'the count to be aborted')
    finally:
        caput(f'{beamline.scaler}.TP', 1.0, wait=True)
    data, comments = rows_and_comments(tmp_path / 'stuck.spec')
    assert data.shape == (3, 0)            # x, clock, I0; no rows
    assert 'did not complete in time' in comments[-1]


def test_ioc_dying_mid_scan_ends_it_with_the_points_taken(epics_port_pool, tmp_path):
    beamline = start_beamline(epics_port_pool, motors=('m1',), extra=False)
    try:
        scan = StepScan(filename=str(tmp_path / 'died.spec'))
        scan.add_positioner(Positioner(beamline.m1, label='x', array=np.linspace(0, 0.1, 20)))
        scan.add_detector(ScalerDetector(beamline.scaler, nchan=2))
        scan.set_dwelltime(0.05)
        scan.point_callbacks.append(
            lambda point, row: beamline.server.kill() if point == 2 else None)
        t0 = time.monotonic()
        with pytest.raises(ConnectionLost, match=rf'{beamline.prefix}\S+ disconnected') as error:
            scan.run(progress=False)
        assert time.monotonic() - t0 < 30.0
        assert error.value.pvname.startswith(beamline.prefix)
        data, comments = rows_and_comments(tmp_path / 'died.spec')
        assert data.shape == (3, 3)
        assert comments[-1].startswith('#C scan failed after 3 of 20 points')
    finally:
        stop_beamline(epics_port_pool, beamline)


def test_ctrl_c_pauses_and_resume_goes_on(beamline, tmp_path):
    scan = StepScan(filename=str(tmp_path / 'paused.spec'))
    scan.add_positioner(Positioner(beamline.m1, label='x', array=np.linspace(0, 0.05, 5)))
    pauses = []
    scan.control.on_pause = pauses.append
    scan.point_callbacks.append(
        lambda point, row: os.kill(os.getpid(), signal.SIGINT) if point == 1 else None)

    def resume_when_paused():
        wait_for(lambda: scan.control.paused, 10.0, 'the pause')
        time.sleep(0.2)
        scan.resume()
    helper = threading.Thread(target=resume_when_paused, daemon=True)
    helper.start()
    result = scan.run(progress=False, interactive=False)
    helper.join(timeout=10)
    assert result.status == 'done' and result.points_taken == 5
    assert pauses == [True, False]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    data, _ = rows_and_comments(tmp_path / 'paused.spec')
    np.testing.assert_allclose(data[0], np.linspace(0, 0.05, 5))


def test_second_ctrl_c_aborts_and_a_relative_scan_returns_its_motor(beamline, tmp_path):
    caput(f'{beamline.m2}.VAL', 0.3, wait=True)
    scan = spec_scan(beamline, tmp_path / 'aborted.spec')

    def interrupt_twice(point, row):
        if point == 1:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
    scan.detectors = []
    scan.point_callbacks.append(interrupt_twice)
    result = scan.dscan('y', 0.0, 0.5, 6, 0.0)
    assert result.status == 'aborted' and result.points_taken == 2
    assert 'Ctrl-C' in result.message
    assert caget(f'{beamline.m2}.RBV', use_monitor=False) == pytest.approx(0.3, abs=MRES)
    data, comments = rows_and_comments(tmp_path / 'aborted.spec')
    np.testing.assert_allclose(data[0], [0.3, 0.4])
    assert comments[-1].startswith('#C scan aborted after 2 of 6 points')


def test_abort_from_another_thread_stops_a_moving_motor(beamline, tmp_path):
    """The abort comes (from CA's callback thread) 0.2 mm into a 10 s move: the motor stops
    well short of the target and returns to where the relative scan started."""
    caput(f'{beamline.m1}.VAL', 0.0, wait=True)
    caput(f'{beamline.m1}.VELO', 0.5, wait=True)
    scan = spec_scan(beamline, tmp_path / 'stopped.spec')
    readbacks = []

    def on_readback(value=None, **kws):
        readbacks.append(value)
        if value > 0.2:
            scan.abort('aborted by the test')
    rbv = PV(f'{beamline.m1}.RBV', callback=on_readback)
    try:
        result = scan.dscan('x', 0.0, 5.0, 2, 0.02)      # the second point is 10 s away
        assert result.status == 'aborted' and result.points_taken == 1
        assert result.message == 'scan aborted by the test'
        assert 0.2 < max(readbacks) < 4.0                # it moved, and was stopped
        assert caget(f'{beamline.m1}.RBV', use_monitor=False) == pytest.approx(0.0, abs=MRES)
    finally:
        rbv.clear_callbacks()
        caput(f'{beamline.m1}.VELO', 5.0, wait=True)


def test_progress_shows_points_and_time_left():
    out = io.StringIO()
    progress = TerminalProgress(out, table=True)
    progress.start(4, ['x', 'I0'])
    progress.update(1, 4, [0.5, 120.0])
    progress.update(2, 4, [0.6, 121.0])
    progress.finish('done')
    text = out.getvalue()
    assert '2/4' in text and '50.0%' in text and 'left' in text and 'elapsed' in text
    assert '         0.6           121' in text
    assert text.endswith('scan done\n')
