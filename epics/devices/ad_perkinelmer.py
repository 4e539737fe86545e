"""A PerkinElmer flat-panel detector (ADPerkinElmer) with its file plugin: PyEpics's
``AD_PerkinElmer``.

    >>> xrd = AD_PerkinElmer('XXX:', filesaver='netCDF1:')   # cam1: and netCDF1: below XXX:
    >>> xrd.SetExposureTime(0.5)          # and take a new offset (dark) correction
    >>> xrd.SetMultiFrames(10, trigger='internal')
    >>> xrd.StartStreaming(); ...; xrd.FinishStreaming()

Where PyEpics slept fixed times (3.5 s per offset correction) this waits for the driver to
finish each step (puts with completion, bounded by the timeouts given). Runs in the caller's
thread.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from ..device import Device, wait_for_condition
from ._areadetector import FileSaverMixin

__all__ = ["AD_PerkinElmer", "Device"]

log = logging.getLogger("epics.devices.ad_perkinelmer")

#: Seconds a mode change may take to complete.
PUT_TIMEOUT = 10.0
_TRIGGER_MODES = (("ext", 1), ("free", 2), ("soft", 3))


class AD_PerkinElmer(FileSaverMixin, Device):  # noqa: N801 (PyEpics's name)
    """The camera PVs ``<prefix>cam1:<Name>``; the file plugin's as attributes ``File_<Name>``.
    """

    camattrs = ("PEAcquireOffset", "PENumOffsetFrames", "ImageMode", "TriggerMode",
                "Acquire", "AcquireTime", "Model_RBV", "NumImages", "ShutterControl",
                "ShutterMode")
    pathattrs = ("FilePath", "FileTemplate", "FileWriteMode", "FileName", "FileNumber",
                 "FullFileName_RBV", "Capture", "Capture_RBV", "NumCapture", "WriteFile_RBV",
                 "AutoSave", "EnableCallbacks", "ArraySize0_RBV", "FileTemplate_RBV",
                 "FileName_RBV", "AutoIncrement")
    _nonpvs = ("_prefix", "_pvs", "_delim", "filesaver", "camattrs", "pathattrs", "_nonpvs")

    def __init__(self, prefix: str, filesaver: str = "netCDF1:") -> None:
        Device.__init__(self, prefix + "cam1:", delim="", mutable=False, attrs=self.camattrs)
        self.filesaver = f"{prefix}{filesaver}"
        for attr in self.pathattrs:
            self.add_pv(f"{prefix}{filesaver}{attr}", attr="File_" + attr)

    def _file_attr(self, attr: str) -> str:
        """``File_<attr>``, added on first use for PVs beyond ``pathattrs`` (FilePath_RBV...)."""
        name = "File_" + attr
        if name not in self._pvs:
            self.add_pv(f"{self.filesaver}{attr}", attr=name)
        return name

    def _put_done(self, attr: str, value: Any) -> None:
        self.put(attr, value, wait=True, timeout=PUT_TIMEOUT)

    def AcquireOffset(self, timeout: float = 10, open_shutter: bool = True) -> None:  # noqa: N802
        """Take an offset (dark) correction: close the shutter, single image with internal
        trigger, acquire PENumOffsetFrames frames, put the modes back, open the shutter again
        (unless ``open_shutter`` is False).
        """
        self._put_done("ShutterMode", 1)
        self._put_done("ShutterControl", 0)
        image_mode, trigger_mode = self.ImageMode, self.TriggerMode
        self._put_done("ImageMode", 0)
        self._put_done("TriggerMode", 0)
        offset_time = (self.PENumOffsetFrames or 0) * (self.AcquireTime or 0)
        if self.put("PEAcquireOffset", 1, wait=True, timeout=timeout + offset_time) != 1:
            log.warning("%sPEAcquireOffset: the offset correction did not finish in %.1f s",
                        self._prefix, timeout + offset_time)
        self._put_done("ImageMode", image_mode)
        self._put_done("TriggerMode", trigger_mode)
        if open_shutter:
            self._put_done("ShutterControl", 1)
        self._put_done("ShutterMode", 0)

    def SetExposureTime(self, t: float, open_shutter: bool = True) -> None:  # noqa: N802
        """Set the exposure time and take a new offset correction for it."""
        self._put_done("AcquireTime", t)
        self.AcquireOffset(open_shutter=open_shutter)

    def SetMultiFrames(self, n: int, trigger: str = "external") -> None:  # noqa: N802
        """Multiple-image mode with ``n`` frames, captured by the file plugin; ``trigger`` is
        'internal', 'external', 'free running' or 'soft' (by its first letters)."""
        self._put_done("ImageMode", 1)
        mode = next((code for start, code in _TRIGGER_MODES
                     if trigger.lower().startswith(start)), 0)
        self._put_done("TriggerMode", mode)
        self._put_done("NumImages", n)
        for attr, value in (("NumCapture", n), ("EnableCallbacks", 1), ("FileNumber", 1),
                            ("AutoIncrement", 1)):
            self.filePut(attr, value, wait=True, timeout=PUT_TIMEOUT)

    def StartStreaming(self) -> None:  # noqa: N802
        """Stream frames to the file plugin and start acquiring."""
        self._put_done("ShutterMode", 0)
        self.filePut("AutoSave", 1, wait=True, timeout=PUT_TIMEOUT)
        self.filePut("FileWriteMode", 2, wait=True, timeout=PUT_TIMEOUT)   # stream
        self.filePut("Capture", 1, wait=True, timeout=PUT_TIMEOUT)
        self.put("Acquire", 1)

    def FinishStreaming(self, timeout: float = 5.0) -> bool:  # noqa: N802
        """Wait up to ``timeout`` s for the capture to end, stop it if it has not; True if it
        ended by itself (PyEpics returned None)."""
        capture = self.PV("File_Capture_RBV")
        ended = wait_for_condition([capture], lambda: capture.get(use_monitor=False) == 0,
                                   timeout)
        if not ended:
            log.warning("%s: streaming still capturing after %.1f s: stopping it",
                        self.filesaver, timeout)
            self.filePut("Capture", 0, wait=True, timeout=PUT_TIMEOUT)
            wait_for_condition([capture], lambda: capture.get(use_monitor=False) == 0,
                               timeout)
        return ended
