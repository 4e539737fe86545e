"""Where the scan server and its clients meet: a database of scan requests, their state and
their points, behind one interface (:class:`ScanStore`), in SQLite (the embedded default: one
file, several processes at once) or PostgreSQL (clients on several hosts; psycopg 3, install
extra ``scan``).

Schema (version :data:`SCHEMA_VERSION`, checked on open): ``scans`` (one row per request: the
JSON request, state queued/running/done/aborted/failed, the server that claimed it, times,
heartbeat, abort flag, message, SPEC file and scan number, how many times it was claimed) and
``points`` (scan id, point index, the row as JSON). Every write is one transaction. A claim is
one atomic statement, so two servers never run the same scan.

Threads: a store (one database connection) is used by one thread at a time; the server gives
its heartbeat thread a store of its own.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlparse

from .errors import ScanError

__all__ = ['ScanStore', 'SqliteStore', 'ScanRecord', 'open_store', 'SCHEMA_VERSION',
           'FINAL_STATES']

SCHEMA_VERSION = 1
FINAL_STATES = ('done', 'aborted', 'failed')

_COLUMNS = ('id', 'name', 'request', 'state', 'server', 'submitted', 'started', 'finished',
            'heartbeat', 'abort_requested', 'message', 'filename', 'scan_number', 'npts',
            'points_taken', 'claims')

_TABLES = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS scans (
    id {serial},
    name TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    server TEXT,
    submitted {real} NOT NULL,
    started {real},
    finished {real},
    heartbeat {real},
    abort_requested INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    filename TEXT,
    scan_number INTEGER,
    npts INTEGER,
    points_taken INTEGER NOT NULL DEFAULT 0,
    claims INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS points (
    scan_id INTEGER NOT NULL REFERENCES scans(id),
    idx INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (scan_id, idx)
);
CREATE INDEX IF NOT EXISTS scans_state ON scans (state, id)
"""


@dataclass
class ScanRecord:
    """One scan request and how far it got."""
    id: int
    name: str
    request: Dict[str, Any]
    state: str
    server: Optional[str]
    submitted: float
    started: Optional[float]
    finished: Optional[float]
    heartbeat: Optional[float]
    abort_requested: bool
    message: str
    filename: Optional[str]
    scan_number: Optional[int]
    npts: Optional[int]
    points_taken: int
    claims: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> 'ScanRecord':
        values = dict(zip(_COLUMNS, row))
        values['request'] = json.loads(values['request'])
        values['abort_requested'] = bool(values['abort_requested'])
        return cls(**values)


class ScanStore:
    """The storage interface; SQL shared by the back ends, written with ``?`` placeholders."""
    #: Column types of the back end.
    serial = 'INTEGER PRIMARY KEY AUTOINCREMENT'
    real = 'REAL'
    placeholder = '?'

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = self._connect()
        self._create_schema()

    # -- back-end specifics -------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _claim_sql(self) -> str:
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        return statement if self.placeholder == '?' else statement.replace('?', self.placeholder)

    def _execute(self, statement: str, params: Sequence[Any] = ()) -> List[Tuple]:
        """Run one statement in its own transaction; return its rows."""
        with self._transaction() as cursor:
            cursor.execute(self._sql(statement), tuple(params))
            return cursor.fetchall() if cursor.description else []

    def _transaction(self):
        raise NotImplementedError

    def _create_schema(self) -> None:
        with self._transaction() as cursor:
            for statement in _TABLES.format(serial=self.serial, real=self.real).split(';'):
                if statement.strip():
                    cursor.execute(statement)
            cursor.execute('SELECT version FROM schema_version')
            rows = cursor.fetchall()
            if not rows:
                cursor.execute(self._sql('INSERT INTO schema_version (version) VALUES (?)'),
                               (SCHEMA_VERSION,))
            elif rows[0][0] != SCHEMA_VERSION:
                raise ScanError(f'scan database {self.url} has schema version {rows[0][0]}; '
                                f'this program uses version {SCHEMA_VERSION}')

    # -- clients ------------------------------------------------------------------------
    def submit(self, request: Dict[str, Any], name: str = '') -> int:
        """Queue a scan request; returns its id."""
        rows = self._execute('INSERT INTO scans (name, request, state, submitted) '
                             "VALUES (?, ?, 'queued', ?) RETURNING id",
                             (name, json.dumps(request), time.time()))
        return int(rows[0][0])

    def get(self, scan_id: int) -> ScanRecord:
        rows = self._execute(f'SELECT {", ".join(_COLUMNS)} FROM scans WHERE id = ?', (scan_id,))
        if not rows:
            raise ScanError(f'no scan {scan_id} in {self.url}')
        return ScanRecord.from_row(rows[0])

    def list_scans(self, limit: int = 50) -> List[ScanRecord]:
        rows = self._execute(f'SELECT {", ".join(_COLUMNS)} FROM scans ORDER BY id DESC '
                             'LIMIT ?', (limit,))
        return [ScanRecord.from_row(row) for row in rows]

    def points(self, scan_id: int, after: int = -1) -> List[Tuple[int, Dict[str, Any]]]:
        """The points of a scan with index > ``after``, in order."""
        rows = self._execute('SELECT idx, data FROM points WHERE scan_id = ? AND idx > ? '
                             'ORDER BY idx', (scan_id, after))
        return [(int(idx), json.loads(data)) for idx, data in rows]

    def request_abort(self, scan_id: int) -> bool:
        """Ask for an abort: a queued scan is aborted at once, a running one by its server.
        False if the scan had already ended."""
        self.get(scan_id)
        rows = self._execute("UPDATE scans SET state = 'aborted', finished = ?, "
                             "message = 'aborted before it started' "
                             "WHERE id = ? AND state = 'queued' RETURNING id",
                             (time.time(), scan_id))
        if rows:
            return True
        rows = self._execute("UPDATE scans SET abort_requested = 1 WHERE id = ? AND "
                             "state = 'running' RETURNING id", (scan_id,))
        return bool(rows)

    # -- servers ------------------------------------------------------------------------
    def claim(self, server: str) -> Optional[ScanRecord]:
        """Take the oldest queued scan for ``server`` (atomically), or None."""
        now = time.time()
        rows = self._execute(self._claim_sql(), (server, now, now))
        return ScanRecord.from_row(rows[0]) if rows else None

    def heartbeat(self, scan_id: int) -> bool:
        """The server is alive; returns whether an abort was asked for."""
        rows = self._execute('UPDATE scans SET heartbeat = ? WHERE id = ? RETURNING '
                             'abort_requested', (time.time(), scan_id))
        return bool(rows and rows[0][0])

    def set_started(self, scan_id: int, npts: int, filename: Optional[str],
                    scan_number: Optional[int]) -> None:
        self._execute('UPDATE scans SET npts = ?, filename = ?, scan_number = ? WHERE id = ?',
                      (npts, filename, scan_number, scan_id))

    def add_point(self, scan_id: int, index: int, row: Dict[str, Any]) -> None:
        with self._transaction() as cursor:
            cursor.execute(self._sql('INSERT INTO points (scan_id, idx, data) VALUES (?, ?, ?)'),
                           (scan_id, index, json.dumps(row)))
            cursor.execute(self._sql('UPDATE scans SET points_taken = ?, heartbeat = ? '
                                     'WHERE id = ?'), (index + 1, time.time(), scan_id))

    def finish(self, scan_id: int, state: str, message: str = '') -> None:
        if state not in FINAL_STATES:
            raise ValueError(f'not a final state: {state!r}')
        self._execute('UPDATE scans SET state = ?, message = ?, finished = ? WHERE id = ?',
                      (state, message, time.time(), scan_id))

    def fail_stale(self, stale_after: float) -> List[int]:
        """Mark failed the running scans whose server has not been heard from for
        ``stale_after`` seconds (a server that was killed); their points stay."""
        now = time.time()
        rows = self._execute(
            "UPDATE scans SET state = 'failed', finished = ?, message = 'server ' || "
            "COALESCE(server, 'unknown') || ' stopped while running it (no heartbeat for more than "
            f"{stale_after:g} s)' WHERE state = 'running' AND heartbeat < ? RETURNING id",
            (now, now - stale_after))
        return sorted(int(row[0]) for row in rows)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> 'ScanStore':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_CLAIM = """
UPDATE scans SET state = 'running', server = ?, started = ?, heartbeat = ?,
    claims = claims + 1
WHERE id = (SELECT id FROM scans WHERE state = 'queued' ORDER BY id LIMIT 1{lock})
    AND state = 'queued'
RETURNING {columns}
"""


class _SqliteTransaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Cursor:
        self.cursor = self.conn.cursor()
        self.cursor.execute('BEGIN IMMEDIATE')
        return self.cursor

    def __exit__(self, exc_type, *exc_info) -> None:
        if exc_type is None:
            self.conn.commit()
        else:
            self.conn.rollback()
        self.cursor.close()


class SqliteStore(ScanStore):
    """SQLite: one file shared by several processes (WAL journal, waits for the lock)."""

    #: Seconds a statement waits for another process's write lock.
    LOCK_TIMEOUT = 30.0

    def _connect(self) -> sqlite3.Connection:
        path = sqlite_path(self.url)
        conn = sqlite3.connect(path, timeout=self.LOCK_TIMEOUT, isolation_level=None,
                               check_same_thread=False)
        conn.execute('PRAGMA journal_mode=WAL')
        conn.execute('PRAGMA synchronous=NORMAL')
        return conn

    def _transaction(self) -> _SqliteTransaction:
        return _SqliteTransaction(self._conn)

    def _claim_sql(self) -> str:
        return _CLAIM.format(lock='', columns=', '.join(_COLUMNS))


def sqlite_path(url: str) -> str:
    """``sqlite:///abs/path.db`` or ``sqlite:rel.db`` or a plain path -> the file path."""
    if url.startswith('sqlite:///'):
        return url[len('sqlite://'):]
    if url.startswith('sqlite:'):
        return url[len('sqlite:'):]
    return url


def open_store(url: str) -> ScanStore:
    """A store for ``url``: ``postgresql://...`` (or ``postgres://``) for PostgreSQL,
    ``sqlite:///path`` or a plain file path for SQLite."""
    scheme = urlparse(url).scheme
    if scheme in ('postgresql', 'postgres'):
        from .pgstore import PostgresStore
        return PostgresStore(url)
    if scheme in ('', 'sqlite', 'file'):
        return SqliteStore(url)
    raise ScanError(f'unknown scan database URL {url!r}: use postgresql://... or '
                    'sqlite:///path (or a file path)')
