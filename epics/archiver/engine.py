"""The archiving engine: monitors PVs through ``epics.PV`` and writes batches to a Storage.

Threads:

* the library's callback (dispatcher) thread runs :meth:`Engine._on_update` and
  :meth:`Engine._on_connection`: they only filter (see :mod:`.policy`) and append to a list
  under a lock;
* the engine's writer thread (``epics-archiver-writer``) wakes every ``flush_interval``
  seconds, takes the list, adds the samples that ``max_interval`` makes due, reads the metadata
  of newly connected PVs, hands the batch to the alert monitor and writes it in one transaction.
  When the database cannot be written the samples wait in memory, at most ``max_buffered`` of
  them (the oldest are dropped past that, counted and logged), and the write is retried every
  ``retry_interval`` seconds;
* the thread that calls :meth:`start` and :meth:`stop` (the CLI's main thread).

Nothing here imports a web or GUI package.
"""
from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Deque, Dict, List, Optional, Sequence, Tuple

from epics import PV

from .config import EngineSettings, PvPolicy
from .policy import PvState, sample_from_update
from .storage import PvInfo, Sample, Storage, StorageError

__all__ = ["Engine", "EngineStatus", "select_share"]

logger = logging.getLogger("epics.archiver.engine")

#: Most PVs whose metadata (units, enum strings) the writer reads per flush, so that a start
#: with thousands of PVs never holds up the writes.
INFO_PER_FLUSH = 200
#: ... and for at most this many seconds per flush.
INFO_TIME_PER_FLUSH = 0.2
#: Seconds between two warnings while samples wait for the database.
WARN_INTERVAL = 10.0


def select_share(policies: Sequence[PvPolicy], share: Tuple[int, int]) -> List[PvPolicy]:
    """The PVs engine ``index`` of ``count`` archives: those whose name's CRC-32 is ``index``
    modulo ``count``, so several engines split one configuration without overlap."""
    index, count = share
    if count == 1:
        return list(policies)
    return [p for p in policies if zlib.crc32(p.name.encode()) % count == index]


@dataclass(frozen=True)
class EngineStatus:
    """A snapshot of the engine: how many PVs and connections, monitor updates received,
    samples stored, samples waiting
    for the database (never more than ``max_buffered``; those of the current flush interval
    are not counted yet), samples dropped because the bound was passed, and the last database
    error."""
    pvs: int
    connected: int
    received: int
    stored: int
    buffered: int
    dropped: int
    database_ok: bool
    last_error: Optional[str]


class Engine:
    """Archive PVs into a storage.

    Parameters
    ----------
    policies
        the PVs and how each is archived.
    storage
        where samples go; used only by the writer thread once started.
    settings
        flush interval, buffer bound, retry interval...
    observer
        called on the writer thread with each batch before it is written (the alert monitor);
        an exception in it is logged and never stops archiving.
    housekeeping
        called on the writer thread every ``settings.alert_poll`` seconds with the storage
        (the alert monitor reloads its rules there).

    Example
    -------
    >>> engine = Engine([PvPolicy("S:temp", deadband=0.1)], open_storage("sqlite:///a.db"))
    >>> engine.start(); ...; engine.stop()
    """

    def __init__(self, policies: Sequence[PvPolicy], storage: Storage,
                 settings: EngineSettings = EngineSettings(),
                 observer: Optional[Callable[[List[Sample]], None]] = None,
                 housekeeping: Optional[Callable[[Storage], None]] = None) -> None:
        self.settings = settings
        self.storage = storage
        self._policies = select_share(policies, settings.share)
        self._states: Dict[str, PvState] = {p.name: PvState(p) for p in self._policies}
        self._pvs: Dict[str, PV] = {}
        self._lock = threading.Lock()
        self._pending: List[Sample] = []
        self._backlog: Deque[Sample] = collections.deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._observer = observer
        self._housekeeping = housekeeping
        self._stored = 0
        self._received = 0
        self._dropped = 0
        self._database_ok = True
        self._last_error: Optional[str] = None
        self._last_warning = 0.0
        self._stop_deadline = 0.0
        self._last_drop_warning = float("-inf")

    # --- the callback thread -------------------------------------------------------------
    def _on_update(self, pvname: str = "", value=None, severity=None, status=None,
                   posixseconds=None, nanoseconds=None, **_ignored) -> None:
        state = self._states.get(pvname)
        if state is None:
            return
        sample = sample_from_update(pvname, value, severity, status, posixseconds, nanoseconds)
        now = time.monotonic()
        with self._lock:
            self._received += 1
            if not state.connected:
                state.reconnected()
            kept = state.offer(sample, now)
            if kept is not None:
                self._pending.append(kept)

    def _on_connection(self, pvname: str = "", conn: bool = False, **_ignored) -> None:
        state = self._states.get(pvname)
        if state is None:
            return
        with self._lock:
            if conn:
                state.reconnected()
            else:
                gap = state.disconnected(time.monotonic())
                if gap is not None:
                    self._pending.append(gap)
                    logger.info("%s disconnected: gap recorded", pvname)

    # --- control -------------------------------------------------------------------------
    def start(self) -> "Engine":
        """Connect to every PV (without waiting) and start the writer thread."""
        if self._thread is not None:
            raise RuntimeError("the engine is already started")
        self._thread = threading.Thread(target=self._write_loop, name="epics-archiver-writer",
                                        daemon=True)
        self._thread.start()
        for policy in self._policies:
            self._pvs[policy.name] = PV(policy.name, form="time", auto_monitor=True,
                                        callback=self._on_update,
                                        connection_callback=self._on_connection,
                                        connection_timeout=self.settings.connection_timeout)
        logger.info("archiving %d PVs into %r", len(self._pvs), self.storage)
        return self

    def stop(self, timeout: float = 10.0, disconnect: bool = True) -> None:
        """Stop monitoring, write what is waiting (trying for up to ``timeout`` s), then
        disconnect the PVs and close the storage. Idempotent.

        ``disconnect=False`` leaves the channels to the process's exit: a process about to end
        need not clear thousands of subscriptions one by one (which, under a full stream of
        updates, takes far longer than writing the data)."""
        pvs, self._pvs = self._pvs, {}
        for pv in pvs.values():      # no more samples come in ...
            pv.clear_callbacks()
        thread, self._thread = self._thread, None
        if thread is not None:       # ... what came is written ...
            self._stop_deadline = time.monotonic() + timeout
            self._stopping.set()
            self._wake.set()
            thread.join(timeout + 5.0)
        left = len(self._backlog) + len(self._pending)
        self._backlog.extend(self._pending)
        self._pending = []
        if left:
            logger.error("archiver stopped with %d samples not written (database: %s)", left,
                         self._last_error)
        if disconnect:               # ... and only then the channels go
            for pv in pvs.values():
                pv.disconnect()
        self.storage.close()

    def __enter__(self) -> "Engine":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def flush(self) -> None:
        """Ask the writer to write what is waiting now (does not wait for it)."""
        self._wake.set()

    def status(self) -> EngineStatus:
        with self._lock:
            connected = sum(1 for s in self._states.values() if s.connected)
        buffered = len(self._backlog)
        return EngineStatus(len(self._states), connected, self._received, self._stored, buffered,
                            self._dropped,
                            self._database_ok, self._last_error)

    # --- the writer thread ---------------------------------------------------------------
    def _write_loop(self) -> None:
        next_housekeeping = 0.0
        while True:
            stopping = self._stopping.is_set()
            now = time.monotonic()
            if self._housekeeping is not None and now >= next_housekeeping and not stopping:
                next_housekeeping = now + self.settings.alert_poll
                self._guarded(self._housekeeping, self.storage)
            self._collect(now)
            if not stopping:
                self._read_pv_info(now + INFO_TIME_PER_FLUSH)
            written = self._write_backlog()
            if stopping and (not self._backlog or time.monotonic() > self._stop_deadline):
                return
            wait = self.settings.flush_interval if written else self.settings.retry_interval
            self._wake.wait(min(wait, 0.2) if stopping else wait)
            self._wake.clear()

    def _guarded(self, function: Callable, *args) -> None:
        try:
            function(*args)
        except Exception:   # a bug in an observer must not stop archiving
            logger.exception("archiver %s failed", getattr(function, "__name__", function))

    def _collect(self, now: float) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            for state in self._states.values():
                due = state.due(now)
                if due is not None:
                    batch.append(due)
        if batch and self._observer is not None:
            self._guarded(self._observer, batch)
        # The bound holds at every moment: make room first, then add.
        bound = self.settings.max_buffered
        excess = len(self._backlog) + len(batch) - bound
        if excess > 0:
            if len(batch) > bound:
                batch = batch[-bound:]
            for _ in range(min(excess, len(self._backlog))):
                self._backlog.popleft()
            self._dropped += excess
            if now - self._last_drop_warning > WARN_INTERVAL:
                self._last_drop_warning = now
                logger.error("archiver buffer full (%d samples, database: %s): the oldest are "
                             "dropped, %d so far", bound, self._last_error, self._dropped)
        self._backlog.extend(batch)

    def _read_pv_info(self, deadline: float) -> None:
        with self._lock:
            needed = [name for name, s in self._states.items() if s.info_needed][:INFO_PER_FLUSH]
        for name in needed:
            if time.monotonic() > deadline:
                return
            pv = self._pvs.get(name)
            if pv is None or not pv.connected:
                continue
            ctrl = pv.get_ctrlvars(timeout=2.0, warn=False)
            if ctrl is None:   # no answer in time: store what the type says, do not retry
                logger.info("%s: no metadata (units, enum strings) within 2 s", name)
                ctrl = {}
            kind = "number"
            field_type = str(pv.type or "")
            if "enum" in field_type:
                kind = "enum"
            elif "string" in field_type or (pv.count or 1) > 1:
                kind = "string"
            info = PvInfo(name, kind, str(ctrl.get("units") or ""),
                          int(ctrl.get("precision") or 0),
                          tuple(ctrl.get("enum_strs") or ()))
            try:
                self.storage.set_pv_info(info)
            except StorageError as exc:
                self._failed(exc)
                return
            with self._lock:
                self._states[name].info_needed = False

    def _write_backlog(self) -> bool:
        """Write the waiting samples in batches; False if the database refused."""
        while self._backlog:
            size = min(self.settings.batch_size, len(self._backlog))
            batch = list(itertools.islice(self._backlog, size))
            try:
                self.storage.write(batch)
            except StorageError as exc:
                self._failed(exc)
                return False
            for _ in range(size):
                self._backlog.popleft()
            self._stored += size
            if not self._database_ok:
                logger.warning("database writable again: %d samples were waiting",
                               len(self._backlog) + size)
                self._database_ok = True
        return True

    def _failed(self, exc: StorageError) -> None:
        self._last_error = str(exc)
        now = time.monotonic()
        if self._database_ok or now - self._last_warning > WARN_INTERVAL:
            logger.error("cannot write to the database (%s): %d samples waiting in memory (bound "
                         "%d), retrying every %.1f s", exc, len(self._backlog),
                         self.settings.max_buffered, self.settings.retry_interval)
            self._last_warning = now
        self._database_ok = False
