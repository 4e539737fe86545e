"""PVLineEdit and PVFloatEdit: editable text tied to a PV (PyEpics wx ``pvTextCtrl``,
``pvFloatCtrl``).

Enter writes the text, Escape puts back the PV's value; while the user edits, updates do not
overwrite the text. Threads: GUI thread only.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, Optional

from qtpy.QtCore import Qt
from qtpy.QtCore import QLocale
from qtpy.QtGui import QDoubleValidator, QValidator
from qtpy.QtWidgets import QLineEdit, QWidget

from ._base import PVLike, PVWidgetMixin
from ._format import control_limits, format_value, precision_of
from ._updates import DEFAULT_MAX_RATE

__all__ = ["PVLineEdit", "PVFloatEdit"]

log = logging.getLogger("epics.qt")


class PVLineEdit(PVWidgetMixin, QLineEdit):
    """Editable text: Enter writes it to the PV, Escape reverts to the PV's value.

    Numbers are written as numbers, enum state names as names; text the PV cannot take is
    refused with a log line naming the PV, and the value is shown again.
    """

    def __init__(self, pv: Optional[PVLike] = None, parent: Optional[QWidget] = None, *,
                 show_units: bool = False, max_rate: float = DEFAULT_MAX_RATE) -> None:
        QLineEdit.__init__(self, parent)
        self.show_units = show_units
        self.returnPressed.connect(self.write)
        self._pv_init(pv, max_rate)

    def _editing(self) -> bool:
        return self.hasFocus() and self.isModified()

    def show_value(self, data: Dict[str, Any]) -> None:
        if not self._editing():
            self.setText(self.text_for(data))
            self.setModified(False)

    def text_for(self, data: Dict[str, Any]) -> str:
        return format_value(data, self.show_units)

    def show_disconnected(self) -> None:
        self.setText(self.disconnected_text)
        self.setModified(False)

    def set_writable(self, writable: bool) -> None:
        self.setReadOnly(not writable)

    def revert(self) -> None:
        """Show the PV's value again, dropping the user's edit."""
        if self.connected:
            self.setText(self.text_for(self.data))
        else:
            self.show_disconnected()
        self.setModified(False)

    def value_from_text(self, text: str) -> Any:
        """The value to write for ``text`` (raises ValueError when the PV cannot take it)."""
        value = self.data.get("value")
        if self.data.get("enum_strs") or isinstance(value, str):
            return text
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        return int(number) if isinstance(value, int) and number.is_integer() else number

    def write(self) -> bool:
        """Write the text to the PV (what Enter does)."""
        if not self.writable:
            self.revert()
            return False
        try:
            value = self.value_from_text(self.text().strip())
        except ValueError as exc:
            log.warning("%s: not written: %s", self.pvname, exc)
            self.revert()
            return False
        self.setModified(False)
        return self.put(value)

    def keyPressEvent(self, event: Any) -> None:  # Qt's name
        if event.key() == Qt.Key.Key_Escape:
            self.revert()
            return
        super().keyPressEvent(event)

    def pv_context_menu(self):
        menu = self.createStandardContextMenu()
        menu.addSeparator()
        action = menu.addAction("Copy PV name")
        action.triggered.connect(self.copy_pv_name)
        return menu


class PVFloatEdit(PVLineEdit):
    """A number entry that accepts only numbers inside the PV's control limits and shows the
    PV's precision (PyEpics wx ``pvFloatCtrl``)."""

    def __init__(self, pv: Optional[PVLike] = None, parent: Optional[QWidget] = None, *,
                 show_units: bool = False, max_rate: float = DEFAULT_MAX_RATE) -> None:
        self._validator = QDoubleValidator()
        self._validator.setNotation(QDoubleValidator.Notation.StandardNotation)
        self._validator.setLocale(QLocale.c())   # '1.5', whatever the desktop's locale
        super().__init__(pv, parent, show_units=show_units, max_rate=max_rate)
        self._validator.setParent(self)
        self.setValidator(self._validator)

    def text_for(self, data: Dict[str, Any]) -> str:
        value = data.get("value")
        try:
            number = float(value)
        except (TypeError, ValueError):
            return format_value(data, self.show_units)
        text = f"{number:.{precision_of(data)}f}"
        units = data.get("units")
        return f"{text} {units}" if self.show_units and units else text

    def show_value(self, data: Dict[str, Any]) -> None:
        limits = control_limits(data)
        low, high = limits if limits else (-math.inf, math.inf)
        self._validator.setRange(low, high, precision_of(data))
        super().show_value(data)

    def accepts(self, text: str) -> bool:
        """True when ``text`` is a number the PV takes (inside its control limits)."""
        state = self._validator.validate(text, 0)
        state = state[0] if isinstance(state, tuple) else state
        return state == QValidator.State.Acceptable

    def value_from_text(self, text: str) -> Any:
        if not self.accepts(text):
            limits = control_limits(self.data)
            where = f" inside {limits[0]:g}..{limits[1]:g}" if limits else ""
            raise ValueError(f"{text!r} is not a number{where}")
        return float(text)
