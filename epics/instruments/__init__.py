"""epics.instruments: named positions for sets of PVs, kept in one SQLite file.

An *instrument* is a named, ordered list of PVs, each a motor or a plain PV. Its current values
can be saved under a position name and restored later: the motors are moved together and
waited for, the plain PVs are written with put-completion, and a report says what moved and
what failed. Everything lives in one SQLite file that several programs may use at once::

    from epics.instruments import InstrumentFile
    with InstrumentFile('beamline.db') as f:
        f.add_instrument('pinhole', [('13IDA:m1', 'motor'), ('13IDA:m2', 'motor'), '13IDA:gain'])
        f.save_position('pinhole', 'aligned')
        for row in f.compare('pinhole', 'aligned'):
            print(row.pvname, row.saved, row.current, row.matches)
        report = f.restore_position('pinhole', 'aligned')
        print(report)

Front ends: ``python -m epics.instruments FILE ...`` (:mod:`epics.instruments.cli`) and the
server mode (:mod:`epics.instruments.server`), which carries out requests written to a few PVs.
Importing this package starts nothing and loads no CA library.

Threads: see each module; the engine runs in its caller's thread.
"""
from __future__ import annotations

from .errors import ExistsError, InstrumentError, InstrumentFileError, NotFoundError
from .model import KINDS, MOTOR, PLAIN_PV, Instrument, Position, PvEntry
from .recent import recent_files, remember_file
from .restore import PvOutcome, RestoreReport
from .store import InstrumentFile
from .values import Comparison

__all__ = ["Comparison", "ExistsError", "Instrument", "InstrumentError", "InstrumentFile",
           "InstrumentFileError", "KINDS", "MOTOR", "NotFoundError", "PLAIN_PV", "Position",
           "PvEntry", "PvOutcome", "RestoreReport", "recent_files", "remember_file"]
