"""A multi-element XIA xMAP (dxp driver): PyEpics's ``MultiXMAP``, also importable from
:mod:`epics.devices.mca` as in PyEpics.

    >>> xmap = MultiXMAP('XXX:', filesaver='netCDF1:', nmca=4)
    >>> xmap.PresetReal = 1.0
    >>> xmap.start(); ...; xmap.stop()
    >>> xmap.get_rois()                 # the ROIs of each element's mca record
    >>> xmap.roi_calib_info()           # the ROI file text; restore_rois() reads such a file
    >>> xmap.SpectraMode()              # or SCAMode(), MCAMode(npulses=11) for mapping

Element ``i`` is the mca record ``<prefix>mca<i>`` with DXP parameters ``<prefix>dxp<i>:``;
the driver PVs are ``<prefix><Name>``, the file plugin's ``<prefix><filesaver><Name>``. Where
PyEpics slept and polled without end, each wait here is bounded and waits on the PVs. Runs in
the caller's thread.
"""
from __future__ import annotations

import logging
import time
from typing import Any, List, Optional, Tuple

import numpy as np

from ..device import Device, wait_for_condition
from ._areadetector import FileSaverMixin
from .mca import DXP, MCA, ROI
from .xspress3 import read_roi_file

__all__ = ["MultiXMAP"]

log = logging.getLogger("epics.devices.xmap")

#: BufferSize_RBV at or above which the driver is in a mapping mode.
MAPPING_BUFFER = 16384
#: Seconds a mode change may take.
MODE_TIMEOUT = 10.0


class MultiXMAP(FileSaverMixin, Device):
    """Several xMAP elements (see the module docstring)."""

    attrs = ["PresetReal", "Dwell", "Acquiring", "EraseStart", "StopAll", "PresetMode",
             "PixelsPerBuffer_RBV", "NextPixel", "PixelsPerRun", "Apply", "AutoApply",
             "CollectMode", "SyncCount", "BufferSize_RBV"]
    pathattrs = ("FilePath", "FileTemplate", "FileWriteMode", "FileName", "FileNumber",
                 "FullFileName_RBV", "Capture", "NumCapture", "WriteFile_RBV", "AutoSave",
                 "EnableCallbacks", "ArraySize0_RBV", "FileTemplate_RBV", "FileName_RBV",
                 "AutoIncrement")
    _nonpvs = ("_prefix", "_pvs", "_delim", "filesaver", "pathattrs", "_nonpvs", "nmca",
               "dxps", "mcas")

    def __init__(self, prefix: str, filesaver: str = "netCDF1:", nmca: int = 4) -> None:
        self.filesaver = filesaver
        self.nmca = nmca
        self.dxps = [DXP(prefix, mca=i + 1) for i in range(nmca)]
        self.mcas = [MCA(prefix, mca=i + 1) for i in range(nmca)]
        Device.__init__(self, prefix, attrs=self.attrs, delim="", mutable=True)
        for attr in self.pathattrs:
            self.add_pv(f"{prefix}{filesaver}{attr}", attr=attr)

    # --- ROIs and calibration -------------------------------------------------------------------

    def get_calib(self) -> List[List[Any]]:
        return [mca.get_calib() for mca in self.mcas]

    def get_rois(self) -> List[List[ROI]]:
        return [mca.get_rois() for mca in self.mcas]

    def roi_calib_info(self) -> List[str]:
        """The lines of an ROI file: ROIs of every element, calibrations, DXP settings."""
        rois = self.get_rois()
        lines = ["[rois]"]
        for iroi, first in enumerate(rois[0]):
            limits = " ".join(str(value) for m in range(self.nmca)
                              for value in (rois[m][iroi].LO, rois[m][iroi].HI))
            lines.append("ROI%2.2i = %s | %s" % (iroi, first.NM, limits))
        calib = np.array(self.get_calib(), dtype=float)
        lines.append("[calibration]")
        for label, column in (("OFFSET", 0), ("SLOPE ", 1), ("QUAD  ", 2)):
            lines.append("%s = %s " % (label, " ".join("%.7g" % v for v in calib[:, column])))
        lines.append("[dxp]")
        for attr in self.dxps[0]._attrs:
            values = [str(dxp.get(attr, as_string=True)).replace(" ", "_") for dxp in self.dxps]
            lines.append("%s = %s" % (attr, " ".join(values)))
        return lines

    def restore_rois(self, roifile: str) -> None:
        """Set every element's ROIs from an ROI file (element 1's channels, mapped to the
        others by their calibrations)."""
        rows = read_roi_file(roifile)
        record = self.mcas[0]._prefix.rstrip(".")
        rois = []
        for index, (name, low, high) in enumerate(rows):
            roi = ROI(prefix=record, roi=index)
            for attr, value in (("LO", low), ("HI", high), ("NM", name)):
                roi.put(attr, value, wait=True)
            rois.append(roi)
        self.mcas[0].set_rois(rois)
        calibration = self.mcas[0].get_calib()
        for mca in self.mcas[1:]:
            mca.set_rois(rois, calib=calibration)

    def Write_CurrentConfig(self, filename: Optional[str] = None) -> str:  # noqa: N802
        """The current settings as text (general, ROIs, calibration, DXP), written to
        ``filename`` if given."""
        lines = ["#Multi-Element xMAP Settings saved: %s" % time.ctime(), "[general]",
                 "prefix= %s" % self._prefix, "nmcas = %i" % self.nmca,
                 "filesaver= %s" % self.filesaver]
        text = "\n".join(lines + self.roi_calib_info())
        if filename is not None:
            with open(filename, "w", encoding="utf-8") as out:
                out.write(text)
        return text

    # --- acquisition ----------------------------------------------------------------------------

    def start(self) -> Any:
        """Erase and start (again if the first did not start the acquisition)."""
        self.put("EraseStart", 1, wait=True)
        if self.PV("Acquiring").get(use_monitor=False) == 0:
            self.put("EraseStart", 1, wait=True)
        return self.EraseStart

    def stop(self) -> Any:
        self.put("StopAll", 1, wait=True)
        return self.StopAll

    def next_pixel(self) -> Any:
        self.put("NextPixel", 1, wait=True)
        return self.NextPixel

    def finish_pixels(self, timeout: float = 2) -> Tuple[bool, int]:
        """Wait up to ``timeout`` s for CurrentPixel to reach PixelsPerRun, then advance the
        missing pixels by hand; returns (whether it got there alone, pixels missing)."""
        per_run, current = self.PV("PixelsPerRun"), self.dxps[0].PV("CurrentPixel")

        def done() -> bool:
            return current.get(use_monitor=False) >= per_run.get(use_monitor=False)
        ok = wait_for_condition([per_run, current], done, timeout)
        missing = int(per_run.get(use_monitor=False) - current.get(use_monitor=False))
        if not ok:
            log.warning("%s: XMAP needs to finish pixels %d / %d", self._prefix,
                        current.get(use_monitor=False), per_run.get(use_monitor=False))
            for _ in range(max(missing, 0)):
                self.next_pixel()
            self.FileCaptureOff()
        return ok, missing

    def readmca(self, n: int = 1) -> Any:
        """The spectrum of element ``n``."""
        return self.mcas[n - 1].get("VAL")

    def _wait_buffer(self, condition: Any, timeout: float) -> bool:
        size = self.PV("BufferSize_RBV")
        return wait_for_condition([size], lambda: condition(size.get(use_monitor=False) or 0),
                                  timeout)

    def SCAMode(self) -> None:  # noqa: N802
        """SCA mapping mode."""
        self.put("CollectMode", 2, wait=True)

    def SpectraMode(self) -> None:  # noqa: N802
        """Plain spectra (no mapping): stop, CollectMode 0, PresetMode 0, and wait (up to 5 s)
        for the driver's buffer to shrink."""
        self.stop()
        self.put("CollectMode", 0, wait=True)
        self.put("PresetMode", 0, wait=True)
        if not self._wait_buffer(lambda size: size < MAPPING_BUFFER, 5.0):
            log.warning("%s: BufferSize_RBV still at mapping size after 5 s", self._prefix)

    def MCAMode(self, filename: Optional[str] = None,  # noqa: N802 (PyEpics's name)
                filenumber: Optional[int] = None, npulses: int = 11) -> None:
        """MCA mapping mode for ``npulses`` pixels (at least 2), saved by the file plugin."""
        npulses = max(npulses, 2)
        self.put("AutoApply", 1, wait=True)
        self.stop()
        self.put("PresetMode", 0, wait=True)
        self.setFileWriteMode(2)
        self.put("CollectMode", 1, wait=True)
        self.put("PixelsPerRun", npulses, wait=True)
        self.FileCaptureOff()
        self.start()
        size = self.PV(f"{self.filesaver}ArraySize0_RBV")
        deadline = time.monotonic() + MODE_TIMEOUT
        while (size.get(use_monitor=False) or 0) <= MAPPING_BUFFER \
                and time.monotonic() < deadline:
            self.next_pixel()                   # each pixel fills the plugin's array a little
            wait_for_condition([size], lambda: (size.get(use_monitor=False) or 0)
                               > MAPPING_BUFFER, 0.1)
        self.put("PixelsPerRun", npulses, wait=True)
        self.put("SyncCount", 1, wait=True)
        self.setFileNumber(filenumber)
        if filename is not None:
            self.setFileName(filename)
        self.put("Apply", 1, wait=True)
        self._wait_buffer(lambda value: value > MAPPING_BUFFER, MODE_TIMEOUT)
        per_buffer = self.PV("PixelsPerBuffer_RBV").get(use_monitor=False) or 124
        self.setFileNumCapture(1 + (npulses - 1) // per_buffer)
        self._wait_buffer(lambda value: value == (size.get(use_monitor=False) or 0), 5.0)
