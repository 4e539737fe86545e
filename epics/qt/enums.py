"""PVEnumComboBox and PVEnumButtons: choose one state of an enum PV (PyEpics wx
``pvEnumChoice``, ``pvEnumButtons``).

Threads: GUI thread only.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (QBoxLayout, QButtonGroup, QComboBox, QFrame, QPushButton,
                            QWidget)

from ._base import PVLike, PVWidgetMixin
from ._updates import DEFAULT_MAX_RATE

__all__ = ["PVEnumComboBox", "PVEnumButtons"]


def _states(data: Dict[str, Any]) -> List[str]:
    return [str(s) for s in (data.get("enum_strs") or ())]


def _index(data: Dict[str, Any]) -> int:
    try:
        return int(data.get("value"))
    except (TypeError, ValueError):
        return -1


class PVEnumComboBox(PVWidgetMixin, QComboBox):
    """A drop-down of the PV's state names; choosing one writes its index."""

    alarm_text = False

    def __init__(self, pv: Optional[PVLike] = None, parent: Optional[QWidget] = None, *,
                 max_rate: float = DEFAULT_MAX_RATE) -> None:
        QComboBox.__init__(self, parent)
        self.activated.connect(self.put)
        self._pv_init(pv, max_rate)

    def show_value(self, data: Dict[str, Any]) -> None:
        states = _states(data)
        if states != [self.itemText(i) for i in range(self.count())]:
            self.clear()
            self.addItems(states)
        self.setCurrentIndex(_index(data))

    def show_disconnected(self) -> None:
        self.setCurrentIndex(-1)
        self.setEnabled(False)

    def set_writable(self, writable: bool) -> None:
        self.setEnabled(writable)


class PVEnumButtons(PVWidgetMixin, QFrame):
    """One checkable button per state of the PV, in a row or a column; clicking one writes it.

    Parameters
    ----------
    orientation : Qt.Orientation
        ``Qt.Horizontal`` (default) or ``Qt.Vertical``.
    """

    alarm_text = False

    def __init__(self, pv: Optional[PVLike] = None, parent: Optional[QWidget] = None, *,
                 orientation: Qt.Orientation = Qt.Orientation.Horizontal,
                 max_rate: float = DEFAULT_MAX_RATE) -> None:
        QFrame.__init__(self, parent)
        direction = (QBoxLayout.Direction.LeftToRight
                     if orientation == Qt.Orientation.Horizontal
                     else QBoxLayout.Direction.TopToBottom)
        self._layout = QBoxLayout(direction, self)
        self._layout.setContentsMargins(2, 2, 2, 2)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._group.idClicked.connect(self.put)
        self._pv_init(pv, max_rate)

    @property
    def buttons(self) -> Sequence[QPushButton]:
        return self._group.buttons()

    def _rebuild(self, states: List[str]) -> None:
        for button in self._group.buttons():
            self._group.removeButton(button)
            self._layout.removeWidget(button)
            button.deleteLater()
        for index, state in enumerate(states):
            button = QPushButton(state, self)
            button.setCheckable(True)
            self._group.addButton(button, index)
            self._layout.addWidget(button)
        self._states = states
        self.set_writable(self.writable)

    def show_value(self, data: Dict[str, Any]) -> None:
        states = _states(data)
        if states != getattr(self, "_states", None):
            self._rebuild(states)
        button = self._group.button(_index(data))
        if button is not None:
            button.setChecked(True)

    def show_disconnected(self) -> None:
        self._group.setExclusive(False)
        for button in self._group.buttons():
            button.setChecked(False)
        self._group.setExclusive(True)
        self.set_writable(False)

    def set_writable(self, writable: bool) -> None:
        for button in self._group.buttons():
            button.setEnabled(writable)
