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

from ..device import Device
from ._areadetector import ADDevice, FileSaverMixin

__all__ = ["AD_FilePlugin", "Device"]


class AD_FilePlugin(FileSaverMixin, ADDevice):  # noqa: N801 (PyEpics's name)
    """The PVs of a file plugin, ``<prefix><Name>``, and PyEpics's methods on them (those of
    :class:`~epics.devices._areadetector.FileSaverMixin`, some under shorter names)."""

    attrs = ("AutoIncrement", "AutoIncrement_RBV", "AutoSave", "AutoSave_RBV",
             "Capture", "Capture_RBV", "EnableCallbacks", "EnableCallbacks_RBV",
             "FileName", "FileName_RBV", "FileNumber", "FileNumber_RBV",
             "FilePath", "FilePath_RBV", "FilePathExists_RBV",
             "FileTemplate", "FileTemplate_RBV", "FileWriteMode", "FileWriteMode_RBV",
             "FullFileName_RBV", "NDArrayPort", "NDArrayPort_RBV",
             "NumCapture", "NumCapture_RBV", "NumCaptured_RBV",
             "ReadFile", "ReadFile_RBV", "WriteFile", "WriteFile_RBV",
             "WriteMessage", "WriteStatus")

    # PyEpics's names for this class (the mixin has the longer ones of the other detectors)
    setPath = FileSaverMixin.setFilePath                    # noqa: N815
    setTemplate = FileSaverMixin.setFileTemplate            # noqa: N815
    setWriteMode = FileSaverMixin.setFileWriteMode          # noqa: N815
    CaptureOn = FileSaverMixin.FileCaptureOn                # noqa: N815
    CaptureOff = FileSaverMixin.FileCaptureOff              # noqa: N815
    setNumCapture = FileSaverMixin.setFileNumCapture        # noqa: N815
    WriteComplete = FileSaverMixin.FileWriteComplete        # noqa: N815
    getTemplate = FileSaverMixin.getFileTemplate            # noqa: N815
    getName = FileSaverMixin.getFileName                    # noqa: N815
    getNumber = FileSaverMixin.getFileNumber                # noqa: N815
    getPath = FileSaverMixin.getFilePath                    # noqa: N815
