"""Detectors: a trigger, a dwell-time PV and the counters they bring, for the synApps scaler,
mca, multi-element mca (a Struck SIS3820 or DXP-style ``EraseStart``/``Acquiring``) and
areaDetector.

Threads: runs on the scan thread.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Type

from .. import PV, caget
from .counter import Counter
from .errors import ScanError
from .trigger import Trigger

__all__ = ['Detector', 'ScalerDetector', 'McaDetector', 'MultiMcaDetector', 'AreaDetector',
           'make_detector', 'DETECTOR_KINDS']

logger = logging.getLogger('epics.stepscan')

#: Seconds allowed to read a detector's set-up PVs (channel names, ROI names).
SETUP_TIMEOUT = 5.0


def _text(pvname: str) -> str:
    value = caget(pvname, as_string=True, timeout=SETUP_TIMEOUT)
    if value is None:
        raise ScanError(f'detector set-up: {pvname} did not answer', pvname=pvname)
    return value.strip()


class Detector:
    """A trigger, an optional dwell-time PV and counters.

    Parameters
    ----------
    prefix : str
        The detector's PV prefix.
    label : str, optional
        Name used in the configuration and for column labels.
    """
    kind = 'generic'

    def __init__(self, prefix: str, label: Optional[str] = None) -> None:
        self.prefix = prefix
        self.label = label or prefix
        self.triggers: List[Trigger] = []
        self.counters: List[Counter] = []
        self.dwelltime_pv: Optional[PV] = None
        self.dwelltime: Optional[float] = None
        self.extra_pvs: List[tuple] = []

    def __repr__(self) -> str:
        return f'<{type(self).__name__} {self.prefix!r}>'

    def set_dwelltime(self, seconds: Optional[float]) -> None:
        """Counting time per point (written at ``pre_scan``; None leaves the PV alone)."""
        self.dwelltime = seconds

    def pre_scan(self) -> None:
        """Put the detector in the mode a step scan needs; write the dwell time."""
        if self.dwelltime_pv is not None and self.dwelltime is not None:
            self.dwelltime_pv.put(self.dwelltime, wait=True, timeout=SETUP_TIMEOUT)

    def post_scan(self) -> None:
        """Put the detector back after the scan (nothing by default)."""

    def config(self) -> Dict[str, object]:
        """What the configuration file stores for this detector."""
        return {'kind': self.kind, 'prefix': self.prefix, 'label': self.label}


class ScalerDetector(Detector):
    """A synApps scaler: trigger CNT, dwell TP, a counter for every named channel.

    Parameters
    ----------
    prefix : str
        The scaler record, e.g. ``'13IDE:scaler1'``.
    nchan : int
        Channels to look at (the names are read from NM1..NMn).
    use_calc : bool
        Record the scaler's calc records (``<scaler>_calcN.VAL``) instead of the raw counts.
    """
    kind = 'scaler'

    def __init__(self, prefix: str, nchan: int = 8, use_calc: bool = False,
                 label: Optional[str] = None) -> None:
        super().__init__(prefix, label)
        self.nchan = nchan
        self.use_calc = use_calc
        self.triggers.append(Trigger(f'{prefix}.CNT', value=1, stop_value=0))
        self.dwelltime_pv = PV(f'{prefix}.TP')
        for i in range(1, nchan + 1):
            name = _text(f'{prefix}.NM{i}')
            if not name:
                continue
            pvname = f'{prefix}_calc{i}.VAL' if use_calc else f'{prefix}.S{i}'
            self.counters.append(Counter(pvname, label=name))

    def pre_scan(self) -> None:
        PV(f'{self.prefix}.CONT').put(0, wait=True, timeout=SETUP_TIMEOUT)   # OneShot
        super().pre_scan()

    def config(self) -> Dict[str, object]:
        return {**super().config(), 'nchan': self.nchan, 'use_calc': self.use_calc}


def _roi_counters(mca: str, nrois: int, label: str) -> List[Counter]:
    counters = []
    for i in range(nrois):
        name = _text(f'{mca}.R{i}NM')
        if name:
            counters.append(Counter(f'{mca}.R{i}', label=f'{label}{name}'))
    return counters


class McaDetector(Detector):
    """A synApps mca record: trigger ERST (erase and start), dwell PRTM (preset real time), a
    counter for every named ROI."""
    kind = 'mca'

    def __init__(self, prefix: str, nrois: int = 32, label: Optional[str] = None) -> None:
        super().__init__(prefix, label)
        self.nrois = nrois
        self.triggers.append(Trigger(f'{prefix}.ERST', value=1, stop_value=1,
                                     stop_pvname=f'{prefix}.STOP'))
        self.dwelltime_pv = PV(f'{prefix}.PRTM')
        self.counters += _roi_counters(prefix, nrois, '')

    def config(self) -> Dict[str, object]:
        return {**super().config(), 'nrois': self.nrois}


class MultiMcaDetector(Detector):
    """A multi-element mca (``<prefix>mca1`` ... ``<prefix>mcaN``) started together by
    ``<prefix>EraseStart``, busy while ``<prefix>Acquiring`` is 1, dwell ``PresetReal``; a
    counter per named ROI of each element, labelled ``mca<i>_<roi name>``."""
    kind = 'multimca'

    def __init__(self, prefix: str, nmca: int = 4, nrois: int = 32,
                 label: Optional[str] = None) -> None:
        super().__init__(prefix, label)
        self.nmca = nmca
        self.nrois = nrois
        self.triggers.append(Trigger(f'{prefix}EraseStart', value=1, stop_value=1,
                                     stop_pvname=f'{prefix}StopAll',
                                     busy_pvname=f'{prefix}Acquiring'))
        self.dwelltime_pv = PV(f'{prefix}PresetReal')
        for i in range(1, nmca + 1):
            self.counters += _roi_counters(f'{prefix}mca{i}', nrois, f'mca{i}_')

    def config(self) -> Dict[str, object]:
        return {**super().config(), 'nmca': self.nmca, 'nrois': self.nrois}


class AreaDetector(Detector):
    """An areaDetector camera: trigger ``cam1:Acquire`` (put-callback completes when the frame
    is taken), dwell ``cam1:AcquireTime``, counter ``cam1:ArrayCounter_RBV``. The detector
    saves its own frames (its file plugins); the scan records the frame counter."""
    kind = 'area'

    def __init__(self, prefix: str, cam: str = 'cam1:', label: Optional[str] = None) -> None:
        super().__init__(prefix, label)
        self.cam = prefix + cam
        self.triggers.append(Trigger(f'{self.cam}Acquire', value=1, stop_value=0))
        self.dwelltime_pv = PV(f'{self.cam}AcquireTime')
        self.counters.append(Counter(f'{self.cam}ArrayCounter_RBV',
                                     label=f'{self.label}_frame'.replace(':', '')))

    def pre_scan(self) -> None:
        PV(f'{self.cam}ImageMode').put(0, wait=True, timeout=SETUP_TIMEOUT)   # Single
        super().pre_scan()


#: ``kind=`` names of :func:`make_detector`.
DETECTOR_KINDS: Dict[str, Type[Detector]] = {
    'scaler': ScalerDetector, 'mca': McaDetector, 'multimca': MultiMcaDetector,
    'med': MultiMcaDetector, 'area': AreaDetector, 'areadetector': AreaDetector,
}


def make_detector(prefix: str, kind: str = 'scaler', **options) -> Detector:
    """Make a detector by kind name ('scaler', 'mca', 'multimca', 'area')."""
    try:
        cls = DETECTOR_KINDS[kind.lower()]
    except KeyError:
        raise ScanError(f'detector {prefix!r}: unknown kind {kind!r}; known kinds are '
                        f'{sorted(DETECTOR_KINDS)}') from None
    return cls(prefix, **options)
