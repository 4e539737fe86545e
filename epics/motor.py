"""Motor: the synApps motor record as a Device, with moves that report how they ended.

PyEpics 3.5's ``Motor``, ``MotorLimitException`` and ``MotorException``: the same fields and
English aliases (``drive`` is VAL, ``readback`` RBV, ``slew_speed`` VELO...), the same methods and
the same return codes from :meth:`Motor.move`, available here as named constants::

    >>> m = Motor('XXX:m1')
    >>> m.move(1.5, wait=True)          # 0 (DONE_OK) once the motor has stopped at 1.5
    >>> m.tweak_val = 0.1
    >>> m.tweak(dir='forward', wait=True)
    >>> m.get_position(readback=True, dial=True)

What differs from PyEpics is how waiting is done. "The put completed and DMOV = 1" does not
prove that a motion has ended: a server may complete the put before the motion starts and drop
DMOV later (caproto's ``fake_motor_record`` does, by up to 100 ms). A ``wait=True`` move or tweak,
and :meth:`Motor.wait_for_stop`, return once DMOV = 1 *and* the readback is at the drive position,
or DMOV stayed 1 for :data:`MOTION_START_TIMEOUT` since the put or the last end of a motion (all
read from the server); the wait is on monitor events with a deadline, never a polling loop. A
motor that hits a limit switch or is stopped ends such a move with the code for that outcome (a
stopped move is DONE_OK, as in PyEpics: compare :meth:`Motor.get_position` with the target to
tell), and a server that does not answer ends it with TIMEOUT after ``timeout`` seconds. A
refused target is LVIO = 1 with the previous target put back (LVIO alone is not proof: the fake
motor never clears it). Reading a field the motor record does not have raises an AttributeError
(that is also a MotorException) without touching the network.

Threads: as for every Device, the motor's PVs deliver monitor updates on the dispatcher thread;
:meth:`Motor.move` and :meth:`Motor.tweak` may be called from any thread, including from a
callback (see :func:`epics.device.wait_for_condition`).
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import ca
from ._errors import CANotConnectedError, ChannelAccessException
from .device import CATCH_UP_TIMEOUT, Device, _MonitorTrail, wait_for_condition
from .pv import PV

__all__ = ["Motor", "MotorException", "MotorLimitException", "MotorAttributeError", "NONFLOAT",
           "OUTSIDE_LIMITS", "UNCONNECTED", "TIMEOUT", "TIMEOUT_BUTDONE", "UNKNOWN_ERROR",
           "DONEW_SOFTLIM", "DONEW_HARDLIM", "DONE_OK", "MOVE_BEGUN", "MOVE_BEGUN_CONFIRMED",
           "NOWAIT_SOFTLIM", "NOWAIT_HARDLIM"]

log = logging.getLogger("epics.motor")

# --- the return codes of Motor.move (PyEpics's values) --------------------------------------------
#: The value cannot be converted to a float; nothing moved.
NONFLOAT = -13
#: The target is outside the soft limits; nothing moved.
OUTSIDE_LIMITS = -12
#: The drive PV does not connect; nothing moved.
UNCONNECTED = -11
#: wait=True: the move did not end within the timeout, and the motor is still moving.
TIMEOUT = -8
#: wait=True: the put did not complete within the timeout, yet the motor reports done.
TIMEOUT_BUTDONE = -7
#: The server refused the put (a disabled motor, say), or answered unexpectedly.
UNKNOWN_ERROR = -5
#: wait=True: the move ended with a soft limit violation (the record refused the target).
DONEW_SOFTLIM = -4
#: wait=True: the move ended on a limit switch.
DONEW_HARDLIM = -3
#: wait=True: the move ended (reached the target, or was stopped).
DONE_OK = 0
#: wait=False: the move was requested, motion not seen (yet).
MOVE_BEGUN = 0
#: wait=False: the move was requested and the motor is moving.
MOVE_BEGUN_CONFIRMED = 1
#: wait=False: the motor is on a limit switch and not moving.
NOWAIT_HARDLIM = 3
#: wait=False: the record refused the target (soft limit violation).
NOWAIT_SOFTLIM = 4

#: Seconds ``move(confirm_move=True)`` waits for the motion to show (PyEpics's value).
CONFIRM_MOVE_TIMEOUT = 0.25
#: Seconds each read made to check the outcome of a move may take.
READ_TIMEOUT = 5.0
#: Seconds a motor that reports done (DMOV = 1) away from its drive position is given to start
#: moving, after a put or after it ended a motion: servers may complete a put, or end one leg of
#: a motion, before the (next) motion shows (caproto's fake motor drops DMOV up to 100 ms after
#: a put). A move that ends away from its target (paused, say) returns this much later.
MOTION_START_TIMEOUT = 1.0
#: Most rounds of waiting for a motion to end (each lasts until DMOV changes or
#: MOTION_START_TIMEOUT runs out), whatever the timeout.
MAX_MOTION_WAITS = 10000


class MotorException(Exception):
    """A problem with a motor (not a motor record, not connected...)."""

    def __init__(self, msg: str = "", *args: Any) -> None:
        super().__init__(msg, *args)
        self.msg = msg

    def __str__(self) -> str:
        return str(self.msg)


class MotorLimitException(MotorException):
    """A motor limit (soft limit violation, or a limit switch) is active."""


class MotorAttributeError(MotorException, AttributeError):
    """A field the motor record does not have (both a MotorException, as PyEpics raised, and an
    AttributeError, so ``hasattr`` and ``getattr(m, name, default)`` work)."""


#: English names of motor record fields (PyEpics's table).
_ALIASES: Dict[str, str] = {
    "acceleration": "ACCL", "back_accel": "BACC", "backlash": "BDST", "back_speed": "BVEL",
    "card": "CARD", "dial_high_limit": "DHLM", "direction": "DIR", "dial_low_limit": "DLLM",
    "settle_time": "DLY", "done_moving": "DMOV", "dial_readback": "DRBV",
    "description": "DESC", "dial_drive": "DVAL", "units": "EGU", "encoder_step": "ERES",
    "freeze_offset": "FOFF", "move_fraction": "FRAC", "hi_severity": "HHSV",
    "hi_alarm": "HIGH", "hihi_alarm": "HIHI", "high_limit": "HLM", "high_limit_set": "HLS",
    "hw_limit": "HLSV", "home_forward": "HOMF", "home_reverse": "HOMR",
    "high_op_range": "HOPR", "high_severity": "HSV", "integral_gain": "ICOF",
    "jog_accel": "JAR", "jog_forward": "JOGF", "jog_reverse": "JOGR", "jog_speed": "JVEL",
    "last_dial_val": "LDVL", "low_limit": "LLM", "low_limit_set": "LLS",
    "lo_severity": "LLSV", "lolo_alarm": "LOLO", "low_op_range": "LOPR", "low_alarm": "LOW",
    "last_rel_val": "LRLV", "last_dial_drive": "LRVL", "last_SPMG": "LSPG",
    "low_severity": "LSV", "last_drive": "LVAL", "soft_limit": "LVIO", "in_progress": "MIP",
    "missed": "MISS", "moving": "MOVN", "resolution": "MRES", "motor_status": "MSTA",
    "offset": "OFF", "output_mode": "OMSL", "output": "OUT", "prop_gain": "PCOF",
    "precision": "PREC", "readback": "RBV", "retry_max": "RTRY", "retry_count": "RCNT",
    "retry_deadband": "RDBD", "dial_difference": "RDIF", "raw_encoder_pos": "REP",
    "raw_high_limit": "RHLS", "raw_low_limit": "RLLS", "relative_value": "RLV",
    "raw_motor_pos": "RMP", "raw_readback": "RRBV", "readback_res": "RRES",
    "raw_drive": "RVAL", "dial_speed": "RVEL", "s_speed": "S", "s_back_speed": "SBAK",
    "s_base_speed": "SBAS", "s_max_speed": "SMAX", "set": "SET", "stop_go": "SPMG",
    "s_revolutions": "SREV", "stop_command": "STOP", "t_direction": "TDIR",
    "tweak_forward": "TWF", "tweak_reverse": "TWR", "tweak_val": "TWV",
    "use_encoder": "UEIP", "u_revolutions": "UREV", "use_rdbl": "URIP", "drive": "VAL",
    "base_speed": "VBAS", "slew_speed": "VELO", "version": "VERS", "max_speed": "VMAX",
    "use_home": "ATHM", "deriv_gain": "DCOF", "use_torque": "CNEN", "device_type": "DTYP",
    "record_type": "RTYP", "status": "STAT",
}

#: Other fields of the motor record (and of every record) that have no English name.
_OTHER_FIELDS = (
    "ADEL", "ALST", "CBAK", "CDIR", "DIFF", "DINP", "DOL", "FOF", "HVEL", "IGSET", "INIT",
    "LOPR", "MDEL", "MLST", "MMAP", "NMAP", "NTM", "NTMF", "PERL", "POST", "PP", "PREM", "RDBL",
    "RINP", "RLNK", "RMOD", "RSTM", "SPDB", "SSET", "STOO", "STUP", "SUSE", "SYNC", "VOF",
    # dbCommon
    "NAME", "ASG", "SCAN", "PINI", "PHAS", "EVNT", "TSE", "TSEL", "DISV", "DISA", "SDIS", "DISP",
    "PROC", "SEVR", "NSTA", "NSEV", "ACKS", "ACKT", "DISS", "LCNT", "PACT", "PUTF", "RPRO",
    "PRIO", "TPRO", "UDF", "UDFS", "FLNK",
)

#: PVs beside the record's own fields: attribute -> suffix appended to the motor name.
_EXTRAS: Dict[str, str] = {"disabled": "_able.VAL"}

#: Fields whose PVs are created with the motor (they connect in the background).
_INIT_LIST = ("VAL", "DESC", "RTYP", "RBV", "PREC", "TWV", "FOFF", "VELO", "STAT", "SET", "LLM",
              "HLM", "SPMG", "LVIO", "HLS", "LLS",
              # read by every move that waits (PyEpics's list ends above)
              "DMOV", "RDBD", "MRES")

#: Fields shown by get_info/show_info.
_INFO_FIELDS = ("DESC", "VAL", "RBV", "PREC", "VELO", "STAT", "SET", "TWV", "LLM", "HLM", "SPMG")


def _same_tolerance(drive: str, value: float) -> float:
    """How far two values of a drive field may differ and still be the same target."""
    return 0.5 if drive == "RVAL" else 1e-9 * max(1.0, abs(value))


def _coordinates(dial: bool, raw: bool) -> Tuple[str, str]:
    """(drive field, readback field) of user, dial or raw coordinates."""
    if dial:
        return "DVAL", "DRBV"
    if raw:
        return "RVAL", "RRBV"
    return "VAL", "RBV"


class Motor(Device):
    """The EPICS motor record.

    >>> m = Motor('XXX:m1')
    >>> m.move(10)                  # to 10 in user coordinates, returns at once
    >>> m.move(100, dial=True, wait=True)
    >>> m.move(1, relative=True, raw=True)
    >>> m.stop()
    >>> m.high_limit, m.slew_speed  # HLM, VELO
    >>> m.acceleration = 0.1        # ACCL
    >>> m.get_position(readback=True)
    >>> m.set_position(0)           # redefine the current position (SET/USE)

    Parameters
    ----------
    name : str
        The motor record name ('XXX:m1'; 'XXX:m1.VAL' and 'XXX:m1.' are accepted too).
    timeout : float
        Seconds to wait for the record to answer (its RTYP is read to check it is a motor).

    Raises
    ------
    MotorException
        when no name is given, the record does not connect, or it is not a motor record.

    Notes
    -----
    Follows PyEpics 3.5; see the module documentation for how waits work and for unknown fields.
    """

    _alias = _ALIASES
    _extras = _EXTRAS
    _init_list = _INIT_LIST
    _known_fields = frozenset(_ALIASES.values()) | frozenset(_OTHER_FIELDS) | frozenset(_INIT_LIST)
    _nonpvs = ("_prefix", "_pvs", "_delim", "_init", "_init_list", "_alias", "_extras",
               "_callbacks", "_name", "_last_request")

    def __init__(self, name: Optional[str] = None, timeout: float = 3.0) -> None:
        if name is None:
            raise MotorException("must supply motor name")
        if name.endswith(".VAL"):
            name = name[:-4]
        if name.endswith("."):
            name = name[:-1]
        self._name = name
        self._callbacks: Dict[str, List[int]] = {}
        #: When the last move or tweak was asked for (monotonic seconds; none yet: -inf).
        self._last_request = float("-inf")
        super().__init__(name, delim=".", attrs=self._init_list, timeout=timeout,
                         aliases=None, with_poll=False)
        self._aliases = dict(self._alias)
        rtyp = self.get("RTYP")
        if rtyp is None:
            raise MotorException(f"motor {name!r}: no answer from {name}.RTYP within "
                                 f"{timeout} s (not connected)")
        if rtyp != "motor":
            raise MotorException(f"{name} is not an Epics Motor (its record type is {rtyp!r})")
        for attr, suffix in self._extras.items():
            self.add_pv(f"{name}{suffix}", attr=attr)

    def _no_attribute(self, attr: str) -> AttributeError:
        return MotorAttributeError(
            f"Motor {self._name!r} has no attribute {attr!r} (not a field of the motor record; "
            f"use .PV({attr!r}) to read another PV)")

    def __repr__(self) -> str:
        desc = self.PV("DESC", connect=False)
        return f"<epics.Motor: {self._name}: '{desc.get() if desc.connected else '?'}'>"

    __str__ = __repr__

    def get_pv(self, attr: str) -> PV:
        """The PV of a field (or alias)."""
        return self.PV(attr)

    # --- limits -----------------------------------------------------------------------------------

    def check_limits(self) -> None:
        """Raise :class:`MotorLimitException` if a soft limit violation or a limit switch is
        active; return None otherwise."""
        for field, message in (("LVIO", "Soft limit violation"),
                               ("HLS", "High hard limit violation"),
                               ("LLS", "Low  hard limit violation")):
            value = self.get(field)
            if value not in (0, None):
                raise MotorLimitException(f"{self._name}: {message}")

    def within_limits(self, val: float, dial: bool = False) -> bool:
        """Whether ``val`` lies within the soft limits (user HLM/LLM, or dial DHLM/DLLM with
        ``dial=True``), as the server has them now. Limits both 0 mean no limits, as in the
        motor record."""
        low, high = (self._read("DLLM"), self._read("DHLM")) if dial else \
            (self._read("LLM"), self._read("HLM"))
        if low is None or high is None:
            return False
        if low == 0 and high == 0:
            return True
        return low <= val <= high

    # --- reading the outcome ----------------------------------------------------------------------

    def _read(self, field: str) -> Any:
        """A field's value as the server has it now (not the last monitor update)."""
        return self.PV(field).get(use_monitor=False, timeout=READ_TIMEOUT)

    def _on_limit_switch(self) -> bool:
        return self._read("HLS") == 1 or self._read("LLS") == 1

    def _target_tolerance(self) -> float:
        """How close (EGU) the readback must be to the drive to count as there: the retry
        deadband RDBD, at least one motor step MRES (as the motor record's own test)."""
        rdbd, mres = self._read("RDBD"), self._read("MRES")
        return max(abs(rdbd or 0.0), abs(mres or 0.0), 1e-9)

    def _at_drive(self) -> bool:
        """Whether the readback RBV is at the drive VAL, as the server has them now (the record
        has processed the put by then, so VAL is the target of any move, tweak or relative
        move, in user coordinates; a stop or a limit switch sets VAL to where it stopped)."""
        drive, readback = self._read("VAL"), self._read("RBV")
        if drive is None or readback is None:
            return False
        return abs(drive - readback) <= self._target_tolerance()

    def _rejected(self, drive: str, value: float, before: Any) -> bool:
        """Whether the record refused the target ``value`` of ``drive``: LVIO = 1 and the drive
        field holds its value from before the put (``before``), not the target, as a motor
        record puts the previous target back. LVIO alone is not proof: caproto's fake motor
        keeps LVIO = 1 (its initial value) forever, and a stop moves the drive elsewhere."""
        if self._read("LVIO") != 1:
            return False
        held = self._read(drive)
        if held is None or before is None:
            return held is None or abs(held - value) > _same_tolerance(drive, value)
        return (abs(held - value) > _same_tolerance(drive, value)
                and abs(held - before) <= _same_tolerance(drive, before))

    def _wait_motion_end(self, since: float, deadline: float) -> Tuple[bool, bool]:
        """Wait until the motion asked for at ``since`` (monotonic time) has ended: DMOV = 1
        and either the readback is at the drive, or the motor stayed done for
        MOTION_START_TIMEOUT seconds since ``since`` or since it last ended a motion.

        DMOV = 1 alone proves nothing right after a put: a server may complete the put before
        DMOV drops (caproto's fake motor drops it up to 100 ms later), and a DMOV = 1 may end
        an earlier motion. Returns (ended before ``deadline``, DMOV was read as 0).
        """
        dmov = self.PV("DMOV")
        state = {"settled": since, "moving": False, "dropped": False}

        def ended() -> bool:
            value = self._read("DMOV")
            now = time.monotonic()
            if value != 1:
                if value == 0:
                    state["moving"] = state["dropped"] = True
                return False
            if state["moving"]:            # an ending seen: give the next motion its chance
                state["moving"], state["settled"] = False, now
            return self._at_drive() or now - state["settled"] >= MOTION_START_TIMEOUT

        for _ in range(MAX_MOTION_WAITS):
            now = time.monotonic()
            wait_until = min(deadline, max(state["settled"] + MOTION_START_TIMEOUT, now))
            if wait_for_condition([dmov], ended, wait_until - now):
                return True, state["dropped"]
            if time.monotonic() >= deadline:
                return False, state["dropped"]
        return False, state["dropped"]

    def _put_and_wait(self, field: str, value: Any, timeout: float) -> int:
        """Put with completion, then wait for the motion to end: DONE_OK, TIMEOUT or
        TIMEOUT_BUTDONE.

        Once ended, and if the motor moved, this also waits (at most CATCH_UP_TIMEOUT) until
        the DMOV monitor has delivered the end of the motion, so that the cached readbacks
        (``m.RBV``) are final when this returns. Raises what PV.put raises (not connected,
        refused by the server).
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        dmov = self.PV("DMOV")
        with _MonitorTrail(dmov) as trail:
            moving_before = dmov.value == 0
            # raise_on_error: a write the server refuses (a disabled motor) must not read as a
            # finished move; move() and tweak() turn the exception into their return codes.
            status = self.put(field, value, wait=True, timeout=timeout, raise_on_error=True)
            if status == -1:
                return TIMEOUT if self._read("DMOV") == 0 else TIMEOUT_BUTDONE
            if status != 1:
                return UNKNOWN_ERROR
            self._last_request = time.monotonic()
            ended, moved = self._wait_motion_end(self._last_request, deadline)
            if not ended:
                return TIMEOUT
            _catch_up(trail, moved, moving_before)
        return DONE_OK

    def wait_for_stop(self, timeout: float = 300.0) -> bool:
        """Wait until the motion of the last move or tweak has ended; True once it has, False
        after ``timeout`` seconds.

        Unlike waiting for DMOV = 1, this also holds right after ``move(wait=False)`` on a
        server that drops DMOV only some time after the put (see the module documentation).
        Not in PyEpics.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        dmov = self.PV("DMOV")
        with _MonitorTrail(dmov) as trail:
            moving_before = dmov.value == 0
            ended, moved = self._wait_motion_end(self._last_request, deadline)
            if ended:
                _catch_up(trail, moved, moving_before)
        return ended

    @property
    def done(self) -> bool:
        """Whether the motion of the last move or tweak has ended (:meth:`wait_for_stop`
        without waiting). Not in PyEpics."""
        return self.wait_for_stop(timeout=0.0)

    # --- moving -----------------------------------------------------------------------------------

    def move(self, val: Any = None, relative: bool = False, wait: bool = False,
             timeout: float = 300.0, dial: bool = False, step: bool = False, raw: bool = False,
             ignore_limits: bool = False, confirm_move: bool = False) -> int:
        """Move to a position; returns a code saying what happened.

        Parameters
        ----------
        val : float
            The target (user coordinates unless ``dial`` or ``raw``).
        relative : bool
            ``val`` is relative to the current drive position.
        wait : bool
            Return once the motion has ended (the put completed and DMOV = 1).
        timeout : float
            Most seconds to wait with ``wait=True``.
        dial, raw : bool
            Dial coordinates (DVAL), or raw steps (RVAL; ``step`` is the old name).
        ignore_limits : bool
            Don't check the soft limits here (the record still enforces them).
        confirm_move : bool
            With ``wait=False``: wait up to :data:`CONFIRM_MOVE_TIMEOUT` for the motion to show.

        Returns
        -------
        int
            NONFLOAT (-13), OUTSIDE_LIMITS (-12), UNCONNECTED (-11): nothing moved;
            TIMEOUT (-8), TIMEOUT_BUTDONE (-7), UNKNOWN_ERROR (-5);
            with ``wait=True``: DONEW_SOFTLIM (-4), DONEW_HARDLIM (-3), DONE_OK (0);
            with ``wait=False``: MOVE_BEGUN (0), MOVE_BEGUN_CONFIRMED (1), NOWAIT_HARDLIM (3),
            NOWAIT_SOFTLIM (4). The codes and their values are PyEpics's.
        """
        raw = raw or step
        try:
            val = float(val)
        except (TypeError, ValueError):
            return NONFLOAT
        drive, _ = _coordinates(dial, raw)
        if not self.PV(drive).connected:
            return UNCONNECTED
        try:
            before = self._read(drive)
            if before is None:
                return UNCONNECTED
            if relative:
                val += before
            if not ignore_limits and not raw and not self.within_limits(val, dial=dial):
                return OUTSIDE_LIMITS
            if wait:
                outcome = self._put_and_wait(drive, val, timeout)
                if outcome != DONE_OK:
                    return outcome
                if self._rejected(drive, val, before):
                    return DONEW_SOFTLIM
                if self._on_limit_switch():
                    return DONEW_HARDLIM
                return DONE_OK
            return self._move_nowait(drive, val, before, confirm_move)
        except CANotConnectedError:
            return UNCONNECTED
        except ChannelAccessException as exc:
            log.warning("move of %s to %r failed: %s", self._name, val, exc)
            return UNKNOWN_ERROR

    def _move_nowait(self, drive: str, val: float, before: Any, confirm_move: bool) -> int:
        seen_moving = []

        def on_movn(value: Any = None, **kws: Any) -> None:
            if value == 1:
                seen_moving.append(True)

        movn = self.PV("MOVN")
        index = movn.add_callback(on_movn, with_ctrlvars=False)
        try:
            self._last_request = time.monotonic()
            self.put(drive, val)
            if confirm_move:
                wait_for_condition(
                    [movn, self.PV("LVIO")],
                    lambda: bool(seen_moving) or self._read("MOVN") == 1
                    or self._rejected(drive, val, before),
                    CONFIRM_MOVE_TIMEOUT)
        finally:
            movn.remove_callback(index)
        if seen_moving or self._read("MOVN") == 1:
            return MOVE_BEGUN_CONFIRMED
        if self._rejected(drive, val, before):
            return NOWAIT_SOFTLIM
        if self._on_limit_switch():
            return NOWAIT_HARDLIM
        return MOVE_BEGUN

    def tweak(self, direction: str = "forward", wait: bool = False, timeout: float = 300.0,
              dir: Optional[str] = None) -> int:  # noqa: A002 (the slides' keyword)
        """Move by the tweak step (TWV) forward (TWF) or in reverse (TWR).

        Parameters
        ----------
        direction : str
            'forward', or a word starting with 'rev' or 'back' for reverse. ``dir`` is accepted
            as another name for it (the spelling of the PyEpics slides).
        wait : bool
            Return once the motion has ended (put completed and DMOV = 1).
        timeout : float
            Most seconds to wait.

        Returns
        -------
        int
            0 on success; -1 if a limit is active afterwards, the wait timed out, or the motor
            refused the tweak or is not connected.
        """
        if dir is not None:
            direction = dir
        text = str(direction).strip().lower()
        field = "TWR" if text.startswith(("rev", "back")) else "TWF"
        try:
            if wait:
                result = 0 if self._put_and_wait(field, 1, timeout) == DONE_OK else -1
            else:
                self._last_request = time.monotonic()
                result = 0 if self.put(field, 1) == 1 else -1
        except ChannelAccessException as exc:   # not connected, or refused (a disabled motor)
            log.warning("tweak of %s failed: %s", self._name, exc)
            return -1
        try:
            self.check_limits()
        except MotorLimitException:
            result = -1
        return result

    def stop(self) -> None:
        """Stop the motor now (writes 1 to STOP)."""
        self.put("STOP", 1)

    StopNow = stop

    # --- positions --------------------------------------------------------------------------------

    def get_position(self, dial: bool = False, readback: bool = False, step: bool = False,
                     raw: bool = False) -> Any:
        """The drive position (or the readback with ``readback=True``), in user, dial
        (``dial=True``) or raw (``raw=True``, alias ``step``) coordinates."""
        drive, rbv = _coordinates(dial, raw or step)
        return self.get(rbv if readback else drive)

    def set_position(self, position: float, dial: bool = False, step: bool = False,
                     raw: bool = False) -> None:
        """Redefine the current position, without moving: SET mode, write the drive field, then
        back to USE mode (also when the write fails).

        ``dial=True`` sets the dial position, ``raw=True`` (alias ``step``) the raw steps.
        """
        drive, _ = _coordinates(dial, raw or step)
        self.put("SET", 1, wait=True)
        try:
            self.put(drive, position, wait=True)
        finally:
            self.put("SET", 0, wait=True)

    def make_step_list(self, minstep: float = 0.0, maxstep: Optional[float] = None,
                       decades: int = 10) -> List[float]:
        """Sensible step sizes for this motor (1, 2, 5 times powers of ten from its precision up
        to ``maxstep``, default 60% of the soft-limit range), as for a drop-down menu."""
        precision = self.get("PREC") or 0
        if maxstep is None:
            maxstep = 0.6 * abs(self.get("HLM") - self.get("LLM"))
        steps = []
        for decade in range(decades):
            for mantissa in (1, 2, 5):
                size = mantissa * 10.0 ** (decade - precision)
                if 0.98 * minstep < size <= maxstep:
                    steps.append(size)
        return steps

    # --- callbacks --------------------------------------------------------------------------------

    def set_callback(self, attr: str = "VAL", callback: Optional[Callable[..., Any]] = None,
                     kws: Optional[Dict[str, Any]] = None) -> int:
        """Run ``callback`` when a field changes; it also gets ``motor_field=attr`` and ``kws``.
        Returns the callback's index on the field's PV."""
        field = self._resolve(attr)
        self.get(field)
        extra = {"motor_field": attr}
        if kws:
            extra.update(kws)
        index = self.PV(field).add_callback(callback=callback, **extra)
        self._callbacks.setdefault(field, []).append(index)
        return index

    def clear_callback(self, attr: str = "drive") -> None:
        """Remove the callbacks :meth:`set_callback` added to a field (an alias or the field name:
        'drive' and 'VAL' are the same field)."""
        field = self._resolve(attr)
        thispv = self.PV(field, connect=False)
        for index in self._callbacks.pop(field, []):
            thispv.remove_callback(index)

    def refresh(self) -> None:
        """Let CA process pending events (PyEpics compatibility; monitors keep fields current)."""
        ca.poll()

    # --- information ------------------------------------------------------------------------------

    def get_info(self) -> Dict[str, Any]:
        """The main settings as text: DESC, VAL, RBV, PREC, VELO, STAT, SET, TWV, LLM, HLM,
        SPMG."""
        return {field: self.get(field, as_string=True) for field in _INFO_FIELDS}

    def show_info(self, print_out: bool = True) -> Optional[str]:
        """Print the main settings (or return the text with ``print_out=False``)."""
        lines = [repr(self), "-" * 38]
        for field, value in self.get_info().items():
            lines.append(f"{field:<16s} = {value}")
        lines.append("-" * 38)
        return _output("\n".join(lines), print_out)

    def show_all(self, print_out: bool = True) -> Optional[str]:
        """Print every aliased field with its value and PV name (or return the text)."""
        lines = [f"# Motor {self._name}",
                 "#  field               value                 PV name",
                 "#" + "-" * 60]
        for attr in sorted(self._alias):
            field = self._alias[attr]
            value = self.get(field, as_string=True)
            if value is None:
                value = "Not Connected??"
            lines.append(f" {attr:<18s}  {value:<18s}  {self.PV(field, connect=False).pvname}")
        return _output("\n".join(lines), print_out)


def _catch_up(trail: _MonitorTrail, moved: bool, moving_before: bool) -> None:
    """Once the server says a motion has ended, wait (at most CATCH_UP_TIMEOUT) until the DMOV
    monitor has delivered its end too, so that the cached readbacks are final: the last DMOV
    delivered is 1, after a 0 (or the motor was already moving when ``trail`` began, so the
    0 came before it)."""
    if not (moved or moving_before or 0 in trail.values):
        return
    trail.wait_until(lambda values: bool(values) and values[-1] == 1
                     and (moving_before or 0 in values), CATCH_UP_TIMEOUT)


def _output(text: str, print_out: bool) -> Optional[str]:
    if not print_out:
        return text
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return None
