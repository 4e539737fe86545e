"""An areaDetector file-saving plugin (netCDF, HDF5, TIFF...) as a Device: PyEpics's
``AD_FilePlugin``.

    >>> saver = AD_FilePlugin('XXX:netCDF1:')
    >>> saver.setPath('/data/run1/')
    >>> saver.setFileName('sample')
    >>> saver.setTemplate('%s%s_%4.4d.nc')
    >>> saver.setFileNumber(1)
    >>> saver.getLastFileName()          # after a write: /data/run1/sample_0001.nc

Runs in the caller's thread.
"""
from __future__ import annotations

from typing import Any, Optional

from ..device import Device
from ._areadetector import ADDevice

__all__ = ["AD_FilePlugin", "Device"]


class AD_FilePlugin(ADDevice):  # noqa: N801 (PyEpics's name)
    """The PVs of a file plugin, ``<prefix><Name>``, and PyEpics's methods on them."""

    attrs = ("AutoIncrement", "AutoIncrement_RBV", "AutoSave", "AutoSave_RBV",
             "Capture", "Capture_RBV", "EnableCallbacks", "EnableCallbacks_RBV",
             "FileName", "FileName_RBV", "FileNumber", "FileNumber_RBV",
             "FilePath", "FilePath_RBV", "FilePathExists_RBV",
             "FileTemplate", "FileTemplate_RBV", "FileWriteMode", "FileWriteMode_RBV",
             "FullFileName_RBV", "NDArrayPort", "NDArrayPort_RBV",
             "NumCapture", "NumCapture_RBV", "NumCaptured_RBV",
             "ReadFile", "ReadFile_RBV", "WriteFile", "WriteFile_RBV",
             "WriteMessage", "WriteStatus")

    def setFileName(self, fname: str) -> Optional[int]:  # noqa: N802 (PyEpics's names)
        return self.put("FileName", fname)

    def nextFileNumber(self) -> None:  # noqa: N802
        self.setFileNumber(1 + self.get("FileNumber"))

    def setFileNumber(self, fnum: Optional[int] = None) -> Optional[int]:  # noqa: N802
        """Set the next file number; None lets the plugin count on (AutoIncrement)."""
        if fnum is None:
            return self.put("AutoIncrement", 1)
        self.put("AutoIncrement", 0)
        return self.put("FileNumber", fnum)

    def setPath(self, pathname: str) -> Optional[int]:  # noqa: N802
        return self.put("FilePath", pathname)

    def setTemplate(self, fmt: str) -> Optional[int]:  # noqa: N802
        return self.put("FileTemplate", fmt)

    def setWriteMode(self, mode: Any) -> Optional[int]:  # noqa: N802
        return self.put("FileWriteMode", mode)

    def getLastFileName(self) -> str:  # noqa: N802
        return self.get("FullFileName_RBV", as_string=True)

    def CaptureOn(self) -> Optional[int]:  # noqa: N802
        return self.put("Capture", 1)

    def CaptureOff(self) -> Optional[int]:  # noqa: N802
        return self.put("Capture", 0)

    def setNumCapture(self, n: int) -> Optional[int]:  # noqa: N802
        return self.put("NumCapture", n)

    def WriteComplete(self) -> bool:  # noqa: N802
        return self.get("WriteFile_RBV") == 0

    def getTemplate(self) -> str:  # noqa: N802
        return self.get("FileTemplate_RBV", as_string=True)

    def getName(self) -> str:  # noqa: N802
        return self.get("FileName_RBV", as_string=True)

    def getNumber(self) -> Any:  # noqa: N802
        return self.get("FileNumber_RBV")

    def getPath(self) -> str:  # noqa: N802
        return self.get("FilePath_RBV", as_string=True)

    def getFileNameByIndex(self, index: int) -> str:  # noqa: N802
        """The file name the template gives for file number ``index``."""
        return self.getTemplate() % (self.getPath(), self.getName(), index)
