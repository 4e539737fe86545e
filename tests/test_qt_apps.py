"""epics.qt applications against real servers: MotorPanel on the simulated motor record
(caproto, epics.sim.records), StripChart and pvprobe on a softioc IOC; each also runs as
``python -m`` unattended (``--quit-after``, ``--screenshot``). Screenshots for the gallery.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qt_helpers import WAIT_MS, run_app_unattended, screenshot
from qt_helpers import gallery  # noqa: F401  (a fixture)

from epics import caget, caput  # noqa: E402
from epics.qt.motor_panel import MotorPanel, tweak_choices  # noqa: E402
from epics.qt.pvprobe import PVProbe  # noqa: E402
from epics.qt.stripchart import StripChart, steps  # noqa: E402
from epics.qt.stripchart_data import StripChartData  # noqa: E402
from epics.testing import SoftIoc, SubprocessIoc, unique_prefix  # noqa: E402

QT_DB = Path(__file__).with_name("qt.db")


@pytest.fixture(scope="module")
def motor(epics_port_pool):
    """A simulated motor record; yields its name."""
    prefix = unique_prefix("qtm")
    port = epics_port_pool.take()
    server = SubprocessIoc([sys.executable, "-m", "epics.sim.records.server", "--port", "{port}",
                            "--motors", prefix + "m1"], port=port,
                           repeater_port=epics_port_pool.repeater_port, name="sim-motor")
    try:
        with server:
            yield prefix + "m1"
    finally:
        epics_port_pool.release(port)


@pytest.fixture(scope="module")
def prefix(epics_port_pool):
    pv_prefix = unique_prefix("qta")
    port = epics_port_pool.take()
    try:
        with SoftIoc(QT_DB, macros={"P": pv_prefix}, port=port,
                     repeater_port=epics_port_pool.repeater_port):
            yield pv_prefix
    finally:
        epics_port_pool.release(port)


def test_strip_chart_draws_a_staircase_up_to_now():
    x, y = steps(np.array([1.0, 2.0, 4.0]), np.array([10.0, 20.0, 30.0]), now=5.0)
    assert list(zip(x, y)) == [(1, 10), (2, 10), (2, 20), (4, 20), (4, 30), (5, 30)]


def test_tweak_choices_follow_precision_and_range():
    assert tweak_choices(2, -10, 10)[:4] == [0.01, 0.02, 0.05, 0.1]
    assert tweak_choices(2, -10, 10)[-1] == 2.0        # a tenth of the 20 mm travel at most
    assert tweak_choices(0, 0, 1000) == [1, 2, 5, 10, 20, 50, 100]


def test_motor_panel_moves_tweaks_stops_and_shows_details(qtbot, motor, gallery):
    for field, value in (("HLM", 100.0), ("LLM", -100.0), ("VELO", 50.0), ("TWV", 1.0)):
        caput(f"{motor}.{field}", value, wait=True)
    caput(motor + ".VAL", 0.0, wait=True)
    panel = MotorPanel(motor)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.setpoint.connected and panel.readback.connected
                    and panel.tweak_value.count() > 0, timeout=WAIT_MS)
    setpoint = panel.setpoint
    setpoint.setFocus()
    setpoint.setText("150")                 # outside the soft limits: highlighted, not written
    setpoint.textEdited.emit("150")
    assert setpoint.property("outside_limits") is True
    assert setpoint.write() is False
    assert setpoint.property("outside_limits") is False      # reverted
    setpoint.setText("5")
    assert setpoint.write()
    qtbot.waitUntil(lambda: caget(motor + ".DMOV", use_monitor=False) == 1
                    and abs(caget(motor + ".RBV", use_monitor=False) - 5.0) < 1e-6,
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.readback.text().startswith("5.0"), timeout=WAIT_MS)
    panel.tweak_value.setCurrentText("2")
    panel.tweak_value.activated.emit(0)
    qtbot.waitUntil(lambda: caget(motor + ".TWV", use_monitor=False) == 2.0, timeout=WAIT_MS)
    panel.tweak_forward.click()
    qtbot.waitUntil(lambda: abs(caget(motor + ".RBV", use_monitor=False) - 7.0) < 1e-6,
                    timeout=WAIT_MS)
    caput(motor + ".VELO", 2.0, wait=True)
    setpoint.setText("60")
    assert setpoint.write()
    qtbot.waitUntil(lambda: panel.moving.color.name() == "#ffd000", timeout=WAIT_MS)
    panel.stop.click()
    qtbot.waitUntil(lambda: caget(motor + ".DMOV", use_monitor=False) == 1, timeout=WAIT_MS)
    assert caget(motor + ".RBV", use_monitor=False) < 55.0
    panel.more.click()
    assert panel.details.isVisible()
    velocity = panel.details.fields["VELO"]
    qtbot.waitUntil(lambda: velocity.text().startswith("2.0"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.details.fields["DIR"].currentText() == "Pos", timeout=WAIT_MS)
    screenshot(panel, gallery, "motor_panel")


def test_strip_chart_data_records_and_writes_csv(prefix, tmp_path):
    data = StripChartData()
    try:
        name = data.add_pv(prefix + "ao")
        for value in (1.0, 2.0, 3.0):
            caput(name, value, wait=True)
        deadline = time.monotonic() + WAIT_MS / 1000
        while list(data.samples(name)[1][-1:]) != [3.0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(data.samples(name)[1][-3:]) == [1.0, 2.0, 3.0]
        rows = data.write_csv(tmp_path / "data.csv")
        with open(tmp_path / "data.csv") as stream:
            table = list(csv.DictReader(stream))
        assert len(table) == rows >= 3 and table[-1]["pvname"] == name
        assert float(table[-1]["value"]) == 3.0
        with pytest.raises(ValueError, match="empty PV name"):
            data.add_pv("  ")
    finally:
        data.close()


def test_strip_chart_plots_pvs_added_by_name_and_saves(qtbot, prefix, tmp_path, gallery):
    chart = StripChart([prefix + "ao"], time_range=4, redraw_rate=20)
    qtbot.addWidget(chart)
    chart.resize(800, 450)
    chart.show()
    chart.pv_entry.setText(prefix + "mbbo")
    chart.pv_entry.returnPressed.emit()
    assert list(chart.curves) == [prefix + "ao", prefix + "mbbo"]
    for value in (10.0, 20.0, 15.0, 30.0):
        caput(prefix + "ao", value, wait=True)
        qtbot.wait(100)
    caput(prefix + "mbbo", 2, wait=True)
    curve = chart.curves[prefix + "ao"]
    qtbot.waitUntil(lambda: curve.yData is not None and list(dict.fromkeys(curve.yData))[-4:]
                    == [10.0, 20.0, 15.0, 30.0], timeout=WAIT_MS)   # a staircase: each twice
    chart.set_paused(True)
    caput(prefix + "ao", 40.0, wait=True)
    qtbot.wait(300)
    assert curve.yData[-1] == 30.0          # paused: the plot stays, the data goes on
    chart.set_paused(False)
    qtbot.waitUntil(lambda: curve.yData[-1] == 40.0, timeout=WAIT_MS)
    chart.set_y_range(0, 50)
    assert chart.plot.getViewBox().viewRange()[1] == pytest.approx([0, 50])
    chart.set_log_scale(True)
    chart.set_y_range(1, 100)
    assert chart.plot.getViewBox().viewRange()[1] == pytest.approx([0, 2])   # decades
    chart.set_log_scale(False)
    chart.set_y_range(None, None)
    chart.save_png(tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000
    assert chart.save_csv(tmp_path / "chart.csv") >= 6
    screenshot(chart, gallery, "stripchart")


def test_pvprobe_shows_value_and_metadata(qtbot, prefix, gallery):
    probe = PVProbe()
    qtbot.addWidget(probe)
    probe.show()
    probe.name_entry.setText(prefix + "ao")
    probe.name_entry.returnPressed.emit()
    qtbot.waitUntil(lambda: probe.info.rows["units"].text() == "mm", timeout=WAIT_MS)
    assert probe.info.rows["control limits"].text() == "-90.0 .. 90.0"
    assert probe.info.rows["access"].text() == "read/write"
    assert probe.info.rows["type"].text() == "time_double"
    qtbot.waitUntil(lambda: probe.info.rows["timestamp"].text().startswith("20"),
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: probe.value.text().endswith(" mm"), timeout=WAIT_MS)
    probe.probe(prefix + "mbbo")
    qtbot.waitUntil(lambda: probe.info.rows["states"].text() == "Low, Medium, High",
                    timeout=WAIT_MS)
    screenshot(probe, gallery, "pvprobe")


@pytest.mark.parametrize("app, args", [("pvprobe", ["{p}ao"]), ("stripchart", ["{p}ao"]),
                                       ("motor_panel", ["{m}"])])
def test_apps_run_with_python_dash_m(app, args, prefix, motor, tmp_path):
    argv = [a.format(p=prefix, m=motor) for a in args]
    run_app_unattended(f"epics.qt.{app}", argv, tmp_path / f"{app}.png")



def test_an_app_freezes_what_its_window_is_made_of_for_short_collector_pauses():
    # the objects built with the window stay for the app's life: gc.freeze() keeps the
    # collector's full passes from walking them while the app runs (in a process of its own:
    # an event loop run and quit inside the test session would upset the tests after it)
    script = """
import argparse, gc
from qtpy.QtWidgets import QApplication, QLabel
from epics.qt._app import run_app
app = QApplication([])
status = run_app(lambda args: QLabel("built"),
                 argparse.Namespace(verbose=False, quit_after=0.05, screenshot=None))
print(status, gc.get_freeze_count() > 0)
"""
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=environment, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "True"]
