"""An areaDetector camera driver (ADBase) as a Device: PyEpics's ``AD_Camera``.

    >>> cam = AD_Camera('XXX:cam1:')
    >>> cam.ensure_value('ImageMode', 'Multiple')     # written only if ImageMode_RBV differs
    >>> cam.NumImages = 5
    >>> cam.put('Acquire', 1, wait=True, timeout=60)  # returns once the 5 frames are taken
    >>> cam.ArrayCounter_RBV

Runs in the caller's thread.
"""
from __future__ import annotations

from ..device import Device
from ._areadetector import ADDevice

__all__ = ["AD_Camera", "Device"]


class AD_Camera(ADDevice):  # noqa: N801 (PyEpics's name)
    """The ADBase PVs of a camera, ``<prefix><Name>`` (prefix usually ends in ``cam1:``)."""

    attrs = ("Acquire", "AcquirePeriod", "AcquirePeriod_RBV",
             "AcquireTime", "AcquireTime_RBV",
             "ArrayCallbacks", "ArrayCallbacks_RBV",
             "ArrayCounter", "ArrayCounter_RBV", "ArrayRate_RBV",
             "ArraySizeX_RBV", "ArraySizeY_RBV", "ArraySize_RBV",
             "BinX", "BinX_RBV", "BinY", "BinY_RBV",
             "ColorMode", "ColorMode_RBV",
             "DataType", "DataType_RBV", "DetectorState_RBV",
             "Gain", "Gain_RBV", "ImageMode", "ImageMode_RBV",
             "MaxSizeX_RBV", "MaxSizeY_RBV",
             "MinX", "MinX_RBV", "MinY", "MinY_RBV",
             "NumImages", "NumImagesCounter_RBV", "NumImages_RBV",
             "SizeX", "SizeX_RBV", "SizeY", "SizeY_RBV",
             "TimeRemaining_RBV",
             "TriggerMode", "TriggerMode_RBV", "TriggerSoftware")
