"""The PostgreSQL back end of the scan store (psycopg 3; install extra ``scan``).

Same schema and statements as SQLite (`epics.stepscan.storage`); the claim locks the row it
takes with ``FOR UPDATE SKIP LOCKED`` so servers racing for the queue each get another scan.

Threads: one connection per store, used by one thread at a time.
"""
from __future__ import annotations

from typing import Any

from .errors import ScanError
from .storage import _COLUMNS, _CLAIM, ScanStore

__all__ = ['PostgresStore']


class PostgresStore(ScanStore):
    """PostgreSQL, for clients and servers on several hosts."""
    serial = 'SERIAL PRIMARY KEY'
    real = 'DOUBLE PRECISION'
    placeholder = '%s'

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise ScanError('the PostgreSQL scan store needs psycopg 3: pip install '
                            "'epicsca[scan]'") from None
        try:
            return psycopg.connect(self.url, autocommit=True)
        except psycopg.Error as exc:
            raise ScanError(f'cannot connect to the scan database {self.url}: {exc}') from None

    def _transaction(self):
        return _PgTransaction(self._conn)

    def _sql(self, statement: str) -> str:
        return statement.replace('%', '%%').replace('?', '%s')

    def _create_schema(self) -> None:
        # one creator at a time when several servers start together
        with self._conn.transaction():
            self._conn.execute('SELECT pg_advisory_xact_lock(738201)')
            super()._create_schema()

    def _claim_sql(self) -> str:
        return _CLAIM.format(lock=' FOR UPDATE SKIP LOCKED', columns=', '.join(_COLUMNS))


class _PgTransaction:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __enter__(self):
        self._tx = self.conn.transaction()
        self._tx.__enter__()
        self.cursor = self.conn.cursor()
        return self.cursor

    def __exit__(self, *exc_info) -> None:
        try:
            self.cursor.close()
        finally:
            self._tx.__exit__(*exc_info)
