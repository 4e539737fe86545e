"""PVAlarm: a pop-up when a condition on a PV's value trips (PyEpics wx ``pvAlarm``), built on
:class:`epics.Alarm`.

Threads: the comparison runs in :class:`epics.Alarm`'s monitor callback on the CA dispatcher
thread, which only emits the ``tripped`` signal; the pop-up is made in the GUI thread.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QMessageBox, QWidget

from ..alarm import Alarm
from ._base import PVLike

__all__ = ["PVAlarm"]


class PVAlarm(QObject):
    """Show a message box when ``comparison(value, trip_point)`` becomes true.

    Parameters
    ----------
    pv : str or PV
    comparison, trip_point, alert_delay
        As for :class:`epics.Alarm` ('gt', '>', 'eq', ... or a function).
    message : str, optional
        The pop-up's text; ``{pvname}``, ``{char_value}``, ``{trip_point}`` are filled in.
    parent : QWidget, optional
        The pop-up's parent window.
    popup : bool
        Show the message box (tests and embedders may only listen to ``tripped``).
    """

    tripped = Signal(object)

    def __init__(self, pv: PVLike, comparison: Union[str, Callable], trip_point: Any,
                 message: str = "{pvname} = {char_value} (trip point {trip_point})",
                 parent: Optional[QWidget] = None, *, alert_delay: float = 10.0,
                 popup: bool = True) -> None:
        super().__init__(parent)
        self.message = message
        self.popup = popup
        self.box: Optional[QMessageBox] = None
        self._parent_widget = parent
        self.tripped.connect(self._show)
        self.alarm = Alarm(pv, comparison=comparison, trip_point=trip_point,
                           callback=self._on_trip, alert_delay=alert_delay)

    def _on_trip(self, **data: Any) -> None:   # CA dispatcher thread: only a signal
        data.pop("cb_info", None)
        self.tripped.emit(data)

    def _show(self, data: Dict[str, Any]) -> None:
        if not self.popup:
            return
        text = self.message.format(**{"pvname": "", "char_value": "", "trip_point": "",
                                      **data})
        if self.box is None:
            self.box = QMessageBox(QMessageBox.Icon.Warning, "PV alarm", text,
                                   QMessageBox.StandardButton.Ok, self._parent_widget)
            self.box.setModal(False)
        self.box.setText(text)
        self.box.show()

    def close(self) -> None:
        """Stop watching (idempotent) and close the pop-up."""
        self.alarm.close()
        if self.box is not None:
            self.box.close()
