"""SQLite storage, the embedded default: one file, WAL journal, one transaction per batch.

WAL lets the web front end read while the engine writes; ``synchronous=NORMAL`` with WAL keeps
every committed batch across a crash of the engine (only a power cut can lose the last
commits). Each thread opens its own :class:`SqliteStorage` on the same file.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Optional, Union

from ._sql import SqlStorage

__all__ = ["SqliteStorage"]


class SqliteStorage(SqlStorage):
    """Samples in an SQLite file (created with its tables when missing).

    Parameters
    ----------
    path
        the database file.
    busy_timeout
        seconds a statement waits for another connection's write lock before failing.
    """

    placeholder = "?"
    float_type = "REAL"
    id_column = "INTEGER PRIMARY KEY AUTOINCREMENT"
    samples_suffix = " WITHOUT ROWID"
    driver_errors = (sqlite3.Error,)

    def __init__(self, path: Union[str, Path], busy_timeout: float = 10.0) -> None:
        super().__init__()
        self.path = Path(path)
        self.busy_timeout = busy_timeout

    def __repr__(self) -> str:
        return f"<SqliteStorage {self.path}>"

    def _connect(self) -> Any:
        conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _is_lost(self, exc: BaseException) -> bool:
        # A full disk or an unreadable file: start afresh on the next call.
        return isinstance(exc, (sqlite3.OperationalError, sqlite3.DatabaseError)) and \
            not isinstance(exc, sqlite3.IntegrityError)

    def _changes(self, cursor: Any) -> Optional[int]:
        return cursor.connection.total_changes
