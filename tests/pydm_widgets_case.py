"""pydm widgets on a softioc PV, through pydm's default CA plugin (``import epics``).

Not collected by the suite: tests/test_dependents.py runs it with pytest-qt inside a fresh venv
where epicsca, its ``pyepics`` compatibility distribution and pydm were installed the documented
way, against a softioc that test started. The environment gives the PV (an ao with EGU "mm",
PREC 2, HIHI 8 with MAJOR severity, at 1.5), a handshake folder (this case creates ``stop-ioc``
there when the IOC should stop; the outer test then stops it) and a folder for screenshots.
"""
import os
from pathlib import Path

import pytest
from pydm.widgets import PyDMLabel, PyDMLineEdit
from pydm.widgets.base import PyDMWidget

PV = os.environ["DEPENDENTS_PV"]
HANDSHAKE = Path(os.environ["DEPENDENTS_HANDSHAKE"])
SCREENSHOTS = Path(os.environ["DEPENDENTS_SCREENSHOTS"])
#: Milliseconds any widget update may take (the machine is small and shared).
WAIT_MS = 20000


def screenshot(widget, name):
    widget.grab().save(str(SCREENSHOTS / f"pydm-{name}.png"))


def test_epics_is_epicsca():
    import epics
    import epics._cadef  # noqa: F401 (a module PyEpics does not have)
    assert not epics.__version__.startswith("3.5.")


def test_label_and_line_edit_show_write_alarm_and_disconnect(qtbot):
    import epics

    label = PyDMLabel(init_channel=f"ca://{PV}")
    label.showUnits = True
    edit = PyDMLineEdit(init_channel=f"ca://{PV}")
    edit.showUnits = True
    for widget in (label, edit):
        qtbot.addWidget(widget)
        widget.show()

    # value and units, with the PV's precision
    qtbot.waitUntil(lambda: label.text() == "1.50 mm" and edit.text() == "1.50 mm",
                    timeout=WAIT_MS)
    assert label.alarmSeverity == PyDMWidget.ALARM_NONE
    assert edit.isEnabled()
    screenshot(label, "label-value")
    screenshot(edit, "lineedit-value")

    # write back from the line edit (as pressing Return does)
    edit.setText("3.25 mm")
    edit.send_value()
    qtbot.waitUntil(lambda: label.text() == "3.25 mm", timeout=WAIT_MS)
    assert epics.caget(PV, use_monitor=False) == pytest.approx(3.25)

    # alarm severity: above HIHI is MAJOR
    edit.setText("9.5")
    edit.send_value()
    qtbot.waitUntil(lambda: label.alarmSeverity == PyDMWidget.ALARM_MAJOR, timeout=WAIT_MS)
    assert label.text() == "9.50 mm"
    screenshot(label, "label-major")

    # the IOC stops: both widgets show the disconnected state
    (HANDSHAKE / "stop-ioc").touch()
    qtbot.waitUntil(lambda: label.alarmSeverity == PyDMWidget.ALARM_DISCONNECTED
                    and edit.alarmSeverity == PyDMWidget.ALARM_DISCONNECTED, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not edit.isEnabled(), timeout=WAIT_MS)
    screenshot(label, "label-disconnected")
    screenshot(edit, "lineedit-disconnected")
