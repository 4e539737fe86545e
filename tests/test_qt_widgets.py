"""epics.qt widgets against a real IOC (tests/qt.db): each shows the value, writes, reacts to
alarms, access rights and disconnects; screenshots for the docs gallery.

Qt runs offscreen (QT_QPA_PLATFORM=offscreen, set by qt_helpers); the IOC is this module's own,
stopped at the end also on failure; the disconnect test starts and stops one of its own.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qt_helpers import WAIT_MS, screenshot
from qt_helpers import gallery  # noqa: F401  (a fixture)

from qtpy.QtCore import QPoint, Qt  # noqa: E402
from qtpy.QtGui import QColor, QGuiApplication  # noqa: E402
from qtpy.QtWidgets import QFormLayout, QWidget  # noqa: E402

from epics import caget, caput  # noqa: E402
from epics.qt import (PVAlarm, PVCheckBox, PVEnumButtons, PVEnumComboBox, PVFloatEdit,  # noqa: E402
                      PVImage, PVLabel, PVLed, PVLineEdit, PVPushButton, PVSlider, PVSpinBox,
                      call_in_gui_thread, gui_thread)
from epics.testing import SoftIoc, unique_prefix  # noqa: E402

QT_DB = Path(__file__).with_name("qt.db")
READ_ONLY_ACF = """
ASG(DEFAULT) {
    RULE(1, READ)
    RULE(1, WRITE)
}
ASG(RO) {
    RULE(1, READ)
}
"""


@pytest.fixture(scope="module")
def prefix(epics_port_pool):
    """This module's IOC (tests/qt.db); yields its PV prefix."""
    pv_prefix = unique_prefix("qt")
    port = epics_port_pool.take()
    try:
        with SoftIoc(QT_DB, macros={"P": pv_prefix}, port=port, asg=READ_ONLY_ACF,
                     repeater_port=epics_port_pool.repeater_port):
            yield pv_prefix
    finally:
        epics_port_pool.release(port)


@pytest.fixture
def ao(prefix):
    """$(P)ao, put back to 1.5 (no alarm) before and after the test."""
    name = prefix + "ao"
    caput(name, 1.5, wait=True)
    yield name
    caput(name, 1.5, wait=True)


def make(qtbot, widget):
    qtbot.addWidget(widget)
    widget.show()
    return widget


def wait_connected(qtbot, *widgets):
    qtbot.waitUntil(lambda: all(w.connected for w in widgets), timeout=WAIT_MS)


def border_color(widget) -> QColor:
    """The colour of the widget's left border, in the middle (what the alarm style paints)."""
    image = widget.grab().toImage()
    return image.pixelColor(0, image.height() // 2)


def border_colors(widget) -> set:
    """The colours along the widget's left edge (a dashed border has gaps)."""
    image = widget.grab().toImage()
    return {image.pixelColor(0, y).name() for y in range(image.height())}


def test_label_shows_value_with_precision_units_and_alarm_colours(qtbot, ao, gallery):
    label = make(qtbot, PVLabel(ao))
    qtbot.waitUntil(lambda: label.text() == "1.500 mm", timeout=WAIT_MS)
    assert label.toolTip() == ao and label.property("connected") is True
    assert label.property("severity") == 0
    caput(ao, 65.0, wait=True)     # HIGH: MINOR
    qtbot.waitUntil(lambda: label.severity == 1 and label.text() == "65.000 mm",
                    timeout=WAIT_MS)
    assert label.property("severity") == 1
    assert border_color(label) == QColor("#e6b800")
    screenshot(label, gallery, "label_minor")
    caput(ao, 85.0, wait=True)     # HIHI: MAJOR
    qtbot.waitUntil(lambda: label.severity == 2, timeout=WAIT_MS)
    assert border_color(label) == QColor("#e00000")
    screenshot(label, gallery, "label_major")
    caput(ao, 1.5, wait=True)
    qtbot.waitUntil(lambda: label.severity == 0, timeout=WAIT_MS)
    assert border_color(label) != QColor("#e00000")


def test_line_edit_enter_writes_and_escape_reverts(qtbot, prefix):
    name = prefix + "so"
    caput(name, "hello", wait=True)
    edit = make(qtbot, PVLineEdit(name))
    qtbot.waitUntil(lambda: edit.text() == "hello" and not edit.isReadOnly(), timeout=WAIT_MS)
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "typed but dropped")
    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    assert edit.text() == "hello"
    edit.selectAll()
    qtbot.keyClicks(edit, "written")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: caget(name, use_monitor=False) == "written", timeout=WAIT_MS)
    caput(name, "from outside", wait=True)
    qtbot.waitUntil(lambda: edit.text() == "from outside", timeout=WAIT_MS)


def test_line_edit_refuses_text_a_number_pv_cannot_take(qtbot, ao):
    edit = make(qtbot, PVLineEdit(ao))
    qtbot.waitUntil(lambda: edit.text() == "1.500", timeout=WAIT_MS)
    edit.setText("not a number")
    assert edit.write() is False
    assert edit.text() == "1.500" and caget(ao, use_monitor=False) == 1.5


def test_float_edit_accepts_only_numbers_inside_the_control_limits(qtbot, ao, gallery):
    edit = make(qtbot, PVFloatEdit(ao, show_units=False))
    qtbot.waitUntil(lambda: edit.text() == "1.500", timeout=WAIT_MS)
    assert edit.accepts("89.5") and edit.accepts("-90")
    assert not edit.accepts("95") and not edit.accepts("abc")
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "95")          # refused: Enter does nothing
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    edit.selectAll()
    qtbot.keyClicks(edit, "12.25")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: caget(ao, use_monitor=False) == 12.25, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: edit.text() == "12.250", timeout=WAIT_MS)
    screenshot(edit, gallery, "float_edit")


def test_enum_combo_box_and_buttons(qtbot, prefix, gallery):
    name = prefix + "mbbo"
    caput(name, 1, wait=True)
    combo = make(qtbot, PVEnumComboBox(name))
    buttons = make(qtbot, PVEnumButtons(name))
    column = make(qtbot, PVEnumButtons(name, orientation=Qt.Orientation.Vertical))
    qtbot.waitUntil(lambda: combo.currentText() == "Medium" and len(column.buttons) == 3,
                    timeout=WAIT_MS)
    assert [combo.itemText(i) for i in range(combo.count())] == ["Low", "Medium", "High"]
    assert column.buttons[0].y() < column.buttons[1].y()        # a column
    assert buttons.buttons[0].x() < buttons.buttons[1].x()      # a row
    combo.activated.emit(2)              # what choosing "High" does
    qtbot.waitUntil(lambda: caget(name, use_monitor=False) == 2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: buttons.buttons[2].isChecked(), timeout=WAIT_MS)
    qtbot.mouseClick(buttons.buttons[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: caget(name, use_monitor=False) == 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: combo.currentText() == "Low" and column.buttons[0].isChecked(),
                    timeout=WAIT_MS)
    screenshot(buttons, gallery, "enum_buttons")
    screenshot(combo, gallery, "enum_combo")


def test_check_box_and_push_button_write(qtbot, prefix):
    name = prefix + "bo"
    caput(name, 0, wait=True)
    check = make(qtbot, PVCheckBox(name, "On"))
    button = make(qtbot, PVPushButton(name, "Switch on", value=1))
    wait_connected(qtbot, check, button)
    qtbot.waitUntil(lambda: button.isEnabled() and check.isEnabled(), timeout=WAIT_MS)
    assert not check.isChecked()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: check.isChecked(), timeout=WAIT_MS)
    assert caget(name, use_monitor=False) == 1
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: caget(name, use_monitor=False) == 0, timeout=WAIT_MS)


def test_spin_box_and_slider_use_the_control_limits(qtbot, ao):
    spin = make(qtbot, PVSpinBox(ao))
    slider = make(qtbot, PVSlider(ao))
    qtbot.waitUntil(lambda: spin.value() == 1.5 and spin.maximum() == 90.0, timeout=WAIT_MS)
    assert (spin.minimum(), spin.decimals(), spin.suffix()) == (-90.0, 3, " mm")
    qtbot.waitUntil(lambda: abs(slider.value_at(slider.value()) - 1.5) < 0.2, timeout=WAIT_MS)
    spin.setValue(20.0)                       # as the arrows or Enter do
    qtbot.waitUntil(lambda: caget(ao, use_monitor=False) == 20.0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: abs(slider.value_at(slider.value()) - 20.0) < 0.2, timeout=WAIT_MS)
    slider.setSliderPosition(slider.position_of(-45.0))
    slider.sliderReleased.emit()              # what letting go of the handle does
    qtbot.waitUntil(lambda: abs(caget(ao, use_monitor=False) + 45.0) < 0.2, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: abs(spin.value() + 45.0) < 0.2, timeout=WAIT_MS)


def test_led_by_value_and_by_severity(qtbot, prefix, ao):
    name = prefix + "bo"
    caput(name, 0, wait=True)
    lamp = make(qtbot, PVLed(name))
    alarm_lamp = make(qtbot, PVLed(ao, mode="severity"))
    qtbot.waitUntil(lambda: lamp.color == QColor(lamp.off_color), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: alarm_lamp.color == QColor("#00c000"), timeout=WAIT_MS)
    caput(name, 1, wait=True)
    caput(ao, 85.0, wait=True)
    qtbot.waitUntil(lambda: lamp.color == QColor(lamp.on_color), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: alarm_lamp.color == QColor("#e00000"), timeout=WAIT_MS)
    with pytest.raises(ValueError, match="mode"):
        PVLed(name, mode="colour")


def test_image_shows_an_rgb_array(qtbot, prefix, gallery):
    name = prefix + "img"
    pixels = np.zeros((8, 16, 3), dtype=np.uint8)
    pixels[:, :8] = (255, 0, 0)     # left half red, right half blue
    pixels[:, 8:] = (0, 0, 255)
    caput(name, pixels.ravel(), wait=True)
    image = make(qtbot, PVImage(name, width=16, height=8, color="rgb"))
    image.resize(160, 80)
    qtbot.waitUntil(lambda: image.image is not None, timeout=WAIT_MS)
    assert image.image.pixelColor(1, 1) == QColor(255, 0, 0)
    assert image.image.pixelColor(12, 6) == QColor(0, 0, 255)
    with qtbot.waitSignal(image.region_selected, timeout=WAIT_MS) as selected:
        qtbot.mousePress(image, Qt.MouseButton.LeftButton, pos=QPoint(1, 1))  # (0, 0): centre
        qtbot.mouseMove(image, image.rect().center())
        qtbot.mouseRelease(image, Qt.MouseButton.LeftButton, pos=image.rect().center())
    x, y, width, height = selected.args
    assert (x, y) == (0, 0) and 7 <= width <= 9 and 3 <= height <= 5
    screenshot(image, gallery, "image")


def test_read_only_pv_is_not_editable(qtbot, prefix):
    name = prefix + "ro"
    edit = make(qtbot, PVLineEdit(name))
    spin = make(qtbot, PVSpinBox(name))
    check = make(qtbot, PVCheckBox(name))
    wait_connected(qtbot, edit, spin, check)
    qtbot.waitUntil(lambda: edit.text() == "7.25", timeout=WAIT_MS)
    assert edit.isReadOnly() and spin.isReadOnly() and not check.isEnabled()
    assert edit.write() is False
    assert caget(name, use_monitor=False) == 7.25


def test_pv_name_in_tooltip_and_copied_by_the_context_menu(qtbot, ao):
    label = make(qtbot, PVLabel(ao))
    assert label.toolTip() == ao
    menu = label.pv_context_menu()
    [copy] = [a for a in menu.actions() if a.text() == "Copy PV name"]
    copy.trigger()
    assert QGuiApplication.clipboard().text() == ao
    edit = make(qtbot, PVLineEdit(ao))
    edit_menu = edit.pv_context_menu()     # kept: PyQt deletes an unreferenced menu at once
    assert "Copy PV name" in [a.text() for a in edit_menu.actions()]


def test_set_pv_rebinds_the_widget(qtbot, ao, prefix):
    caput(prefix + "so", "hello", wait=True)
    label = make(qtbot, PVLabel(ao))
    qtbot.waitUntil(lambda: label.text() == "1.500 mm", timeout=WAIT_MS)
    old_channel = label.channel
    label.set_pv(prefix + "so")
    assert label.toolTip() == prefix + "so" and label.pvname == prefix + "so"
    qtbot.waitUntil(lambda: label.text() == "hello", timeout=WAIT_MS)
    caput(ao, 33.0, wait=True)     # the old PV no longer reaches the label
    qtbot.wait(300)
    assert label.text() == "hello" and old_channel._closed


def test_updates_are_coalesced_latest_value_wins(qtbot, ao):
    label = make(qtbot, PVLabel(ao, max_rate=4.0))
    qtbot.waitUntil(lambda: label.text() == "1.500 mm", timeout=WAIT_MS)
    shown = []
    label.channel.value_changed.connect(lambda data: shown.append(data["value"]))
    start = time.monotonic()
    for i in range(1, 41):
        caput(ao, float(i), wait=True)
    qtbot.waitUntil(lambda: label.text() == "40.000 mm", timeout=WAIT_MS)
    qtbot.wait(400)
    elapsed = time.monotonic() - start
    assert label.channel.updates_received >= 40
    assert shown[-1] == 40.0
    assert len(shown) <= elapsed * 4.0 + 2, (len(shown), elapsed)


def test_widgets_draw_only_in_the_gui_thread(qtbot, ao):
    """CA callbacks run on the dispatcher thread; what they bring is drawn in the GUI thread."""
    drawn_in = set()

    class RecordingLabel(PVLabel):
        def show_value(self, data):
            drawn_in.add(threading.get_ident())
            super().show_value(data)

    label = make(qtbot, RecordingLabel(ao))
    qtbot.waitUntil(lambda: label.text() == "1.500 mm", timeout=WAIT_MS)
    for value in (2.0, 3.0, 4.0):
        caput(ao, value, wait=True)
    qtbot.waitUntil(lambda: label.text() == "4.000 mm", timeout=WAIT_MS)
    assert drawn_in == {threading.get_ident()}


def test_call_in_gui_thread_runs_functions_in_the_gui_thread(qtbot):
    main = threading.get_ident()
    ran_in = []

    @gui_thread
    def record(tag):
        ran_in.append((tag, threading.get_ident()))

    def worker():
        record("decorated")
        call_in_gui_thread(lambda: ran_in.append(("helper", threading.get_ident())))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    qtbot.waitUntil(lambda: len(ran_in) == 2, timeout=WAIT_MS)
    assert ran_in == [("decorated", main), ("helper", main)]


def test_alarm_pops_up_when_the_condition_trips(qtbot, ao):
    alarm = PVAlarm(ao, ">", 50.0, message="{pvname} too high: {char_value}", alert_delay=0)
    try:
        with qtbot.waitSignal(alarm.tripped, timeout=WAIT_MS):
            caput(ao, 55.0, wait=True)
        qtbot.waitUntil(lambda: alarm.box is not None and alarm.box.isVisible(),
                        timeout=WAIT_MS)
        assert alarm.box.text().startswith(f"{ao} too high: 55.0")
    finally:
        alarm.close()


def widget_panel(prefix: str) -> QWidget:
    panel = QWidget()
    form = QFormLayout(panel)
    rows = [("PVLabel", PVLabel(prefix + "ao")), ("PVLineEdit", PVLineEdit(prefix + "so")),
            ("PVFloatEdit", PVFloatEdit(prefix + "ao")),
            ("PVEnumComboBox", PVEnumComboBox(prefix + "mbbo")),
            ("PVEnumButtons", PVEnumButtons(prefix + "mbbo")),
            ("PVCheckBox", PVCheckBox(prefix + "bo", "On")),
            ("PVPushButton", PVPushButton(prefix + "bo", "Switch on", 1)),
            ("PVSpinBox", PVSpinBox(prefix + "ao")), ("PVSlider", PVSlider(prefix + "ao")),
            ("PVLed", PVLed(prefix + "bo")), ("read-only", PVLineEdit(prefix + "ro"))]
    for text, widget in rows:
        form.addRow(text, widget)
    panel.pv_widgets = [widget for _, widget in rows]
    return panel


def test_every_widget_shows_disconnected_when_the_ioc_stops(qtbot, softioc_factory, gallery):
    prefix = unique_prefix("qtd")
    ioc = softioc_factory(QT_DB, macros={"P": prefix}, asg=READ_ONLY_ACF)
    panel = make(qtbot, widget_panel(prefix))
    widgets = panel.pv_widgets
    wait_connected(qtbot, *widgets)
    qtbot.waitUntil(lambda: widgets[0].text() == "1.500 mm" and len(widgets[4].buttons) == 3,
                    timeout=WAIT_MS)
    screenshot(panel, gallery, "widgets_connected")
    on_ao = [widgets[i] for i in (0, 2, 7, 8)]     # label, float edit, spin box, slider
    caput(prefix + "ao", 85.0, wait=True)          # MAJOR: every widget on the PV shows it
    qtbot.waitUntil(lambda: all(w.severity == 2 for w in on_ao), timeout=WAIT_MS)
    assert all(w.property("severity") == 2 for w in on_ao)
    assert all("#e00000" in border_colors(w) for w in on_ao)
    screenshot(panel, gallery, "widgets_major")
    ioc.stop()
    qtbot.waitUntil(lambda: not any(w.connected for w in widgets), timeout=40000)
    assert all(w.property("connected") is False for w in widgets)
    assert widgets[0].text() == "disconnected" and widgets[1].text() == "disconnected"
    assert widgets[1].isReadOnly() and not widgets[3].isEnabled()
    assert all("#7f7f7f" in border_colors(w) for w in on_ao)      # not red any more
    assert widgets[9].color == QColor("#7f7f7f")                  # the lamp is grey
    screenshot(panel, gallery, "widgets_disconnected")
    ioc.restart()                                  # back: live values again, editable again
    qtbot.waitUntil(lambda: all(w.connected for w in widgets), timeout=60000)
    qtbot.waitUntil(lambda: widgets[0].text() == "1.500 mm" and not widgets[1].isReadOnly(),
                    timeout=WAIT_MS)
    assert widgets[10].isReadOnly()                # still read-only: access rights came back


def test_importing_epics_never_imports_qt():
    code = ("import sys, epics, epics.pv, epics.motor;"
            "print(sorted(m for m in ('qtpy', 'PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph')"
            " if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True).stdout.strip()
    assert output == "[]"


def test_the_qt_binding_keeps_reference_counts():
    """PySide6 6.12.0 dropped a reference to True at every emit() (the process aborts after a few
    thousand updates on Python < 3.12): the qt extras exclude it, and this catches another."""
    from qtpy.QtCore import QObject, Signal

    class Sender(QObject):
        ping = Signal()

    sender = Sender()
    emits = 2000
    before = sys.getrefcount(True)
    for _ in range(emits):
        sender.ping.emit()
    assert abs(sys.getrefcount(True) - before) < emits // 2


def test_the_pump_delivers_a_burst_in_slices_so_the_loop_keeps_running(qtbot):
    from epics.qt._updates import pump

    class SlowChannel:
        next_due = 0.0

        def __init__(self):
            self.delivered = 0

        def deliver(self, now):
            time.sleep(0.001)
            self.delivered += 1

    channels = [SlowChannel() for _ in range(100)]
    the_pump = pump()
    flushes = the_pump.flushes
    for channel in channels:
        the_pump.post(channel)
    qtbot.waitUntil(lambda: all(c.delivered == 1 for c in channels), timeout=WAIT_MS)
    # 100 ms of work in flushes of at most ~8 ms (+ the 16 deliveries between clock reads)
    assert the_pump.flushes - flushes >= 4
