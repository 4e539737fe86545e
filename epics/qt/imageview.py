"""ImageView: a live display of an areaDetector's image plugin, with its acquisition controls,
and the app. ``python -m epics.qt.imageview sim:ad1:`` or ``epics-imageview sim:ad1:``.

Shows ``<P>image1:ArrayData`` shaped by the plugin's ArraySize/ColorMode read-backs (Mono and
RGB1), the camera's trigger mode, exposure, gain, colour mode and Start/Stop, and the frame rate.
Dragging a rectangle on the image zooms: it sets the ROI plugin (``<P>ROI1:``) to that region
(the image plugin then shows the ROI); "Full frame" puts the ROI back to the whole sensor.

Threads: GUI thread only.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout,
                            QWidget)

from ._app import app_parser, run_app
from ._channel import PVChannel
from .buttons import PVPushButton
from .edits import PVFloatEdit
from .enums import PVEnumComboBox
from .image import MONO, RGB, PVImage
from .labels import PVLabel

__all__ = ["ImageView", "main"]

RGB1_MODE = "RGB1"


class ImageView(QWidget):
    """The viewer of the detector with PV prefix ``prefix`` (e.g. ``'sim:ad1:'``); ``cam``,
    ``image`` and ``roi`` name its plugins."""

    def __init__(self, prefix: str, parent: Optional[QWidget] = None, *, cam: str = "cam1:",
                 image: str = "image1:", roi: str = "ROI1:") -> None:
        super().__init__(parent)
        self.setWindowTitle(f"ImageView {prefix}")
        self.cam, self.image_prefix, self.roi = prefix + cam, prefix + image, prefix + roi
        self.image = PVImage(self.image_prefix + "ArrayData")
        self.image.region_selected.connect(self.zoom_to)
        self._shape = {name: PVChannel(self.image_prefix + name) for name in (
            "ArraySize0_RBV", "ArraySize1_RBV", "ArraySize2_RBV", "ColorMode_RBV")}
        self._roi = {name: PVChannel(self.roi + name) for name in (
            "MinX", "MinY", "SizeX", "SizeY")}
        self._sensor = {name: PVChannel(self.cam + name) for name in ("MaxSizeX_RBV",
                                                                      "MaxSizeY_RBV")}
        for channel in self._shape.values():
            channel.value_changed.connect(self._update_shape)
        channels = [*self._shape.values(), *self._roi.values(), *self._sensor.values()]
        self.destroyed.connect(lambda *_: [channel.close() for channel in channels])
        self.frame_rate = QLabel("0.0 frames/s")
        self._rate_timer = QTimer(self)
        self._rate_timer.timeout.connect(self._show_rate)
        self._rate_timer.start(1000)
        self._build_controls()

    def _build_controls(self) -> None:
        cam = self.cam
        self.start = PVPushButton(cam + "Acquire", "Start", 1)
        self.stop = PVPushButton(cam + "Acquire", "Stop", 0)
        self.state = PVLabel(cam + "DetectorState_RBV")
        self.trigger_mode = PVEnumComboBox(cam + "TriggerMode")
        self.exposure = PVFloatEdit(cam + "AcquireTime", show_units=False)
        self.gain = PVFloatEdit(cam + "Gain")
        self.color_mode = PVEnumComboBox(cam + "ColorMode")
        self.full_frame = QPushButton("Full frame")
        self.full_frame.clicked.connect(self.reset_zoom)
        form = QFormLayout()
        buttons = QHBoxLayout()
        buttons.addWidget(self.start)
        buttons.addWidget(self.stop)
        form.addRow("Acquire", buttons)
        for label, widget in (("State", self.state), ("Trigger mode", self.trigger_mode),
                              ("Exposure (s)", self.exposure), ("Gain", self.gain),
                              ("Colour mode", self.color_mode), ("Frame rate", self.frame_rate),
                              ("Zoom", self.full_frame)):
            form.addRow(label, widget)
        form.addRow(QLabel("Drag on the image to zoom (sets the ROI)."))
        controls = QVBoxLayout()
        controls.addLayout(form)
        controls.addStretch(1)
        row = QHBoxLayout(self)
        row.addWidget(self.image, 1)
        row.addLayout(controls)

    def _values(self, channels: Dict[str, PVChannel]) -> Dict[str, Any]:
        return {name: channel.data.get("value") for name, channel in channels.items()}

    def _update_shape(self, _data: Any = None) -> None:
        values = self._values(self._shape)
        if any(value is None for value in values.values()):
            return
        mode = values["ColorMode_RBV"]
        states = self._shape["ColorMode_RBV"].data.get("enum_strs") or ()
        name = states[mode] if isinstance(mode, int) and mode < len(states) else str(mode)
        sizes = [int(values[f"ArraySize{i}_RBV"]) for i in range(3)]
        if name == RGB1_MODE:
            self.image.set_shape(sizes[1], sizes[2], RGB)
        else:
            self.image.set_shape(sizes[0], sizes[1], MONO)

    def zoom_to(self, x: int, y: int, width: int, height: int) -> None:
        """Show the region (in pixels of the image shown) by setting the ROI plugin to it."""
        roi = self._values(self._roi)
        x0, y0 = int(roi.get("MinX") or 0), int(roi.get("MinY") or 0)
        for name, value in (("MinX", x0 + x), ("MinY", y0 + y), ("SizeX", width),
                            ("SizeY", height)):
            self._roi[name].put(value)

    def reset_zoom(self) -> None:
        """The ROI back to the whole sensor."""
        sensor = self._values(self._sensor)
        if None in sensor.values():
            return
        for name, value in (("MinX", 0), ("MinY", 0), ("SizeX", sensor["MaxSizeX_RBV"]),
                            ("SizeY", sensor["MaxSizeY_RBV"])):
            self._roi[name].put(int(value))

    def _show_rate(self) -> None:
        self.frame_rate.setText(f"{self.image.frame_rate:.1f} frames/s")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = app_parser("Show an areaDetector's images live.")
    parser.add_argument("prefix", help="the detector's PV prefix, e.g. sim:ad1:")
    args = parser.parse_args(argv)

    def make(args: Any) -> QWidget:
        view = ImageView(args.prefix)
        view.resize(1000, 600)
        return view
    return run_app(make, args)


if __name__ == "__main__":
    raise SystemExit(main())
