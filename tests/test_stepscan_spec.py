"""SPEC-like scans (epics.stepscan.SpecScan) and the SPEC data file, read back by an
independent reader (silx.io.specfile) with every value checked; configuration as INI and TOML.
"""
from __future__ import annotations

import numpy as np
import pytest

from epics import caget, caput
from epics.stepscan import ScanError, SpecScan, SpecWriter

from stepscan_helpers import start_beamline, stop_beamline

from silx.io import specfile  # in the test extra: a missing reader must fail, not skip

MRES = 0.001


@pytest.fixture(scope='module')
def beamline(epics_port_pool):
    beamline = start_beamline(epics_port_pool, extra=False)
    try:
        yield beamline
    finally:
        stop_beamline(epics_port_pool, beamline)


def make_scan(beamline, filename) -> SpecScan:
    scan = SpecScan(filename=str(filename))
    scan.add_motors(x=beamline.m1, y=beamline.m2, z=beamline.m3)
    scan.add_detector(beamline.scaler, kind='scaler', nchan=4)
    scan.add_counter(f'{beamline.m1}.RBV', label='x readback')
    scan.progress = False
    return scan


def read_back(filename):
    """Every scan of the file as silx sees it."""
    sf = specfile.SpecFile(str(filename))
    try:
        return [dict(number=s.number, command=s.scan_header_dict['S'], labels=list(s.labels),
                     data=np.array(s.data), motor_names=list(s.motor_names),
                     motor_positions=list(s.motor_positions), header=list(s.header))
                for s in sf]
    finally:
        sf.close()


def check_scan(scan, result, number, command):
    """The scan silx read has the number, command, labels and every value of ``result``."""
    assert scan['number'] == number
    assert scan['command'] == f'{number}  {command}'
    assert scan['labels'] == result.labels
    assert scan['data'].shape == (len(result.labels), result.points_taken)
    for column, label in zip(scan['data'], result.labels):
        assert list(column) == [float(v) for v in result.data[label]], label


def test_ascan_and_a2scan_append_to_one_spec_file(beamline, tmp_path):
    filename = tmp_path / 'scans.spec'
    scan = make_scan(beamline, filename)
    caput(f'{beamline.m3}.VAL', 0.25, wait=True)
    first = scan.ascan('x', 0.0, 0.2, 3, 0.05)
    second = scan.a2scan('x', 0.2, 0.1, 'y', 0.0, 0.3, 4, 0.02)
    assert first.scan_number == 1 and second.scan_number == 2

    scans = read_back(filename)
    assert len(scans) == 2
    check_scan(scans[0], first, 1, 'ascan x 0 0.2 3 0.05')
    check_scan(scans[1], second, 2, 'a2scan x 0.2 0.1 y 0 0.3 4 0.02')
    assert scans[0]['labels'] == ['x', 'clock', 'I0', 'I1', 'It', 'x readback']
    assert scans[1]['labels'][:2] == ['x', 'y']
    np.testing.assert_allclose(scans[1]['data'][0], np.linspace(0.2, 0.1, 4))
    np.testing.assert_allclose(scans[1]['data'][1], np.linspace(0.0, 0.3, 4))
    # #O / #P: every motor, with its position at the start of each scan
    assert scans[0]['motor_names'] == ['x', 'y', 'z']
    assert scans[0]['motor_positions'][2] == pytest.approx(0.25)
    assert scans[1]['motor_positions'][0] == pytest.approx(0.2, abs=MRES)   # where ascan ended
    assert any(line.startswith('#T 0.05') for line in scans[0]['header'])

    # another writer (another program, later) continues the numbering
    again = make_scan(beamline, filename).a3scan('x', 0, 0.1, 'y', 0, 0.1, 'z', 0, 0.1, 2, 0.02)
    assert again.scan_number == 3
    check_scan(read_back(filename)[2], again, 3, 'a3scan x 0 0.1 y 0 0.1 z 0 0.1 2 0.02')


def test_relative_scans_return_the_motors(beamline, tmp_path):
    scan = make_scan(beamline, tmp_path / 'relative.spec')
    caput(f'{beamline.m1}.VAL', 0.5, wait=True)
    caput(f'{beamline.m2}.VAL', -0.2, wait=True)
    caput(f'{beamline.m3}.VAL', 0.1, wait=True)
    result = scan.dscan('x', -0.1, 0.1, 3, 0.02)
    np.testing.assert_allclose(result.data['x'], [0.4, 0.5, 0.6])
    assert caget(f'{beamline.m1}.RBV', use_monitor=False) == pytest.approx(0.5, abs=MRES)
    result = scan.lup('y', 0.0, 0.2, 2, 0.02)
    np.testing.assert_allclose(result.data['y'], [-0.2, 0.0], atol=1e-12)
    assert caget(f'{beamline.m2}.RBV', use_monitor=False) == pytest.approx(-0.2, abs=MRES)
    result = scan.d2scan('x', 0, 0.1, 'y', 0, -0.1, 2, 0.02)
    np.testing.assert_allclose(result.data['y'], [-0.2, -0.3])
    result = scan.d3scan('x', 0, 0.1, 'y', 0, 0.1, 'z', 0, 0.1, 2, 0.02)
    np.testing.assert_allclose(result.data['z'], [0.1, 0.2])
    for motor, where in ((beamline.m1, 0.5), (beamline.m2, -0.2), (beamline.m3, 0.1)):
        assert caget(f'{motor}.RBV', use_monitor=False) == pytest.approx(where, abs=MRES)
    assert [s['command'].split()[1] for s in read_back(tmp_path / 'relative.spec')] == [
        'dscan', 'lup', 'd2scan', 'd3scan']


def test_mesh_has_the_first_motor_fast_and_a_breakpoint_per_line(beamline, tmp_path):
    scan = make_scan(beamline, tmp_path / 'mesh.spec')
    result = scan.mesh('x', 0.0, 0.1, 3, 'y', 0.0, 0.2, 2, 0.02)
    assert result.points_taken == 6
    np.testing.assert_allclose(result.data['x'], [0, 0.05, 0.1] * 2)
    np.testing.assert_allclose(result.data['y'], [0.0] * 3 + [0.2] * 3)
    assert scan.current.breakpoints == [2, 5]
    check_scan(read_back(tmp_path / 'mesh.spec')[0], result, 1, 'mesh x 0 0.1 3 y 0 0.2 2 0.02')


def test_bad_commands_name_what_is_wrong(beamline, tmp_path):
    scan = make_scan(beamline, tmp_path / 'bad.spec')
    with pytest.raises(ScanError, match="no motor named 'w'"):
        scan.ascan('w', 0, 1, 3, 0.1)
    with pytest.raises(ScanError, match='at least 1'):
        scan.ascan('x', 0, 1, 0, 0.1)
    with pytest.raises(ScanError, match="unknown kind 'camera'"):
        scan.add_detector('xx:', kind='camera')


@pytest.mark.parametrize('suffix', ['ini', 'toml'])
def test_configuration_saves_and_loads(beamline, tmp_path, suffix):
    scan = make_scan(beamline, tmp_path / 'conf.spec')
    scan.add_detector(f'{beamline.prefix}mca1', kind='mca', nrois=4)
    scan.add_extra_pvs((('Ring Current', f'{beamline.m3}.RBV'),))
    path = str(tmp_path / f'beamline.{suffix}')
    scan.save_config(path)
    loaded = SpecScan(configfile=path)
    assert loaded.motors == {'x': beamline.m1, 'y': beamline.m2, 'z': beamline.m3}
    assert loaded.detectors == [
        {'prefix': beamline.scaler, 'kind': 'scaler', 'nchan': 4},
        {'prefix': f'{beamline.prefix}mca1', 'kind': 'mca', 'nrois': 4}]
    assert loaded.counters == [('x readback', f'{beamline.m1}.RBV')]
    assert loaded.extra_pvs == [('Ring Current', f'{beamline.m3}.RBV')]
    assert loaded.filename == str(tmp_path / 'conf.spec')


def test_writer_starts_a_new_header_when_the_motors_change(tmp_path):
    """A scan with other motors than the file header's gets a new #O header first, and silx
    gives each scan the motors of its own header."""
    filename = tmp_path / 'two_headers.spec'
    with SpecWriter(str(filename), comments=['first']) as writer:
        writer.begin_scan('ascan a 0 1 2 1', {'a': 1.5, 'b': 2.5}, ['a', 'det'], 1.0)
        writer.add_row([0.0, 10])
        writer.add_row([1.0, 11])
    with SpecWriter(str(filename)) as writer:
        assert writer.header_motors == ['a', 'b']
        writer.begin_scan('ascan c 0 1 2 1', {'c': 3.5}, ['c', 'det'], 1.0)
        writer.add_row([0.5, 12])
        writer.comment('scan aborted after 1 of 2 points: by request')
    scans = read_back(filename)
    assert [s['motor_names'] for s in scans] == [['a', 'b'], ['c']]
    assert [s['motor_positions'] for s in scans] == [[1.5, 2.5], [3.5]]
    assert scans[1]['data'].tolist() == [[0.5], [12.0]]
