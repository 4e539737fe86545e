"""One overlay of an areaDetector overlay plugin (NDOverlay) as a Device: PyEpics's
``AD_OverlayPlugin``.

    >>> box = AD_OverlayPlugin('XXX:Over1:1:')
    >>> box.ensure_value('Shape', 'Rectangle')
    >>> box.PositionX, box.SizeX = 10, 20

Runs in the caller's thread.
"""
from __future__ import annotations

from ..device import Device
from ._areadetector import ADDevice

__all__ = ["AD_OverlayPlugin", "Device"]


class AD_OverlayPlugin(ADDevice):  # noqa: N801 (PyEpics's name)
    """The PVs of one overlay, ``<prefix><Name>``."""

    attrs = ("Name", "Name_RBV", "Use", "Use_RBV",
             "PositionX", "PositionX_RBV", "PositionY", "PositionY_RBV",
             "PositionXLink", "PositionYLink", "SizeXLink", "SizeYLink",
             "SizeX", "SizeX_RBV", "SizeY", "SizeY_RBV",
             "Shape", "Shape_RBV", "DrawMode", "DrawMode_RBV",
             "Red", "Red_RBV", "Green", "Green_RBV", "Blue", "Blue_RBV")
