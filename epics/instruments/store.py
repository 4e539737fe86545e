"""InstrumentFile: the instruments and positions of one SQLite file, and the operations on them.

The file's format and safety rules (versions, WAL, several processes) are in
:mod:`epics.instruments._schema`; each method that writes does so in one transaction, so a save
that fails (or a process killed halfway) leaves the file as it was.

Threads: any. One connection per InstrumentFile, used under a lock, so a file object may be
shared between threads; the CA work of :meth:`InstrumentFile.save_position`,
:meth:`~InstrumentFile.compare` and :meth:`~InstrumentFile.restore_position` runs in the calling
thread, outside the lock.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import exchange
from ._schema import open_database, write_transaction
from .errors import ExistsError, NotFoundError
from .model import PLAIN_PV, Instrument, Position, PvEntry
from .restore import DEFAULT_RESTORE_TIMEOUT, Progress, RestoreReport, restore
from .values import DEFAULT_TIMEOUT, Comparison, compare_values, read_values, storable

__all__ = ["InstrumentFile", "PvSpec"]

log = logging.getLogger("epics.instruments")

#: How a PV may be given: a PvEntry, a name (a plain PV), or ``(name, kind)``.
PvSpec = Union[PvEntry, str, Tuple[str, str]]


def _entry(spec: PvSpec) -> PvEntry:
    if isinstance(spec, PvEntry):
        return spec
    if isinstance(spec, str):
        return PvEntry(spec.strip(), PLAIN_PV)
    name, kind = spec
    return PvEntry(str(name).strip(), kind)


def _name(text: str, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} name must be a non-empty string, not {text!r}")
    return text.strip()


class InstrumentFile:
    """An instruments file: opens ``path``, creating it if needed.

    >>> with InstrumentFile('beamline.db') as f:
    ...     f.add_instrument('slits', [('13IDA:m1', 'motor'), ('13IDA:m2', 'motor'), '13IDA:gap'])
    ...     f.save_position('slits', 'open')
    ...     report = f.restore_position('slits', 'open')

    Raises
    ------
    InstrumentFileError
        when ``path`` is not an instruments file (not SQLite, damaged, another application's,
        or made by a newer version); the file is left untouched.
    """

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db: Optional[sqlite3.Connection] = open_database(self.path)

    # --- life -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> "InstrumentFile":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<InstrumentFile {str(self.path)!r}{' closed' if self._db is None else ''}>"

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError(f"{self.path} is closed")
        return self._db

    def _instrument_id(self, name: str) -> int:
        row = self._conn().execute("SELECT id FROM instrument WHERE name = ?",
                                   (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no instrument {name!r} in {self.path} (it has: "
                                f"{', '.join(self.instruments()) or 'none'})")
        return row[0]

    # --- instruments ----------------------------------------------------------------------------

    def instruments(self) -> List[str]:
        """The names of the instruments, sorted."""
        with self._lock:
            rows = self._conn().execute("SELECT name FROM instrument ORDER BY name")
            return [row[0] for row in rows]

    def instrument(self, name: str) -> Instrument:
        """The instrument ``name`` with its PVs in order (NotFoundError if none)."""
        with self._lock:
            ident = self._instrument_id(name)
            rows = self._conn().execute(
                "SELECT pvname, kind, tolerance FROM instrument_pv WHERE instrument_id = ? "
                "ORDER BY ordinal", (ident,))
            return Instrument(name, tuple(PvEntry(*row) for row in rows))

    def _write_pvs(self, ident: int, entries: Sequence[PvEntry]) -> None:
        db = self._conn()
        db.execute("DELETE FROM instrument_pv WHERE instrument_id = ?", (ident,))
        db.executemany("INSERT INTO instrument_pv (instrument_id, pvname, kind, ordinal, "
                       "tolerance) VALUES (?, ?, ?, ?, ?)",
                       [(ident, e.pvname, e.kind, i, e.tolerance)
                        for i, e in enumerate(entries)])

    @staticmethod
    def _entries(pvs: Iterable[PvSpec]) -> List[PvEntry]:
        entries = [_entry(spec) for spec in pvs]
        names = [e.pvname for e in entries]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"PVs listed more than once: {', '.join(twice)}")
        return entries

    def add_instrument(self, name: str, pvs: Iterable[PvSpec] = ()) -> Instrument:
        """Add an instrument with ``pvs`` in this order (ExistsError if the name is taken)."""
        name = _name(name, "instrument")
        entries = self._entries(pvs)
        with self._lock, write_transaction(self._conn()) as db:
            if db.execute("SELECT 1 FROM instrument WHERE name = ?", (name,)).fetchone():
                raise ExistsError(f"instrument {name!r} exists already in {self.path}")
            ident = db.execute("INSERT INTO instrument (name, created) VALUES (?, ?)",
                               (name, time.time())).lastrowid
            self._write_pvs(ident, entries)
        return Instrument(name, tuple(entries))

    def set_pvs(self, name: str, pvs: Iterable[PvSpec]) -> Instrument:
        """Replace the PV list of instrument ``name`` (saved positions keep their values)."""
        entries = self._entries(pvs)
        with self._lock, write_transaction(self._conn()):
            self._write_pvs(self._instrument_id(name), entries)
        return Instrument(name, tuple(entries))

    def rename_instrument(self, old: str, new: str) -> None:
        new = _name(new, "instrument")
        with self._lock, write_transaction(self._conn()) as db:
            ident = self._instrument_id(old)
            if db.execute("SELECT 1 FROM instrument WHERE name = ?", (new,)).fetchone():
                raise ExistsError(f"instrument {new!r} exists already in {self.path}")
            db.execute("UPDATE instrument SET name = ? WHERE id = ?", (new, ident))

    def delete_instrument(self, name: str) -> None:
        """Delete an instrument and all its positions."""
        with self._lock, write_transaction(self._conn()) as db:
            db.execute("DELETE FROM instrument WHERE id = ?", (self._instrument_id(name),))

    # --- positions ------------------------------------------------------------------------------

    def positions(self, instrument: str) -> List[str]:
        """The names of the positions of ``instrument``, oldest save first."""
        with self._lock:
            ident = self._instrument_id(instrument)
            rows = self._conn().execute(
                "SELECT name FROM position WHERE instrument_id = ? ORDER BY saved, id", (ident,))
            return [row[0] for row in rows]

    def position(self, instrument: str, name: str) -> Position:
        """The saved position ``name`` of ``instrument`` (NotFoundError if none)."""
        with self._lock:
            db = self._conn()
            row = db.execute("SELECT id, saved FROM position WHERE instrument_id = ? AND "
                             "name = ?", (self._instrument_id(instrument), name)).fetchone()
            if row is None:
                raise NotFoundError(
                    f"instrument {instrument!r} has no position {name!r} (it has: "
                    f"{', '.join(self.positions(instrument)) or 'none'})")
            values = {pvname: json.loads(text) for pvname, text in db.execute(
                "SELECT pvname, value FROM position_value WHERE position_id = ?", (row[0],))}
            return Position(instrument, name, row[1], values)

    def store_position(self, instrument: str, name: str, values: Dict[str, Any],
                       replace: bool = True, saved: Optional[float] = None) -> Position:
        """Write a position with the given values (in one transaction).

        ``replace=False`` raises ExistsError if the position exists; otherwise its values are
        replaced as a whole. Values are plain numbers, strings or lists of numbers (numpy
        arrays and scalars are converted). :meth:`save_position` reads the values from the
        PVs.
        """
        name = _name(name, "position")
        saved = time.time() if saved is None else float(saved)
        values = {pvname: storable(value) for pvname, value in values.items()}
        rows = [(pvname, json.dumps(value)) for pvname, value in values.items()]
        with self._lock, write_transaction(self._conn()) as db:
            ident = self._instrument_id(instrument)
            old = db.execute("SELECT id FROM position WHERE instrument_id = ? AND name = ?",
                             (ident, name)).fetchone()
            if old is not None:
                if not replace:
                    raise ExistsError(f"instrument {instrument!r} has a position {name!r} "
                                      f"already")
                db.execute("DELETE FROM position WHERE id = ?", (old[0],))
            position_id = db.execute(
                "INSERT INTO position (instrument_id, name, saved) VALUES (?, ?, ?)",
                (ident, name, saved)).lastrowid
            db.executemany("INSERT INTO position_value (position_id, pvname, value) "
                           "VALUES (?, ?, ?)", [(position_id, *row) for row in rows])
        return Position(instrument, name, saved, dict(values))

    def rename_position(self, instrument: str, old: str, new: str) -> None:
        new = _name(new, "position")
        with self._lock, write_transaction(self._conn()) as db:
            ident = self._instrument_id(instrument)
            self.position(instrument, old)   # NotFoundError
            if db.execute("SELECT 1 FROM position WHERE instrument_id = ? AND name = ?",
                          (ident, new)).fetchone():
                raise ExistsError(f"instrument {instrument!r} has a position {new!r} already")
            db.execute("UPDATE position SET name = ? WHERE instrument_id = ? AND name = ?",
                       (new, ident, old))

    def delete_position(self, instrument: str, name: str) -> None:
        with self._lock, write_transaction(self._conn()) as db:
            self.position(instrument, name)   # NotFoundError
            db.execute("DELETE FROM position WHERE instrument_id = ? AND name = ?",
                       (self._instrument_id(instrument), name))

    # --- with Channel Access ---------------------------------------------------------------------

    def save_position(self, instrument: str, name: str, replace: bool = True,
                      timeout: float = DEFAULT_TIMEOUT) -> Position:
        """Read every PV of ``instrument`` now and save the values as position ``name``.

        Nothing is written unless every PV answered (InstrumentError naming those that did
        not). Motors are saved at their readback (RBV), enums by state name.
        """
        values = read_values(self.instrument(instrument), timeout)
        return self.store_position(instrument, name, values, replace=replace)

    def compare(self, instrument: str, name: str, tolerance: Optional[float] = None,
                timeout: float = DEFAULT_TIMEOUT) -> List[Comparison]:
        """Current against saved value of each PV (see :func:`~epics.instruments.values.
        compare_values`)."""
        return compare_values(self.instrument(instrument), self.position(instrument, name),
                              tolerance, timeout)

    def restore_position(self, instrument: str, name: str, only: Optional[Iterable[str]] = None,
                         wait: bool = True, timeout: float = DEFAULT_RESTORE_TIMEOUT,
                         progress: Progress = None) -> RestoreReport:
        """Move ``instrument`` to position ``name``: motors together, then plain PVs; see
        :func:`epics.instruments.restore.restore`. Returns the report of what moved and what
        failed."""
        return restore(self.instrument(instrument), self.position(instrument, name), only,
                       wait, timeout, progress)

    # --- JSON -----------------------------------------------------------------------------------

    def export_json(self, instruments: Optional[Iterable[str]] = None) -> Dict[str, Any]:
        """Everything (or the named instruments) as a JSON-able dict (see
        :mod:`epics.instruments.exchange`)."""
        with self._lock:
            names = list(instruments) if instruments is not None else self.instruments()
            return exchange.document(
                [(self.instrument(n), [self.position(n, p) for p in self.positions(n)])
                 for n in names])

    def import_json(self, document: Dict[str, Any], replace: bool = False) -> List[str]:
        """Add the instruments of an exported document, in one transaction; returns their
        names. An instrument that exists already raises ExistsError (nothing is imported)
        unless ``replace``."""
        content = exchange.parse(document)
        with self._lock, write_transaction(self._conn()) as db:
            for instrument, positions in content:
                found = db.execute("SELECT id FROM instrument WHERE name = ?",
                                   (instrument.name,)).fetchone()
                if found is not None:
                    if not replace:
                        raise ExistsError(f"instrument {instrument.name!r} exists already in "
                                          f"{self.path}; nothing imported")
                    db.execute("DELETE FROM instrument WHERE id = ?", (found[0],))
                ident = db.execute("INSERT INTO instrument (name, created) VALUES (?, ?)",
                                   (instrument.name, time.time())).lastrowid
                self._write_pvs(ident, instrument.pvs)
                for position in positions:
                    pid = db.execute("INSERT INTO position (instrument_id, name, saved) "
                                     "VALUES (?, ?, ?)",
                                     (ident, position.name, position.saved)).lastrowid
                    db.executemany("INSERT INTO position_value (position_id, pvname, value) "
                                   "VALUES (?, ?, ?)",
                                   [(pid, pv, json.dumps(v)) for pv, v in position.values.items()])
        return [instrument.name for instrument, _ in content]
