"""PVSpinBox and PVSlider: numbers inside the PV's control limits.

A value arriving from the PV moves the widget without writing it back; only the user's change
writes (the spin box on Enter or when it loses focus, the slider when released). Threads: GUI
thread only.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QSlider, QWidget

from ._base import PVLike, PVWidgetMixin
from ._format import control_limits, precision_of
from ._updates import DEFAULT_MAX_RATE

__all__ = ["PVSpinBox", "PVSlider"]

#: actionTriggered's int for a drag (an enum member in Qt 6 bindings, an int in PyQt5).
_SLIDER_MOVE = int(getattr(QSlider.SliderAction.SliderMove, "value",
                           QSlider.SliderAction.SliderMove))


def _number(data: Dict[str, Any]) -> Optional[float]:
    try:
        return float(data.get("value"))
    except (TypeError, ValueError):
        return None


class PVSpinBox(PVWidgetMixin, QDoubleSpinBox):
    """A spin box with the PV's control limits, precision and units; the arrows step by
    ``10**-precision`` unless ``step`` is given."""

    def __init__(self, pv: Optional[PVLike] = None, parent: Optional[QWidget] = None, *,
                 step: Optional[float] = None, max_rate: float = DEFAULT_MAX_RATE) -> None:
        QDoubleSpinBox.__init__(self, parent)
        self._step = step
        self.setKeyboardTracking(False)   # valueChanged on Enter/arrows, not per keystroke
        self.setRange(-1e300, 1e300)
        self.valueChanged.connect(self._user_changed)
        self._pv_init(pv, max_rate)

    def _user_changed(self, value: float) -> None:
        self.put(value)

    def show_value(self, data: Dict[str, Any]) -> None:
        self.blockSignals(True)
        try:
            precision = precision_of(data)
            self.setDecimals(precision)
            limits = control_limits(data)
            self.setRange(*(limits or (-1e300, 1e300)))
            self.setSingleStep(self._step if self._step else 10.0 ** -precision)
            units = data.get("units")
            self.setSuffix(f" {units}" if units else "")
            self.setSpecialValueText("")
            number = _number(data)
            if number is not None and not (self.hasFocus() and self.lineEdit().isModified()):
                self.setValue(number)
        finally:
            self.blockSignals(False)

    def show_disconnected(self) -> None:
        self.blockSignals(True)
        try:
            self.setSpecialValueText(self.disconnected_text)
            self.setValue(self.minimum())
        finally:
            self.blockSignals(False)

    def set_writable(self, writable: bool) -> None:
        self.setReadOnly(not writable)
        self.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.UpDownArrows if writable
                              else QAbstractSpinBox.ButtonSymbols.NoButtons)


class PVSlider(PVWidgetMixin, QSlider):
    """A slider over the PV's control limits in ``steps`` steps; releasing it writes."""

    alarm_text = False

    def __init__(self, pv: Optional[PVLike] = None, parent: Optional[QWidget] = None, *,
                 orientation: Qt.Orientation = Qt.Orientation.Horizontal, steps: int = 1000,
                 max_rate: float = DEFAULT_MAX_RATE) -> None:
        QSlider.__init__(self, orientation, parent)
        self.steps = steps
        self.setRange(0, steps)
        self._limits = (0.0, 1.0)
        self.sliderReleased.connect(self._released)
        self.actionTriggered.connect(self._action)
        self._pv_init(pv, max_rate)

    def value_at(self, position: int) -> float:
        """The PV value of slider position ``position``."""
        low, high = self._limits
        return low + (high - low) * position / self.steps

    def position_of(self, value: float) -> int:
        low, high = self._limits
        return round((min(max(value, low), high) - low) / (high - low) * self.steps)

    def _released(self) -> None:
        self.put(self.value_at(self.sliderPosition()))

    def _action(self, action: int) -> None:
        # keyboard and page clicks (not drags: those write when released)
        if action != _SLIDER_MOVE and not self.isSliderDown():
            self.put(self.value_at(self.sliderPosition()))

    def show_value(self, data: Dict[str, Any]) -> None:
        limits = control_limits(data)
        if limits:
            self._limits = limits
        number = _number(data)
        if number is not None and not self.isSliderDown():
            self.blockSignals(True)
            try:
                self.setValue(self.position_of(number))
            finally:
                self.blockSignals(False)

    def set_writable(self, writable: bool) -> None:
        self.setEnabled(writable)
