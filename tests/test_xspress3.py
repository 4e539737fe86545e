"""epics.devices.Xspress3 and its ADMCA spectra and ROIStat regions (epics.devices.ad_mca),
against a real IOC serving the PVs of a two-element Xspress3 (records made below): ROIs set,
sorted, added and deleted, counts from the spectrum, the ROI file written and read back, time
series, triggers, start/stop and the file plugin below the detector's file root.

The IOC is stopped at the end of the module, also on failure.
"""
from __future__ import annotations

import numpy as np
import pytest

from epics import caget, caput
from epics.devices import Xspress3
from epics.devices.ad_mca import ADMCA, TOOMANY_ROIS
from devices_helpers import db_record, module_ioc

NMCA = 2
#: ROIStat regions the IOC serves per element (a real one has 48).
NROIS = 6
CHANNELS = 1024


def xspress3_db() -> str:
    """The records of a 2-element Xspress3: driver, spectra, ROIs, SCAs, HDF5 file plugin."""
    records = [db_record("longout", f"det1:{name}") for name in
               ("NumImages", "NumImages_RBV", "ArrayCounter_RBV", "ERASE", "UPDATE")]
    records += [db_record("bo", f"det1:{name}", ZNAM="Done", ONAM="Acquire")
                for name in ("Acquire", "Acquire_RBV")]
    records += [db_record("ao", "det1:AcquireTime", PREC=3),
                db_record("mbbo", "det1:TriggerMode", ZRST="1", ONST="Internal", TWST="IDC",
                        THST="TTL Veto Only"),
                db_record("stringout", "det1:StatusMessage_RBV"),
                db_record("mbbo", "det1:DetectorState_RBV", ZRST="Idle", ONST="Acquire")]
    for i in range(1, NMCA + 1):
        records.append(db_record("waveform", f"MCA{i}:ArrayData", FTVL="DOUBLE", NELM=CHANNELS))
        for attr in ("TSNumPoints", "TSControl"):
            records += [db_record("longout", f"MCA{i}ROI:{attr}"),
                        db_record("longout", f"C{i}SCA:{attr}")]
        for j in range(1, 9):
            records.append(db_record("ai", f"C{i}SCA{j}:Value_RBV", VAL=100 * i + j, PINI="YES"))
        for n in range(1, NROIS + 1):
            records.append(db_record("stringout", f"MCA{i}ROI:{n}:Name"))
            records += [db_record("longout", f"MCA{i}ROI:{n}:{attr}") for attr in
                        ("MinX", "SizeX", "BgdWidth", "Use", "MinX_RBV", "SizeX_RBV")]
            records += [db_record("ai", f"MCA{i}ROI:{n}:{attr}") for attr in
                        ("Total_RBV", "Net_RBV")]
    for name in ("FilePath", "FileTemplate", "FileName", "FullFileName_RBV"):
        records.append(db_record("stringout", f"HDF1:{name}"))
    records += [db_record("longout", f"HDF1:{name}") for name in
                ("FileNumber", "Capture", "NumCapture", "AutoIncrement")]
    return "".join(records)


@pytest.fixture(scope="module")
def prefix(epics_port_pool):
    with module_ioc(epics_port_pool, xspress3_db(), "xsp") as prefix:
        yield prefix


@pytest.fixture
def x3(prefix):
    detector = Xspress3(prefix, nmca=NMCA, filesaver="HDF1:", fileroot="/data/")
    for mca in detector.mcas:
        mca.clear_rois()
    return detector


def names(mca):
    return [(roi.Name, roi.MinX, roi.right) for roi in mca.get_rois()]


def test_rois_are_kept_sorted_and_contiguous(x3):
    mca = x3.mcas[0]
    mca.set_rois([("Fe Ka", 600, 660), ("Ca Ka", 350, 380), ("", 10, 20), ("bad", 50, 40)])
    assert names(mca) == [("Ca Ka", 350, 380), ("Fe Ka", 600, 660)]
    mca.add_roi("Zn Ka", 800, wid=40)
    mca.add_roi("Ti Ka", 450, hi=470)
    assert [name for name, _, _ in names(mca)] == ["Ca Ka", "Ti Ka", "Fe Ka", "Zn Ka"]
    mca.del_roi(" ca ka")
    assert names(mca) == [("Ti Ka", 450, 470), ("Fe Ka", 600, 660), ("Zn Ka", 800, 840)]
    assert x3.mcas[1].get_rois() == []                  # the other element is untouched
    with pytest.raises(ValueError, match=TOOMANY_ROIS):
        mca.set_rois([(f"r{i}", i * 10, i * 10 + 5) for i in range(1, 50)])


def test_counts_come_from_the_spectrum(x3, prefix):
    spectrum = np.zeros(CHANNELS)
    spectrum[100:111] = 5.0
    spectrum[95:100] = spectrum[111:116] = 1.0            # background around the peak
    caput(f"{prefix}MCA1:ArrayData", spectrum, wait=True)
    x3.mcas[0].set_rois([("peak", 100, 110)])
    roi = x3.mcas[0].get_rois()[0]
    roi.bgr_width = 3
    assert roi.get_counts() == pytest.approx(55.0)
    assert roi.get_counts(net=True) == pytest.approx(55.0 - 1.0 * 10)
    assert len(x3.mcas[0].get_energy()) == CHANNELS
    assert x3.mcas[0].get_energy()[100] == pytest.approx(1.0)        # 0.01 per channel


def test_roi_file_round_trip(x3, tmp_path):
    x3.mcas[0].set_rois([("Ca Ka", 350, 380), ("Fe Ka", 600, 660)])
    lines = x3.roi_calib_info()
    assert lines[:3] == ["[rois]", "ROI00 = Ca Ka | 350 380 350 380",
                         "ROI01 = Fe Ka | 600 660 600 660"]
    assert lines[3] == "[calibration]" and lines[-1] == "[dxp]"
    (tmp_path / "rois.ini").write_text("\n".join(lines) + "\n")
    x3.mcas[0].clear_rois()
    x3.restore_rois(str(tmp_path / "rois.ini"))
    for mca in x3.mcas:
        assert names(mca) == [("Ca Ka", 350, 380), ("Fe Ka", 600, 660)]


def test_sca_values_time_series_and_triggers(x3, prefix):
    assert x3.C2SCA3 == 203
    x3.TimeSeriesCaptureOn(npts=100)
    assert caget(f"{prefix}MCA2ROI:TSNumPoints", use_monitor=False) == 100
    assert caget(f"{prefix}C1SCA:TSControl", use_monitor=False) == 0
    x3.TimeSeriesCaptureOff()
    assert caget(f"{prefix}MCA1ROI:TSControl", use_monitor=False) == 2
    x3.useExternalTrigger()
    assert caget(f"{prefix}det1:TriggerMode", use_monitor=False) == 3
    x3.useInternalTrigger()
    assert caget(f"{prefix}det1:TriggerMode", use_monitor=False) == 1


def test_start_stop_and_files_below_the_root(x3, prefix):
    x3.setFilePath("run1/")
    x3.setFileName("scan")
    x3.setFileNumber(4)
    x3.start(capture=True)
    assert caget(f"{prefix}HDF1:Capture", use_monitor=False) == 1
    assert caget(f"{prefix}det1:Acquire", use_monitor=False) == 1
    x3.stop()
    assert caget(f"{prefix}det1:Acquire", use_monitor=False) == 0
    assert caget(f"{prefix}HDF1:Capture", use_monitor=False) == 0
    assert caget(f"{prefix}HDF1:FilePath", use_monitor=False) == "/data/run1/"
    assert caget(f"{prefix}HDF1:FileNumber", use_monitor=False) == 4
    assert caget(f"{prefix}HDF1:AutoIncrement", use_monitor=False) == 0


def test_admca_without_regions(prefix):
    mca = ADMCA(f"{prefix}det1:", data_pv=f"{prefix}MCA1:ArrayData")
    assert mca.get_rois() == [] and mca.get_calib() == (0.0, 0.01, 0.0)
    mca.start()
    assert caget(f"{prefix}det1:Acquire", use_monitor=False) == 1
    mca.stop()
