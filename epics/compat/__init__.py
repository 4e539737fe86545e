"""APIs of older Python CA clients, on top of :class:`epics.PV`: PyEpics's ``epics.compat``.

Only :class:`~epics.compat.epicsPV.epicsPV` (Mark Rivers' class) is provided: in PyEpics 3.5
``epics.compat.CaChannel`` and ``epics.compat.ca_util`` hold their code as an unused string
(and ``CaChannel`` needs wxPython), so there is nothing there to be compatible with.
"""
from __future__ import annotations

from .epicsPV import epicsPV

__all__ = ["epicsPV"]
