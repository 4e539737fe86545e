"""PVWidgetMixin: the one place that ties a widget to a PV (pydm's base-mixin design).

The mixin owns the :class:`~epics.qt._channel.PVChannel`, the connection, severity and access
state, the tooltip, the right-click "Copy PV name", the alarm style sheet and the ``connected``
and ``severity`` Qt dynamic properties. A widget class only draws, by overriding
:meth:`show_value`, :meth:`show_disconnected` and :meth:`set_writable`.

Threads: GUI thread only. Values reach it through the channel's signals (see ``_channel``).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

from qtpy.QtGui import QGuiApplication
from qtpy.QtWidgets import QMenu, QWidget

from ..pv import PV
from ._channel import PVChannel
from ._style import DISCONNECTED_TEXT, alarm_style_sheet
from ._updates import DEFAULT_MAX_RATE

__all__ = ["PVWidgetMixin", "PVLike"]

PVLike = Union[str, PV]


class PVWidgetMixin:
    """Mixin for QWidget subclasses; put it first in the bases and call :meth:`_pv_init` from
    ``__init__`` after the Qt base class's ``__init__``.

    Attributes
    ----------
    connected : bool
        The PV is connected (mirrored as the dynamic property ``connected``).
    severity : int
        The PV's alarm severity 0..3 (mirrored as the dynamic property ``severity``).
    """

    #: Colour the border / the text by alarm severity (pydm's alarm-sensitive border/content).
    alarm_border = True
    alarm_text = True
    #: Text widgets show this while disconnected instead of a value.
    disconnected_text = DISCONNECTED_TEXT

    connected: bool
    severity: int
    _channel: Optional[PVChannel]

    def _pv_init(self, pv: Optional[PVLike], max_rate: float = DEFAULT_MAX_RATE) -> None:
        widget = self._widget()
        self._channel = None
        self._max_rate = max_rate
        self.connected = False
        self.severity = 0
        widget.setStyleSheet(alarm_style_sheet(type(self).__name__, self.alarm_border,
                                               self.alarm_text))
        self._mirror_properties()
        if pv is not None:
            self.set_pv(pv)
        else:
            self.show_disconnected()
            self.set_writable(False)

    def _widget(self) -> QWidget:
        return self  # type: ignore[return-value]

    # --- public API -----------------------------------------------------------------------------

    def set_pv(self, pv: PVLike) -> None:
        """Tie the widget to another PV (a name or a :class:`~epics.pv.PV`)."""
        self.close_pv()
        channel = PVChannel(pv, self._max_rate)
        self._channel = channel
        channel.value_changed.connect(self._value_changed)
        channel.connection_changed.connect(self._connection_changed)
        channel.severity_changed.connect(self._severity_changed)
        channel.write_access_changed.connect(self._write_access_changed)
        widget = self._widget()
        widget.setToolTip(channel.pvname)
        widget.destroyed.connect(channel.close)
        self.connected = False
        self.severity = 0
        self._mirror_properties()
        self.show_disconnected()
        self.set_writable(False)

    def close_pv(self) -> None:
        """Stop listening to the PV (idempotent)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    @property
    def channel(self) -> Optional[PVChannel]:
        return self._channel

    @property
    def pv(self) -> Optional[PV]:
        return None if self._channel is None else self._channel.pv

    @property
    def pvname(self) -> str:
        return "" if self._channel is None else self._channel.pvname

    @property
    def data(self) -> Dict[str, Any]:
        """The latest PV data delivered to the widget (value, char_value, units, ...)."""
        return {} if self._channel is None else self._channel.data

    @property
    def writable(self) -> bool:
        return bool(self.connected and self._channel is not None and self._channel.write_access)

    def put(self, value: Any) -> bool:
        """Write to the PV (no waiting); False if not connected or not writable."""
        return self._channel is not None and self._channel.put(value)

    def copy_pv_name(self) -> None:
        """Put the PV name on the clipboard (and the X11 selection, where there is one)."""
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(self.pvname)
        if clipboard.supportsSelection():
            clipboard.setText(self.pvname, clipboard.Mode.Selection)

    def pv_context_menu(self) -> QMenu:
        """The right-click menu: "Copy PV name" (widgets may add to it)."""
        menu = QMenu(self._widget())
        action = menu.addAction("Copy PV name")
        action.setEnabled(bool(self.pvname))
        action.triggered.connect(self.copy_pv_name)
        return menu

    def contextMenuEvent(self, event: Any) -> None:  # Qt's name
        menu = self.pv_context_menu()
        menu.exec(event.globalPos())

    # --- what widgets override ------------------------------------------------------------------

    def show_value(self, data: Dict[str, Any]) -> None:
        """Draw a new value (``data`` holds the PV callback keywords); connected only."""

    def show_disconnected(self) -> None:
        """Draw the disconnected state: never the last value as if it were live."""

    def set_writable(self, writable: bool) -> None:
        """Allow or forbid editing (connected and write access)."""

    # --- the channel's signals ------------------------------------------------------------------

    def _value_changed(self, data: Dict[str, Any]) -> None:
        if self.connected:
            self.show_value(data)

    def _connection_changed(self, connected: bool) -> None:
        self.connected = connected
        self._mirror_properties()
        if connected:
            self.set_writable(self.writable)
            if self.data:
                self.show_value(self.data)
        else:
            self.set_writable(False)
            self.show_disconnected()

    def _severity_changed(self, severity: int) -> None:
        self.severity = severity
        self._mirror_properties()

    def _write_access_changed(self, _write: bool) -> None:
        self.set_writable(self.writable)

    def _mirror_properties(self) -> None:
        widget = self._widget()
        widget.setProperty("connected", self.connected)
        widget.setProperty("severity", self.severity)
        style = widget.style()
        style.unpolish(widget)
        style.polish(widget)
        widget.update()
