"""The synApps mca record (multichannel analyser) and its regions of interest, as Devices.

As in PyEpics 3.5::

    >>> mca = MCA('XXX:', mca=1)          # the record XXX:mca1
    >>> mca.add_roi('Fe Ka', lo=620, hi=660)
    >>> [(roi.name, roi.left, roi.right, roi.total) for roi in mca.get_rois()]
    >>> mca.get_energy()                  # energy of each channel, from CALO/CALS/CALQ

An mca record has 32 ROIs, ``R0`` to ``R31``: ``RnNM`` name, ``RnLO``/``RnHI`` first and last
channel, ``Rn`` total counts, ``RnN`` net counts. :meth:`MCA.set_rois` keeps them sorted by their
first channel and contiguous from R0, which is what :meth:`MCA.get_rois` expects.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..ca import poll  # noqa: F401 (importable from here, as in PyEpics)
from ..device import Device
from ..procedural import caget, caput  # noqa: F401 (the same)
from ..pv import PV, get_pv
from ..utils import IOENCODING  # noqa: F401 (importable from here, as in PyEpics)

__all__ = ["MCA", "Mca", "ROI", "DXP", "MultiXMAP", "MAX_ROIS"]

log = logging.getLogger("epics.devices.mca")

#: Regions of interest of an mca record.
MAX_ROIS = 32


def _now(device: Device, attr: str) -> Any:
    """An attribute's value as the server has it now: ROIs are read back right after writing
    them, when monitor updates may still be on their way."""
    return device.PV(attr).get(use_monitor=False)


class ROI(Device):
    """One region of interest of an mca record.

    >>> roi = ROI('XXX:mca1', roi=0)
    >>> roi.name, roi.left, roi.right      # NM, LO, HI (also as roi.NM, roi.LO, roi.HI)
    >>> roi.total, roi.net                 # counts in the region, and above background

    Parameters
    ----------
    prefix : str
        The mca record name.
    roi : int
        Which ROI, 0 to 31.
    bgr_width : int
        Channels each side of the region averaged as background for :attr:`net` when the counts
        come from a spectrum.
    data_pv : str or PV, optional
        Where the counts come from: the ROI's own sum (``Rn``, the default) or the spectrum.
    """

    _nonpvs = ("_prefix", "_pvs", "_delim", "attrs", "bgr_width", "address", "_dat_", "_net_")
    _aliases_default = {"left": "LO", "right": "HI", "name": "NM"}

    def __init__(self, prefix: str, roi: int = 0, bgr_width: int = 3,
                 data_pv: Union[None, str, PV] = None) -> None:
        self.address = f"{prefix}.R{roi}"
        self.bgr_width = bgr_width
        super().__init__(self.address, delim="", attrs=("NM", "LO", "HI"),
                         aliases=self._aliases_default, with_poll=False)
        if data_pv is None:
            data_pv = self.address
        self._dat_: Optional[PV] = get_pv(data_pv) if isinstance(data_pv, str) else data_pv
        self._net_: PV = get_pv(self.address + "N")

    def __eq__(self, other: Any) -> bool:
        return (self.LO == getattr(other, "LO", None) and self.HI == getattr(other, "HI", None)
                and self.bgr_width == getattr(other, "bgr_width", None))

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    def __lt__(self, other: "ROI") -> bool:
        return self.LO < other.LO

    def __le__(self, other: "ROI") -> bool:
        return self.LO <= other.LO

    def __gt__(self, other: "ROI") -> bool:
        return self.LO > other.LO

    def __ge__(self, other: "ROI") -> bool:
        return self.LO >= other.LO

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<ROI '{self.address}', name='{self.NM}', range=[{self.LO}:{self.HI}]>"

    @property
    def total(self) -> Any:
        """Counts in the region."""
        return self.get_counts(net=False)

    @property
    def sum(self) -> Any:
        """Counts in the region (the same as :attr:`total`)."""
        return self.get_counts(net=False)

    @property
    def net(self) -> Any:
        """Counts in the region above the background."""
        return self.get_counts(net=True)

    @property
    def center(self) -> int:
        """The middle channel."""
        return int(round((self.HI + self.LO) / 2.0))

    @property
    def width(self) -> int:
        """Channels from first to last."""
        return int(round(self.HI - self.LO))

    def clear(self) -> None:
        """Remove the region (blank name, LO = HI = -1)."""
        self.put("NM", "", wait=True)
        self.put("LO", -1, wait=True)
        self.put("HI", -1, wait=True)

    def get_counts(self, data: Optional[np.ndarray] = None, net: bool = False) -> Any:
        """Total (or ``net``) counts of the region, from ``data`` (a spectrum) or else from the
        data PV: a spectrum is summed here, an ROI sum PV is read as it is (``RnN`` for net)."""
        if data is None and self._dat_ is not None:
            data = self._dat_.get()
            if net and not isinstance(data, np.ndarray):
                data = self._net_.get()
        if not isinstance(data, np.ndarray):
            return data
        low, high = int(self.LO), int(self.HI)
        total = data[low:high + 1].sum()
        if not net:
            return total
        width = int(self.bgr_width)
        left = data[max(low - width, 0):low]
        right = data[high + 1:min(high + width, len(data) - 1) + 1]
        background = np.concatenate((left, right))
        level = background.mean() if len(background) else 0.0
        return total - level * (high - low)


class MCA(Device):
    """An mca record.

    Parameters
    ----------
    prefix : str
        The record name, or with ``mca`` the prefix it follows.
    mca : int, optional
        ``MCA('XXX:', mca=1)`` is the record ``XXX:mca1``.
    nrois : int, optional
        How many ROIs :meth:`get_rois` looks at (default 32).
    data_pv : str, optional
        A PV holding the spectrum, for ROI sums computed here instead of by the record.
    """

    _attrs = ("CALO", "CALS", "CALQ", "TTH", "EGU", "PRTM", "PLTM", "ACQG", "NUSE", "DWEL",
              "ERTM", "ELTM", "IDTIM")
    #: Other mca record fields, readable as attributes, created on first use.
    _known_fields = frozenset(
        ["VAL", "NMAX", "NORD", "STRT", "STOP", "ERAS", "ERST", "READ", "PROC", "PCT", "PCTL",
         "PCTH", "PSWP", "ACT", "RTIM", "DTIM", "STIM", "CHAS", "MODE", "SEQ", "PREC", "DESC",
         "DTYP", "NAME", "RTYP", "STAT", "SEVR"]
        + [f"R{i}{suffix}" for i in range(MAX_ROIS)
           for suffix in ("", "N", "LO", "HI", "BG", "IP", "P", "NM")])
    _nonpvs = ("_prefix", "_pvs", "_delim", "_npts", "rois", "_nrois", "_record", "_dat_")

    def __init__(self, prefix: str, mca: Optional[int] = None, nrois: Optional[int] = None,
                 data_pv: Optional[str] = None) -> None:
        record = f"{prefix}mca{mca}" if isinstance(mca, int) else prefix
        if record.endswith("."):
            record = record[:-1]
        self._record = record
        self._npts: Optional[int] = None
        self._nrois = MAX_ROIS if nrois is None else nrois
        self.rois: List[ROI] = []
        super().__init__(record, delim=".", attrs=self._attrs, with_poll=False)
        self._pvs["VAL"] = get_pv(f"{record}.VAL", auto_monitor=False)
        self._dat_: Optional[PV] = get_pv(data_pv) if data_pv is not None else None

    def _roi(self, index: int) -> ROI:
        return ROI(prefix=self._record, roi=index, data_pv=self._dat_)

    # --- ROIs -------------------------------------------------------------------------------------

    def get_rois(self, nrois: Optional[int] = None) -> List[ROI]:
        """The ROIs in use: R0, R1... up to the first one without a name or with HI <= 0."""
        self.rois = []
        for index in range(self._nrois if nrois is None else nrois):
            roi = self._roi(index)
            name, high = _now(roi, "NM"), _now(roi, "HI")
            if name is None or high is None or not name.strip() or high <= 0:
                break
            self.rois.append(roi)
        return self.rois

    def add_roi(self, roiname: str, lo: int = -1, hi: int = -1,
                calib: Optional[Sequence[float]] = None) -> None:
        """Add an ROI from channel ``lo`` to ``hi`` (nothing if either is negative).

        With ``calib`` (the (offset, slope, quad) of another mca, from :meth:`get_calib`) the
        channels are those of that calibration, converted to this mca's by energy. The ROIs are
        then sorted (see :meth:`set_rois`).

        Raises
        ------
        ValueError
            when all 32 ROIs are in use.
        """
        if lo < 0 or hi < 0:
            return
        table = self._table(self.get_rois())
        if len(table) >= MAX_ROIS:
            raise ValueError(f"{self._record}: too many ROIs - cannot add more "
                             f"{len(table)}/{MAX_ROIS}")
        offset, scale = self._calib_map(calib)
        table.append((round(offset + scale * lo), round(offset + scale * hi), roiname))
        self._write_rois(table)

    def del_roi(self, roiname: str) -> None:
        """Remove the ROI of that name (case and surrounding blanks ignored)."""
        wanted = roiname.strip().lower()
        table = [entry for entry in self._table(self.get_rois())
                 if entry[2].strip().lower() != wanted]
        self._write_rois(table)

    def set_rois(self, rois: Sequence[ROI], calib: Optional[Sequence[float]] = None) -> None:
        """Write ``rois`` (ROI objects, of this or another mca) as R0, R1...: sorted by first
        channel, those without a name or with a negative channel dropped, and the remaining ROIs
        of the record cleared. ``calib`` converts channels as for :meth:`add_roi`."""
        offset, scale = self._calib_map(calib)
        table = [(round(offset + scale * low), round(offset + scale * high), name)
                 for low, high, name in self._table(rois)]
        self._write_rois(table)

    def clear_rois(self, nrois: Optional[int] = None) -> None:
        """Remove every ROI."""
        for roi in self.get_rois(nrois=nrois):
            roi.clear()
        self.rois = []

    @staticmethod
    def _table(rois: Sequence[ROI]) -> List[Tuple[int, int, str]]:
        """(LO, HI, name) of the ROIs that are set."""
        table = []
        for roi in rois:
            low, high, name = _now(roi, "LO"), _now(roi, "HI"), _now(roi, "NM")
            if name and name.strip() and low is not None and high is not None \
                    and low >= 0 and high >= 0:
                table.append((int(low), int(high), name.strip()))
        return table

    def _calib_map(self, calib: Optional[Sequence[float]]) -> Tuple[float, float]:
        """(offset, scale) that map channels of calibration ``calib`` to this mca's."""
        if calib is None:
            return 0.0, 1.0
        offset, slope = _now(self, "CALO"), _now(self, "CALS")
        return calib[0] - offset, calib[1] / slope

    def _write_rois(self, table: Sequence[Tuple[int, int, str]]) -> None:
        """Write (LO, HI, name) entries sorted by LO as R0, R1..., and clear the ROIs after."""
        self.rois = []
        index = 0
        for low, high, name in sorted(table):
            if index >= MAX_ROIS:
                break
            roi = self._roi(index)
            roi.put("NM", name, wait=True)
            roi.put("LO", low, wait=True)
            roi.put("HI", high, wait=True)
            self.rois.append(roi)
            index += 1
        for rest in range(index, MAX_ROIS):
            roi = self._roi(rest)
            low = _now(roi, "LO")
            if low is None or low < 0:
                break
            roi.put("LO", -1, wait=True)
            roi.put("HI", -1, wait=True)
            roi.put("NM", "", wait=True)

    # --- calibration ------------------------------------------------------------------------------

    def get_calib(self) -> List[Any]:
        """The energy calibration [CALO, CALS, CALQ]: energy(k) = CALO + CALS*k + CALQ*k**2."""
        return [self.get(field) for field in ("CALO", "CALS", "CALQ")]

    def get_energy(self) -> np.ndarray:
        """The energy of each channel of the spectrum."""
        if self._npts is None:
            data = self.get("VAL")
            self._npts = len(data) if data is not None else 0
        channel = np.arange(self._npts, dtype="f8")
        offset, slope, quad = self.get_calib()
        return offset + channel * (slope + channel * quad)


#: PyEpics's other name for :class:`MCA`.
Mca = MCA


class DXP(Device):
    """The XIA DXP parameters of one detector element (``<prefix>dxp<n>:<param>``)."""

    _attrs = ("PreampGain", "MaxEnergy", "ADCPercentRule", "BaselineCutPercent",
              "BaselineThreshold", "BaselineFilterLength", "BaselineCutEnable", "InputCountRate",
              "OutputCountRate", "GapTime", "PeakingTime", "EnergyThreshold", "MaxWidth",
              "PresetMode", "TriggerPeakingTime", "TriggerGapTime", "TriggerThreshold")
    _known_fields = frozenset(_attrs)

    def __init__(self, prefix: str, mca: int = 1) -> None:
        super().__init__(f"{prefix}dxp{mca}", delim=":")


def __getattr__(name: str) -> Any:
    """``MultiXMAP`` lives in :mod:`epics.devices.xmap` (it uses this module's classes);
    PyEpics scripts import it from here."""
    if name == "MultiXMAP":
        from .xmap import MultiXMAP
        return MultiXMAP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
