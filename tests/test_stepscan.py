"""The general step scan (epics.stepscan.StepScan) against the simulated beamline: positioners
with full (non-rectangular) arrays, all moving together; scaler, mca, multi-element mca and
areaDetector detectors; counters; extra PVs; hooks and breakpoints.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from epics import PV, caget, caput
from epics.stepscan import (AreaDetector, Counter, McaDetector, MultiMcaDetector, Positioner,
                            ScalerDetector, StepScan)

from stepscan_helpers import DmovLog, start_beamline, stop_beamline

AREA_DB = Path(__file__).with_name('stepscan_area.db')
MRES = 0.001      # the simulated motors' resolution (readbacks are whole steps)


@pytest.fixture(scope='module')
def beamline(epics_port_pool):
    beamline = start_beamline(epics_port_pool)
    try:
        yield beamline
    finally:
        stop_beamline(epics_port_pool, beamline)


def test_scan_of_the_talk_with_a_non_rectangular_path(beamline, tmp_path):
    """Two motors on a circle (no inner/outer loops), the scaler, a readback counter and
    extra PVs; hooks run in order and each breakpoint sees the rows so far on disk."""
    angles = np.linspace(0, np.pi, 5)
    x = Positioner(beamline.m1, label='x')
    x.array = 0.3 * np.cos(angles)
    y = Positioner(beamline.m2, label='y', array=0.3 * np.sin(angles))
    scan = StepScan()
    scan.add_positioner(x)
    scan.add_positioner(y)
    scaler = scan.add_detector(ScalerDetector(beamline.scaler))
    scan.add_counter(Counter(f'{beamline.m1}.RBV', label='x_rbv'))
    scan.add_counter(f'{beamline.m2}.RBV', label='y_rbv')
    scan.add_extra_pvs((('m3 position', f'{beamline.m3}.RBV'),))
    scan.set_dwelltime(0.05)
    calls = []
    rows_on_disk = []
    filename = tmp_path / 'talk.dat'
    scan.pre_scan_methods.append(lambda: calls.append('pre'))
    scan.post_scan_methods.append(lambda: calls.append('post'))
    scan.breakpoints = [1, 3]

    def at_break(point):
        calls.append(f'break {point}')
        rows_on_disk.append(sum(1 for line in filename.read_text().splitlines()
                                if line and not line.startswith('#')))
    scan.at_break_methods.append(at_break)

    result = scan.run(filename=str(filename))

    assert result.status == 'done' and result.points_taken == 5
    assert calls == ['pre', 'break 1', 'break 3', 'post']
    assert rows_on_disk == [2, 4]
    assert [c.label for c in scaler.counters] == ['clock', 'I0', 'I1', 'It', 'If', 'Ic', 'Id',
                                                  'Ie']
    # every point was read after its motion had ended: the readbacks are at the targets
    np.testing.assert_allclose(result.data['x_rbv'], x.array, atol=MRES)
    np.testing.assert_allclose(result.data['y_rbv'], y.array, atol=MRES)
    # the scaler counted 0.05 s of its 10 MHz clock at every point
    assert result.data['clock'] == [0.05 * 1e7] * 5
    assert all(value > 0 for value in result.data['I0'])
    text = filename.read_text()
    assert f'#C m3 position ({beamline.m3}.RBV) = ' in text
    assert '#L x  y  clock  I0' in text


def test_positioners_move_together(beamline):
    """All positioners of a point start together: their motions overlap in time."""
    log = DmovLog([beamline.m1, beamline.m2, beamline.m3])
    try:
        scan = StepScan()
        for motor, offset in ((beamline.m1, 0.0), (beamline.m2, 0.1), (beamline.m3, 0.2)):
            scan.add_positioner(Positioner(motor, array=[offset + 0.5, offset]))
        scan.run()
    finally:
        log.close()
    moves = [log.moving_intervals(m) for m in (beamline.m1, beamline.m2, beamline.m3)]
    assert all(len(intervals) >= 2 for intervals in moves), moves
    for point in (-2, -1):
        starts = [intervals[point][0] for intervals in moves]
        ends = [intervals[point][1] for intervals in moves]
        assert max(starts) < min(ends), f'the motions of point {point} did not overlap: {moves}'


def test_dwell_time_as_a_positioner(beamline):
    """A detector's dwell time may change from point to point (it becomes a positioner)."""
    scan = StepScan()
    scan.add_positioner(Positioner(beamline.m1, label='x', array=[0.0, 0.01, 0.02]))
    scan.add_detector(ScalerDetector(beamline.scaler, nchan=2))
    scan.set_dwelltime([0.02, 0.05, 0.1])
    result = scan.run()
    assert result.labels[:2] == ['x', f'{beamline.scaler} dwell']
    assert result.data['clock'] == [0.02 * 1e7, 0.05 * 1e7, 0.1 * 1e7]


def test_mca_detector_counts_its_named_rois(beamline):
    mca = beamline.mca
    caput(f'{mca}.R0NM', 'Fe', wait=True)
    caput(f'{mca}.R0LO', 600, wait=True)
    caput(f'{mca}.R0HI', 700, wait=True)
    caput(f'{mca}.R1NM', 'all', wait=True)
    caput(f'{mca}.R1LO', 0, wait=True)
    caput(f'{mca}.R1HI', 2047, wait=True)
    scan = StepScan()
    scan.add_positioner(Positioner(beamline.m1, array=[0.0, 0.05]))
    detector = scan.add_detector(McaDetector(mca, nrois=4))
    scan.add_counter(f'{mca}.ERTM', label='realtime')
    scan.set_dwelltime(0.3)
    result = scan.run()
    assert [c.label for c in detector.counters] == ['Fe', 'all']
    assert all(0 < fe < total for fe, total in zip(result.data['Fe'], result.data['all']))
    # each point erased the spectrum and counted its own 0.3 s
    assert result.data['realtime'] == pytest.approx([0.3, 0.3], abs=0.05)


def test_multi_element_mca_starts_all_elements_together(beamline):
    """The Struck's EraseStart completes at once: the trigger waits for Acquiring 1 -> 0."""
    sis = beamline.sis
    for i in (1, 2):
        caput(f'{sis}mca{i}.R0NM', 'sum', wait=True)
        caput(f'{sis}mca{i}.R0LO', 0, wait=True)
        caput(f'{sis}mca{i}.R0HI', 100, wait=True)
    caput(f'{sis}ChannelAdvance', 0, wait=True)         # internal: a bin per Dwell
    caput(f'{sis}Dwell', 0.02, wait=True)
    caput(f'{sis}NuseAll', 100, wait=True)
    scan = StepScan()
    scan.add_positioner(Positioner(beamline.m1, array=[0.0, 0.02]))
    detector = scan.add_detector(MultiMcaDetector(sis, nmca=2, nrois=2))
    scan.set_dwelltime(0.3)
    result = scan.run()
    assert [c.label for c in detector.counters] == ['mca1_sum', 'mca2_sum']
    # the clock channel counted 0.3 s of 50 MHz in all: the acquisition ran to its preset
    assert result.data['mca1_sum'] == pytest.approx([0.3 * 50e6] * 2, rel=0.1)
    assert all(value > 0 for value in result.data['mca2_sum'])


def test_area_detector_records_its_frame_counter(beamline, softioc_factory, pv_prefix):
    softioc_factory(AREA_DB, macros={'P': pv_prefix})
    scan = StepScan()
    scan.add_positioner(Positioner(beamline.m1, array=[0.0, 0.01, 0.02]))
    detector = scan.add_detector(AreaDetector(pv_prefix, label='cam'))
    scan.set_dwelltime(0.2)
    result = scan.run()
    start = caget(f'{pv_prefix}cam1:ArrayCounter_RBV', use_monitor=False) - 3
    assert result.data['cam_frame'] == [start + 1, start + 2, start + 3]
    assert caget(f'{pv_prefix}cam1:ImageMode') == 0           # pre_scan set Single
    assert caget(f'{pv_prefix}cam1:AcquireTime') == pytest.approx(0.2)
    assert detector.triggers[0].pvname == f'{pv_prefix}cam1:Acquire'


def test_triggers_start_together(beamline, softioc_factory, pv_prefix):
    """Two detectors counting 0.5 s each: both are started before either is waited for, so
    their counting intervals overlap."""
    softioc_factory(AREA_DB, macros={'P': pv_prefix})
    events = []
    watched = [PV(f'{beamline.scaler}.CNT'), PV(f'{pv_prefix}cam1:Acquire'),
               PV(f'{pv_prefix}cam1:ArrayCounter_RBV')]
    for pv in watched:
        pv.wait_for_connection(timeout=5)
        pv.add_callback(lambda pvname=None, value=None, **kws:
                        events.append((time.monotonic(), pvname, value)))
    scan = StepScan()
    scan.add_positioner(Positioner(f'{beamline.m1}.VAL', array=[0.0]))
    scan.add_detector(AreaDetector(pv_prefix, label='cam'))
    scan.add_detector(ScalerDetector(beamline.scaler, nchan=1))
    scan.set_dwelltime(0.5)
    t_start = time.monotonic()
    result = scan.run()
    for pv in watched:
        pv.clear_callbacks()
    assert result.data['clock'] == [0.5 * 1e7]
    mine = [(t, name, value) for t, name, value in events if t >= t_start]

    def first(name, predicate):
        return next(t for t, pvname, value in mine if pvname == name and predicate(value))
    scaler = (first(f'{beamline.scaler}.CNT', lambda v: v == 1),
              first(f'{beamline.scaler}.CNT', lambda v: v == 0))
    camera = (first(f'{pv_prefix}cam1:Acquire', lambda v: v == 1),
              first(f'{pv_prefix}cam1:ArrayCounter_RBV', lambda v: True))
    assert max(scaler[0], camera[0]) < min(scaler[1], camera[1]), (scaler, camera)


def test_scaler_detector_can_record_its_calc_records(beamline):
    """use_calc: the counters are the scaler's calc records (calcN = SN as the database
    starts), processed at the end of each count, before the count completes."""
    scan = StepScan()
    scan.add_positioner(Positioner(beamline.m1, array=[0.0, 0.01]))
    raw = Counter(f'{beamline.scaler}.S2', label='raw I0')
    scan.add_counter(raw)
    detector = scan.add_detector(ScalerDetector(beamline.scaler, nchan=3, use_calc=True))
    scan.set_dwelltime(0.05)
    result = scan.run()
    assert [c.pvname for c in detector.counters] == [
        f'{beamline.scaler}_calc{i}.VAL' for i in (1, 2, 3)]
    assert result.data['I0'] == result.data['raw I0']
    assert result.data['clock'] == [0.05 * 1e7] * 2
