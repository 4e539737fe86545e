"""PVCheckBox and PVPushButton (PyEpics wx ``pvCheckBox``, ``pvButton``).

Threads: GUI thread only.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from qtpy.QtWidgets import QCheckBox, QPushButton, QWidget

from ._base import PVLike, PVWidgetMixin
from ._updates import DEFAULT_MAX_RATE

__all__ = ["PVCheckBox", "PVPushButton"]


class PVCheckBox(PVWidgetMixin, QCheckBox):
    """Checked when the PV's value is not 0; clicking writes ``on_value`` / ``off_value``."""

    def __init__(self, pv: Optional[PVLike] = None, text: str = "",
                 parent: Optional[QWidget] = None, *, on_value: Any = 1, off_value: Any = 0,
                 max_rate: float = DEFAULT_MAX_RATE) -> None:
        QCheckBox.__init__(self, text, parent)
        self.on_value, self.off_value = on_value, off_value
        self.clicked.connect(self._clicked)
        self._pv_init(pv, max_rate)

    def _clicked(self, checked: bool) -> None:
        self.put(self.on_value if checked else self.off_value)

    def show_value(self, data: Dict[str, Any]) -> None:
        value = data.get("value")
        try:
            checked = value == self.on_value or bool(float(value))
        except (TypeError, ValueError):
            checked = value == self.on_value
        self.setChecked(checked)

    def show_disconnected(self) -> None:
        self.setChecked(False)

    def set_writable(self, writable: bool) -> None:
        self.setEnabled(writable)


class PVPushButton(PVWidgetMixin, QPushButton):
    """A button that writes ``value`` to the PV when pressed (a STOP, a Start, a Reset)."""

    alarm_text = False

    def __init__(self, pv: Optional[PVLike] = None, text: str = "", value: Any = 1,
                 parent: Optional[QWidget] = None, *,
                 max_rate: float = DEFAULT_MAX_RATE) -> None:
        QPushButton.__init__(self, text, parent)
        self.value = value
        self.clicked.connect(lambda _checked=False: self.put(self.value))
        self._pv_init(pv, max_rate)

    def set_writable(self, writable: bool) -> None:
        self.setEnabled(writable)
