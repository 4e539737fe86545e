"""A spectrum from an areaDetector 2 driver with ROIStat regions (the Xspress3's MCAs):
PyEpics's ``ADMCA`` and ``ADMCAROI``.

    >>> mca = ADMCA('XXX:det1:', data_pv='XXX:MCA1:ArrayData', roi_prefix='XXX:MCA1ROI')
    >>> mca.add_roi('Fe Ka', lo=620, hi=660)
    >>> [(roi.Name, roi.MinX, roi.right, roi.sum) for roi in mca.get_rois()]

ROI ``n`` (from 1) is ``<roi_prefix>:<n>:Name``, ``:MinX`` (first channel), ``:SizeX``
(channels), ``:Total_RBV`` and ``:Net_RBV``. The regions in use are kept sorted by MinX and
contiguous from 1, the first with an empty name (or not served) ends the list. Runs in the
caller's thread.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..ca import poll
from ..device import Device
from ..procedural import caput
from ..pv import PV, get_pv

__all__ = ["ADMCA", "ADMCAROI", "MAX_CHAN", "MAX_ROIS", "TOOMANY_ROIS", "Device", "PV",
           "caput", "get_pv", "poll"]

log = logging.getLogger("epics.devices.ad_mca")

MAX_CHAN = 4096
MAX_ROIS = 48
TOOMANY_ROIS = "Too many ROIS, only %i ROIS allowed." % MAX_ROIS
#: Seconds an ROI's PVs may take to connect before the list is taken to end there.
ROI_CONNECT_TIMEOUT = 2.0


def _now(device: Device, attr: str) -> Any:
    return device.PV(attr).get(use_monitor=False)


class ADMCAROI(Device):
    """One ROIStat region, ``<prefix>:<roi>:<Field>``."""

    _attrs = ("Use", "Name", "MinX", "SizeX", "BgdWidth", "SizeX_RBV", "MinX_RBV",
              "Total_RBV", "Net_RBV")
    _known_fields = frozenset(_attrs)
    _nonpvs = ("_prefix", "_pvs", "_delim", "_init", "_aliases", "data_pv", "bgr_width")
    _reprfmt = "<ADMCAROI '%s', name='%s', range=[%s:%s]>"

    def __init__(self, prefix: str, roi: int = 1, bgr_width: int = 3,
                 data_pv: Union[None, PV] = None, with_poll: bool = False) -> None:
        self.bgr_width = bgr_width
        self.data_pv = data_pv
        super().__init__(f"{prefix}:{roi}", delim=":", attrs=("Name", "MinX"),
                         aliases={"left": "MinX", "width": "SizeX", "name": "Name",
                                  "sum": "Total_RBV", "net": "Net_RBV"}, with_poll=with_poll)

    def connected(self, timeout: float = ROI_CONNECT_TIMEOUT) -> bool:
        """Whether the region's Name and MinX are served (waits up to ``timeout``)."""
        return all(self.PV(attr, connect=False).wait_for_connection(timeout=timeout)
                   for attr in ("Name", "MinX"))

    def __eq__(self, other: Any) -> bool:
        return (self.MinX == getattr(other, "MinX", None)
                and self.SizeX == getattr(other, "SizeX", None)
                and self.BgdWidth == getattr(other, "BgdWidth", None))

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    def __lt__(self, other: "ADMCAROI") -> bool:
        return self.MinX < other.MinX

    def __le__(self, other: "ADMCAROI") -> bool:
        return self.MinX <= other.MinX

    def __gt__(self, other: "ADMCAROI") -> bool:
        return self.MinX > other.MinX

    def __ge__(self, other: "ADMCAROI") -> bool:
        return self.MinX >= other.MinX

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return self._reprfmt % (self._prefix.rstrip(":"), self.Name, self.MinX,
                                self.MinX + self.SizeX)

    def get_right(self) -> int:
        return self.MinX + self.SizeX

    def set_right(self, val: int) -> None:
        """Move the last channel (the size changes, the first channel stays)."""
        self.put("SizeX", val - self.MinX)

    right = property(get_right, set_right)

    def get_center(self) -> int:
        return int(round(self.MinX + self.SizeX / 2.0))

    def set_center(self, val: int) -> None:
        """Move the region so that it is centred on ``val`` (the size stays)."""
        self.put("MinX", int(round(val - self.SizeX / 2.0)))

    center = property(get_center, set_center)

    def clear(self) -> None:
        """Remove the region (blank name, MinX = SizeX = 0)."""
        for attr, value in (("Name", ""), ("MinX", 0), ("SizeX", 0)):
            self.put(attr, value, wait=True)

    def get_counts(self, data: Optional[np.ndarray] = None, net: bool = False) -> Any:
        """Total (or ``net``) counts of the region: summed from ``data`` or the data PV's
        spectrum, else the plugin's own Total_RBV / Net_RBV."""
        if data is None and self.data_pv is not None:
            data = self.data_pv.get()
        if not isinstance(data, np.ndarray):
            return self.Net_RBV if net else self.Total_RBV
        low, high = int(self.MinX), int(self.MinX + self.SizeX)
        total = data[low:high + 1].sum()
        if not net:
            return total
        width = int(self.bgr_width)
        background = np.concatenate((data[max(low - width, 0):low],
                                     data[high + 1:min(high + width, len(data) - 1) + 1]))
        return total - (background.mean() if len(background) else 0.0) * (high - low)


class ADMCA(Device):
    """A spectrum (``data_pv``) with its ROIStat regions (``roi_prefix``), and the driver's
    ``Acquire``, ``AcquireTime`` and ``NumImages`` (``<prefix><Name>``)."""

    _attrs = ("AcquireTime", "Acquire", "NumImages")
    _nonpvs = ("_prefix", "_pvs", "_delim", "_roi_prefix", "_npts", "rois", "_nrois", "_calib")
    _calib = (0.00, 0.01, 0.00)

    def __init__(self, prefix: str, data_pv: Optional[str] = None, nrois: Optional[int] = None,
                 roi_prefix: Optional[str] = None) -> None:
        super().__init__(prefix, delim="", attrs=self._attrs, with_poll=False)
        if data_pv is not None:
            self._pvs["VAL"] = get_pv(data_pv)
        self._npts: Optional[int] = None
        self._nrois = nrois if nrois is not None else MAX_ROIS
        self._roi_prefix = roi_prefix
        self.rois: List[ADMCAROI] = []
        self.get_rois()

    def start(self) -> Any:
        """Start acquiring."""
        self.put("Acquire", 1)
        return self.Acquire

    def stop(self) -> Any:
        """Stop acquiring."""
        self.put("Acquire", 0)
        return self.Acquire

    def get_calib(self) -> Tuple[float, float, float]:
        """The energy calibration (offset, slope, quadratic), fixed for these detectors."""
        return self._calib

    def _spectrum_length(self) -> int:
        """Channels of the spectrum: those it holds, or its capacity while it is empty."""
        data_pv = self._pvs.get("VAL")
        if self._npts is None and data_pv is not None and data_pv.wait_for_connection():
            data = data_pv.get()
            held = len(data) if data is not None and np.ndim(data) else 0
            self._npts = held or int(data_pv.nelm or 0) or None
        return self._npts if self._npts is not None else MAX_CHAN

    def get_energy(self) -> np.ndarray:
        """The energy of each channel, from the calibration."""
        channel = np.arange(self._spectrum_length(), dtype="f8")
        offset, slope, quad = self._calib
        return offset + channel * (slope + channel * quad)

    def _roi(self, index: int) -> ADMCAROI:
        return ADMCAROI(prefix=self._roi_prefix or "", roi=index, data_pv=self._pvs.get("VAL"))

    def get_rois(self, nrois: Optional[int] = None) -> List[ADMCAROI]:
        """The regions in use, from 1 up to the first one without a name (or not served)."""
        self.rois = []
        if self._roi_prefix is None:
            return self.rois
        for index in range(1, (nrois if nrois is not None else self._nrois) + 1):
            roi = self._roi(index)
            if not roi.connected():
                log.debug("%s:%d not served: the list ends there", self._roi_prefix, index)
                break
            name = _now(roi, "Name")
            if not name or not name.strip() or _now(roi, "SizeX") <= 0:
                break
            self.rois.append(roi)
        return self.rois

    def clear_rois(self, nrois: Optional[int] = None) -> None:
        """Remove every region."""
        for roi in self.get_rois(nrois):
            roi.clear()
        self.rois = []

    def del_roi(self, roiname: str) -> None:
        """Remove the regions called ``roiname`` (case and blanks ignored)."""
        wanted = roiname.strip().lower()
        self._write_table([row for row in self._table() if row[0].strip().lower() != wanted])

    def add_roi(self, roiname: str, lo: int, wid: Optional[int] = None, hi: Optional[int] = None,
                sort: bool = True) -> None:
        """Add a region from channel ``lo``, ``wid`` channels wide or up to ``hi``."""
        if lo is None or (hi is None and wid is None):
            return
        table = self._table()
        if len(table) >= MAX_ROIS:
            raise ValueError(TOOMANY_ROIS)
        nmax = self._spectrum_length()
        left = min(nmax - 1, lo)
        size = (min(nmax, hi) - lo) if hi is not None else min(nmax, wid + left) - left
        table.append((roiname.strip(), left, size))
        self._write_table(sorted(table, key=lambda row: row[1]) if sort else table)

    def sort_rois(self) -> None:
        """Rewrite the regions sorted by their first channel, contiguous from 1."""
        self._write_table(sorted(self._table(), key=lambda row: row[1]))

    def set_rois(self, roidata: Sequence[Tuple[str, int, int]]) -> None:
        """Replace every region by ``(name, lo, hi)`` rows (empty or inverted ones skipped)."""
        rows = [(name.strip(), lo, hi - lo) for name, lo, hi in roidata
                if len(name) > 0 and hi > lo and hi > 0]
        if len(rows) > MAX_ROIS:
            raise ValueError(TOOMANY_ROIS)
        self._write_table(sorted(rows, key=lambda row: row[1]))

    def _table(self) -> List[Tuple[str, int, int]]:
        """(name, MinX, SizeX) of the regions as the server has them now: they are read right
        after being written, when monitor updates may still be on their way."""
        return [(_now(roi, "Name"), int(_now(roi, "MinX")), int(_now(roi, "SizeX")))
                for roi in self.get_rois()]

    def _write_table(self, table: Sequence[Tuple[str, int, int]]) -> None:
        """Write rows (name, MinX, SizeX) to regions 1, 2, ...; blank the one after the last."""
        previous = len(self.rois)
        for index, (name, left, size) in enumerate(table, start=1):
            roi = self._roi(index)
            for attr, value in (("Name", name), ("MinX", left), ("SizeX", size)):
                roi.put(attr, value, wait=True)
        for index in range(len(table) + 1, max(previous, len(table)) + 2):
            roi = self._roi(index)
            if index > self._nrois or not roi.connected():
                break
            roi.clear()
        self.get_rois()
