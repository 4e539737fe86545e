"""ImageView against the simulated areaDetector (epics.sim.areadetector, caproto), at 640x480 to
keep the test quick: live frames, colour modes, acquisition controls, drag-to-zoom through the
ROI plugin, frame rate; and the simulator's own PVs. Screenshot for the gallery.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from qt_helpers import WAIT_MS, run_app_unattended, screenshot
from qt_helpers import gallery  # noqa: F401  (a fixture)

from qtpy.QtGui import QImage  # noqa: E402

from epics import caget, caput  # noqa: E402
from epics.qt.imageview import ImageView  # noqa: E402
from epics.sim.areadetector import make_frames  # noqa: E402
from epics.testing import SubprocessIoc, unique_prefix  # noqa: E402

WIDTH, HEIGHT = 640, 480


@pytest.fixture(scope="module")
def detector(epics_port_pool):
    """A simulated detector; yields its prefix."""
    prefix = unique_prefix("ad")
    port = epics_port_pool.take()
    server = SubprocessIoc([sys.executable, "-m", "epics.sim.areadetector", "--port", "{port}",
                            "--prefix", prefix, "--width", str(WIDTH), "--height", str(HEIGHT)],
                           port=port, repeater_port=epics_port_pool.repeater_port,
                           name="sim-areadetector")
    try:
        with server:
            yield prefix
    finally:
        epics_port_pool.release(port)


def test_frames_are_rgb_with_a_moving_spot():
    frames = make_frames(64, 48, count=4)
    assert len(frames) == 4 and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    assert not np.array_equal(frames[0], frames[1])


def test_image_view_shows_live_frames_and_drives_the_detector(qtbot, detector, gallery):
    caput(detector + "cam1:AcquireTime", 0.05, wait=True)
    view = ImageView(detector)
    qtbot.addWidget(view)
    view.resize(1000, 560)
    view.show()
    qtbot.waitUntil(lambda: view.start.isEnabled() and view.color_mode.currentText() == "RGB1",
                    timeout=WAIT_MS)
    view.start.click()
    qtbot.waitUntil(lambda: view.image.frames_shown >= 5, timeout=WAIT_MS)
    assert view.state.text() == "Acquire"
    assert (view.image.image.width(), view.image.image.height()) == (WIDTH, HEIGHT)
    assert view.image.image.format() == QImage.Format.Format_RGB888
    qtbot.waitUntil(lambda: view.image.frame_rate > 2.0, timeout=WAIT_MS)
    qtbot.wait(1100)
    assert view.frame_rate.text().endswith("frames/s") and view.frame_rate.text() != "0.0 frames/s"
    screenshot(view, gallery, "imageview")

    view.image.region_selected.emit(100, 50, 200, 100)      # what a drag on the image does
    qtbot.waitUntil(lambda: caget(detector + "ROI1:SizeX_RBV", use_monitor=False) == 200,
                    timeout=WAIT_MS)
    assert [caget(detector + f"ROI1:{name}", use_monitor=False)
            for name in ("MinX", "MinY", "SizeY")] == [100, 50, 100]
    qtbot.waitUntil(lambda: view.image.image.width() == 200
                    and view.image.image.height() == 100, timeout=WAIT_MS)
    view.image.region_selected.emit(10, 10, 50, 40)          # zooming again: inside the ROI
    qtbot.waitUntil(lambda: caget(detector + "ROI1:MinX_RBV", use_monitor=False) == 110,
                    timeout=WAIT_MS)
    view.reset_zoom()
    qtbot.waitUntil(lambda: view.image.image.width() == WIDTH, timeout=WAIT_MS)

    view.color_mode.activated.emit(0)                         # Mono
    qtbot.waitUntil(lambda: view.image.image.format() == QImage.Format.Format_Grayscale8
                    and view.image.image.width() == WIDTH, timeout=WAIT_MS)
    view.color_mode.activated.emit(2)                         # back to RGB1
    view.gain.setText("2.5")
    assert view.gain.write()
    view.trigger_mode.activated.emit(1)                       # External: no more frames
    qtbot.waitUntil(lambda: caget(detector + "cam1:Gain_RBV", use_monitor=False) == 2.5
                    and caget(detector + "cam1:TriggerMode_RBV", use_monitor=False) == 1,
                    timeout=WAIT_MS)
    view.trigger_mode.activated.emit(0)
    view.stop.click()
    qtbot.waitUntil(lambda: view.state.text() == "Idle", timeout=WAIT_MS)


def test_image_view_runs_with_python_dash_m(detector, tmp_path):
    run_app_unattended("epics.qt.imageview", [detector], tmp_path / "imageview.png")
