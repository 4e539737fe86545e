"""The point loop of a :class:`~epics.stepscan.StepScan` run, and how a run ends.

Threads: everything here runs on the thread that called ``StepScan.run``.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

import numpy as np

from .control import terminal_prompt
from .counter import read_counters
from .errors import ScanAborted, ScanError
from .positioner import Positioner
from .progress import TerminalProgress
from .result import ScanResult
from .specfile import SpecWriter

if TYPE_CHECKING:     # pragma: no cover
    from .scan import StepScan

__all__ = ['ScanRunner']

logger = logging.getLogger('epics.stepscan')


class ScanRunner:
    """One run of a scan: set up, loop over the points, end (see `epics.stepscan.scan`)."""

    def __init__(self, scan: 'StepScan', filename: Optional[str], command: str,
                 progress: Optional[bool], interactive: Optional[bool]) -> None:
        self.scan = scan
        self.filename = filename
        self.command = command
        if progress is None:
            progress = sys.stderr.isatty()
        self.progress = TerminalProgress() if progress else None
        if interactive is None:
            interactive = sys.stdin is not None and sys.stdin.isatty()
        self.interactive = interactive
        self.writer: Optional[SpecWriter] = None
        self.positioners: List[Positioner] = []

    def run(self) -> ScanResult:
        scan = self.scan
        control = scan.control
        control.reset()
        control.prompt = terminal_prompt if self.interactive else None
        result = ScanResult(status='failed', filename=self.filename)
        control.install_sigint()
        try:
            try:
                self._run_points(result)
                result.status = 'done'
            except ScanAborted as exc:
                result.status, result.message = 'aborted', str(exc)
                self._stop_everything()
            except ScanError as exc:
                result.status, result.message, result.error = 'failed', str(exc), exc
                logger.error('scan failed at point %d: %s', result.points_taken, exc)
                self._stop_everything()
            except Exception as exc:        # a bug or an unexpected library error: still end well
                result.status, result.message = 'failed', f'{type(exc).__name__}: {exc}'
                result.error = ScanError(result.message)
                logger.exception('scan failed at point %d', result.points_taken)
                self._stop_everything()
        finally:
            self._finish(result)
            control.restore_sigint()
        return result

    # -- the loop ------------------------------------------------------------------
    def _run_points(self, result: ScanResult) -> None:
        scan, control = self.scan, self.scan.control
        npts = scan._npts()
        result.npts = npts
        dwell_positioners = scan._dwell_positioners(npts)
        positioners = self.positioners = scan.positioners + dwell_positioners
        scan._connect(positioners)
        counters = scan.counters
        scalars = [c for c in counters if not c.is_array]
        labels = [p.label for p in positioners] + [c.label for c in scalars]
        result.labels = labels
        result.data = {label: [] for label in labels}
        result.data.update({c.label: [] for c in counters if c.is_array})
        comments = scan._extra_pv_comments()
        self._started = True
        for detector in scan.detectors:
            detector.pre_scan()
        scan.pre_scan()
        header = scan.header_motors or {p.label: p for p in scan.positioners}
        for pos in header.values():
            pos.connect()
        start_positions = {name: pos.current() for name, pos in header.items()}
        if self.filename:
            self.writer = SpecWriter(self.filename, scan.comments)
            scan.writer = self.writer
            result.scan_number = self.writer.begin_scan(
                self.command, start_positions, labels, scan._count_time(), comments)
        for counter in counters:
            counter.clear()
        if self.progress is not None:
            self.progress.start(npts, labels)
        dwell = self._dwell_per_point(npts)
        trigger_timeout = max((t.timeout for t in scan.triggers), default=0.0)
        breakpoints = set(scan.breakpoints)
        scalar_index = [i for i, c in enumerate(counters) if not c.is_array]
        for point in range(npts):
            if control.checkpoint():
                for pos in positioners:
                    pos.forget_target()
            for pos in positioners:
                pos.move_to_pos(point)
            deadline = time.monotonic() + scan.move_timeout
            for pos in positioners:
                pos.wait_move(deadline, control.check)
            for trigger in scan.triggers:
                trigger.start()
            deadline = time.monotonic() + dwell[point] + trigger_timeout
            for trigger in scan.triggers:
                trigger.wait(deadline, control.check)
            values = read_counters(counters)
            row = [float(p.array[point]) for p in positioners] + [values[i] for i in scalar_index]
            if self.writer is not None:
                self.writer.add_row(row)
            for label, value in zip(labels, row):
                result.data[label].append(value)
            for counter, value in zip(counters, values):
                if counter.is_array:
                    result.data[counter.label].append(value)
            result.points_taken = point + 1
            self._point_done(point, labels, row, npts)
            if point in breakpoints:
                if self.writer is not None:
                    self.writer.flush()
                scan.at_break(point)

    def _dwell_per_point(self, npts: int) -> np.ndarray:
        dwell = self.scan.dwelltime
        if dwell is None:
            return np.zeros(npts)
        return np.broadcast_to(np.asarray(dwell, dtype=float), (npts,))

    def _point_done(self, point: int, labels: Sequence[str], row: Sequence[Any],
                    npts: int) -> None:
        if self.progress is not None:
            self.progress.update(point + 1, npts, row)
        data: Dict[str, Any] = dict(zip(labels, row))
        for callback in self.scan.point_callbacks:
            try:
                callback(point, data)
            except Exception:       # a user callback that raises is reported, never fatal
                logger.exception('point callback %r raised at point %d', callback, point)

    # -- the end -------------------------------------------------------------------
    def _stop_everything(self) -> None:
        """Stop motors and detectors; wait until the motors are at rest (so a relative scan's
        return move starts from a standstill)."""
        for pos in self.positioners:
            pos.stop()
        for trigger in self.scan.triggers:
            if not trigger.done:
                trigger.abort()
        for pos in self.positioners:
            if not pos.wait_stopped():
                logger.warning('%s did not come to rest after the stop', pos.pvname)

    def _finish(self, result: ScanResult) -> None:
        scan = self.scan
        if self.writer is not None:
            if result.status != 'done':
                self.writer.comment(f'scan {result.status} after {result.points_taken} of '
                                    f'{result.npts} points: {result.message}')
            self.writer.close()
        if getattr(self, '_started', False):
            hooks = [det.post_scan for det in scan.detectors] + [scan.post_scan]
            for hook in hooks:
                try:
                    hook()
                except Exception as exc:
                    logger.exception('post_scan %r failed', hook)
                    note = f'post_scan failed: {exc}'
                    result.message = f'{result.message}; {note}' if result.message else note
        if self.progress is not None:
            self.progress.finish(result.status, result.message)
        if result.status == 'aborted':
            logger.warning('scan aborted after %d of %d points', result.points_taken, result.npts)
