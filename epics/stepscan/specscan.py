"""SPEC-like scans: ``ascan``, ``a2scan``, ``a3scan``, ``dscan``, ``d2scan``, ``d3scan``,
``lup`` and ``mesh`` on named motors, built on :class:`~epics.stepscan.StepScan`.

The argument order is SPEC's (motor, start, stop, then the number of points, then the count
time), with one difference the talk keeps: the number is of *points*, not SPEC's intervals.
Relative scans (``dscan``, ``lup``, ``d2scan``, ``d3scan``) return the motors to where they
started, also after an abort or a fault. ``mesh`` has its first motor as the fast (inner)
one, as in SPEC, and a breakpoint at the end of each line.

Threads: a scan method blocks the calling thread while the scan runs; ``pause``, ``resume``
and ``abort`` may be called from other threads.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .counter import Counter
from .detectors import DETECTOR_KINDS, make_detector
from .errors import ScanError
from .positioner import DEFAULT_MOVE_TIMEOUT, Positioner
from .result import ScanResult
from .scan import StepScan

__all__ = ['SpecScan']

logger = logging.getLogger('epics.stepscan')

Axis = Tuple[str, float, float]


def _fmt(value: Any) -> str:
    return f'{value:g}' if isinstance(value, float) else str(value)


class SpecScan:
    """Named motors, detectors and counters, and SPEC's scan commands on them.

    Parameters
    ----------
    filename : str
        The SPEC file every scan is appended to.
    configfile : str, optional
        An INI or TOML configuration to load (see :meth:`load_config`).
    """

    def __init__(self, filename: str = 'specscan.dat', configfile: Optional[str] = None,
                 move_timeout: float = DEFAULT_MOVE_TIMEOUT) -> None:
        self.filename = filename
        self.move_timeout = move_timeout
        self.motors: Dict[str, str] = {}
        self.detectors: List[Dict[str, Any]] = []
        self.counters: List[Tuple[str, str]] = []
        self.extra_pvs: List[Tuple[str, str]] = []
        self.comments: List[str] = []
        self.progress: Optional[bool] = None
        self.interactive: Optional[bool] = None
        #: The scan under way (or the last one).
        self.current: Optional[StepScan] = None
        #: ``callback(point, row)`` after each point of every scan (see StepScan).
        self.point_callbacks: List[Callable[[int, Dict[str, Any]], None]] = []
        self._positioners: Dict[str, Positioner] = {}
        if configfile:
            self.load_config(configfile)

    # -- configuration -------------------------------------------------------------
    def add_motors(self, **motors: str) -> None:
        """Name motors: ``add_motors(x='13IDE:m9', y='13IDE:m10')``."""
        self.motors.update(motors)

    def add_detector(self, pvname: str, kind: str = 'scaler', **options: Any) -> None:
        """A detector by prefix and kind ('scaler', 'mca', 'multimca', 'area')."""
        if kind.lower() not in DETECTOR_KINDS:
            raise ScanError(f'detector {pvname!r}: unknown kind {kind!r}; known kinds are '
                            f'{sorted(DETECTOR_KINDS)}')
        self.detectors.append({'prefix': pvname, 'kind': kind, **options})

    def add_counter(self, pvname: str, label: Optional[str] = None) -> None:
        self.counters.append((label or pvname, pvname))

    def add_extra_pvs(self, extra_pvs: Sequence[Tuple[str, str]]) -> None:
        self.extra_pvs += list(extra_pvs)

    def save_config(self, filename: str) -> None:
        """Save motors, detectors, counters and extra PVs (INI, or TOML for ``*.toml``)."""
        from .config import save_config
        save_config(self, filename)

    def load_config(self, filename: str) -> None:
        """Load what :meth:`save_config` wrote (replacing the current configuration)."""
        from .config import load_config
        load_config(self, filename)

    # -- control -----------------------------------------------------------------------
    def pause(self) -> None:
        if self.current is not None:
            self.current.pause()

    def resume(self) -> None:
        if self.current is not None:
            self.current.resume()

    def abort(self, reason: str = 'aborted by request') -> None:
        if self.current is not None:
            self.current.abort(reason)

    # -- building a scan -------------------------------------------------------------------
    def _positioner(self, name: str) -> Positioner:
        if name not in self.motors:
            raise ScanError(f'no motor named {name!r}; known motors: {sorted(self.motors)}')
        if name not in self._positioners:
            self._positioners[name] = Positioner(self.motors[name], label=name)
        return self._positioners[name]

    def _build(self, arrays: Dict[str, np.ndarray], dwelltime: float) -> StepScan:
        scan = StepScan(filename=self.filename, comments=self.comments,
                        move_timeout=self.move_timeout)
        for name, array in arrays.items():
            pos = self._positioner(name)
            pos.array = np.asarray(array, dtype=float)
            pos.forget_target()
            scan.add_positioner(pos)
        for options in self.detectors:
            options = dict(options)
            scan.add_detector(make_detector(options.pop('prefix'), options.pop('kind'),
                                            **options))
        for label, pvname in self.counters:
            scan.add_counter(Counter(pvname, label=label))
        scan.add_extra_pvs(self.extra_pvs)
        scan.set_dwelltime(dwelltime)
        scan.header_motors = {name: self._positioner(name) for name in self.motors}
        scan.point_callbacks += self.point_callbacks
        self.current = scan
        return scan

    def _run(self, scan: StepScan, command: str,
             return_to: Optional[Dict[str, float]] = None) -> ScanResult:
        if return_to:
            scan.post_scan_methods.append(lambda: self._return_motors(return_to))
        return scan.run(command=command, progress=self.progress, interactive=self.interactive)

    def _return_motors(self, positions: Dict[str, float]) -> None:
        """Move the motors of a relative scan back to where they started (all together)."""
        moving = []
        for name, value in positions.items():
            pos = self._positioner(name)
            pos.forget_target()
            pos.start_move(value)
            moving.append(pos)
        deadline = time.monotonic() + self.move_timeout
        for pos in moving:
            pos.wait_move(deadline)
        logger.info('motors returned to %s', positions)

    def _line(self, kind: str, axes: Sequence[Axis], npts: int, dwelltime: float,
              relative: bool) -> ScanResult:
        npts = int(npts)
        if npts < 1:
            raise ScanError(f'{kind}: the number of points must be at least 1, not {npts}')
        origin: Dict[str, float] = {}
        arrays = {}
        for name, start, stop in axes:
            offset = 0.0
            if relative:
                pos = self._positioner(name)
                pos.connect()
                current = pos.current()
                if current is None:
                    raise ScanError(f'{kind}: cannot read the position of {name}', pos.pvname)
                origin[name] = offset = current
            arrays[name] = offset + np.linspace(float(start), float(stop), npts)
        words = [kind] + [_fmt(v) for axis in axes for v in axis] + [str(npts), _fmt(dwelltime)]
        return self._run(self._build(arrays, dwelltime), ' '.join(words), origin)

    # -- SPEC's commands ---------------------------------------------------------------
    def ascan(self, motor: str, start: float, stop: float, npts: int,
              dwelltime: float) -> ScanResult:
        """One motor from ``start`` to ``stop`` (absolute positions) in ``npts`` points."""
        return self._line('ascan', [(motor, start, stop)], npts, dwelltime, relative=False)

    def a2scan(self, motor1: str, start1: float, stop1: float, motor2: str, start2: float,
               stop2: float, npts: int, dwelltime: float) -> ScanResult:
        """Two motors together, absolute."""
        return self._line('a2scan', [(motor1, start1, stop1), (motor2, start2, stop2)], npts,
                          dwelltime, relative=False)

    def a3scan(self, motor1: str, start1: float, stop1: float, motor2: str, start2: float,
               stop2: float, motor3: str, start3: float, stop3: float, npts: int,
               dwelltime: float) -> ScanResult:
        """Three motors together, absolute."""
        return self._line('a3scan', [(motor1, start1, stop1), (motor2, start2, stop2),
                                     (motor3, start3, stop3)], npts, dwelltime, relative=False)

    def dscan(self, motor: str, start: float, stop: float, npts: int,
              dwelltime: float) -> ScanResult:
        """One motor, relative to where it is; it returns there afterwards."""
        return self._line('dscan', [(motor, start, stop)], npts, dwelltime, relative=True)

    def lup(self, motor: str, start: float, stop: float, npts: int,
            dwelltime: float) -> ScanResult:
        """SPEC's other name for :meth:`dscan` (line-up scan)."""
        return self._line('lup', [(motor, start, stop)], npts, dwelltime, relative=True)

    def d2scan(self, motor1: str, start1: float, stop1: float, motor2: str, start2: float,
               stop2: float, npts: int, dwelltime: float) -> ScanResult:
        """Two motors together, relative; both return."""
        return self._line('d2scan', [(motor1, start1, stop1), (motor2, start2, stop2)], npts,
                          dwelltime, relative=True)

    def d3scan(self, motor1: str, start1: float, stop1: float, motor2: str, start2: float,
               stop2: float, motor3: str, start3: float, stop3: float, npts: int,
               dwelltime: float) -> ScanResult:
        """Three motors together, relative; all return."""
        return self._line('d3scan', [(motor1, start1, stop1), (motor2, start2, stop2),
                                     (motor3, start3, stop3)], npts, dwelltime, relative=True)

    def mesh(self, motor1: str, start1: float, stop1: float, npts1: int, motor2: str,
             start2: float, stop2: float, npts2: int, dwelltime: float) -> ScanResult:
        """A grid: ``motor1`` is the fast (inner) axis, ``motor2`` the slow one; absolute."""
        npts1, npts2 = int(npts1), int(npts2)
        if npts1 < 1 or npts2 < 1:
            raise ScanError(f'mesh: the numbers of points must be at least 1, not '
                            f'{npts1} and {npts2}')
        inner = np.linspace(float(start1), float(stop1), npts1)
        outer = np.linspace(float(start2), float(stop2), npts2)
        arrays = {motor1: np.tile(inner, npts2), motor2: np.repeat(outer, npts1)}
        scan = self._build(arrays, dwelltime)
        scan.breakpoints = [npts1 * (row + 1) - 1 for row in range(npts2)]
        words = ['mesh', motor1, _fmt(start1), _fmt(stop1), str(npts1), motor2, _fmt(start2),
                 _fmt(stop2), str(npts2), _fmt(dwelltime)]
        return self._run(scan, ' '.join(words))
