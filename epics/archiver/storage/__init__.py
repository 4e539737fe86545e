"""Storage of the archiver: one interface (:class:`Storage`), SQLite and PostgreSQL behind it.

:func:`open_storage` turns a URL into a backend: ``sqlite:///path/file.db`` (or a plain path)
and ``postgresql://user@host/db``. Each call returns a new connection for the calling thread.
"""
from __future__ import annotations

from .base import (DISCONNECTED_STATUS, INVALID_SEVERITY, AlertRule, Bucket, PvInfo, Sample,
                   Storage, StorageError)

__all__ = ["AlertRule", "Bucket", "PvInfo", "Sample", "Storage", "StorageError",
           "DISCONNECTED_STATUS", "INVALID_SEVERITY", "open_storage"]


def open_storage(url: str) -> Storage:
    """A storage backend for ``url`` (``sqlite:///...``, ``postgresql://...`` or a file path).

    Raises
    ------
    ValueError
        the URL names no known backend.
    """
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStorage
        return PostgresStorage(url)
    if url.startswith("sqlite:///"):
        # sqlite:///relative.db -> relative.db ; sqlite:////abs/path.db -> /abs/path.db
        url = url[len("sqlite:///"):]
    if "://" in url:
        raise ValueError(f"storage URL {url!r}: use sqlite:///FILE or postgresql://...")
    from .sqlite import SqliteStorage
    return SqliteStorage(url)
