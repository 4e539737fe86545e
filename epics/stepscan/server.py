"""The scan server (the talk's architecture): clients put JSON scan requests into a database;
the server takes them one at a time, runs them, writes the SPEC file and posts every point
back into the database, where clients read it (``status``, ``watch``).

Several servers may share a database: a claim is atomic, so no scan runs twice. A running
scan's server updates its heartbeat at least every :data:`HEARTBEAT_INTERVAL`; a server that
finds a running scan with a heartbeat older than ``stale_after`` marks it failed (its server
was killed): its points and its SPEC file (written row by row) keep the data so far.

Threads: ``serve`` runs the scans on the calling thread (the main thread, in ``python -m
epics.stepscan server``, so Ctrl-C pauses a scan as at the terminal and SIGTERM aborts it).
A heartbeat thread per scan, with its own database connection, beats and relays abort
requests to the scan (``StepScan.abort`` may be called from any thread).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from typing import Any, Dict, Optional

from .errors import ScanError
from .request import build_scan, run_request
from .storage import ScanRecord, ScanStore, open_store

__all__ = ['ScanServer', 'HEARTBEAT_INTERVAL', 'STALE_AFTER']

logger = logging.getLogger('epics.stepscan.server')

#: Seconds between heartbeats of a running scan.
HEARTBEAT_INTERVAL = 1.0
#: A running scan without a heartbeat for this long (s) belongs to a dead server.
STALE_AFTER = 30.0
#: Seconds between looks at the queue when it is empty.
POLL_INTERVAL = 0.5


def _jsonable(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class _Heartbeat(threading.Thread):
    """Beats for one running scan and passes abort requests on to it."""

    def __init__(self, url: str, scan_id: int, on_abort, interval: float) -> None:
        super().__init__(name=f'stepscan-heartbeat-{scan_id}', daemon=True)
        self.url, self.scan_id, self.on_abort, self.interval = url, scan_id, on_abort, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        store = open_store(self.url)
        try:
            while not self.stopped.wait(self.interval):
                try:
                    if store.heartbeat(self.scan_id):
                        self.on_abort('aborted by a client of the scan server')
                except Exception:         # a database hiccup must not end the scan
                    logger.exception('heartbeat of scan %d failed', self.scan_id)
        finally:
            store.close()


class ScanServer:
    """Runs the queued scans of a database.

    Parameters
    ----------
    url : str
        The database (``sqlite:///path``, a path, or ``postgresql://...``).
    name : str, optional
        This server's name in the database (default ``host:pid``).
    stale_after : float
        Seconds without heartbeat after which another server's running scan is failed.
    heartbeat_interval : float
        Seconds between heartbeats.
    """

    def __init__(self, url: str, name: Optional[str] = None, stale_after: float = STALE_AFTER,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL) -> None:
        self.url = url
        self.name = name or f'{socket.gethostname()}:{os.getpid()}'
        self.stale_after = stale_after
        self.heartbeat_interval = heartbeat_interval
        self.store: ScanStore = open_store(url)
        self._stop = threading.Event()
        self._current = None

    def stop(self) -> None:
        """Stop after the scan under way (which is aborted) — from any thread."""
        self._stop.set()
        if self._current is not None:
            self._current.abort('aborted: the scan server is stopping')

    def serve(self, max_scans: Optional[int] = None, idle_exit: Optional[float] = None) -> int:
        """Run queued scans until stopped (or ``max_scans`` ran, or the queue was empty for
        ``idle_exit`` seconds). Returns the number of scans run."""
        ran = 0
        idle_since = time.monotonic()
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda signum, frame: self.stop())
        logger.info('scan server %s serving %s', self.name, self.url)
        try:
            while not self._stop.is_set():
                if max_scans is not None and ran >= max_scans:
                    break
                for scan_id in self.store.fail_stale(self.stale_after):
                    logger.warning('scan %d: its server stopped; marked failed', scan_id)
                record = self.store.claim(self.name)
                if record is None:
                    if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                        break
                    self._stop.wait(POLL_INTERVAL)
                    continue
                self.run_scan(record)
                ran += 1
                idle_since = time.monotonic()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return ran

    def run_scan(self, record: ScanRecord) -> str:
        """Run one claimed scan to its end; returns its final state."""
        logger.info('scan %d (%s): %s %s', record.id, record.name, record.request['command'],
                    record.request['args'])
        try:
            spec = build_scan(record.request)
        except ScanError as exc:
            self.store.finish(record.id, 'failed', f'bad request: {exc}')
            return 'failed'
        heartbeat = _Heartbeat(self.url, record.id, spec.abort, self.heartbeat_interval)
        spec.point_callbacks.append(
            lambda point, row: self._post_point(record.id, point, row, spec.current))
        self._current = spec
        state, message = 'failed', ''
        heartbeat.start()
        try:
            result = run_request(spec, record.request)
            state, message = result.status, result.message
        except ScanError as exc:
            message = str(exc)
        except Exception as exc:
            logger.exception('scan %d failed', record.id)
            message = f'{type(exc).__name__}: {exc}'
        finally:
            heartbeat.stopped.set()
            heartbeat.join(timeout=10.0)
            self._current = None
        self.store.finish(record.id, state, message)
        logger.info('scan %d %s %s', record.id, state, message)
        return state

    def _post_point(self, scan_id: int, point: int, row: Dict[str, Any], scan) -> None:
        if point == 0:
            writer = scan.writer
            self.store.set_started(scan_id, len(scan.positioners[0].array),
                                   writer.filename if writer else None,
                                   writer.scan_number if writer else None)
        self.store.add_point(scan_id, point, {k: _jsonable(v) for k, v in row.items()})

    def close(self) -> None:
        self.store.close()
