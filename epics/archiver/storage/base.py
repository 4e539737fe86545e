"""The one storage interface of the archiver, and the records that cross it.

Every backend (SQLite, PostgreSQL) implements :class:`Storage`; the engine, the retrieval API,
the alerts and the web pages use only this interface. Times are integers, nanoseconds since the
POSIX epoch (exact for the EPICS time stamps, and what the Archiver Appliance API serves as secs
and nanos). A sample whose value and text are both None is a gap: the PV was disconnected from
that time on. Backends are used from one thread at a time per instance (each thread that needs
storage opens its own instance, see :func:`epics.archiver.storage.open_storage`).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

__all__ = ["AlertRule", "Bucket", "PvInfo", "Sample", "Storage", "StorageError",
           "INVALID_SEVERITY", "DISCONNECTED_STATUS"]

#: The severity stored with a gap (EPICS INVALID_ALARM).
INVALID_SEVERITY = 3
#: The status stored with a gap: not an EPICS alarm status, marks "disconnected".
DISCONNECTED_STATUS = -1


class StorageError(RuntimeError):
    """The database could not be reached or written; the engine buffers and retries."""


class Sample(NamedTuple):
    """One stored value of one PV (a named tuple: the engine makes up to 100,000 a second)."""
    pv: str
    t_ns: int
    value: Optional[float]
    text: Optional[str] = None
    severity: int = 0
    status: int = 0

    @property
    def is_gap(self) -> bool:
        return self.value is None and self.text is None

    @property
    def t(self) -> float:
        return self.t_ns / 1e9


@dataclass(frozen=True)
class PvInfo:
    """What is known of a PV besides its values: kind is 'number', 'enum' or 'string'."""
    name: str
    kind: str = "number"
    units: str = ""
    precision: int = 0
    enum_strs: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Bucket:
    """The samples of one time bucket of a decimated query: min and max value, first and last
    time, how many samples and gaps, and the worst severity."""
    t_first_ns: int
    t_last_ns: int
    vmin: Optional[float]
    vmax: Optional[float]
    count: int
    gaps: int
    max_severity: int


@dataclass(frozen=True)
class AlertRule:
    """An alert: when ``pv`` compared with ``trip_point`` holds (comparison one of < <= > >= ==
    !=), tell ``recipients`` by e-mail and POST to ``webhook``; at most once per ``delay``
    seconds, so a value bouncing around the trip point alerts once."""
    pv: str
    comparison: str
    trip_point: float
    delay: float = 60.0
    recipients: Tuple[str, ...] = ()
    webhook: Optional[str] = None
    label: str = ""
    id: Optional[int] = None
    created_by: str = ""


class Storage(abc.ABC):
    """What the archiver needs from a database. Every write is one transaction."""

    #: The schema version this code writes; a database of a newer version is refused.
    SCHEMA_VERSION = 1

    @abc.abstractmethod
    def write(self, samples: Sequence[Sample]) -> int:
        """Store samples in one transaction (a sample already stored is skipped, so a batch
        written again after a lost connection is harmless); returns how many were new."""

    @abc.abstractmethod
    def set_pv_info(self, info: PvInfo) -> None:
        """Record or update a PV's kind, units, precision and enum strings."""

    @abc.abstractmethod
    def pv_info(self, name: str) -> Optional[PvInfo]:
        """What is known of the PV, or None for a PV never archived."""

    @abc.abstractmethod
    def pv_names(self, pattern: str = "") -> List[str]:
        """Archived PV names, sorted; those containing ``pattern`` if given."""

    @abc.abstractmethod
    def samples(self, pv: str, start_ns: int, end_ns: int, limit: int = 1_000_000,
                include_previous: bool = True) -> List[Sample]:
        """Raw samples with start <= t < end, oldest first; with ``include_previous`` also the
        last one before start (the value in force at the start)."""

    @abc.abstractmethod
    def buckets(self, pv: str, start_ns: int, end_ns: int, count: int) -> List[Bucket]:
        """The range cut into ``count`` equal buckets, decimated in the database (min and max
        per bucket); empty buckets are left out."""

    @abc.abstractmethod
    def latest(self, names: Iterable[str]) -> Dict[str, Sample]:
        """The newest stored sample of each PV that has one."""

    @abc.abstractmethod
    def count(self, pv: Optional[str] = None) -> int:
        """How many samples are stored (of one PV, or all); gaps included."""

    @abc.abstractmethod
    def add_alert(self, rule: AlertRule) -> int:
        """Store an alert rule; returns its id."""

    @abc.abstractmethod
    def alerts(self) -> List[AlertRule]:
        """Every alert rule, oldest first."""

    @abc.abstractmethod
    def delete_alert(self, alert_id: int) -> bool:
        """Remove an alert rule; False if there was none with that id."""

    @abc.abstractmethod
    def log_alert(self, alert_id: Optional[int], t_ns: int, message: str) -> None:
        """Keep a line of the alert log."""

    @abc.abstractmethod
    def alert_log(self, limit: int = 100) -> List[Tuple[Optional[int], int, str]]:
        """The newest lines of the alert log: (alert id, time, message), newest first."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection (idempotent)."""

    def __enter__(self) -> "Storage":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
