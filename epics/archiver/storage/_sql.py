"""The SQL both backends share: schema, writes, the decimating query, alerts.

:class:`SqlStorage` holds every query once; a backend subclass says how to connect, which
placeholder its driver takes, the few types that differ, and which driver errors mean "the
connection is gone" (then the next call connects again). Each instance is used by one thread
at a time (the engine's writer thread, or one web worker).
"""
from __future__ import annotations

import abc
import json
import logging
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .base import AlertRule, Bucket, PvInfo, Sample, Storage, StorageError

logger = logging.getLogger("epics.archiver.storage")


class SqlStorage(Storage):
    """A :class:`Storage` on a DB-API connection; subclasses fill in the dialect."""

    #: "?" (sqlite3) or "%s" (psycopg)
    placeholder = "?"
    #: column types and key syntax of the dialect
    float_type = "REAL"
    id_column = "INTEGER PRIMARY KEY AUTOINCREMENT"
    samples_suffix = ""

    def __init__(self) -> None:
        self._conn: Any = None
        self._ids: Dict[str, int] = {}
        self._closed = False

    # --- what a backend provides -------------------------------------------------------
    @abc.abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection, not in autocommit mode."""

    @abc.abstractmethod
    def _is_lost(self, exc: BaseException) -> bool:
        """True when the error means the connection is unusable (reconnect next time)."""

    def _after_schema(self, cursor: Any) -> None:
        """Backend extras once the tables exist (TimescaleDB's hypertable)."""

    driver_errors: Tuple[type, ...] = ()

    # --- connection and schema -----------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def _connection(self) -> Any:
        if self._closed:
            raise StorageError("storage is closed")
        if self._conn is None:
            try:
                self._conn = self._connect()
                self._ids.clear()
                self._create_schema()
            except self.driver_errors as exc:
                self._drop_connection()
                raise StorageError(f"cannot open the database: {exc}") from exc
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:   # the connection is already broken: nothing more to do
                logger.debug("closing a broken connection failed", exc_info=True)

    def _create_schema(self) -> None:
        conn = self._conn
        cursor = conn.cursor()
        cursor.execute("CREATE TABLE IF NOT EXISTS archiver_meta (key TEXT PRIMARY KEY, "
                       "value TEXT NOT NULL)")
        cursor.execute(self._sql("SELECT value FROM archiver_meta WHERE key = ?"),
                       ("schema_version",))
        row = cursor.fetchone()
        if row is not None and int(row[0]) > self.SCHEMA_VERSION:
            conn.rollback()
            raise StorageError(f"the database has schema version {row[0]}; this archiver "
                               f"knows up to {self.SCHEMA_VERSION}")
        cursor.execute(f"CREATE TABLE IF NOT EXISTS pvs (id {self.id_column}, "
                       "name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL DEFAULT 'number', "
                       "units TEXT NOT NULL DEFAULT '', prec INTEGER NOT NULL DEFAULT 0, "
                       "enum_strs TEXT NOT NULL DEFAULT '[]')")
        cursor.execute(f"CREATE TABLE IF NOT EXISTS samples (pv_id BIGINT NOT NULL, "
                       f"t BIGINT NOT NULL, value {self.float_type}, text TEXT, "
                       "severity SMALLINT NOT NULL, status SMALLINT NOT NULL, "
                       f"PRIMARY KEY (pv_id, t)){self.samples_suffix}")
        cursor.execute(f"CREATE TABLE IF NOT EXISTS alerts (id {self.id_column}, "
                       "pv TEXT NOT NULL, comparison TEXT NOT NULL, "
                       f"trip_point {self.float_type} NOT NULL, delay {self.float_type} NOT NULL,"
                       " recipients TEXT NOT NULL, webhook TEXT, label TEXT NOT NULL, "
                       "created_by TEXT NOT NULL, created BIGINT NOT NULL)")
        cursor.execute("CREATE TABLE IF NOT EXISTS alert_log (alert_id BIGINT, t BIGINT NOT "
                       "NULL, message TEXT NOT NULL)")
        if row is None:
            cursor.execute(self._sql("INSERT INTO archiver_meta (key, value) VALUES (?, ?)"),
                           ("schema_version", str(self.SCHEMA_VERSION)))
        self._after_schema(cursor)
        conn.commit()

    def _run(self, work, write: bool = False) -> Any:
        """Run ``work(cursor)`` in one transaction; driver errors become StorageError. A read
        that finds the connection lost (the server restarted) is tried once more on a new
        connection; a write is not (the caller keeps the batch and retries)."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                cursor = conn.cursor()
                result = work(cursor)
                conn.commit()
                return result
            except self.driver_errors as exc:
                self._ids.clear()   # ids made in the rolled-back transaction are void
                lost = self._is_lost(exc)
                try:
                    if not lost:
                        conn.rollback()
                except self.driver_errors:
                    lost = True
                if lost:
                    self._drop_connection()
                if lost and not write and attempt == 1:
                    logger.info("database connection lost (%s): connecting again", exc)
                    continue
                raise StorageError(f"database {'write' if write else 'read'} failed: "
                                   f"{exc}") from exc
        raise AssertionError("not reached")

    def close(self) -> None:
        if not self._closed:
            self._drop_connection()
            self._closed = True

    # --- PVs -----------------------------------------------------------------------------
    def _pv_id(self, cursor: Any, name: str, create: bool) -> Optional[int]:
        found = self._ids.get(name)
        if found is not None:
            return found
        cursor.execute(self._sql("SELECT id FROM pvs WHERE name = ?"), (name,))
        row = cursor.fetchone()
        if row is None:
            if not create:
                return None
            cursor.execute(self._sql("INSERT INTO pvs (name) VALUES (?) ON CONFLICT (name) DO "
                                     "NOTHING"), (name,))
            cursor.execute(self._sql("SELECT id FROM pvs WHERE name = ?"), (name,))
            row = cursor.fetchone()
        self._ids[name] = int(row[0])
        return self._ids[name]

    def set_pv_info(self, info: PvInfo) -> None:
        def work(cursor):
            pv_id = self._pv_id(cursor, info.name, create=True)
            cursor.execute(self._sql("UPDATE pvs SET kind = ?, units = ?, prec = ?, enum_strs = ?"
                                     " WHERE id = ?"),
                           (info.kind, info.units, int(info.precision),
                            json.dumps(list(info.enum_strs)), pv_id))
        self._run(work, write=True)

    def pv_info(self, name: str) -> Optional[PvInfo]:
        def work(cursor):
            cursor.execute(self._sql("SELECT kind, units, prec, enum_strs FROM pvs WHERE name = ?"),
                           (name,))
            return cursor.fetchone()
        row = self._run(work)
        if row is None:
            return None
        return PvInfo(name, row[0], row[1], int(row[2]), tuple(json.loads(row[3])))

    def pv_names(self, pattern: str = "") -> List[str]:
        def work(cursor):
            if pattern:
                escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                cursor.execute(self._sql("SELECT name FROM pvs WHERE name LIKE ? ESCAPE '\\' "
                                         "ORDER BY name"), (f"%{escaped}%",))
            else:
                cursor.execute("SELECT name FROM pvs ORDER BY name")
            return [row[0] for row in cursor.fetchall()]
        return self._run(work)

    # --- samples -------------------------------------------------------------------------
    def write(self, samples: Sequence[Sample]) -> int:
        if not samples:
            return 0

        def work(cursor):
            ids = self._ids
            for name in {s[0] for s in samples} - ids.keys():
                self._pv_id(cursor, name, create=True)
            rows = [(ids[pv], t, value, text, severity, status)
                    for pv, t, value, text, severity, status in samples]
            before = self._changes(cursor)
            cursor.executemany(self._sql(
                "INSERT INTO samples (pv_id, t, value, text, severity, status) VALUES "
                "(?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"), rows)
            return self._changes(cursor) - before if before is not None else cursor.rowcount
        return self._run(work, write=True)

    def _changes(self, cursor: Any) -> Optional[int]:
        """A running count of changed rows where the driver has one (None: use rowcount)."""
        return None

    def samples(self, pv: str, start_ns: int, end_ns: int, limit: int = 1_000_000,
                include_previous: bool = True) -> List[Sample]:
        def work(cursor):
            pv_id = self._pv_id(cursor, pv, create=False)
            if pv_id is None:
                return []
            rows = []
            if include_previous:
                cursor.execute(self._sql(
                    "SELECT t, value, text, severity, status FROM samples WHERE pv_id = ? AND "
                    "t < ? ORDER BY t DESC LIMIT 1"), (pv_id, start_ns))
                rows.extend(cursor.fetchall())
            cursor.execute(self._sql(
                "SELECT t, value, text, severity, status FROM samples WHERE pv_id = ? AND t >= ? "
                "AND t < ? ORDER BY t LIMIT ?"), (pv_id, start_ns, end_ns, int(limit)))
            rows.extend(cursor.fetchall())
            return rows
        return [Sample(pv, int(t), value, text, int(sev), int(stat))
                for t, value, text, sev, stat in self._run(work)]

    def buckets(self, pv: str, start_ns: int, end_ns: int, count: int) -> List[Bucket]:
        count = max(1, int(count))
        width = max(1, -(-(int(end_ns) - int(start_ns)) // count))

        def work(cursor):
            pv_id = self._pv_id(cursor, pv, create=False)
            if pv_id is None:
                return []
            cursor.execute(self._sql(
                "SELECT (t - ?) / ? AS bucket, MIN(t), MAX(t), MIN(value), MAX(value), COUNT(*), "
                "SUM(CASE WHEN value IS NULL AND text IS NULL THEN 1 ELSE 0 END), MAX(severity) "
                "FROM samples WHERE pv_id = ? AND t >= ? AND t < ? GROUP BY bucket "
                "ORDER BY bucket"), (int(start_ns), width, pv_id, int(start_ns), int(end_ns)))
            return cursor.fetchall()
        return [Bucket(int(first), int(last), vmin, vmax, int(n), int(gaps), int(sev))
                for _, first, last, vmin, vmax, n, gaps, sev in self._run(work)]

    def latest(self, names: Iterable[str]) -> Dict[str, Sample]:
        names = list(names)

        def work(cursor):
            found = {}
            for name in names:
                pv_id = self._pv_id(cursor, name, create=False)
                if pv_id is None:
                    continue
                cursor.execute(self._sql(
                    "SELECT t, value, text, severity, status FROM samples WHERE pv_id = ? "
                    "ORDER BY t DESC LIMIT 1"), (pv_id,))
                row = cursor.fetchone()
                if row is not None:
                    found[name] = Sample(name, int(row[0]), row[1], row[2], int(row[3]),
                                         int(row[4]))
            return found
        return self._run(work)

    def count(self, pv: Optional[str] = None) -> int:
        def work(cursor):
            if pv is None:
                cursor.execute("SELECT COUNT(*) FROM samples")
            else:
                pv_id = self._pv_id(cursor, pv, create=False)
                if pv_id is None:
                    return 0
                cursor.execute(self._sql("SELECT COUNT(*) FROM samples WHERE pv_id = ?"),
                               (pv_id,))
            return int(cursor.fetchone()[0])
        return self._run(work)

    # --- alerts --------------------------------------------------------------------------
    def add_alert(self, rule: AlertRule) -> int:
        def work(cursor):
            cursor.execute(self._sql(
                "INSERT INTO alerts (pv, comparison, trip_point, delay, recipients, webhook, "
                "label, created_by, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"),
                (rule.pv, rule.comparison, float(rule.trip_point), float(rule.delay),
                 ",".join(rule.recipients), rule.webhook, rule.label, rule.created_by,
                 time.time_ns()))
            return int(cursor.fetchone()[0])
        return self._run(work, write=True)

    def alerts(self) -> List[AlertRule]:
        def work(cursor):
            cursor.execute("SELECT id, pv, comparison, trip_point, delay, recipients, webhook, "
                           "label, created_by FROM alerts ORDER BY id")
            return cursor.fetchall()
        return [AlertRule(pv, comparison, trip, delay,
                          tuple(r for r in recipients.split(",") if r), webhook, label,
                          int(alert_id), created_by)
                for alert_id, pv, comparison, trip, delay, recipients, webhook, label, created_by
                in self._run(work)]

    def delete_alert(self, alert_id: int) -> bool:
        def work(cursor):
            cursor.execute(self._sql("DELETE FROM alerts WHERE id = ?"), (int(alert_id),))
            return cursor.rowcount > 0
        return self._run(work, write=True)

    def log_alert(self, alert_id: Optional[int], t_ns: int, message: str) -> None:
        self._run(lambda cursor: cursor.execute(
            self._sql("INSERT INTO alert_log (alert_id, t, message) VALUES (?, ?, ?)"),
            (alert_id, int(t_ns), message)), write=True)

    def alert_log(self, limit: int = 100) -> List[Tuple[Optional[int], int, str]]:
        def work(cursor):
            cursor.execute(self._sql("SELECT alert_id, t, message FROM alert_log ORDER BY t DESC "
                                     "LIMIT ?"), (int(limit),))
            return cursor.fetchall()
        return [(None if a is None else int(a), int(t), m) for a, t, m in self._run(work)]
