"""The general step scan (the talk's model): positioners with full arrays, triggers,
counters, extra PVs, pre/post-scan hooks and breakpoints.

The loop, per point: wait out a pause; start every positioner's move (put-callback) and wait
until all are done; start every trigger and wait until all are done; read every counter; write
the row to the SPEC file; at a breakpoint, flush and run ``at_break``. Faults (a limit, a
timeout, a lost IOC) and aborts end the scan the same way: motors and detectors stopped, the
file valid with the points taken and a ``#C`` line saying why, ``post_scan`` run.

Threads: ``run`` blocks the calling thread and does all the scan's work on it (in the main
thread it also takes Ctrl-C: see `control`). ``pause``, ``resume`` and ``abort`` may be called
from any thread. CA callbacks (put completions, monitors) only set Events.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import PV
from .control import ScanControl
from .counter import Counter
from .detectors import Detector
from .errors import ScanError
from .positioner import DEFAULT_MOVE_TIMEOUT, Positioner
from ._runner import ScanRunner
from .result import ScanResult
from .specfile import SpecWriter
from .trigger import Trigger

__all__ = ['StepScan', 'ScanResult']

logger = logging.getLogger('epics.stepscan')

#: Seconds allowed to read each extra PV at the start.
EXTRA_PV_TIMEOUT = 2.0

PointCallback = Callable[[int, Dict[str, Any]], None]


class StepScan:
    """A step scan: see the module docstring for the loop.

    Parameters
    ----------
    filename : str, optional
        SPEC file the scans are appended to (also settable in ``run``).
    comments : sequence of str
        ``#C`` lines of a new file's header.
    move_timeout : float
        Most seconds one point's moves may take.
    """

    def __init__(self, filename: Optional[str] = None, comments: Sequence[str] = (),
                 move_timeout: float = DEFAULT_MOVE_TIMEOUT) -> None:
        self.filename = filename
        self.comments = list(comments)
        self.move_timeout = move_timeout
        self.positioners: List[Positioner] = []
        self.triggers: List[Trigger] = []
        self.counters: List[Counter] = []
        self.detectors: List[Detector] = []
        self.extra_pvs: List[Tuple[str, PV]] = []
        self.breakpoints: List[int] = []
        self.pre_scan_methods: List[Callable[[], None]] = []
        self.post_scan_methods: List[Callable[[], None]] = []
        self.at_break_methods: List[Callable[[int], None]] = []
        self.point_callbacks: List[PointCallback] = []
        self.dwelltime: Optional[Union[float, Sequence[float]]] = None
        self.command = 'scan'
        self.header_motors: Dict[str, Positioner] = {}
        self.control = ScanControl()
        self.result: Optional[ScanResult] = None
        self.writer: Optional[SpecWriter] = None

    # -- configuration ------------------------------------------------------------
    def add_positioner(self, positioner: Positioner) -> Positioner:
        self.positioners.append(positioner)
        return positioner

    def add_trigger(self, trigger: Trigger) -> Trigger:
        self.triggers.append(trigger)
        return trigger

    def add_counter(self, counter: Union[Counter, str], label: Optional[str] = None) -> Counter:
        """Add a :class:`Counter` (or a PV name, made into one)."""
        if isinstance(counter, str):
            counter = Counter(counter, label=label)
        self.counters.append(counter)
        return counter

    def add_detector(self, detector: Detector) -> Detector:
        """Add a detector: its triggers and counters join the scan's."""
        self.detectors.append(detector)
        self.triggers += detector.triggers
        self.counters += detector.counters
        return detector

    def add_extra_pvs(self, extra_pvs: Sequence[Tuple[str, str]]) -> None:
        """PVs recorded once at the start: ``((label, pvname), ...)``."""
        self.extra_pvs += [(label, PV(pvname)) for label, pvname in extra_pvs]

    def set_dwelltime(self, dwelltime: Union[float, Sequence[float]]) -> None:
        """Counting time per point for every detector: a number, or one per point (the
        detectors' dwell PVs then become positioners)."""
        self.dwelltime = dwelltime

    def pre_scan(self) -> None:
        """Run before the first point (override, or append to ``pre_scan_methods``)."""
        for method in self.pre_scan_methods:
            method()

    def post_scan(self) -> None:
        """Run after the scan, however it ended."""
        for method in self.post_scan_methods:
            method()

    def at_break(self, breakpoint: int) -> None:
        """Run at each breakpoint, after the data so far is on disk."""
        for method in self.at_break_methods:
            method(breakpoint)

    # -- control (any thread) --------------------------------------------------------
    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def abort(self, reason: str = 'aborted by request') -> None:
        self.control.abort(reason)

    # -- running ---------------------------------------------------------------------
    def _npts(self) -> int:
        lengths = {p.label: len(p.array) for p in self.positioners}
        if not lengths:
            raise ScanError('a scan needs at least one positioner (with its array)')
        if len(set(lengths.values())) != 1:
            raise ScanError(f'positioner arrays differ in length: {lengths}')
        npts = next(iter(lengths.values()))
        if npts == 0:
            raise ScanError('the positioner arrays are empty')
        return npts

    def _dwell_positioners(self, npts: int) -> List[Positioner]:
        """Positioners for per-point dwell times (empty when the dwell time is one number)."""
        dwell = self.dwelltime
        if dwell is None or np.ndim(dwell) == 0:
            for det in self.detectors:
                det.set_dwelltime(None if dwell is None else float(dwell))
            return []
        if len(dwell) != npts:
            raise ScanError(f'{len(dwell)} dwell times for {npts} points')
        for det in self.detectors:
            det.set_dwelltime(None)
        return [Positioner(det.dwelltime_pv.pvname, label=f'{det.label} dwell', array=dwell)
                for det in self.detectors if det.dwelltime_pv is not None]

    def _connect(self, positioners: Sequence[Positioner]) -> None:
        for pos in positioners:
            pos.connect()
            pos.check_limits()
        for counter in self.counters:
            counter.connect()
        for trigger in self.triggers:
            if not trigger.pv.wait_for_connection(timeout=5.0):
                raise ScanError(f'trigger {trigger.pvname} did not connect', trigger.pvname)

    def _extra_pv_comments(self) -> List[str]:
        lines = []
        for label, pv in self.extra_pvs:
            value = pv.get(timeout=EXTRA_PV_TIMEOUT, as_string=True)
            lines.append(f'{label} ({pv.pvname}) = {value if value is not None else "unknown"}')
        return lines

    def _count_time(self) -> Optional[float]:
        dwell = self.dwelltime
        if dwell is None:
            return None
        return float(dwell) if np.ndim(dwell) == 0 else float(np.mean(dwell))

    def run(self, filename: Optional[str] = None, command: Optional[str] = None,
            progress: Optional[bool] = None, interactive: Optional[bool] = None) -> ScanResult:
        """Run the scan; return how it ended (also in ``self.result``).

        Parameters
        ----------
        filename : str, optional
            SPEC file to append to (default: ``self.filename``; None: no file).
        command : str, optional
            The ``#S`` line's command (SpecScan gives e.g. ``'ascan  x 0 1 10 0.1'``).
        progress : bool, optional
            Draw a progress bar on stderr (default: when stderr is a terminal).
        interactive : bool, optional
            At a Ctrl-C pause, ask on the terminal whether to resume or abort (default:
            when stdin is a terminal); otherwise wait for ``resume()`` / ``abort()``.

        Raises
        ------
        ScanError
            after a fault (limit, timeout, lost IOC): the file is valid, the message says
            which PV and what happened. An abort does not raise: the result says 'aborted'.
        """
        runner = ScanRunner(self, filename if filename is not None else self.filename,
                            command or self.command, progress, interactive)
        self.result = runner.run()
        if self.result.status == 'failed':
            raise self.result.error or ScanError(self.result.message)
        return self.result
