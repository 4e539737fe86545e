"""What an instruments file holds: instruments (ordered PVs, each a motor or a plain PV) and their
named positions. Plain data, no I/O.

Threads: any (immutable values).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

__all__ = ["MOTOR", "PLAIN_PV", "KINDS", "Instrument", "Position", "PvEntry", "motor_record"]

#: Kind of a PV that is a motor record: moved with the other motors, waited for until done.
MOTOR = "motor"
#: Kind of any other PV: written with a put that waits for completion.
PLAIN_PV = "pv"
KINDS = (MOTOR, PLAIN_PV)


def motor_record(pvname: str) -> str:
    """The record name of a motor PV: ``'XXX:m1'`` for ``'XXX:m1'``, ``'XXX:m1.VAL'`` or
    ``'XXX:m1.'``."""
    for suffix in (".VAL", "."):
        if pvname.endswith(suffix):
            return pvname[: -len(suffix)]
    return pvname


@dataclass(frozen=True)
class PvEntry:
    """One PV of an instrument.

    Attributes
    ----------
    pvname : str
        The PV name; for a motor, the record name (``.VAL`` may be added).
    kind : str
        :data:`MOTOR` or :data:`PLAIN_PV`.
    tolerance : float or None
        Largest difference at which current and saved values count as equal; None: half a unit
        of the PV's last displayed digit (its PREC), exact for integers, strings and enums.
    """

    pvname: str
    kind: str = PLAIN_PV
    tolerance: Optional[float] = None

    def __post_init__(self) -> None:
        if not isinstance(self.pvname, str) or not self.pvname.strip() or \
                any(c.isspace() for c in self.pvname):
            raise ValueError(f"{self.pvname!r} is not a PV name (empty, or with spaces)")
        if self.kind not in KINDS:
            raise ValueError(f"PV {self.pvname!r}: kind must be one of {KINDS}, not "
                             f"{self.kind!r}")
        if self.tolerance is not None and not self.tolerance >= 0:
            raise ValueError(f"PV {self.pvname!r}: tolerance must be >= 0, not "
                             f"{self.tolerance!r}")


@dataclass(frozen=True)
class Instrument:
    """A named, ordered collection of PVs."""

    name: str
    pvs: Tuple[PvEntry, ...] = ()

    @property
    def pvnames(self) -> Tuple[str, ...]:
        return tuple(entry.pvname for entry in self.pvs)

    def entry(self, pvname: str) -> PvEntry:
        """The entry of ``pvname``; KeyError naming the instrument's PVs if it has none."""
        for entry in self.pvs:
            if entry.pvname == pvname:
                return entry
        raise KeyError(f"instrument {self.name!r} has no PV {pvname!r}; its PVs are "
                       f"{list(self.pvnames)}")


@dataclass(frozen=True)
class Position:
    """A saved position: the value of each PV of an instrument when it was saved.

    ``values`` maps PV names to plain Python values: float or int, str (strings, and enums by
    their state name), or a list of numbers (arrays). ``saved`` is the POSIX time of the save.
    """

    instrument: str
    name: str
    saved: float
    values: Dict[str, Any] = field(default_factory=dict)
