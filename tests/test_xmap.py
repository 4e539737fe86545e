"""epics.devices.mca.MultiXMAP against real servers: a softioc holding the xMAP driver, DXP and
file plugin PVs (records made below), and the simulated mca records of epics.sim.records (one
per element), both under one prefix: start/stop, pixels, spectra, the ROI file of every element
written and read back, the modes, the file plugin.

Both servers are stopped at the end of the module, also on failure.
"""
from __future__ import annotations

import sys

import pytest

from epics import caget, caput
from epics.devices.mca import DXP, MultiXMAP
from epics.testing import SubprocessIoc
from devices_helpers import db_record, module_ioc

NMCA = 2


def xmap_db() -> str:
    records = [db_record("ao", name, PREC=3) for name in ("PresetReal", "Dwell")]
    records += [db_record("longout", name) for name in
                ("Acquiring", "EraseStart", "StopAll", "PresetMode", "NextPixel", "PixelsPerRun",
                 "Apply", "AutoApply", "CollectMode", "SyncCount")]
    records += [db_record("longout", "PixelsPerBuffer_RBV", VAL=124, PINI="YES"),
                db_record("longout", "BufferSize_RBV", VAL=1024, PINI="YES")]
    for i in range(1, NMCA + 1):
        records += [db_record("ao", f"dxp{i}:{attr}", PREC=2, VAL=i, PINI="YES")
                    for attr in DXP._attrs]
        records.append(db_record("longout", f"dxp{i}:CurrentPixel"))
    records += [db_record("stringout", f"netCDF1:{name}") for name in
                ("FilePath", "FileTemplate", "FileName", "FullFileName_RBV", "FileTemplate_RBV",
                 "FileName_RBV")]
    records += [db_record("longout", f"netCDF1:{name}") for name in
                ("FileWriteMode", "FileNumber", "Capture", "NumCapture", "WriteFile_RBV",
                 "AutoSave", "EnableCallbacks", "ArraySize0_RBV", "AutoIncrement")]
    return "".join(records)


@pytest.fixture(scope="module")
def prefix(epics_port_pool):
    with module_ioc(epics_port_pool, xmap_db(), "xmp") as prefix:
        port = epics_port_pool.take()
        mcas = ",".join(f"{prefix}mca{i}" for i in range(1, NMCA + 1))
        server = SubprocessIoc([sys.executable, "-m", "epics.sim.records.server", "--port",
                                "{port}", "--mcas", mcas],
                               port=port, repeater_port=epics_port_pool.repeater_port,
                               name="sim-xmap-mcas")
        try:
            with server:
                caput(f"{prefix}mca2.CALS", 0.02, wait=True)     # element 2: half the gain
                yield prefix
        finally:
            epics_port_pool.release(port)


@pytest.fixture
def xmap(prefix):
    return MultiXMAP(prefix, filesaver="netCDF1:", nmca=NMCA)


def test_start_stop_and_pixels(xmap, prefix):
    xmap.start()
    assert caget(f"{prefix}EraseStart", use_monitor=False) == 1
    xmap.stop()
    assert caget(f"{prefix}StopAll", use_monitor=False) == 1
    xmap.next_pixel()
    assert caget(f"{prefix}NextPixel", use_monitor=False) == 1
    caput(f"{prefix}PixelsPerRun", 5, wait=True)
    caput(f"{prefix}dxp1:CurrentPixel", 5, wait=True)
    assert xmap.finish_pixels(timeout=1) == (True, 0)
    caput(f"{prefix}dxp1:CurrentPixel", 3, wait=True)
    assert xmap.finish_pixels(timeout=0.2) == (False, 2)    # advanced by hand, logged
    assert len(xmap.readmca(2)) > 0


def test_roi_file_of_every_element(xmap, tmp_path):
    xmap.mcas[0].clear_rois()
    xmap.mcas[0].add_roi("Fe Ka", lo=600, hi=660)
    xmap.mcas[0].add_roi("Ca Ka", lo=350, hi=380)
    xmap.mcas[1].set_rois(xmap.mcas[0].get_rois(), calib=xmap.mcas[0].get_calib())
    lines = xmap.roi_calib_info()
    offset, slope = xmap.mcas[0].get_calib()[:2]
    assert lines[:3] == ["[rois]", "ROI00 = Ca Ka | 350 380 175 190",
                         "ROI01 = Fe Ka | 600 660 300 330"]
    assert lines[lines.index("[calibration]") + 2] == "SLOPE  = %.7g 0.02 " % slope
    assert "PeakingTime = 1.00 2.00" in lines                      # DXP settings of each element
    (tmp_path / "xmap.ini").write_text("\n".join(lines) + "\n")
    for mca in xmap.mcas:
        mca.clear_rois()
    xmap.restore_rois(str(tmp_path / "xmap.ini"))
    assert [(r.NM, r.LO, r.HI) for r in xmap.mcas[1].get_rois()] == [
        ("Ca Ka", 175, 190), ("Fe Ka", 300, 330)]
    text = xmap.Write_CurrentConfig(str(tmp_path / "config.txt"))
    assert "nmcas = 2" in text and (tmp_path / "config.txt").read_text() == text


def test_modes_and_file_plugin(xmap, prefix):
    caput(f"{prefix}CollectMode", 1, wait=True)
    xmap.SpectraMode()
    assert caget(f"{prefix}CollectMode", use_monitor=False) == 0
    xmap.SCAMode()
    assert caget(f"{prefix}CollectMode", use_monitor=False) == 2
    xmap.setFileName("map")
    xmap.setFileNumber(3)
    xmap.setFileNumCapture(10)
    assert caget(f"{prefix}netCDF1:FileName", use_monitor=False) == "map"
    assert caget(f"{prefix}netCDF1:FileNumber", use_monitor=False) == 3
    assert caget(f"{prefix}netCDF1:NumCapture", use_monitor=False) == 10
    xmap.FileCaptureOn()
    assert caget(f"{prefix}netCDF1:Capture", use_monitor=False) == 1
