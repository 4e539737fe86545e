"""PVImage: a 2-D (mono) or RGB array PV drawn as an image, with drag-to-select.

The array is reshaped with the shape given by :meth:`PVImage.set_shape` (an areaDetector viewer
reads it from the plugin's ArraySize PVs); Qt scales the image while painting, so a 1360x1024
frame costs one copy into a QImage per repaint. Dragging with the left button selects a region,
announced in image pixels by ``region_selected(x, y, width, height)``.

Threads: GUI thread only.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional, Tuple

import numpy as np
from qtpy.QtCore import QPoint, QRect, QSize, Qt, Signal
from qtpy.QtGui import QColor, QImage, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

from ..pv import get_pv
from ._base import PVLike, PVWidgetMixin
from ._style import SEVERITY_COLORS
from ._updates import DEFAULT_MAX_RATE

__all__ = ["PVImage", "array_to_qimage"]

MONO, RGB = "mono", "rgb"


def array_to_qimage(array: np.ndarray, width: int, height: int, color: str = MONO) -> QImage:
    """A QImage (a copy) of a flat 8-bit array of ``height`` rows of ``width`` pixels, mono or
    RGB (RGB1: red, green, blue of a pixel next to each other). Raises ValueError if the array is
    too short for the shape."""
    depth = 3 if color == RGB else 1
    needed = width * height * depth
    flat = np.asarray(array).ravel()
    if flat.size < needed or width <= 0 or height <= 0:
        raise ValueError(f"an array of {flat.size} elements does not hold a "
                         f"{width}x{height} {color} image")
    pixels = np.ascontiguousarray(flat[:needed], dtype=np.uint8)
    fmt = QImage.Format.Format_RGB888 if depth == 3 else QImage.Format.Format_Grayscale8
    return QImage(pixels.data, width, height, width * depth, fmt).copy()


def _point(event: Any) -> QPoint:
    """A mouse event's position (Qt 6: position(); Qt 5: pos())."""
    return event.position().toPoint() if hasattr(event, "position") else event.pos()


class PVImage(PVWidgetMixin, QWidget):
    """An image from an array PV; ``frames_shown`` and :attr:`frame_rate` count repaints."""

    alarm_text = False
    region_selected = Signal(int, int, int, int)

    def __init__(self, pv: Optional[PVLike] = None, parent: Optional[QWidget] = None, *,
                 width: int = 0, height: int = 0, color: str = MONO,
                 max_rate: float = DEFAULT_MAX_RATE) -> None:
        QWidget.__init__(self, parent)
        self.image: Optional[QImage] = None
        self.frames_shown = 0
        self._frame_times: list = []
        self._drag: Optional[Tuple[QPoint, QPoint]] = None
        self.set_shape(width, height, color)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._pv_init(pv, max_rate)

    def set_pv(self, pv: PVLike) -> None:
        """Tie the image to another array PV; a name gets a monitored PV of its own (PyEpics
        does not monitor arrays over 65536 elements unless asked)."""
        super().set_pv(get_pv(pv, auto_monitor=True) if isinstance(pv, str) else pv)

    def set_shape(self, width: int, height: int, color: str = MONO) -> None:
        """How to read the array: ``height`` rows of ``width`` pixels, ``'mono'`` or ``'rgb'``."""
        if color not in (MONO, RGB):
            raise ValueError(f"color must be 'mono' or 'rgb', not {color!r}")
        self.shape = (int(width), int(height), color)

    def sizeHint(self) -> QSize:  # Qt's name
        return QSize(400, 300)

    @property
    def frame_rate(self) -> float:
        """Frames drawn per second over the last two seconds."""
        now = time.monotonic()
        recent = [t for t in self._frame_times if now - t < 2.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0]) if recent[-1] > recent[0] else 0.0

    def show_value(self, data: Dict[str, Any]) -> None:
        width, height, color = self.shape
        value = data.get("value")
        if value is None or width <= 0 or height <= 0:
            return
        try:
            self.image = array_to_qimage(value, width, height, color)
        except ValueError:
            return    # the shape PVs and the array disagree for a moment: wait for the next
        self.frames_shown += 1
        now = time.monotonic()
        self._frame_times = [t for t in self._frame_times if now - t < 2.0] + [now]
        self.update()

    def show_disconnected(self) -> None:
        self.update()

    def _target(self) -> QRect:
        """Where the image is drawn: as large as fits, aspect ratio kept, centred."""
        if self.image is None:
            return QRect()
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRect((self.width() - size.width()) // 2, (self.height() - size.height()) // 2,
                     size.width(), size.height())

    def to_image(self, point: QPoint) -> Tuple[int, int]:
        """Image pixel under a widget position (clamped to the image)."""
        target = self._target()
        if self.image is None or target.width() == 0:
            return 0, 0
        x = (point.x() - target.x()) * self.image.width() / target.width()
        y = (point.y() - target.y()) * self.image.height() / target.height()
        return (int(min(max(x, 0), self.image.width() - 1)),
                int(min(max(y, 0), self.image.height() - 1)))

    def paintEvent(self, _event: Any) -> None:  # Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#000000"))
        if self.image is not None:
            painter.drawImage(self._target(), self.image)
        if not self.connected:
            painter.fillRect(self.rect(), QColor(127, 127, 127, 160))
            painter.setPen(QColor("#ffffff"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.disconnected_text)
        if self._drag is not None:
            painter.setPen(QPen(QColor("#00ff00"), 1, Qt.PenStyle.DashLine))
            painter.drawRect(QRect(*self._drag).normalized())
        if self.connected and self.severity in SEVERITY_COLORS:
            painter.setPen(QPen(QColor(SEVERITY_COLORS[self.severity]), 3))
            painter.drawRect(self.rect().adjusted(1, 1, -2, -2))
        painter.end()

    def mousePressEvent(self, event: Any) -> None:  # Qt's name
        if event.button() == Qt.MouseButton.LeftButton and self.image is not None:
            point = _point(event)
            self._drag = (point, point)

    def mouseMoveEvent(self, event: Any) -> None:  # Qt's name
        if self._drag is not None:
            self._drag = (self._drag[0], _point(event))
            self.update()

    def mouseReleaseEvent(self, event: Any) -> None:  # Qt's name
        if self._drag is None:
            return
        start, end = self._drag[0], _point(event)
        self._drag = None
        self.update()
        (x0, y0), (x1, y1) = self.to_image(start), self.to_image(end)
        if abs(x1 - x0) >= 2 and abs(y1 - y0) >= 2:
            self.region_selected.emit(min(x0, x1), min(y0, y1), abs(x1 - x0) + 1,
                                      abs(y1 - y0) + 1)
