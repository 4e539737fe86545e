"""The SQLite file of epics.instruments: its schema, its versions, and opening it safely.

An instruments file is an SQLite database marked as ours by ``PRAGMA application_id``
(:data:`APPLICATION_ID`) and versioned by ``PRAGMA user_version``. Opening a file

* creates the schema in a new (or empty) file;
* upgrades an older file with the :data:`MIGRATIONS` it has not had yet, in one transaction;
* refuses, with :class:`InstrumentFileError`, a file that is not SQLite, is damaged, belongs to
  another application, or was written by a newer version of this package. Such a file is never
  written to: every check happens before the first write.

Files are used by several processes at once: the journal is in WAL mode (readers never wait for a
writer), every connection waits up to :data:`BUSY_TIMEOUT` seconds for another process's write
transaction to end, and writes take the write lock at their start (``BEGIN IMMEDIATE``), so two
writers queue up instead of failing halfway.

Threads: any; a connection made here is used under the caller's lock (see
:class:`epics.instruments.InstrumentFile`).
"""
from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import Iterator, List, Tuple, Union

from .errors import InstrumentFileError

__all__ = ["APPLICATION_ID", "BUSY_TIMEOUT", "MIGRATIONS", "SCHEMA_VERSION", "open_database",
           "write_transaction"]

log = logging.getLogger("epics.instruments")

#: ``PRAGMA application_id`` of an instruments file: the bytes "EpIn".
APPLICATION_ID = 0x4570496E
#: Seconds a connection waits for another process's write to finish before giving up.
BUSY_TIMEOUT = 30.0
#: Seconds between attempts at switching a new file to WAL while other processes hold it.
WAL_RETRY_PERIOD = 0.02

#: The schema, as the steps that take a file from version N-1 to N. Never edit a step once
#: released: add a new one (a file in the field has had the old ones).
MIGRATIONS: List[Tuple[int, str]] = [
    (1, """
        CREATE TABLE instrument (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created REAL NOT NULL
        );
        CREATE TABLE instrument_pv (
            instrument_id INTEGER NOT NULL REFERENCES instrument(id) ON DELETE CASCADE,
            pvname TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('motor', 'pv')),
            ordinal INTEGER NOT NULL,
            PRIMARY KEY (instrument_id, pvname)
        );
        CREATE TABLE position (
            id INTEGER PRIMARY KEY,
            instrument_id INTEGER NOT NULL REFERENCES instrument(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            saved REAL NOT NULL,
            UNIQUE (instrument_id, name)
        );
        CREATE TABLE position_value (
            position_id INTEGER NOT NULL REFERENCES position(id) ON DELETE CASCADE,
            pvname TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (position_id, pvname)
        );
    """),
    # 2: a tolerance per PV for comparisons (NULL: from the PV's precision).
    (2, "ALTER TABLE instrument_pv ADD COLUMN tolerance REAL;"),
]
#: The version this package writes.
SCHEMA_VERSION = MIGRATIONS[-1][0]


@contextlib.contextmanager
def write_transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: the write lock at once (waiting up to BUSY_TIMEOUT), commit at the
    end, roll back on any exception."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _user_tables(connection: sqlite3.Connection) -> List[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return sorted(row[0] for row in rows)


def _check_ours(path: Path, connection: sqlite3.Connection) -> int:
    """The file's schema version (0: a new, empty file); raises if it is not ours or damaged.
    Reads only."""
    try:
        # One read transaction: a consistent view, even while another process creates the
        # schema (read one by one, the id could be read before its commit, the tables after).
        connection.execute("BEGIN")
        try:
            application_id = connection.execute("PRAGMA application_id").fetchone()[0]
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            tables = _user_tables(connection)
            problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
        finally:
            connection.execute("ROLLBACK")
    except sqlite3.DatabaseError as exc:
        raise InstrumentFileError(f"{path} is not an instruments file: {exc}") from exc
    if problems != ["ok"]:
        raise InstrumentFileError(f"{path} is damaged (SQLite says: {'; '.join(problems[:3])}); "
                                  f"it was left as it is")
    if application_id == 0 and version == 0 and not tables:
        return 0
    if application_id != APPLICATION_ID:
        raise InstrumentFileError(
            f"{path} is an SQLite file of another application (application_id "
            f"{application_id:#x}, tables {', '.join(tables) or 'none'}); it was left as it is")
    if version > SCHEMA_VERSION:
        raise InstrumentFileError(
            f"{path} has schema version {version}, newer than this epicsca knows "
            f"({SCHEMA_VERSION}): upgrade epicsca to use it; the file was left as it is")
    return version


def _migrate(path: Path, connection: sqlite3.Connection) -> None:
    """Bring the file to SCHEMA_VERSION in one transaction (re-checked under the write lock, as
    another process may have done it meanwhile)."""
    with write_transaction(connection):
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for step, script in MIGRATIONS:
            if step > version:
                log.info("%s: schema version %d -> %d", path, step - 1, step)
                for statement in script.split(";"):
                    if statement.strip():
                        connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _switch_to_wal(connection: sqlite3.Connection) -> str:
    """Put the file in WAL mode (once per file: the mode is kept in the file); returns the mode.

    The switch needs the file to itself for a moment, and SQLite may answer "locked" at once,
    without waiting, while other processes open it too: retried every WAL_RETRY_PERIOD seconds,
    for up to BUSY_TIMEOUT seconds.
    """
    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    deadline = time.monotonic() + BUSY_TIMEOUT
    for _ in range(int(BUSY_TIMEOUT / WAL_RETRY_PERIOD) + 1):
        if mode.lower() == "wal":
            break
        try:
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_RETRY_PERIOD)
    return mode


def open_database(path: Union[str, Path]) -> sqlite3.Connection:
    """Open (or create) the instruments file at ``path``, at the current schema version.

    Raises
    ------
    InstrumentFileError
        when the file is not SQLite, is damaged, belongs to another application or is newer than
        this package; the file is not modified then.
    """
    path = Path(path)
    if path.is_dir():
        raise InstrumentFileError(f"{path} is a folder, not an instruments file")
    try:
        connection = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None,
                                     check_same_thread=False)
    except sqlite3.Error as exc:
        raise InstrumentFileError(f"cannot open {path}: {exc}") from exc
    try:
        version = _check_ours(path, connection)
        connection.execute("PRAGMA foreign_keys = ON")
        mode = _switch_to_wal(connection)
        if mode.lower() != "wal":
            log.warning("%s: journal mode is %s, not WAL (a file system without shared memory?)",
                        path, mode)
        if version < SCHEMA_VERSION:
            _migrate(path, connection)
    except BaseException:
        connection.close()
        raise
    return connection
