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
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from epics import Motor
from epics.ca import ChannelAccessException
from epics.device import wait_for_condition
from epics.motor import MotorException

__all__ = ["MotorMove", "move_motors"]

log = logging.getLogger("epics.instruments")

#: Seconds to connect to a motor record and read its fields.
CONNECT_TIMEOUT = 5.0


@dataclass
class MotorMove:
    """One motor's move and how it ended: ``error`` None means it reached ``target`` (or, with
    wait=False, that the move was started)."""

    record: str
    target: float
    error: Optional[str] = None
    final: Optional[float] = None
    motor: Optional[Motor] = None
    done: threading.Event = None   # type: ignore[assignment]  # set by __post_init__

    def __post_init__(self) -> None:
        self.done = threading.Event()

    def fail(self, why: str) -> None:
        if self.error is None:
            self.error = why


def _read(motor: Motor, field: str) -> Any:
    return motor.get(field, use_monitor=False, timeout=CONNECT_TIMEOUT)


def _start(move: MotorMove) -> None:
    """Connect, check the soft limits, send the put (completion sets ``move.done``)."""
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


def _wait(move: MotorMove, deadline: float) -> None:
    """Wait for completion and DMOV = 1, then check how the move ended."""
    motor = move.motor
    assert motor is not None
    if not move.done.wait(max(deadline - time.monotonic(), 0.0)):
        move.fail(f"still moving at the timeout (put to VAL not completed)")
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
    for move in moves:
        _start(move)
    started = [move for move in moves if move.error is None]
    if progress is not None and started:
        progress(f"moving {', '.join(move.record for move in started)}")
    if wait:
        for move in started:
            try:
                _wait(move, deadline)
            except ChannelAccessException as exc:
                move.fail(f"lost while moving: {exc}")
    for move in moves:
        if move.error is not None:
            log.warning("motor %s to %g: %s", move.record, move.target, move.error)
    return moves


def stop_all(moves: Sequence[MotorMove]) -> None:
    """Stop every motor of ``moves`` that was started (best effort)."""
    for move in moves:
        if move.motor is not None:
            try:
                move.motor.stop()
            except ChannelAccessException:
                log.warning("could not stop %s", move.record, exc_info=True)


def release(moves: Sequence[MotorMove]) -> Dict[str, Optional[float]]:
    """Disconnect the motors of ``moves``; returns their last read positions."""
    finals = {}
    for move in moves:
        finals[move.record] = move.final
        if move.motor is not None:
            move.motor.close()
    return finals
