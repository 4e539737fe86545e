"""Restoring an instrument to a saved position, and the report of what happened.

Order: the motors first, all started together and (with ``wait``) waited for until they have
stopped; then the plain PVs, one put with completion each, in the instrument's order. A PV that
cannot be restored (not connected, target outside a motor's soft limits, put refused, timeout)
is reported and does not keep the others from moving.

Threads: the caller's (any thread allowed to wait for CA, not the dispatcher thread).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, List, Optional

from epics import PV
from epics.ca import ChannelAccessException

from ._motion import move_motors, release
from .model import MOTOR, Instrument, Position, motor_record
from .values import value_text

__all__ = ["DEFAULT_RESTORE_TIMEOUT", "PvOutcome", "RestoreReport", "restore"]

log = logging.getLogger("epics.instruments")

#: Seconds a restore may take in all (motion included) by default.
DEFAULT_RESTORE_TIMEOUT = 300.0
#: Seconds to connect to a plain PV.
CONNECT_TIMEOUT = 5.0

Progress = Optional[Callable[[str], None]]


@dataclass(frozen=True)
class PvOutcome:
    """What happened to one PV: ``error`` None means it was restored (or, with wait=False, the
    put was sent)."""

    pvname: str
    kind: str
    target: Any
    error: Optional[str] = None
    final: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class RestoreReport:
    """The outcome of a restore, one :class:`PvOutcome` per PV asked for, in the instrument's
    order."""

    instrument: str
    position: str
    outcomes: List[PvOutcome] = field(default_factory=list)
    waited: bool = True

    @property
    def ok(self) -> bool:
        """Every PV was restored."""
        return all(outcome.ok for outcome in self.outcomes)

    @property
    def moved(self) -> List[str]:
        """The PVs restored (or, without waiting, sent their value)."""
        return [outcome.pvname for outcome in self.outcomes if outcome.ok]

    @property
    def failed(self) -> dict:
        """``{pvname: why}`` of the PVs that were not restored."""
        return {outcome.pvname: outcome.error for outcome in self.outcomes if not outcome.ok}

    def summary(self) -> str:
        """One line: what moved, what failed."""
        head = f"{self.instrument!r} to {self.position!r}: "
        verb = "restored" if self.waited else "sent"
        text = head + f"{len(self.moved)} of {len(self.outcomes)} PVs {verb}"
        if not self.ok:
            text += "; failed: " + "; ".join(f"{name}: {why}" for name, why in self.failed.items())
        return text

    def __str__(self) -> str:
        lines = [self.summary()]
        for outcome in self.outcomes:
            state = "ok" if outcome.ok else f"FAILED: {outcome.error}"
            lines.append(f"  {outcome.pvname:<30} {value_text(outcome.target):>20}  {state}")
        return "\n".join(lines)


def _put_plain(pvname: str, target: Any, wait: bool, deadline: float) -> Optional[str]:
    """Put ``target`` to a plain PV; returns None when done, or why not."""
    pv = PV(pvname, auto_monitor=False, connection_timeout=CONNECT_TIMEOUT)
    try:
        if not pv.wait_for_connection(timeout=min(CONNECT_TIMEOUT,
                                                  max(deadline - time.monotonic(), 0.0))):
            return "not connected"
        remaining = max(deadline - time.monotonic(), 0.0)
        status = pv.put(target, wait=wait, timeout=remaining)
        if wait and status != 1:
            return f"the put did not complete within {remaining:.3g} s"
        return None
    except ChannelAccessException as exc:
        return str(exc)
    except (TypeError, ValueError) as exc:
        return f"cannot write {value_text(target)}: {exc}"
    finally:
        pv.disconnect()


def restore(instrument: Instrument, position: Position, only: Optional[Iterable[str]] = None,
            wait: bool = True, timeout: float = DEFAULT_RESTORE_TIMEOUT,
            progress: Progress = None) -> RestoreReport:
    """Put ``instrument``'s PVs back to ``position``; see the module documentation.

    Parameters
    ----------
    only : iterable of str, optional
        Restore these PVs only (names of the instrument's PVs).
    wait : bool
        Wait until the motors have stopped and the puts have completed.
    timeout : float
        Most seconds for all of it.
    progress : callable, optional
        Called with a line of text at each step (for a status display).

    Raises
    ------
    KeyError
        when ``only`` names a PV the instrument does not have.
    """
    deadline = time.monotonic() + timeout
    wanted = list(only) if only is not None else None
    if wanted is not None:
        for name in wanted:
            instrument.entry(name)   # KeyError naming the instrument's PVs
    entries = [entry for entry in instrument.pvs if wanted is None or entry.pvname in wanted]
    errors = {}
    for entry in entries:
        if entry.pvname not in position.values:
            errors[entry.pvname] = f"position {position.name!r} has no value for it"
    targets = {e.pvname: position.values.get(e.pvname) for e in entries}
    motors = [e for e in entries if e.kind == MOTOR and e.pvname not in errors]
    finals = {}
    if motors:
        moves = move_motors([(motor_record(e.pvname), targets[e.pvname]) for e in motors],
                            wait, max(deadline - time.monotonic(), 0.0), progress)
        for entry, move in zip(motors, moves):
            if move.error is not None:
                errors[entry.pvname] = move.error
        finals = release(moves)
    for entry in entries:
        if entry.kind == MOTOR or entry.pvname in errors:
            continue
        if progress is not None:
            progress(f"writing {entry.pvname}")
        why = _put_plain(entry.pvname, targets[entry.pvname], wait, deadline)
        if why is not None:
            errors[entry.pvname] = why
    outcomes = [PvOutcome(e.pvname, e.kind, targets[e.pvname], errors.get(e.pvname),
                          finals.get(motor_record(e.pvname)) if e.kind == MOTOR else None)
                for e in entries]
    report = RestoreReport(instrument.name, position.name, outcomes, wait)
    log.info("restore %s", report.summary())
    return report
