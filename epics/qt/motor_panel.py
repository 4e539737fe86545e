"""MotorPanel: an MEDM-like panel for one motor record, and the app showing several.

``python -m epics.qt.motor_panel sim:m1 sim:m2`` or ``epics-motor-panel sim:m1``.

The panel: description, user setpoint (numbers only; a value outside the soft limits HLM/LLM is
highlighted and not written), readback, a moving lamp, the limit-switch lamps, tweak buttons
with a tweak step chosen from values derived from the precision and the travel range, STOP, and
"More" for the details (velocity, acceleration, limits, offset, direction, calibration).

Threads: GUI thread only (values arrive through the widgets' channels).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

from qtpy.QtWidgets import (QComboBox, QFormLayout, QFrame, QGridLayout, QHBoxLayout, QLabel,
                            QPushButton, QVBoxLayout, QWidget)

from ._app import app_parser, run_app
from ._channel import PVChannel
from .buttons import PVPushButton
from .edits import PVFloatEdit
from .enums import PVEnumComboBox
from .labels import PVLabel
from .led import PVLed

__all__ = ["MotorPanel", "MotorDetails", "MotorSetpoint", "tweak_choices", "main"]

DETAIL_NUMBERS = (("Velocity", "VELO"), ("Acceleration (s)", "ACCL"), ("High limit", "HLM"),
                  ("Low limit", "LLM"), ("Offset", "OFF"), ("Backlash", "BDST"))
DETAIL_CHOICES = (("Direction", "DIR"), ("Calibration", "SET"), ("Offset mode", "FOFF"))


def tweak_choices(precision: int, low: float, high: float) -> List[float]:
    """Tweak steps for a motor: a 1-2-5 series from one unit of the last shown digit
    (``10**-precision``) up to a tenth of the travel range ``high - low`` (at most 16 values)."""
    smallest = 10.0 ** -max(0, int(precision))
    span = abs(high - low)
    largest = span / 10.0 if span > 0 and math.isfinite(span) else smallest * 1000
    choices: List[float] = []
    decade = smallest
    while len(choices) < 16:
        for factor in (1, 2, 5):
            step = round(decade * factor, max(0, int(precision)))
            if step > largest and choices:
                return choices
            choices.append(step)
        decade *= 10
    return choices


def _close_with(widget: QWidget, *channels: PVChannel) -> None:
    """Close ``channels`` when ``widget`` is destroyed (the closure holds no widget)."""
    widget.destroyed.connect(lambda *_: [channel.close() for channel in channels])


class MotorSetpoint(PVFloatEdit):
    """The user setpoint (VAL): refuses values outside the soft limits HLM/LLM and highlights
    them while typed (dynamic property ``outside_limits``)."""

    def __init__(self, motor: str, parent: Optional[QWidget] = None) -> None:
        self.low_limit = PVChannel(motor + ".LLM")
        self.high_limit = PVChannel(motor + ".HLM")
        super().__init__(motor + ".VAL", parent)
        self.textEdited.connect(self._check_limits)
        self.setStyleSheet(self.styleSheet() + "\nMotorSetpoint[outside_limits=\"true\"] "
                           "{ background-color: #ffb0b0; }")
        self.setProperty("outside_limits", False)
        _close_with(self, self.low_limit, self.high_limit)

    def limits(self) -> Optional[tuple]:
        low, high = self.low_limit.data.get("value"), self.high_limit.data.get("value")
        if low is None or high is None or low == high:
            return None      # HLM == LLM: no soft limits (the motor record's rule)
        return min(low, high), max(low, high)

    def inside_limits(self, value: float) -> bool:
        limits = self.limits()
        return limits is None or limits[0] <= value <= limits[1]

    def _check_limits(self, text: str) -> None:
        try:
            outside = not self.inside_limits(float(text))
        except ValueError:
            outside = False
        if outside != self.property("outside_limits"):
            self.setProperty("outside_limits", outside)
            self.style().unpolish(self)
            self.style().polish(self)

    def value_from_text(self, text: str) -> Any:
        value = super().value_from_text(text)
        if not self.inside_limits(value):
            low, high = self.limits()
            raise ValueError(f"{value:g} is outside the soft limits {low:g}..{high:g}")
        return value

    def revert(self) -> None:
        super().revert()
        self._check_limits(self.text())


class MotorDetails(QFrame):
    """The "More" part of the panel: velocity, acceleration, limits, offset, direction,
    calibration (Use/Set)."""

    def __init__(self, motor: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        form = QFormLayout(self)
        self.fields: Dict[str, QWidget] = {}
        for label, field in DETAIL_NUMBERS:
            self.fields[field] = PVFloatEdit(f"{motor}.{field}", show_units=False)
            form.addRow(label, self.fields[field])
        for label, field in DETAIL_CHOICES:
            self.fields[field] = PVEnumComboBox(f"{motor}.{field}")
            form.addRow(label, self.fields[field])


class MotorPanel(QFrame):
    """The panel of one motor record ``motor`` (its name without a field, e.g. ``'sim:m1'``)."""

    def __init__(self, motor: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.motor = motor
        self.setFrameShape(QFrame.Shape.Box)
        self.description = PVLabel(motor + ".DESC")
        self.setpoint = MotorSetpoint(motor)
        self.readback = PVLabel(motor + ".RBV")
        self.moving = PVLed(motor + ".MOVN", on_color="#ffd000", off_color="#405000")
        self.high_switch = PVLed(motor + ".HLS", on_color="#ff2020", off_color="#402020")
        self.low_switch = PVLed(motor + ".LLS", on_color="#ff2020", off_color="#402020")
        self.tweak_reverse = PVPushButton(motor + ".TWR", "<", 1)
        self.tweak_forward = PVPushButton(motor + ".TWF", ">", 1)
        self.tweak_value = QComboBox()
        self.tweak_value.setEditable(True)
        self.tweak_value.activated.connect(self._tweak_chosen)
        self._tweak = PVChannel(motor + ".TWV")
        self._tweak.value_changed.connect(self._tweak_changed)
        self._ranges = {field: PVChannel(f"{motor}.{field}") for field in ("PREC", "HLM", "LLM")}
        for channel in self._ranges.values():
            channel.value_changed.connect(self._update_tweak_choices)
        self.stop = PVPushButton(motor + ".STOP", "STOP", 1)
        self.stop.setStyleSheet(self.stop.styleSheet() +
                                "\nPVPushButton { background-color: #d00000; color: white; "
                                "font-weight: bold; }")
        self.more = QPushButton("More")
        self.more.setCheckable(True)
        self.details = MotorDetails(motor)
        self.details.setVisible(False)
        self.more.toggled.connect(self.details.setVisible)
        self._layout()
        _close_with(self, self._tweak, *self._ranges.values())

    def _layout(self) -> None:
        grid = QGridLayout()
        grid.addWidget(QLabel(f"<b>{self.motor}</b>"), 0, 0, 1, 2)
        grid.addWidget(self.description, 0, 2, 1, 3)
        grid.addWidget(QLabel("Setpoint"), 1, 0)
        grid.addWidget(self.setpoint, 1, 1, 1, 4)
        grid.addWidget(QLabel("Readback"), 2, 0)
        grid.addWidget(self.readback, 2, 1, 1, 4)
        lamps = QHBoxLayout()
        for text, lamp in (("Low limit", self.low_switch), ("Moving", self.moving),
                           ("High limit", self.high_switch)):
            lamps.addWidget(lamp)
            lamps.addWidget(QLabel(text))
        grid.addLayout(lamps, 3, 0, 1, 5)
        grid.addWidget(self.tweak_reverse, 4, 0)
        grid.addWidget(self.tweak_value, 4, 1, 1, 3)
        grid.addWidget(self.tweak_forward, 4, 4)
        grid.addWidget(self.stop, 5, 0, 1, 4)
        grid.addWidget(self.more, 5, 4)
        column = QVBoxLayout(self)
        column.addLayout(grid)
        column.addWidget(self.details)

    def _update_tweak_choices(self, _data: Any = None) -> None:
        values = {field: channel.data.get("value") for field, channel in self._ranges.items()}
        if any(value is None for value in values.values()):
            return
        choices = tweak_choices(int(values["PREC"]), float(values["LLM"]), float(values["HLM"]))
        current = self.tweak_value.currentText()
        self.tweak_value.clear()
        self.tweak_value.addItems([f"{step:g}" for step in choices])
        self.tweak_value.setCurrentText(current)

    def _tweak_changed(self, data: Dict[str, Any]) -> None:
        value = data.get("value")
        if value is not None:
            self.tweak_value.setCurrentText(f"{value:g}")

    def _tweak_chosen(self, _index: int) -> None:
        try:
            step = float(self.tweak_value.currentText())
        except ValueError:
            return
        self._tweak.put(step)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = app_parser("Motor panels for motor records.")
    parser.add_argument("motors", nargs="+", help="motor record names, e.g. sim:m1")
    args = parser.parse_args(argv)

    def make(args: Any) -> QWidget:
        window = QWidget()
        window.setWindowTitle("Motors: " + " ".join(args.motors))
        row = QHBoxLayout(window)
        for motor in args.motors:
            row.addWidget(MotorPanel(motor))
        return window
    return run_app(make, args)


if __name__ == "__main__":
    raise SystemExit(main())
