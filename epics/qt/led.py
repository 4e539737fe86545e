"""PVLed: a round lamp coloured by the PV's value or by its alarm severity (PyEpics wx
``pvShape``/bitmap widgets).

Threads: GUI thread only.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from qtpy.QtCore import QRectF, QSize, Qt
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

from ._base import PVLike, PVWidgetMixin
from ._style import DISCONNECTED_COLOR, SEVERITY_COLORS
from ._updates import DEFAULT_MAX_RATE

__all__ = ["PVLed"]


class PVLed(PVWidgetMixin, QWidget):
    """A lamp: ``on_color`` when the value is not 0, else ``off_color`` (``mode='value'``), or
    green/yellow/red/magenta by severity (``mode='severity'``). Grey and dashed when
    disconnected.
    """

    alarm_border = False
    alarm_text = False
    SEVERITY_LAMP = {0: "#00c000", **SEVERITY_COLORS}

    def __init__(self, pv: Optional[PVLike] = None, parent: Optional[QWidget] = None, *,
                 mode: str = "value", on_color: str = "#00e000", off_color: str = "#005000",
                 max_rate: float = DEFAULT_MAX_RATE) -> None:
        QWidget.__init__(self, parent)
        if mode not in ("value", "severity"):
            raise ValueError(f"PVLed mode must be 'value' or 'severity', not {mode!r}")
        self.mode = mode
        self.on_color, self.off_color = on_color, off_color
        self.color = QColor(DISCONNECTED_COLOR)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self._pv_init(pv, max_rate)

    def sizeHint(self) -> QSize:  # Qt's name
        return QSize(24, 24)

    def show_value(self, data: Dict[str, Any]) -> None:
        if self.mode == "severity":
            color = self.SEVERITY_LAMP.get(int(data.get("severity") or 0), DISCONNECTED_COLOR)
        else:
            try:
                lit = bool(float(data.get("value")))
            except (TypeError, ValueError):
                lit = bool(data.get("value"))
            color = self.on_color if lit else self.off_color
        self._set_color(color)

    def show_disconnected(self) -> None:
        self._set_color(DISCONNECTED_COLOR)

    def _set_color(self, color: str) -> None:
        if QColor(color) != self.color:
            self.color = QColor(color)
            self.update()

    def paintEvent(self, _event: Any) -> None:  # Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        side = min(self.width(), self.height()) - 4
        rect = QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)
        pen = QPen(QColor("#202020"), 1.5)
        if not self.connected:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(self.color)
        painter.drawEllipse(rect)
        painter.end()
