"""The Quantum Detectors Xspress3 fluorescence detector readout: PyEpics's ``Xspress3``
(areaDetector 2 driver, ROIStat regions, version 3.20) and ``Xspress310`` (the older driver
with mca records).

    >>> x3 = Xspress3('XXX:', nmca=4, filesaver='HDF1:', fileroot='/data/')
    >>> x3.useInternalTrigger(); x3.NumImages = 1; x3.AcquireTime = 1.0
    >>> x3.start(capture=False)
    >>> x3.mcas[0].get_rois(), x3.C1SCA1               # ROIs and SCA values of element 1
    >>> x3.roi_calib_info()                            # the ROI file text PyEpics writes

The ROI file (``restore_rois``) is an INI file: ``[rois]`` with ``ROI00 = name | lo hi lo hi
...`` (one pair per element), ``[calibration]`` and ``[dxp]``. Runs in the caller's thread.
"""
from __future__ import annotations

import os
from configparser import ConfigParser
from typing import Any, List, Optional, Sequence, Tuple

from ..ca import poll
from ..device import Device
from ..procedural import caget, caput
from ._areadetector import FileSaverMixin
from .ad_mca import ADMCA
from .mca import MCA, ROI

__all__ = ["Xspress3", "Xspress310", "ADFileMixin", "Xspress3BaseMixin", "MAX_ROIS", "ADMCA",
           "MCA", "ROI", "Device", "caget", "caput", "poll"]

MAX_ROIS = 32


class ADFileMixin(FileSaverMixin):
    """File plugin methods whose paths are below the detector's ``fileroot``."""

    fileroot: str = ""

    def _file_path(self, pathname: str) -> str:
        return os.path.join(self.fileroot, pathname)


class Xspress3BaseMixin:
    """Triggers, start and stop of an Xspress3."""

    def useExternalTrigger(self) -> None:  # noqa: N802 (PyEpics's names)
        self.put("TriggerMode", 3)  # type: ignore[attr-defined]

    def useInternalTrigger(self) -> None:  # noqa: N802
        self.put("TriggerMode", 1)  # type: ignore[attr-defined]

    def setTriggerMode(self, mode: Any) -> None:  # noqa: N802
        self.put("TriggerMode", mode)  # type: ignore[attr-defined]

    def start(self, capture: bool = True) -> None:
        """Start acquiring, and the file plugin's capture unless ``capture`` is False."""
        if capture:
            self.FileCaptureOn()  # type: ignore[attr-defined]
        self.put("Acquire", 1)  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Stop acquiring and capturing."""
        self.put("Acquire", 0)  # type: ignore[attr-defined]
        self.FileCaptureOff()  # type: ignore[attr-defined]

    def get_rois(self) -> List[Any]:
        """The ROIs of each element."""
        return [mca.get_rois() for mca in self.mcas]  # type: ignore[attr-defined]


def _calibration_lines(nmca: int) -> List[str]:
    return ["[calibration]",
            "OFFSET = %s " % " ".join(["0.000 "] * nmca),
            "SLOPE  = %s " % " ".join(["0.010 "] * nmca),
            "QUAD   = %s " % " ".join(["0.000 "] * nmca),
            "[dxp]"]


def read_roi_file(roifile: str) -> List[Tuple[str, int, int]]:
    """``(name, lo, hi)`` of each ROI of an ROI file, from the first element's channels."""
    parser = ConfigParser()
    if not parser.read(roifile):
        raise FileNotFoundError(f"cannot read the ROI file {roifile!r}")
    rows = []
    for option in parser.options("rois"):
        if option.lower().startswith("roi"):
            name, limits = parser.get("rois", option).split("|")
            numbers = [int(value) for value in limits.split()]
            rows.append((name.strip(), numbers[0], numbers[1]))
    return rows


class Xspress3(Xspress3BaseMixin, ADFileMixin, Device):
    """An Xspress3 (version 3.20, areaDetector 2), prefix ``XXX:``: the driver PVs
    ``XXX:det1:<Name>`` as attributes, element ``i``'s spectrum ``XXX:MCA<i>:ArrayData`` with
    ROIs ``XXX:MCA<i>ROI:<n>:...`` (:attr:`mcas`), SCA values ``C<i>SCA<j>``."""

    det_attrs = ("NumImages", "NumImages_RBV", "Acquire", "Acquire_RBV", "ArrayCounter_RBV",
                 "ERASE", "UPDATE", "AcquireTime", "TriggerMode", "StatusMessage_RBV",
                 "DetectorState_RBV")
    pathattrs = ("FilePath", "FileTemplate", "FileName", "FileNumber", "Capture", "NumCapture")
    _nonpvs = ("_prefix", "_pvs", "_delim", "filesaver", "fileroot", "pathattrs", "_nonpvs",
               "nmca", "mcas")

    def __init__(self, prefix: str, nmca: int = 4, filesaver: str = "HDF1:",
                 fileroot: str = "/home/xspress3/cars5/Data") -> None:
        if not prefix.endswith(":"):
            prefix += ":"
        self.nmca = nmca
        self.filesaver = filesaver
        self.fileroot = fileroot
        self.mcas = [ADMCA(f"{prefix}det1:", data_pv=f"{prefix}MCA{i}:ArrayData",
                           roi_prefix=f"{prefix}MCA{i}ROI") for i in range(1, nmca + 1)]
        Device.__init__(self, prefix, attrs=[filesaver + p for p in self.pathattrs], delim="")
        for attr in self.det_attrs:
            self.add_pv(f"{prefix}det1:{attr}", attr)
        for i in range(1, nmca + 1):
            for j in range(1, 9):
                self.add_pv(f"{prefix}C{i}SCA{j}:Value_RBV", f"C{i}SCA{j}")
            for attr in ("TSNumPoints", "TSControl"):
                self.add_pv(f"{prefix}MCA{i}ROI:{attr}", f"MCA{i}{attr}")
                self.add_pv(f"{prefix}C{i}SCA:{attr}", f"SCA{i}{attr}")

    def _time_series(self, control: int, npts: Optional[int] = None) -> None:
        for i in range(1, len(self.mcas) + 1):
            for kind in ("MCA", "SCA"):
                if npts is not None:
                    self.put(f"{kind}{i}TSNumPoints", npts, wait=True)
                self.put(f"{kind}{i}TSControl", control, wait=True)

    def TimeSeriesCaptureOn(self, npts: Optional[int] = None) -> None:  # noqa: N802
        """Start a time series of ``npts`` points (0: Erase/Start) on every element."""
        self._time_series(0, npts)

    def TimeSeriesCaptureOff(self) -> None:  # noqa: N802
        """Stop the time series (2: Stop) on every element."""
        self._time_series(2)

    def roi_calib_info(self) -> List[str]:
        """The lines of an ROI file for the current ROIs (those of element 1)."""
        lines = ["[rois]"]
        for iroi, roi in enumerate(self.mcas[0].get_rois()):
            low, high = roi.MinX, roi.MinX + roi.SizeX
            if roi.Name.strip() and high > 0:
                limits = " ".join(str(value) for _ in range(self.nmca) for value in (low, high))
                lines.append("ROI%2.2i = %s | %s" % (iroi, roi.Name, limits))
        return lines + _calibration_lines(self.nmca)

    def restore_rois(self, roifile: str) -> None:
        """Set every element's ROIs from an ROI file (see the module docstring)."""
        rows = read_roi_file(roifile)
        for mca in self.mcas:
            mca.set_rois(rows)


class Xspress310(Xspress3BaseMixin, ADFileMixin, Device):
    """An Xspress3 with the older driver (3.10): element ``i`` is the mca record
    ``<prefix>mca<i>``, the driver PVs ``<prefix><Name>``."""

    attrs = ("NumImages", "NumImages_RBV", "Acquire", "Acquire_RBV", "ArrayCounter_RBV",
             "ERASE", "UPDATE", "AcquireTime", "TriggerMode", "StatusMessage_RBV",
             "DetectorState_RBV")
    pathattrs = ("FilePath", "FileTemplate", "FileName", "FileNumber", "Capture", "NumCapture")
    _nonpvs = ("_prefix", "_pvs", "_delim", "filesaver", "fileroot", "pathattrs", "_nonpvs",
               "_save_rois", "nmca", "dxps", "mcas")

    def __init__(self, prefix: str, nmca: int = 4, filesaver: str = "HDF5:",
                 fileroot: str = "/home/xspress3/cars5/Data") -> None:
        self.nmca = nmca
        self.filesaver = filesaver
        self.fileroot = fileroot
        self._save_rois: List[str] = []
        self.mcas = [MCA(prefix, mca=i + 1) for i in range(nmca)]
        Device.__init__(self, prefix, delim="",
                        attrs=list(self.attrs) + [filesaver + p for p in self.pathattrs])

    def select_rois_to_save(self, roilist: Sequence[Any]) -> None:
        """Copy ROIs (by name from mca1, or ``(lo, hi)`` tuples) to the driver's ROI limits
        ``C<i>_MCA_ROI<n>_LLM/_HLM`` of every element."""
        roilist = list(roilist)
        if len(roilist) < 4:
            roilist.append((50, 4050))
        self._save_rois = []
        for iroi, entry in enumerate(roilist):
            low, high, label = 50, 4050, entry
            if isinstance(entry, tuple):
                low, high = entry
                label = "[%i:%i]" % (low, high)
            else:
                for roi in self.mcas[0].get_rois():
                    if roi.NM.lower().strip() == entry.lower().strip():
                        low, high = roi.LO, roi.HI
                        break
            self._save_rois.append(label)
            for imca in range(1, self.nmca + 1):
                base = f"{self._prefix}C{imca}_MCA_ROI{iroi + 1}"
                caput(base + "_HLM", high)
                caput(base + "_LLM", low)

    def roi_calib_info(self) -> List[str]:
        """The lines of an ROI file for the current ROIs of every element."""
        rois = self.get_rois()
        lines = ["[rois]"]
        for iroi, first in enumerate(rois[0]):
            if first.NM.strip() and first.HI > 0:
                limits = " ".join(str(value) for m in range(self.nmca)
                                  for value in (rois[m][iroi].LO, rois[m][iroi].HI))
                lines.append("ROI%2.2i = %s | %s" % (iroi, first.NM, limits))
        return lines + _calibration_lines(self.nmca)

    def restore_rois(self, roifile: str) -> None:
        """Set every element's ROIs from an ROI file, and element 1's calibration on all."""
        rows = read_roi_file(roifile)
        record = self.mcas[0]._prefix.rstrip(".")
        rois = []
        for index, (name, low, high) in enumerate(rows):
            roi = ROI(prefix=record, roi=index)
            roi.LO, roi.HI, roi.NM = low, high, name
            rois.append(roi)
        self.mcas[0].set_rois(rois)
        calibration = self.mcas[0].get_calib()
        for mca in self.mcas[1:]:
            mca.set_rois(rois, calib=calibration)
