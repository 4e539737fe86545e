"""PVLabel: a PV's value as read-only text (PyEpics wx ``pvText``).

Threads: GUI thread only.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from qtpy.QtWidgets import QLabel, QWidget

from ._base import PVLike, PVWidgetMixin
from ._format import format_value
from ._updates import DEFAULT_MAX_RATE

__all__ = ["PVLabel"]


class PVLabel(PVWidgetMixin, QLabel):
    """Read-only text: the value formatted with the PV's precision, then its units.

    Parameters
    ----------
    pv : str or PV, optional
        The PV (or its name); :meth:`set_pv` changes it later.
    show_units : bool
        Append the PV's units to numbers.
    max_rate : float
        Repaints per second at most (updates in between are coalesced: latest wins).
    """

    def __init__(self, pv: Optional[PVLike] = None, parent: Optional[QWidget] = None, *,
                 show_units: bool = True, max_rate: float = DEFAULT_MAX_RATE) -> None:
        QLabel.__init__(self, parent)
        self.show_units = show_units
        self._pv_init(pv, max_rate)

    def show_value(self, data: Dict[str, Any]) -> None:
        self.setText(format_value(data, self.show_units))

    def show_disconnected(self) -> None:
        self.setText(self.disconnected_text)
