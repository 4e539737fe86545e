"""StripChart: live plots of several PVs against time (pyqtgraph), and its app.

``python -m epics.qt.stripchart PV [PV ...]`` or ``epics-stripchart``. Controls: add a PV by
name while running, the time range shown, a fixed or automatic Y range, log scale, pause
(zoom and pan with the mouse as pyqtgraph does), save the plot as PNG and the data as CSV.

Threads: GUI thread only; the samples are collected by :class:`StripChartData` on the CA
thread and the plot is redrawn from it by a timer (``redraw_rate`` per second).
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import pyqtgraph
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (QCheckBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel,
                            QLineEdit, QPushButton, QVBoxLayout, QWidget)

from ._app import app_parser, run_app
from .stripchart_data import StripChartData

__all__ = ["StripChart", "main"]

log = logging.getLogger("epics.qt")

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#17becf")


def steps(times: np.ndarray, values: np.ndarray, now: float) -> Tuple[np.ndarray, np.ndarray]:
    """The samples as a staircase: each value holds until the next sample, the last until
    ``now`` (a PV's value is what it last reported, not a line between reports)."""
    if len(times) == 0:
        return times, values
    x = np.append(np.repeat(times, 2)[1:], max(now, times[-1]))
    y = np.repeat(values, 2)
    return x, y


class StripChart(QWidget):
    """Plots of PVs over the last ``time_range`` seconds.

    Parameters
    ----------
    pvnames : sequence of str
        PVs to plot from the start (more with :meth:`add_pv`).
    time_range : float
        Seconds shown.
    redraw_rate : float
        Redraws per second.
    """

    def __init__(self, pvnames: Sequence[str] = (), parent: Optional[QWidget] = None, *,
                 time_range: float = 60.0, redraw_rate: float = 5.0,
                 data: Optional[StripChartData] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("StripChart")
        self.data = data or StripChartData()
        self.curves: Dict[str, Any] = {}
        self.paused = False
        self.plot = pyqtgraph.PlotWidget(axisItems={"bottom": pyqtgraph.DateAxisItem()})
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.legend = self.plot.addLegend()
        self._build_controls(time_range)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.redraw)
        self._timer.start(int(1000 / redraw_rate))
        for name in pvnames:
            self.add_pv(name)

    def _build_controls(self, time_range: float) -> None:
        self.pv_entry = QLineEdit()
        self.pv_entry.setPlaceholderText("PV name, then Enter")
        self.pv_entry.returnPressed.connect(self._add_entered)
        self.time_range = QDoubleSpinBox()
        self.time_range.setRange(1.0, 7 * 86400.0)
        self.time_range.setValue(time_range)
        self.time_range.setSuffix(" s")
        self.y_auto = QCheckBox("auto Y")
        self.y_auto.setChecked(True)
        self.y_min, self.y_max = QLineEdit("0"), QLineEdit("1")
        for entry in (self.y_min, self.y_max):
            entry.setMaximumWidth(80)
            entry.editingFinished.connect(self._apply_y_range)
        self.y_auto.toggled.connect(self._apply_y_range)
        self.log_scale = QCheckBox("log Y")
        self.log_scale.toggled.connect(self.set_log_scale)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        save_png, save_csv = QPushButton("Save PNG..."), QPushButton("Save CSV...")
        save_png.clicked.connect(lambda: self._ask_and_save("PNG image (*.png)", self.save_png))
        save_csv.clicked.connect(lambda: self._ask_and_save("CSV data (*.csv)", self.save_csv))
        top = QHBoxLayout()
        top.addWidget(QLabel("Add PV"))
        top.addWidget(self.pv_entry, 1)
        top.addWidget(QLabel("Time range"))
        top.addWidget(self.time_range)
        bottom = QHBoxLayout()
        for widget in (self.y_auto, QLabel("Y from"), self.y_min, QLabel("to"), self.y_max,
                       self.log_scale, self.pause_button, save_png, save_csv):
            bottom.addWidget(widget)
        bottom.addStretch(1)
        column = QVBoxLayout(self)
        column.addLayout(top)
        column.addWidget(self.plot, 1)
        column.addLayout(bottom)

    # --- what the controls do -------------------------------------------------------------------

    def add_pv(self, pvname: str) -> None:
        """Plot another PV (a name); it is recorded from now on."""
        name = self.data.add_pv(pvname)
        if name not in self.curves:
            color = COLORS[len(self.curves) % len(COLORS)]
            self.curves[name] = self.plot.plot([], [], name=name,
                                               pen=pyqtgraph.mkPen(color, width=2))

    def _add_entered(self) -> None:
        name = self.pv_entry.text().strip()
        if name:
            self.add_pv(name)
            self.pv_entry.clear()

    def set_paused(self, paused: bool) -> None:
        """Freeze the plot (samples are still recorded) so it can be zoomed and panned."""
        self.paused = paused
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")

    def set_log_scale(self, log_scale: bool) -> None:
        if self.log_scale.isChecked() != log_scale:
            self.log_scale.setChecked(log_scale)
        self.plot.setLogMode(y=log_scale)
        self.redraw(force=True)

    def set_y_range(self, low: Optional[float], high: Optional[float]) -> None:
        """A fixed Y range, or automatic with ``None``."""
        if low is None or high is None:
            self.y_auto.setChecked(True)
        else:
            self.y_min.setText(f"{low:g}")
            self.y_max.setText(f"{high:g}")
            self.y_auto.setChecked(False)
        self._apply_y_range()

    def _apply_y_range(self, *_: Any) -> None:
        if self.y_auto.isChecked():
            self.plot.enableAutoRange(axis="y")
            return
        try:
            low, high = float(self.y_min.text()), float(self.y_max.text())
        except ValueError:
            log.warning("StripChart: the Y range needs two numbers")
            return
        if self.log_scale.isChecked():   # pyqtgraph's log axis ranges in decades
            low, high = (math.log10(v) if v > 0 else -1.0 for v in (low, high))
        self.plot.setYRange(low, high, padding=0)

    def redraw(self, force: bool = False) -> None:
        """Draw the samples of the time range (skipped while paused unless ``force``)."""
        if self.paused and not force:
            return
        now = time.time()
        since = now - self.time_range.value()
        for name, curve in self.curves.items():
            times, values = self.data.samples(name, since)
            if self.log_scale.isChecked():
                keep = values > 0
                times, values = times[keep], values[keep]
            curve.setData(*steps(times, values, now))
        if not self.paused:
            self.plot.setXRange(since, now, padding=0)

    def save_png(self, path: Union[str, Path]) -> None:
        """Save the plot as it is shown."""
        if not self.plot.grab().save(str(path)):
            raise OSError(f"StripChart: could not write {path}")

    def save_csv(self, path: Union[str, Path]) -> int:
        """Save the samples (all of them, not only the time range shown); returns the rows."""
        return self.data.write_csv(path)

    def _ask_and_save(self, kind: str, save: Any) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save", "", kind)
        if path:
            save(path)

    def closeEvent(self, event: Any) -> None:  # Qt's name
        self._timer.stop()
        self.data.close()
        super().closeEvent(event)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = app_parser("Plot PVs against time.")
    parser.add_argument("pvnames", nargs="*", help="PVs to plot")
    parser.add_argument("--time-range", type=float, default=60.0, help="seconds shown")
    args = parser.parse_args(argv)
    return run_app(lambda args: StripChart(args.pvnames, time_range=args.time_range), args)


if __name__ == "__main__":
    raise SystemExit(main())
