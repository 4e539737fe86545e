"""What the areaDetector devices share: the ``ensure_value`` of a setting with a read-back, and
the file-saving methods of a file plugin.

Runs in the caller's thread (PV callbacks, if any, on the library's dispatcher thread).
"""
from __future__ import annotations

import numbers
from typing import Any, Optional

from ..device import Device

__all__ = ["ADDevice", "FileSaverMixin", "same_value"]


def same_value(readback: Any, enum_strs: Optional[tuple], value: Any) -> bool:
    """Whether a read-back already holds ``value`` (an enum by index or by state name, numbers
    by value, text by text)."""
    if readback is None:
        return False
    if enum_strs and isinstance(value, str):
        try:
            return enum_strs[int(readback)] == value
        except (IndexError, TypeError, ValueError):
            return False
    if isinstance(value, numbers.Number) and isinstance(readback, numbers.Number):
        return float(readback) == float(value)
    return str(readback) == str(value)


class ADDevice(Device):
    """An areaDetector driver or plugin: PVs ``<prefix><Name>`` listed in ``attrs``."""

    attrs: tuple = ()

    def __init__(self, prefix: str) -> None:
        super().__init__(prefix, delim="", mutable=False, attrs=self.attrs)

    def ensure_value(self, attr: str, value: Any, wait: bool = False) -> Optional[int]:
        """Write ``value`` to ``attr`` unless its read-back ``<attr>_RBV`` already holds it.

        Saves a put (and the driver's reaction to it, which may restart a detector) when the
        setting is already right. Returns the put's result, or None when nothing was written.
        Follows PyEpics, but compares values by meaning: 1 and '1', or an enum's index and its
        state name, are the same (PyEpics compared the read-back's text with the value).
        """
        readback = f"{attr}_RBV"
        if readback not in self._pvs:
            return self.put(attr, value, wait=wait)
        rbv = self.PV(readback)
        current = rbv.get(use_monitor=False)
        enum_strs = rbv.enum_strs if rbv.type == "enum" else None
        if same_value(current, enum_strs, value):
            return None
        return self.put(attr, value, wait=wait)


class FileSaverMixin:
    """PyEpics's file-plugin methods (``filePut``, ``setFileName``, ``getLastFileName``...) for
    a device whose file plugin PVs are attributes ``<filesaver><Name>``.

    A class sets ``filesaver`` (e.g. ``'netCDF1:'``), or overrides :meth:`_file_attr` when its
    attributes are named otherwise; :meth:`_file_path` may prefix a root directory.
    """

    filesaver: str = ""

    def _file_attr(self, attr: str) -> str:
        return f"{self.filesaver}{attr}"

    def _file_path(self, pathname: str) -> str:
        return pathname

    def filePut(self, attr: str, value: Any, **kws: Any) -> Optional[int]:  # noqa: N802
        """Write a file plugin PV (``'FileName'``, ``'Capture'``...)."""
        return self.put(self._file_attr(attr), value, **kws)  # type: ignore[attr-defined]

    def fileGet(self, attr: str, **kws: Any) -> Any:  # noqa: N802
        """Read a file plugin PV."""
        return self.get(self._file_attr(attr), **kws)  # type: ignore[attr-defined]

    def setFilePath(self, pathname: str) -> Optional[int]:  # noqa: N802
        return self.filePut("FilePath", self._file_path(pathname))

    def setFileTemplate(self, fmt: str) -> Optional[int]:  # noqa: N802
        return self.filePut("FileTemplate", fmt)

    def setFileWriteMode(self, mode: Any) -> Optional[int]:  # noqa: N802
        return self.filePut("FileWriteMode", mode)

    def setFileName(self, fname: str) -> Optional[int]:  # noqa: N802
        return self.filePut("FileName", fname)

    def nextFileNumber(self) -> None:  # noqa: N802
        self.setFileNumber(1 + self.fileGet("FileNumber"))

    def setFileNumber(self, fnum: Optional[int] = None) -> Optional[int]:  # noqa: N802
        """Set the next file number; None lets the plugin count on (AutoIncrement)."""
        if fnum is None:
            return self.filePut("AutoIncrement", 1)
        self.filePut("AutoIncrement", 0)
        return self.filePut("FileNumber", fnum)

    def getLastFileName(self) -> str:  # noqa: N802
        return self.fileGet("FullFileName_RBV", as_string=True)

    def FileCaptureOn(self) -> Optional[int]:  # noqa: N802
        return self.filePut("Capture", 1)

    def FileCaptureOff(self) -> Optional[int]:  # noqa: N802
        return self.filePut("Capture", 0)

    def setFileNumCapture(self, n: int) -> Optional[int]:  # noqa: N802
        return self.filePut("NumCapture", n)

    def FileWriteComplete(self) -> bool:  # noqa: N802
        return self.fileGet("WriteFile_RBV") == 0

    def getFileTemplate(self) -> str:  # noqa: N802
        return self.fileGet("FileTemplate_RBV", as_string=True)

    def getFileName(self) -> str:  # noqa: N802
        return self.fileGet("FileName_RBV", as_string=True)

    def getFileNumber(self) -> Any:  # noqa: N802
        return self.fileGet("FileNumber_RBV")

    def getFilePath(self) -> str:  # noqa: N802
        return self.fileGet("FilePath_RBV", as_string=True)

    def getFileNameByIndex(self, index: int) -> str:  # noqa: N802
        """The file name the template gives for file number ``index``."""
        return self.getFileTemplate() % (self.getFilePath(), self.getFileName(), index)
