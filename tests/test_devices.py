"""epics.devices: ai, ao, bi, bo and DXP against a real IOC (tests/devices.db); Scaler, MCA and
its ROIs, Struck and Transform against the simulated synApps records (epics.sim.records); both
spellings of the scaler methods, and the slides' ai and Scaler examples.

Every wait is bounded (put(wait=True) with a timeout, wait_for_condition with a deadline); both
servers are stopped at the end of the module, also on failure.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from epics.device import wait_for_condition
from epics.devices import (DXP, MCA, ROI, Mca, Scaler, Struck, Transform, ai, ao, bi,
                           bo)
from epics.testing import SubprocessIoc, unique_prefix
from devices_helpers import devices_ioc
from test_ca_helpers import DEADLINE

#: Seconds a count or an acquisition of the suite may take.
RUN_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def dioc(epics_port_pool):
    """tests/devices.db served under a random prefix for this module; yields the prefix."""
    with devices_ioc(epics_port_pool, "dvs") as prefix:
        yield prefix


@pytest.fixture(scope="module")
def sim(epics_port_pool):
    """Simulated scaler1, mca1, mca2, tr1 and SIS1: under a random prefix; yields the prefix."""
    prefix = unique_prefix("syn")
    port = epics_port_pool.take()
    server = SubprocessIoc(
        [sys.executable, "-m", "epics.sim.records.server", "--port", "{port}",
         "--scalers", f"{prefix}scaler1", "--mcas", f"{prefix}mca1,{prefix}mca2",
         "--transforms", f"{prefix}tr1", "--struck", f"{prefix}SIS1:"],
        port=port, repeater_port=epics_port_pool.repeater_port, name="sim-records")
    try:
        with server:
            yield prefix
    finally:
        epics_port_pool.release(port)


def fresh(device, attr):
    """An attribute's value as the server has it now."""
    return device.PV(attr).get(use_monitor=False)


def settles(device, attr, expected, timeout=DEADLINE):
    """Wait until the server's value of ``attr`` equals ``expected``."""
    def holds():
        value = fresh(device, attr)
        if isinstance(expected, float):
            return value is not None and value == pytest.approx(expected)
        return value == expected
    return wait_for_condition([device.PV(attr)], holds, timeout)


# ---- ai, ao, bi, bo, DXP -------------------------------------------------------------------------

def test_slides_ai_example(dioc, capsys):
    from epics.devices import ai     # as on the slides
    Pump1 = ai(f'{dioc}ip2:PRES')
    print("%s = %s %s" % (Pump1.DESC,
                          Pump1.get('VAL', as_string=True),
                          Pump1.EGU))
    print(Pump1.get('DTYP', as_string=True))
    print(Pump1.PV('VAL'))  # Get underlying PV
    out = capsys.readouterr().out.splitlines()
    assert out == ["Ion pump 1 Pressure = 4.1e-07 Torr", "Soft Channel",
                   f"<PV '{dioc}ip2:PRES.VAL', count=1, type=double, access=read/write>"]


def test_slides_ai_class_definition(dioc):
    import epics

    class ai(epics.Device):
        "Simple analog input device"
        _fields = ('VAL', 'EGU', 'HOPR', 'LOPR', 'PREC',
                   'NAME', 'DESC', 'DTYP', 'INP', 'LINR', 'RVAL',
                   'ROFF', 'EGUF', 'EGUL', 'AOFF', 'ASLO', 'ESLO',
                   'EOFF', 'SMOO', 'HIHI', 'LOLO', 'HIGH', 'LOW',
                   'HHSV', 'LLSV', 'HSV', 'LSV', 'HYST')

        def __init__(self, prefix, delim='.'):
            # the slides write (self, prefix, delim=delim, self._fields): a SyntaxError
            epics.Device.__init__(self, prefix, self._fields, delim=delim)

    pump = ai(f"{dioc}ip2:PRES")
    assert pump.DESC == "Ion pump 1 Pressure"
    assert pump.HIHI == pytest.approx(1e-5)


def test_ai_fields(dioc):
    pump = ai(f"{dioc}ip2:PRES.")
    assert pump.VAL == pytest.approx(4.1e-07)
    assert pump.PREC == 2 and pump.HOPR == pytest.approx(1e-3)
    assert pump.get("HHSV", as_string=True) == "MAJOR"
    assert pump.NAME == f"{dioc}ip2:PRES"
    assert set(ai.attrs) <= set(dir(pump))
    with pytest.raises(AttributeError, match="ZNAM"):
        pump.ZNAM


def test_ao_fields_and_put(dioc):
    out = ao(f"{dioc}ao1")
    assert out.VAL == pytest.approx(1.25)
    assert (out.DRVH, out.DRVL) == (5.0, -5.0)
    assert out.get("VAL", as_string=True) == "1.250"
    assert out.put("VAL", 2.5, wait=True) == 1
    assert fresh(out, "VAL") == pytest.approx(2.5)
    out.put("VAL", 99.0, wait=True)               # clipped to DRVH by the record
    assert fresh(out, "VAL") == pytest.approx(5.0)
    out.VAL = 1.25
    assert settles(out, "VAL", 1.25)


def test_bo_and_bi(dioc):
    shutter, status = bo(f"{dioc}bo1"), bi(f"{dioc}bi1")
    assert (shutter.ZNAM, shutter.ONAM) == ("Closed", "Open")
    assert status.get("VAL", as_string=True) == "Shut"
    assert shutter.put("VAL", "Open", wait=True) == 1
    assert settles(status, "VAL", 1)
    assert status.PV("VAL").get(use_monitor=False, as_string=True) == "Open"
    shutter.VAL = 0
    assert settles(status, "VAL", 0)
    assert status.INP.startswith(f"{dioc}bo1")


def test_bi_and_bo_leave_out_fields_the_records_lack(dioc):
    for device in (bi(f"{dioc}bi1"), bo(f"{dioc}bo1")):
        for name in ("EGU", "HOPR", "LOPR", "PREC"):
            with pytest.raises(AttributeError):
                getattr(device, name)


def test_dxp(dioc):
    element = DXP(dioc, mca=1)
    assert element.PreampGain == pytest.approx(2.5)
    assert element.PV("PeakingTime").pvname == f"{dioc}dxp1:PeakingTime"
    assert element.PeakingTime == pytest.approx(0.25)
    with pytest.raises(AttributeError):
        element.Nonsense


# ---- Scaler --------------------------------------------------------------------------------------

@pytest.fixture
def scaler(sim):
    """The simulated scaler, one-shot, calcs enabled and back to their defaults afterwards."""
    s1 = Scaler(f"{sim}scaler1")
    s1.put("CONT", 0, wait=True)
    yield s1
    s1.put("CNT", 0, wait=True)
    s1.put("CONT", 0, wait=True)
    s1.put("calc_enable", 1, wait=True)
    s1.put("TP", 1.0, wait=True)
    for i in range(1, 9):
        s1.put("expr%i" % i, "ABCDEFGH"[i - 1], wait=True)


def test_slides_scaler_example(scaler, sim, capsys):
    s1 = Scaler(f'{sim}scaler1')
    s1.setCalc(2, '(B-2000*A/10000000.0)')
    s1.enableCalcs()
    s1.OneShotMode()
    s1.Count(t=5.0)
    print('Names:      ', s1.getNames())
    print('Raw values: ', s1.Read(use_calcs=False))
    print('Calc values: ', s1.Read(use_calcs=True))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Names:") and "'clock', 'I0'" in lines[0]
    assert lines[1].startswith("Raw values:") and lines[2].startswith("Calc values:")
    assert settles(s1, "expr2", "(B-2000*A/10000000.0)")
    assert fresh(s1, "TP") == pytest.approx(5.0)
    s1.put("CNT", 0, wait=True)                     # abort the 5 s count


def test_count_with_wait_ends_with_cnt_0_and_fresh_counts(scaler):
    assert scaler.Count(ctime=0.5, wait=True) is True
    assert scaler.CNT == 0
    assert scaler.T == pytest.approx(0.5)
    counts = scaler.Read()
    assert len(counts) == 8
    assert counts[0] == pytest.approx(0.5 * 1e7)    # channel 1 counts the 10 MHz clock
    assert all(count > 0 for count in counts[1:])
    assert counts == [fresh(scaler, "S%i" % i) for i in range(1, 9)]


def test_count_spellings(scaler):
    assert scaler.Count(t=0.2, wait=True)
    assert scaler.S1 == pytest.approx(0.2 * 1e7)
    assert scaler.Count(0.3, True)
    assert scaler.S1 == pytest.approx(0.3 * 1e7)
    assert scaler.Count(wait=True)                   # the current TP
    assert scaler.S1 == pytest.approx(0.3 * 1e7)


def test_count_without_wait(scaler):
    started = []
    scaler.PV("CNT").add_callback(lambda value=None, **kws: started.append(value))
    assert scaler.Count(ctime=0.3) is True
    assert wait_for_condition([scaler.PV("CNT")], lambda: 1 in started and
                              fresh(scaler, "CNT") == 0, RUN_TIMEOUT)
    assert fresh(scaler, "S1") == pytest.approx(0.3 * 1e7)


def test_count_timeout_is_reported(scaler):
    assert scaler.Count(ctime=30.0, wait=True, timeout=0.2) is False


def test_count_time_and_modes(scaler):
    scaler.CountTime(1.5)
    assert settles(scaler, "TP", 1.5)
    scaler.AutoCountMode()
    assert settles(scaler, "CONT", 1)
    scaler.OneShotMode()
    assert settles(scaler, "CONT", 0)


def test_enable_calcs_both_spellings(scaler):
    for enable in (scaler.EnableCalcs, scaler.enableCalcs):
        scaler.put("calc_enable", 0, wait=True)
        enable()
        assert settles(scaler, "calc_enable", 1)


def test_set_calc_and_read_calcs(scaler):
    scaler.setCalc(2, "B-2000*A/10000000.0")
    scaler.setCalc(3, "C*2")
    assert settles(scaler, "expr3", "C*2")
    scaler.EnableCalcs()
    assert scaler.Count(ctime=0.4, wait=True)
    raw = scaler.Read(use_calc=False)
    calcs = scaler.Read(use_calc=True)
    assert calcs[0] == pytest.approx(raw[0])               # calc1 is A
    assert calcs[1] == pytest.approx(raw[1] - 2000 * raw[0] / 1e7)
    assert calcs[2] == pytest.approx(2 * raw[2])
    assert scaler.Read(use_calcs=True) == calcs and scaler.Read(use_calcs=False) == raw


def test_get_names(scaler):
    assert scaler.getNames() == ["clock", "I0", "I1", "It", "If", "Ic", "Id", "Ie"]
    assert Scaler(scaler._record, nchan=3).getNames() == ["clock", "I0", "I1"]


def test_scaler_attributes(scaler):
    assert scaler.FREQ == pytest.approx(1e7)
    assert scaler.NM2 == "I0"
    with pytest.raises(AttributeError):
        scaler.TYPO
    with pytest.raises(AttributeError):
        scaler.TYPO = 1                       # immutable: no PV is made for it


# ---- MCA and ROIs --------------------------------------------------------------------------------

@pytest.fixture
def mca(sim):
    """mca1 with no ROIs, before and after."""
    device = MCA(sim, mca=1)
    device.clear_rois()
    yield device
    device.clear_rois()


def test_mca_names_and_calibration(sim, mca):
    assert mca.PV("CALS").pvname == f"{sim}mca1.CALS"
    assert MCA(f"{sim}mca1").PV("CALO").pvname == f"{sim}mca1.CALO"
    assert Mca is MCA
    assert mca.get_calib() == pytest.approx([0.0, 0.01, 0.0])
    energy = mca.get_energy()
    assert len(energy) == mca.NUSE == 2048
    assert energy[100] == pytest.approx(1.0)


def test_add_get_and_delete_rois(mca):
    assert mca.get_rois() == []
    mca.add_roi("Fe Ka", lo=620, hi=660)
    mca.add_roi("Ar", lo=280, hi=310)
    mca.add_roi("ignored", lo=-1, hi=10)
    rois = mca.get_rois()
    assert [(roi.name, roi.left, roi.right) for roi in rois] == [("Ar", 280, 310),
                                                                ("Fe Ka", 620, 660)]
    assert (rois[0].NM, rois[0].LO, rois[0].HI) == ("Ar", 280, 310)
    assert rois[1].center == 640 and rois[1].width == 40
    assert rois[0] < rois[1] and sorted(reversed(rois)) == rois
    assert repr(rois[0]) == f"<ROI '{mca._record}.R0', name='Ar', range=[280:310]>"
    mca.del_roi(" fe KA ")
    assert [roi.name for roi in mca.get_rois()] == ["Ar"]
    assert fresh(ROI(mca._record, roi=1), "LO") == -1


def test_clear_rois_and_roi_clear(mca):
    mca.add_roi("a", lo=10, hi=20)
    mca.add_roi("b", lo=30, hi=40)
    roi = mca.get_rois()[1]
    roi.clear()
    assert (fresh(roi, "NM"), fresh(roi, "LO"), fresh(roi, "HI")) == ("", -1, -1)
    mca.clear_rois()
    assert mca.get_rois() == [] and mca.rois == []


def test_set_rois_copies_by_calibration(sim, mca):
    other = MCA(sim, mca=2)
    other.clear_rois()
    try:
        other.put("CALS", 0.02, wait=True)
        mca.add_roi("Fe Ka", lo=620, hi=660)
        mca.add_roi("Cu Ka", lo=780, hi=830)
        other.set_rois(mca.get_rois(), calib=mca.get_calib())
        assert [(r.name, r.left, r.right) for r in other.get_rois()] == [
            ("Fe Ka", 310, 330), ("Cu Ka", 390, 415)]
        other.add_roi("Zn", lo=860, hi=880, calib=mca.get_calib())
        assert [r.name for r in other.get_rois()] == ["Fe Ka", "Cu Ka", "Zn"]
    finally:
        other.clear_rois()
        other.put("CALS", 0.01, wait=True)


def test_roi_counts_after_an_acquisition(sim, mca):
    mca.add_roi("Fe Ka", lo=620, hi=660)
    mca.put("PRTM", 0.5, wait=True)
    assert mca.put("ERST", 1, wait=True, timeout=RUN_TIMEOUT) == 1   # completes at the end
    roi = mca.get_rois()[0]
    total, net = fresh(mca, "R0"), fresh(mca, "R0N")
    # the ROI reads its monitored sums: wait for the last updates of the acquisition
    assert wait_for_condition([roi._dat_, roi._net_],
                              lambda: roi.total == total and roi.net == net, DEADLINE)
    assert roi.sum == roi.total
    spectrum = mca.PV("VAL").get(use_monitor=False)
    assert roi.total == pytest.approx(spectrum[620:661].sum())
    assert roi.get_counts(data=spectrum) == spectrum[620:661].sum()
    background = np.concatenate((spectrum[617:620], spectrum[661:664])).mean()
    assert roi.get_counts(data=spectrum, net=True) == pytest.approx(
        spectrum[620:661].sum() - background * 40)
    on_spectrum = MCA(sim, mca=1, data_pv=f"{sim}mca1.VAL").get_rois()[0]
    assert on_spectrum.total == pytest.approx(spectrum[620:661].sum())
    assert on_spectrum.net == pytest.approx(roi.get_counts(data=spectrum, net=True))


def test_too_many_rois(mca):
    mca.set_rois([])
    table = [(f"r{i}", 10 * i, 10 * i + 5) for i in range(32)]
    for name, lo, hi in table:
        roi = ROI(mca._record, roi=int(name[1:]))
        roi.put("NM", name, wait=True)
        roi.put("LO", lo, wait=True)
        roi.put("HI", hi, wait=True)
    assert len(mca.get_rois()) == 32
    with pytest.raises(ValueError, match="too many ROIs"):
        mca.add_roi("one more", lo=400, hi=410)


# ---- Struck --------------------------------------------------------------------------------------

@pytest.fixture
def struck(sim):
    sis = Struck(f"{sim}SIS1", scaler=f"{sim}scaler1")
    yield sis
    sis.stop()
    assert settles(sis, "Acquiring", 0, RUN_TIMEOUT)
    for attr, value in (("ChannelAdvance", 0), ("Prescale", 1), ("PresetReal", 0.0),
                        ("Dwell", 0.1), ("NuseAll", 2048), ("CountOnStart", 0),
                        ("InitialChannelAdvance", 0)):
        sis.put(attr, value, wait=True)
    sis.scaler.OneShotMode()


def test_struck_layout(sim, struck):
    assert struck.PV("Dwell").pvname == f"{sim}SIS1:Dwell"
    assert len(struck.mcas) == 8 and struck.mcas[1]._record == f"{sim}SIS1:mca2"
    assert struck.Model == "SIS3820"
    assert struck.scaler._record == f"{sim}scaler1"
    with pytest.raises(AttributeError):
        struck.NoSuchThing = 1


def test_struck_modes(struck):
    struck.ExternalMode(countonstart=1, initialadvance=1, realtime=2.0, prescale=3)
    for attr, value in (("ChannelAdvance", 1), ("CountOnStart", 1),
                        ("InitialChannelAdvance", 1), ("Prescale", 3)):
        assert settles(struck, attr, value)
    assert settles(struck, "PresetReal", 2.0)
    assert settles(struck.scaler, "CONT", 0)
    struck.InternalMode(prescale=1)
    assert settles(struck, "ChannelAdvance", 0) and settles(struck, "Prescale", 1)
    struck.setPresetReal(1.5)
    struck.setDwell(0.05)
    assert settles(struck, "PresetReal", 1.5) and settles(struck, "Dwell", 0.05)
    struck.AutoCountMode()
    assert settles(struck.scaler, "CONT", 1)


def test_struck_acquires_reads_and_saves(struck, sim, tmp_path):
    struck.InternalMode()
    struck.put("NuseAll", 20, wait=True)
    struck.setDwell(0.01)
    struck.start()
    assert settles(struck, "Acquiring", 0, RUN_TIMEOUT) and fresh(struck, "CurrentChannel") == 20
    assert struck.mcaNread(1) == 20 or settles(struck, "mca1.NORD", 20)
    data = struck.readmca(nmca=1)
    assert len(data) == 20 and all(data == 500000)          # 50 MHz clock, 10 ms bins
    assert len(struck.readmca(nmca=2, count=5)) == 5
    everything = struck.read_all_mcas()
    assert len(everything) == 8 and all(len(chan) == 20 for chan in everything)
    fname = tmp_path / "struck.dat"
    assert struck.saveMCAdata(str(fname)) == (8, 20)
    lines = fname.read_text().splitlines()
    assert lines[0] == f"# Struck MCA data: {sim}SIS1:"
    assert lines[1] == "# Nchannels, Nmca = 20, 8"
    assert lines[4] == "# " + " | ".join(f"{sim}scaler1.S{i}" for i in range(1, 9))
    assert lines[5] == "# clock | I0 | I1 | It | If | Ic | Id | Ie"
    rows = [line.split() for line in lines[6:]]
    assert len(rows) == 20 and all(row[0] == "10000" for row in rows)   # microseconds
    assert struck.saveMCAdata(str(fname), mcas=[1, 2], npts=5) == (2, 5)


def test_struck_stop_and_erase(struck):
    struck.InternalMode()
    struck.setDwell(0.01)
    struck.start()
    assert settles(struck, "Acquiring", 1)
    assert wait_for_condition([struck.PV("CurrentChannel")],
                              lambda: fresh(struck, "CurrentChannel") > 0, RUN_TIMEOUT)
    struck.stop()
    assert settles(struck, "Acquiring", 0, RUN_TIMEOUT)
    assert 0 < fresh(struck, "CurrentChannel") < 2048
    struck.erase()
    assert settles(struck, "CurrentChannel", 0)


# ---- Transform -----------------------------------------------------------------------------------

@pytest.fixture
def transform(sim):
    device = Transform(f"{sim}tr1")
    yield device
    for row in "ABCD":
        device.put("CLC" + row, "", wait=True)
        device.put("CMT" + row, "", wait=True)
        device.put("INP" + row, "", wait=True)


def test_transform_fields(transform):
    assert len(transform.attrs) == 2 + 9 * 16
    assert transform.COPT == 0 and transform.PREC == 3
    assert "CLCP" in transform._pvs and "IPV" in transform._pvs


def test_transform_calc_rows(transform):
    transform.set_calc("B", "A*2")
    assert settles(transform, "CLCB", "A*2")
    assert transform.put("A", 3.0, wait=True) == 1
    assert settles(transform, "B", 6.0)
    row = transform.get_row("B")
    assert set(row) == set(Transform.attr_fmts)
    assert row["Expression"] == "A*2" and row["Expression_Valid"] == 0
    assert transform.get_row("Z") is None and transform.get_row("AB") is None
    assert transform.set_calc("Q", "A") is None


def test_transform_comment_input_and_set_row(transform):
    transform.set_comment("C", "a constant")
    transform.set_input("C", "1.5")
    assert settles(transform, "CMTC", "a constant")
    assert settles(transform, "C", 1.5)            # a constant input link sets the value
    transform.set_row("D", {"Comment": "from set_row", "Expression": "C+1",
                            "Expression_Valid": 1, "Unknown": 5})
    assert settles(transform, "CMTD", "from set_row")
    assert settles(transform, "CLCD", "C+1")
    assert fresh(transform, "CDV") == 0            # read-only: skipped
