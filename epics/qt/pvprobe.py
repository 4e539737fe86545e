"""pvprobe: type a PV name, see its value and metadata live (PyEpics ships one in its
``epics.qt``). ``python -m epics.qt.pvprobe [PVNAME ...]`` or ``epics-pvprobe``.

Threads: GUI thread only.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence

from qtpy.QtWidgets import QFormLayout, QFrame, QLabel, QLineEdit, QVBoxLayout, QWidget

from ..pv import get_pv
from ._app import app_parser, run_app
from ._base import PVLike, PVWidgetMixin
from ._style import SEVERITY_NAMES
from .labels import PVLabel

__all__ = ["PVInfo", "PVProbe", "main"]

#: The metadata rows PVInfo shows: (label, data key).
INFO_ROWS = (("type", "typefull"), ("count", "count"), ("host", "host"), ("access", "access"),
             ("units", "units"), ("precision", "precision"), ("severity", "severity"),
             ("status", "status"), ("timestamp", "timestamp"), ("states", "enum_strs"),
             ("control limits", "ctrl"), ("display limits", "disp"),
             ("alarm limits", "alarm"), ("warning limits", "warning"))


def _row_text(key: str, data: Dict[str, Any]) -> str:
    if key in ("ctrl", "disp", "alarm", "warning"):
        low, high = data.get(f"lower_{key}_limit"), data.get(f"upper_{key}_limit")
        return "" if low is None and high is None else f"{low} .. {high}"
    value = data.get(key)
    if value is None:
        return ""
    if key == "severity":
        return SEVERITY_NAMES[int(value)] if 0 <= int(value) < 4 else str(value)
    if key == "timestamp":
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) + \
            f".{int((value % 1) * 1000):03d}"
    if key == "enum_strs":
        return ", ".join(value)
    return str(value)


class PVInfo(PVWidgetMixin, QFrame):
    """A live form of one PV's metadata (type, host, access, units, limits, ...)."""

    alarm_text = False

    def __init__(self, pv: Optional[PVLike] = None, parent: Optional[QWidget] = None) -> None:
        QFrame.__init__(self, parent)
        form = QFormLayout(self)
        self.rows: Dict[str, QLabel] = {}   # by the label shown
        for label, _key in INFO_ROWS:
            self.rows[label] = QLabel("")
            form.addRow(label, self.rows[label])
        self._pv_init(pv)

    def show_value(self, data: Dict[str, Any]) -> None:
        merged = {**data, "typefull": data.get("typefull") or (self.pv.typefull if self.pv
                                                               else "")}
        for label, key in INFO_ROWS:
            self.rows[label].setText(_row_text(key, merged))

    def show_disconnected(self) -> None:
        for label in self.rows.values():
            label.setText("")


class PVProbe(QWidget):
    """Type a PV name and press Enter: its value (PVLabel) and metadata (PVInfo), live."""

    def __init__(self, pvname: str = "", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("pvprobe")
        layout = QVBoxLayout(self)
        self.name_entry = QLineEdit(pvname)
        self.name_entry.setPlaceholderText("PV name, then Enter")
        self.name_entry.returnPressed.connect(self._name_entered)
        self.value = PVLabel()
        self.info = PVInfo()
        for widget in (self.name_entry, self.value, self.info):
            layout.addWidget(widget)
        if pvname:
            self.probe(pvname)

    def _name_entered(self) -> None:
        name = self.name_entry.text().strip()
        if name:
            self.probe(name)

    def probe(self, pvname: str) -> None:
        """Show ``pvname``."""
        self.name_entry.setText(pvname)
        self.value.set_pv(pvname)
        # a 'time' PV: a timestamp in every update (the control metadata is read once, when it
        # connects; see PVChannel)
        self.info.set_pv(get_pv(pvname))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = app_parser("Show a PV's value and metadata, live.")
    parser.add_argument("pvnames", nargs="*", help="PVs to probe (one window each)")
    args = parser.parse_args(argv)
    windows: List[PVProbe] = []

    def make(args: Any) -> QWidget:
        names = args.pvnames or [""]
        windows.extend(PVProbe(name) for name in names[1:])
        for window in windows:
            window.show()
        return PVProbe(names[0])
    return run_app(make, args)


if __name__ == "__main__":
    raise SystemExit(main())
