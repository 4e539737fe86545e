"""The areaDetector devices (AD_Camera, AD_ImagePlugin, AD_FilePlugin, AD_OverlayPlugin,
AD_PerkinElmer) against the simulated detector of epics.sim.records.areadetector, served by
caproto in its own process: acquisition with completion, ensure_value, images as 2-D and 3-D
numpy arrays, file names from the plugin's template, the PerkinElmer offset correction.

The server is stopped at the end of the module, also on failure; every wait is bounded.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from epics.device import wait_for_condition
from epics.devices import (AD_Camera, AD_FilePlugin, AD_ImagePlugin, AD_OverlayPlugin,
                           AD_PerkinElmer)
from epics.testing import SubprocessIoc, unique_prefix

#: Seconds an acquisition of the suite may take.
RUN_TIMEOUT = 30.0


def last_file_is(saver, expected):
    """Wait (bounded) for the file-name monitor to catch up, then read it as scripts do: the
    update can reach the PV's cache a moment after the put's completion reached the caller."""
    name = saver.PV(saver._file_attr("FullFileName_RBV"))
    wait_for_condition([name], lambda: name.get(as_string=True) == expected, RUN_TIMEOUT)
    return saver.getLastFileName() == expected


@pytest.fixture(scope="module")
def det(epics_port_pool):
    """A simulated detector under a random prefix; yields the prefix (``...:``)."""
    prefix = unique_prefix("ad")
    port = epics_port_pool.take()
    server = SubprocessIoc(
        [sys.executable, "-m", "epics.sim.records.server", "--port", "{port}",
         "--areadetectors", prefix],
        port=port, repeater_port=epics_port_pool.repeater_port, name="sim-areadetector")
    try:
        with server:
            yield prefix
    finally:
        epics_port_pool.release(port)


@pytest.fixture
def cam(det):
    camera = AD_Camera(det + "cam1:")
    for attr, value in (("ImageMode", 0), ("ColorMode", 0), ("NumImages", 1), ("BinX", 1),
                        ("BinY", 1), ("SizeX", 64), ("SizeY", 48), ("AcquireTime", 0.01)):
        assert camera.put(attr, value, wait=True) == 1
    return camera


def test_acquire_with_completion_returns_after_the_frames(cam):
    cam.ensure_value("ImageMode", "Multiple", wait=True)
    cam.NumImages = 4
    before = cam.PV("ArrayCounter_RBV").get(use_monitor=False)
    assert cam.put("Acquire", 1, wait=True, timeout=RUN_TIMEOUT) == 1
    assert cam.PV("ArrayCounter_RBV").get(use_monitor=False) == before + 4
    assert cam.PV("NumImagesCounter_RBV").get(use_monitor=False) == 4
    assert cam.PV("DetectorState_RBV").get(use_monitor=False, as_string=True) == "Idle"
    assert cam.PV("Acquire").get(use_monitor=False) == 0


def test_ensure_value_writes_only_what_differs(cam):
    assert cam.ensure_value("ImageMode", "Single", wait=True) is None     # already Single
    assert cam.ensure_value("ImageMode", 0, wait=True) is None            # the same, by index
    assert cam.ensure_value("AcquireTime", 0.01) is None                  # a number
    assert cam.ensure_value("ImageMode", "Continuous", wait=True) == 1
    assert cam.PV("ImageMode_RBV").get(use_monitor=False, as_string=True) == "Continuous"
    assert cam.ensure_value("SizeX", 32, wait=True) == 1
    assert cam.PV("SizeX_RBV").get(use_monitor=False) == 32
    # TriggerSoftware has no read-back: always written
    assert cam.ensure_value("TriggerSoftware", 0, wait=True) == 1


def test_mono_image_is_a_2d_array(cam, det):
    image = AD_ImagePlugin(det + "image1:")
    cam.put("SizeX", 40, wait=True)
    cam.put("BinY", 2, wait=True)
    assert cam.put("Acquire", 1, wait=True, timeout=RUN_TIMEOUT) == 1
    frame = image.get_image()
    counter = image.PV("UniqueId_RBV").get(use_monitor=False)
    assert frame.shape == (24, 40)                  # (SizeY / BinY, SizeX)
    y, x = np.mgrid[0:24, 0:40]
    assert np.array_equal(frame, (x + 2 * y + counter) % 4096)
    assert image.dimensions() == [40, 24]


def test_rgb_image_is_a_3d_array(cam, det):
    image = AD_ImagePlugin(det + "image1:")
    cam.ensure_value("ColorMode", "RGB1", wait=True)
    assert cam.put("Acquire", 1, wait=True, timeout=RUN_TIMEOUT) == 1
    frame = image.get_image()
    assert frame.shape == (48, 64, 3)
    assert image.PV("ColorMode_RBV").get(use_monitor=False, as_string=True) == "RGB1"
    counter = image.PV("UniqueId_RBV").get(use_monitor=False)
    assert frame[5, 7, 2] == (7 + 10 + counter) % 4096 + 2000


def test_file_plugin_names_files_from_its_template(cam, det):
    saver = AD_FilePlugin(det + "netCDF1:")
    for call in (lambda: saver.setPath("/data/run1/"), lambda: saver.setFileName("sample"),
                 lambda: saver.setTemplate("%s%s_%4.4d.nc"), lambda: saver.setFileNumber(7),
                 lambda: saver.setWriteMode(0)):
        call()
    assert saver.put("WriteFile", 1, wait=True) == 1
    assert last_file_is(saver, "/data/run1/sample_0007.nc")
    saver.setFileNumber(None)                        # AutoIncrement: count on from 7
    saver.put("EnableCallbacks", 1, wait=True)
    saver.setNumCapture(2)
    saver.put("Capture", 1, wait=True)
    cam.ensure_value("ImageMode", "Multiple", wait=True)
    cam.put("NumImages", 3, wait=True)
    assert cam.put("Acquire", 1, wait=True, timeout=RUN_TIMEOUT) == 1
    # the capture of 2 frames ended with a file, _0007, and the number moved on
    assert saver.PV("Capture_RBV").get(use_monitor=False) == 0
    assert saver.PV("NumCaptured_RBV").get(use_monitor=False) == 2
    assert last_file_is(saver, "/data/run1/sample_0007.nc")
    assert saver.put("WriteFile", 1, wait=True) == 1
    assert last_file_is(saver, "/data/run1/sample_0008.nc")
    assert saver.PV("FileNumber_RBV").get(use_monitor=False) == 9
    assert saver.getFileNameByIndex(12) == "/data/run1/sample_0012.nc"
    assert saver.WriteComplete()


def test_overlay_settings_read_back(det):
    box = AD_OverlayPlugin(det + "Over1:1:")
    box.ensure_value("Shape", "Rectangle", wait=True)
    box.put("PositionX", 10, wait=True)
    box.put("Name", "beam", wait=True)
    assert box.PV("Shape_RBV").get(use_monitor=False, as_string=True) == "Rectangle"
    assert box.PV("PositionX_RBV").get(use_monitor=False) == 10
    assert box.PV("Name_RBV").get(use_monitor=False) == "beam"


def test_perkinelmer_offset_correction_and_streaming(cam, det):
    xrd = AD_PerkinElmer(det)
    cam.put("ImageMode", 2, wait=True)
    cam.put("TriggerMode", 1, wait=True)
    xrd.SetExposureTime(0.02, open_shutter=True)      # 3 offset frames: about 60 ms
    assert cam.PV("AcquireTime_RBV").get(use_monitor=False) == pytest.approx(0.02)
    assert xrd.PV("PEAcquireOffset").get(use_monitor=False) == 0
    # the modes are back as they were, the shutter open and in manual mode
    assert cam.PV("ImageMode").get(use_monitor=False) == 2
    assert cam.PV("TriggerMode").get(use_monitor=False) == 1
    assert xrd.PV("ShutterControl").get(use_monitor=False) == 1
    assert xrd.PV("ShutterMode").get(use_monitor=False) == 0
    xrd.SetMultiFrames(2, trigger="internal")
    xrd.setFileTemplate("%s%s_%3.3d.nc")
    xrd.setFilePath("/tmp/")
    xrd.setFileName("xrd")
    xrd.StartStreaming()
    assert xrd.FinishStreaming(timeout=RUN_TIMEOUT) is True
    assert last_file_is(xrd, "/tmp/xrd_001.nc")
    assert xrd.getFilePath() == "/tmp/"
