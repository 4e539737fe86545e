"""Moving several motors at once and waiting until all of them have stopped.

All motors get their put (with completion) before any wait starts, so they travel together.
Waiting for a motor means: its put has completed *and* its DMOV, read from the server after the
completion, is 1 (some servers complete the put as soon as the motion starts). This is the one
place in epics.instruments that waits for motors; when ``Motor.move(wait=True)`` waits the same
way for servers that complete early, this can use it.

Threads: the caller's (any thread allowed to wait for CA: not the dispatcher thread). Put
completions arrive on the dispatcher thread and only set an Event.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from epics import PV, Motor
from epics.ca import ChannelAccessException
from epics.device import wait_for_condition
from epics.motor import MotorException

__all__ = ["MotorMove", "move_motors"]

log = logging.getLogger("epics.instruments")

#: Seconds to connect to a motor record and read its fields.
CONNECT_TIMEOUT = 5.0
#: Seconds between progress reports while motors move.
PROGRESS_PERIOD = 1.0


@dataclass
class MotorMove:
    """One motor's move and how it ended: ``error`` None means it reached ``target`` (or, with
    wait=False, that the move was started)."""

    record: str
    target: float
    error: Optional[str] = None
    final: Optional[float] = None
    motor: Optional[Motor] = field(default=None, repr=False)
    #: Set when the put to VAL has completed (by the put's callback, on the dispatcher thread).
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def fail(self, why: str) -> None:
        if self.error is None:
            self.error = why


def _read(motor: Motor, name: str) -> Any:
    """A field as the server has it now (not the last monitor update)."""
    return motor.get(name, use_monitor=False, timeout=CONNECT_TIMEOUT)


def _connect_all(moves: Sequence[MotorMove]) -> List[PV]:
    """Connect to every record at once (one wait of CONNECT_TIMEOUT for all); a record that
    does not answer fails its move. Returns the probes, to be disconnected once the Motor
    objects (which share their channels) exist."""
    probes = {move.record: PV(f"{move.record}.RTYP", auto_monitor=False,
                              connection_timeout=CONNECT_TIMEOUT) for move in moves}
    deadline = time.monotonic() + CONNECT_TIMEOUT
    for move in moves:
        if not probes[move.record].wait_for_connection(
                timeout=max(deadline - time.monotonic(), 0.0)):
            move.fail(f"not connected (no answer from {move.record}.RTYP within "
                      f"{CONNECT_TIMEOUT:g} s)")
    return list(probes.values())


def _start(move: MotorMove) -> None:
    """Check the record and the soft limits, send the put (completion sets ``move.done``)."""
    try:
        motor = Motor(move.record, timeout=CONNECT_TIMEOUT)
    except MotorException as exc:
        move.fail(str(exc))
        return
    move.motor = motor
    if not motor.within_limits(move.target):
        move.fail(f"target {move.target:g} is outside the soft limits "
                  f"[{_read(motor, 'LLM')}, {_read(motor, 'HLM')}]; not moved")
        return

    def completed(**kws: Any) -> None:
        move.done.set()

    try:
        motor.PV("VAL").put(move.target, callback=completed)
    except ChannelAccessException as exc:
        move.fail(f"the put of {move.target:g} to {move.record}.VAL failed: {exc}")


def _wait_for_completions(moves: Sequence[MotorMove], deadline: float,
                          progress: Optional[Callable[[str], None]]) -> None:
    """Wait until every put has completed or the deadline has passed, telling ``progress``
    every PROGRESS_PERIOD seconds where the motors still moving are."""
    for _ in range(int((deadline - time.monotonic()) / PROGRESS_PERIOD) + len(moves) + 2):
        moving = [move for move in moves if not move.done.is_set()]
        remaining = deadline - time.monotonic()
        if not moving or remaining <= 0:
            return
        if moving[0].done.wait(min(PROGRESS_PERIOD, remaining)) or progress is None:
            continue
        where = []
        for move in moving:
            if not move.done.is_set():
                position = move.motor.get("RBV") if move.motor is not None else None
                where.append(f"{move.record} at {position} (to {move.target:g})")
        if where:
            progress("moving: " + ", ".join(where))


def _wait(move: MotorMove, deadline: float) -> None:
    """After the completions: DMOV = 1, then check how the move ended."""
    motor = move.motor
    assert motor is not None
    if not move.done.is_set():
        move.fail("still moving at the timeout (put to VAL not completed)")
        return
    dmov = motor.PV("DMOV")
    if not wait_for_condition([dmov], lambda: _read(motor, "DMOV") == 1,
                              max(deadline - time.monotonic(), 0.0)):
        move.fail("still moving at the timeout (DMOV is 0)")
        return
    move.final = _read(motor, "RBV")
    if _read(motor, "LVIO") == 1:
        move.fail(f"soft limit violation: the record refused {move.target:g}")
    elif _read(motor, "HLS") == 1 or _read(motor, "LLS") == 1:
        side = "high" if _read(motor, "HLS") == 1 else "low"
        move.fail(f"stopped on the {side} limit switch at {move.final}")


def move_motors(targets: Sequence[Tuple[str, float]], wait: bool, timeout: float,
                progress: Optional[Callable[[str], None]] = None) -> List[MotorMove]:
    """Move each motor record of ``targets`` (``(record, target)`` pairs) at once; with ``wait``
    return when all have stopped or ``timeout`` seconds have passed.

    Returns one :class:`MotorMove` per target, in order; a motor that cannot move (not
    connected, target outside its soft limits, put refused) does not keep the others from
    moving.
    """
    deadline = time.monotonic() + timeout
    moves = [MotorMove(record, float(target)) for record, target in targets]
    probes = _connect_all(moves)
    for move in moves:
        if move.error is None:
            _start(move)
    for probe in probes:
        probe.disconnect()
    started = [move for move in moves if move.error is None]
    if progress is not None and started:
        progress(f"moving {', '.join(move.record for move in started)}")
    if wait:
        _wait_for_completions(started, deadline, progress)
        for move in started:
            try:
                _wait(move, deadline)
            except ChannelAccessException as exc:
                move.fail(f"lost while moving: {exc}")
    for move in moves:
        if move.error is not None:
            log.warning("motor %s to %g: %s", move.record, move.target, move.error)
    return moves


def release(moves: Sequence[MotorMove]) -> Dict[str, Optional[float]]:
    """Disconnect the motors of ``moves``; returns their last read positions."""
    finals = {}
    for move in moves:
        finals[move.record] = move.final
        if move.motor is not None:
            move.motor.close()
    return finals
