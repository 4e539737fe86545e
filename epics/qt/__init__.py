"""epics.qt: Qt widgets tied to PVs, and the applications built on them.

Qt is reached through ``qtpy`` (PySide6 from the ``qt`` extra by default; PyQt5/PyQt6 work too:
set ``QT_API``). ``import epics`` never imports this package, so it never imports Qt.

Every widget takes a PV name or a :class:`~epics.pv.PV`, rebinds with ``set_pv()``, shows the
alarm severity in its border and text, shows "disconnected" rather than a stale value, carries the
PV name in its tooltip and a right-click "Copy PV name", and mirrors ``connected`` and
``severity`` as Qt dynamic properties. CA callbacks never touch widgets: updates reach the GUI
thread by Qt signals, coalesced to at most ``max_rate`` (default 20) repaints per second.

Threads: GUI thread, except :func:`call_in_gui_thread` / :func:`gui_thread`, callable anywhere.
"""
from ._base import PVWidgetMixin
from ._channel import PVChannel
from ._updates import DEFAULT_MAX_RATE
from .alarm import PVAlarm
from .buttons import PVCheckBox, PVPushButton
from .edits import PVFloatEdit, PVLineEdit
from .enums import PVEnumButtons, PVEnumComboBox
from .gui_thread import call_in_gui_thread, gui_thread, in_gui_thread
from .image import PVImage
from .labels import PVLabel
from .led import PVLed
from .ranges import PVSlider, PVSpinBox

__all__ = ["PVWidgetMixin", "PVChannel", "DEFAULT_MAX_RATE", "PVAlarm", "PVCheckBox",
           "PVPushButton", "PVFloatEdit", "PVLineEdit", "PVEnumButtons", "PVEnumComboBox",
           "call_in_gui_thread", "gui_thread", "in_gui_thread", "PVImage", "PVLabel", "PVLed",
           "PVSlider", "PVSpinBox"]
