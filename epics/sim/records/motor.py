"""Simulated synApps motor record.

Coordinates, as in the motor record: ``user = DIR_sign * dial + OFF`` and
``raw = dial / MRES``.  The simulated axis has a continuous dial position; the
readbacks (DRBV, RBV, RRBV) report it in whole motor steps (MRES).

Moves follow a trapezoid: from VBAS the speed rises to VELO in ACCL seconds,
cruises and falls back (a triangle when the move is short); the readbacks are
posted every :data:`PERIOD` seconds while moving, with MOVN = 1 and DMOV = 0.
Position against time comes from the monotonic loop clock, so a move takes its
real duration however late the updates run.  A target beyond the soft limits
(DHLM/DLLM, both 0 = no limits) is refused: LVIO = 1, VAL goes back, nothing
moves, and the put completes at once.  Hard limit switches sit at fixed dial
positions (``hard_limits``); reaching one stops the motor and sets HLS/LLS.

Supported: VAL/DVAL/RVAL/RLV moves, TWV with TWF/TWR, STOP, SPMG (Stop, Pause,
Move, Go), SET/USE calibration with FOFF (Variable changes OFF, Frozen redefines
the dial position), DIR, OFF, user and dial limits, speeds in EGU/s and rev/s,
MRES/UREV/SREV, backlash (BDST, BVEL, BACC), jog (JOGF/JOGR at JVEL), home
(HOMF/HOMR to dial 0 at HVEL), DLY settle time, and the ``<motor>_able``
enable/disable PV that synApps' motor databases pair with each motor.

A put to VAL, DVAL, RVAL, RLV, TWF, TWR, HOMF, HOMR, SPMG or STOP completes
(``ca_put_callback``) when the motor is done moving (DMOV = 1).
"""
from __future__ import annotations

import asyncio
import logging
import math
from typing import Iterable, List, Optional, Sequence, Tuple

from ._record import ALARM_SEVERITY, Field, SimRecord, dbl, lng, menu, sht, text

__all__ = ['MotorRecord', 'PERIOD']

logger = logging.getLogger('epics.sim.records.motor')

#: Seconds between readback updates while moving (20 Hz).
PERIOD = 0.05
#: Slowest speed (EGU/s) a move uses, so VELO = 0 cannot stall a move forever.
MIN_SPEED = 1e-6
#: Longest settle time (DLY, s) honoured.
MAX_DLY = 60.0

SPMG_STOP, SPMG_PAUSE, SPMG_MOVE, SPMG_GO = range(4)

# motor status (MSTA) bits
MSTA_DIRECTION = 1 << 0
MSTA_DONE = 1 << 1
MSTA_PLUS_LS = 1 << 2
MSTA_HOME_LS = 1 << 3
MSTA_POSITION = 1 << 5
MSTA_HOME = 1 << 7
MSTA_PRESENT = 1 << 8
MSTA_MOVING = 1 << 10
MSTA_GAIN_SUPPORT = 1 << 11
MSTA_MINUS_LS = 1 << 13
MSTA_HOMED = 1 << 14

#: Fields whose put moves the motor; refused while ``_able`` says Disable.
MOTION_FIELDS = frozenset(('VAL', 'DVAL', 'RVAL', 'RLV', 'TWF', 'TWR', 'JOGF',
                           'JOGR', 'HOMF', 'HOMR'))
#: Fields shown in EGU and with PREC digits.
POSITION_FIELDS = ('VAL', 'DVAL', 'RBV', 'DRBV', 'OFF', 'HLM', 'LLM', 'DHLM',
                   'DLLM', 'TWV', 'RLV', 'LVAL', 'LDVL', 'LRLV', 'DIFF', 'BDST',
                   'MRES', 'ERES', 'RDBD', 'SPDB', 'UREV', 'HOPR', 'LOPR')
SPEED_FIELDS = ('VELO', 'VBAS', 'VMAX', 'BVEL', 'JVEL', 'HVEL')

_Leg = Tuple[float, float, float, float]    # (target dial, vmax, vbase, accl)


class _Ramp:
    """Motion in phases of constant acceleration, from speed ``v0`` (magnitudes).

    ``at(t)`` returns the distance covered and the speed after ``t`` seconds;
    past the end it returns ``distance`` (when given) and speed 0.
    """

    def __init__(self, v0: float, phases: Sequence[Tuple[float, float]],
                 distance: Optional[float] = None):
        self.v0 = v0
        self.phases = [(dt, acc) for dt, acc in phases if dt > 0.0]
        self.duration = sum(dt for dt, _ in self.phases)
        self.distance = distance

    def at(self, t: float) -> Tuple[float, float]:
        if t >= self.duration:
            if self.distance is not None:
                return self.distance, 0.0
            t = self.duration
        s, v, remaining = 0.0, self.v0, max(t, 0.0)
        for dt, acc in self.phases:
            step = min(remaining, dt)
            s += v * step + 0.5 * acc * step * step
            v += acc * step
            remaining -= step
            if remaining <= 0.0:
                break
        if t >= self.duration:
            v = 0.0
        return max(s, 0.0), max(v, 0.0)


def _acceleration(vbase: float, vmax: float, accl: float) -> float:
    """Acceleration (EGU/s^2) reaching vmax from vbase in accl s; inf = instant."""
    if accl <= 0.0 or vmax <= vbase:
        return math.inf
    return (vmax - vbase) / accl


def trapezoid(distance: float, vbase: float, vmax: float, accl: float) -> _Ramp:
    """The speed profile of a move of ``distance`` (>= 0) as the motor record does it."""
    vmax = max(abs(vmax), MIN_SPEED)
    vbase = min(max(vbase, 0.0), vmax)
    if distance <= 0.0:
        return _Ramp(0.0, (), 0.0)
    acc = _acceleration(vbase, vmax, accl)
    if math.isinf(acc):
        return _Ramp(vmax, [(distance / vmax, 0.0)], distance)
    ramp_distance = (vmax * vmax - vbase * vbase) / (2.0 * acc)
    if 2.0 * ramp_distance <= distance:
        t_ramp = (vmax - vbase) / acc
        t_cruise = (distance - 2.0 * ramp_distance) / vmax
    else:
        vpeak = math.sqrt(vbase * vbase + acc * distance)
        t_ramp = (vpeak - vbase) / acc
        t_cruise = 0.0
    return _Ramp(vbase, [(t_ramp, acc), (t_cruise, 0.0), (t_ramp, -acc)], distance)


def deceleration(speed: float, vbase: float, vmax: float, accl: float) -> _Ramp:
    """The profile of a stop from ``speed``: down to vbase at the move's rate, then halt."""
    acc = _acceleration(max(vbase, 0.0), max(vmax, MIN_SPEED), accl)
    if math.isinf(acc) or speed <= vbase:
        return _Ramp(0.0, ())
    return _Ramp(speed, [((speed - vbase) / acc, -acc)])


class MotorRecord(SimRecord):
    """A simulated motor record (see the module docstring for its behaviour).

    Parameters
    ----------
    name : str
        Record name, e.g. ``'sim:m1'``; fields are ``sim:m1.VAL`` and so on.
    egu, desc : str
        Engineering units and description.
    velo, accl : float
        Slew speed (EGU/s) and acceleration time (s).
    mres : float
        Motor resolution (EGU per step).
    prec : int
        Display precision.
    dhlm, dllm : float
        Dial soft limits.
    hard_limits : (float, float)
        Dial positions of the low and high limit switches.
    position : float
        Starting dial position.
    """
    record_type = 'motor'

    def __init__(self, name: str, *, egu: str = 'mm', desc: str = '', velo: float = 1.0,
                 accl: float = 0.2, mres: float = 0.001, prec: int = 3,
                 dhlm: float = 100.0, dllm: float = -100.0,
                 hard_limits: Tuple[float, float] = (-110.0, 110.0),
                 position: float = 0.0):
        if mres == 0:
            raise ValueError('mres must not be 0')
        self._opts = dict(egu=egu, desc=desc, velo=velo, accl=accl, mres=mres,
                          prec=prec, dhlm=dhlm, dllm=dllm, position=position)
        self._hard = (min(hard_limits), max(hard_limits))
        self._pos = float(position)
        self._speed = 0.0
        self._task: Optional[asyncio.Task] = None
        self._idle: Optional[asyncio.Event] = None
        self._stop_event: Optional[asyncio.Event] = None
        self._stop_kind: Optional[str] = None
        self._mode: Optional[str] = None
        self._start: Optional[Tuple[str, float]] = None
        self._homed = False
        super().__init__(name)

    # -- fields -------------------------------------------------------------
    def fields(self) -> Iterable[Field]:
        o = self._opts
        mres, pos, velo = o['mres'], o['position'], o['velo']
        srev = 200
        urev = mres * srev
        rpos = int(round(pos / mres))
        severity = ALARM_SEVERITY
        return [
            # drive and readback
            dbl('VAL', pos), dbl('DVAL', pos), lng('RVAL', rpos), dbl('RLV'),
            dbl('LVAL', pos, ro=True), dbl('LDVL', pos, ro=True),
            lng('LRVL', rpos, ro=True), dbl('LRLV', ro=True),
            dbl('RBV', pos, ro=True), dbl('DRBV', pos, ro=True),
            lng('RRBV', rpos, ro=True), lng('RMP', rpos, ro=True),
            lng('REP', rpos, ro=True), dbl('DIFF', ro=True), lng('RDIF', ro=True),
            # calibration
            dbl('OFF'), menu('FOFF', ('Variable', 'Frozen')), menu('DIR', ('Pos', 'Neg')),
            menu('SET', ('Use', 'Set')), sht('SSET'), sht('SUSE'), sht('IGSET'),
            # status
            sht('DMOV', 1, ro=True), sht('MOVN', 0, ro=True), lng('MIP', 0, ro=True),
            sht('MISS', 0, ro=True), sht('TDIR', 0, ro=True), sht('CDIR', 0, ro=True),
            dbl('MSTA', MSTA_DONE | MSTA_GAIN_SUPPORT, ro=True),
            sht('LVIO', 0, ro=True), sht('HLS', 0, ro=True), sht('LLS', 0, ro=True),
            sht('RHLS', 0, ro=True), sht('RLLS', 0, ro=True), sht('RCNT', 0, ro=True),
            sht('ATHM', 0, ro=True),
            # speeds and motion
            dbl('VELO', velo), dbl('VBAS'), dbl('VMAX'), dbl('S', velo / urev),
            dbl('SBAS'), dbl('SMAX'), dbl('ACCL', o['accl']), dbl('BDST'),
            dbl('BVEL', velo), dbl('SBAK', velo / urev), dbl('BACC', o['accl']),
            dbl('JVEL', velo), dbl('JAR'), dbl('HVEL', velo), dbl('FRAC', 1.0),
            lng('RVEL', 0, ro=True), dbl('RDBD', mres), dbl('SPDB'), sht('RTRY', 10),
            menu('RMOD', ('Default', 'Arithmetic', 'Geometric', 'In-Position')),
            dbl('DLY'), menu('NTM', ('NO', 'YES'), 1), sht('NTMF', 2),
            # resolution
            dbl('MRES', mres), dbl('ERES', mres), dbl('RRES', 1.0), dbl('UREV', urev),
            lng('SREV', srev), menu('UEIP', ('No', 'Yes')), menu('URIP', ('No', 'Yes')),
            text('RDBL'), text('RLNK'),
            # limits
            dbl('HLM', o['dhlm']), dbl('LLM', o['dllm']), dbl('DHLM', o['dhlm']),
            dbl('DLLM', o['dllm']), menu('HLSV', severity),
            dbl('HOPR'), dbl('LOPR'), dbl('HIHI'), dbl('LOLO'), dbl('HIGH'), dbl('LOW'),
            menu('HHSV', severity), menu('LLSV', severity), menu('HSV', severity),
            menu('LSV', severity),
            # commands
            sht('STOP'), menu('SPMG', ('Stop', 'Pause', 'Move', 'Go'), SPMG_GO),
            menu('LSPG', ('Stop', 'Pause', 'Move', 'Go'), SPMG_GO, ro=True),
            dbl('TWV', 1.0), sht('TWF'), sht('TWR'), sht('JOGF'), sht('JOGR'),
            sht('HOMF'), sht('HOMR'), menu('CNEN', ('Disable', 'Enable')),
            dbl('PCOF'), dbl('ICOF'), dbl('DCOF'), sht('PROC'), sht('DISP'),
            # description, device
            text('DESC', o['desc']), text('EGU', o['egu']), sht('PREC', o['prec']),
            menu('DTYP', ('asynMotor',), 0, ro=True), text('OUT', '@sim'),
            sht('CARD', 0, ro=True), dbl('VERS', 7.3, ro=True), text('DOL'),
            menu('OMSL', ('supervisory', 'closed_loop')), text('FLNK'),
            text('PREM'), text('POST'), text('INIT'),
            Field('_able', 'enum', 0, enums=('Enable', 'Disable'),
                  pvnames=(f'{self.name}_able', f'{self.name}_able.VAL'), rtyp='bo'),
        ]

    def default_precision(self, field: str) -> int:
        if field in ('MSTA',):
            return 0
        return int(self._opts['prec'])

    def default_units(self, field: str) -> str:
        egu = self._opts['egu']
        if field in POSITION_FIELDS:
            return egu
        if field in SPEED_FIELDS:
            return f'{egu}/s'
        return ''

    # -- helpers --------------------------------------------------------------
    @property
    def _idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            self._idle.set()
        return self._idle

    @property
    def _stop_evt(self) -> asyncio.Event:
        if self._stop_event is None:
            self._stop_event = asyncio.Event()
        return self._stop_event

    @property
    def moving(self) -> bool:
        """Whether a motion is under way (DMOV = 0)."""
        return self._task is not None and not self._task.done()

    def _sign(self) -> float:
        return -1.0 if self.get('DIR') == 1 else 1.0

    def _mres(self) -> float:
        mres = self.get('MRES')
        return mres if mres != 0 else 1.0

    def _user(self, dial: float) -> float:
        return self._sign() * dial + self.get('OFF')

    def _dial(self, user: float) -> float:
        return (user - self.get('OFF')) * self._sign()

    def _within_soft_limits(self, dial: float) -> bool:
        hi, lo = self.get('DHLM'), self.get('DLLM')
        if hi == 0.0 and lo == 0.0:
            return True
        tol = 1e-9 * max(1.0, abs(hi), abs(lo))
        return lo - tol <= dial <= hi + tol

    def _drbv(self) -> Tuple[int, float]:
        mres = self._mres()
        steps = int(round(self._pos / mres))
        return steps, steps * mres

    async def startup(self) -> None:
        self._idle_event.set()
        async with self.lock:
            await self._post_user_limits()
            await self._post_readback()

    # -- posting derived fields ---------------------------------------------
    async def _post_drive(self, dial: float, *, user: Optional[float] = None) -> None:
        """Post DVAL/RVAL/VAL (and the L* copies) for a dial drive position."""
        user = self._user(dial) if user is None else user
        rval = int(round(dial / self._mres()))
        await self.post_many(DVAL=dial, RVAL=rval, VAL=user, LVAL=user, LDVL=dial,
                             LRVL=rval)

    async def _post_user_limits(self) -> None:
        off, hi, lo = self.get('OFF'), self.get('DHLM'), self.get('DLLM')
        if self._sign() > 0:
            hlm, llm = hi + off, lo + off
        else:
            hlm, llm = -lo + off, -hi + off
        await self.post_many(HLM=hlm, LLM=llm)
        await self.set_metadata(('VAL', 'RBV'), upper_ctrl_limit=hlm, lower_ctrl_limit=llm,
                                upper_disp_limit=hlm, lower_disp_limit=llm)
        await self.set_metadata(('DVAL', 'DRBV'), upper_ctrl_limit=hi, lower_ctrl_limit=lo,
                                upper_disp_limit=hi, lower_disp_limit=lo)

    async def _post_readback(self) -> None:
        """Post the readbacks, limit switches and status for the current position."""
        steps, drbv = self._drbv()
        mres = self._mres()
        eres = self.get('ERES')
        diff = drbv - self.get('DVAL')
        low_sw = self._pos <= self._hard[0] + 1e-9
        high_sw = self._pos >= self._hard[1] - 1e-9
        sign = self._sign()
        await self.post_many(
            DRBV=drbv, RBV=sign * drbv + self.get('OFF'), RRBV=steps, RMP=steps,
            REP=int(round(drbv / eres)) if eres else steps,
            DIFF=diff, RDIF=int(round(diff / mres)),
            RHLS=int(high_sw), RLLS=int(low_sw),
            HLS=int(high_sw if sign > 0 else low_sw),
            LLS=int(low_sw if sign > 0 else high_sw))
        await self._post_status()
        if (high_sw or low_sw) and self.get('HLSV') > 0:
            await self.set_alarm(11, self.get('HLSV'))    # HWLIMIT, severity HLSV
        else:
            await self.set_alarm(0, 0)

    async def _post_status(self) -> None:
        steps, drbv = self._drbv()
        msta = MSTA_PRESENT
        if self.get('TDIR'):
            msta |= MSTA_DIRECTION
        if self.moving:
            msta |= MSTA_MOVING
        else:
            msta |= MSTA_DONE
        if self.get('RHLS'):
            msta |= MSTA_PLUS_LS
        if self.get('RLLS'):
            msta |= MSTA_MINUS_LS
        if steps == 0:
            msta |= MSTA_HOME | MSTA_HOME_LS
        if self.get('CNEN'):
            msta |= MSTA_POSITION
        if self._homed:
            msta |= MSTA_HOMED
        msta |= MSTA_GAIN_SUPPORT
        await self.post('MSTA', float(msta))

    # -- put processing -----------------------------------------------------
    async def on_put(self, field, value):
        if field in MOTION_FIELDS and self.get('_able') == 1:
            raise PermissionError(f'{self.name} is disabled ({self.name}_able)')
        handler = getattr(self, f'_on_{field}', None)
        if handler is None:
            return value
        return await handler(value)

    async def _request_move(self, dial: float) -> bool:
        """Check and set a new dial target; arrange for after_put to move there."""
        if not self._within_soft_limits(dial):
            await self.post('LVIO', 1)
            return False
        await self.post('LVIO', 0)
        spmg = self.get('SPMG')
        if spmg == SPMG_STOP:
            return False
        await self._post_drive(dial)
        if spmg != SPMG_PAUSE:
            self._start = ('move', dial)
        return True

    async def _load_position(self, dial: float) -> None:
        """SET mode: redefine the dial position (as loading the controller's counter)."""
        self._pos = dial
        if self.get('FOFF') == 1:          # Frozen: user follows the dial
            await self._post_drive(dial)
        else:                              # Variable: the offset keeps VAL
            val = self.get('VAL')
            await self.post('OFF', val - self._sign() * dial)
            await self._post_drive(dial, user=val)
            await self._post_user_limits()
        await self._post_readback()

    async def _on_VAL(self, value):
        if self.get('SET') == 1:
            if self.get('FOFF') == 1:
                await self._load_position(self._dial(value))
            else:
                dial = self.get('DVAL')
                await self.post('OFF', value - self._sign() * dial)
                await self.post_many(LVAL=value)
                await self._post_user_limits()
                await self._post_readback()
            return value
        if await self._request_move(self._dial(value)):
            return value
        return self.get('VAL')

    async def _on_DVAL(self, value):
        if self.get('SET') == 1:
            await self._load_position(value)
            return value
        if await self._request_move(value):
            return value
        return self.get('DVAL')

    async def _on_RVAL(self, value):
        dial = value * self._mres()
        if self.get('SET') == 1:
            await self._load_position(dial)
            return value
        if await self._request_move(dial):
            return value
        return self.get('RVAL')

    async def _on_RLV(self, value):
        if value != 0 and self.get('SET') == 0:
            await self.post('LRLV', value)
            await self._request_move(self._dial(self.get('VAL') + value))
        return 0.0

    async def _tweak(self, direction: float) -> int:
        if self.get('SET') == 0:
            await self._request_move(self._dial(self.get('VAL') + direction * self.get('TWV')))
        return 0

    async def _on_TWF(self, value):
        return await self._tweak(1.0) if value else 0

    async def _on_TWR(self, value):
        return await self._tweak(-1.0) if value else 0

    async def _request_stop(self, kind: str) -> None:
        if self.moving:
            self._stop_kind = kind
            self._stop_evt.set()

    async def _on_STOP(self, value):
        if value:
            if self.moving:
                await self._request_stop('stop')
            else:
                steps, drbv = self._drbv()
                await self._post_drive(drbv)
        return 0

    async def _on_SPMG(self, value):
        await self.post('LSPG', self.get('SPMG'))
        if value == SPMG_STOP:
            if self.moving:
                await self._request_stop('stop')
            else:
                steps, drbv = self._drbv()
                await self._post_drive(drbv)
        elif value == SPMG_PAUSE:
            await self._request_stop('pause')
        elif not self.moving:
            dial = self.get('DVAL')
            steps, drbv = self._drbv()
            if abs(dial - drbv) > abs(self._mres()) / 2 and self._within_soft_limits(dial):
                self._start = ('move', dial)
        return value

    async def _on_SSET(self, value):
        await self.post('SET', 1)
        return 0

    async def _on_SUSE(self, value):
        await self.post('SET', 0)
        return 0

    async def _on_JOGF(self, value):
        return await self._jog(value, 1.0)

    async def _on_JOGR(self, value):
        return await self._jog(value, -1.0)

    async def _jog(self, value: int, user_direction: float) -> int:
        if value:
            if self.moving or self.get('SPMG') in (SPMG_STOP, SPMG_PAUSE):
                return 0
            self._start = ('jog', user_direction * self._sign())
            return 1
        if self._mode == 'jog':
            await self._request_stop('jog')
        return 0

    async def _on_HOMF(self, value):
        return await self._home(value)

    async def _on_HOMR(self, value):
        return await self._home(value)

    async def _home(self, value: int) -> int:
        if value and not self.moving and self.get('SPMG') not in (SPMG_STOP, SPMG_PAUSE):
            self._start = ('home', 0.0)
            return 1
        return 0

    async def _on_MRES(self, value):
        if value == 0:
            raise ValueError('MRES must not be 0')
        return value

    async def _on_UREV(self, value):
        if value == 0:
            raise ValueError('UREV must not be 0')
        return value

    async def _on_SREV(self, value):
        if value <= 0:
            raise ValueError('SREV must be > 0')
        return value

    async def _on_VELO(self, value):
        return self._clamp_speed(value)

    async def _on_S(self, value):
        return self._clamp_speed(value * abs(self.get('UREV'))) / abs(self.get('UREV'))

    def _clamp_speed(self, velo: float) -> float:
        vmax = self.get('VMAX')
        velo = max(velo, self.get('VBAS'))
        if vmax > 0:
            velo = min(velo, vmax)
        return velo

    async def after_put(self, field, value):
        urev = abs(self.get('UREV')) or 1.0
        if field in ('OFF', 'DIR', 'FOFF'):
            await self._post_drive(self.get('DVAL'))
            await self._post_user_limits()
            await self._post_readback()
        elif field in ('HLM', 'LLM'):
            dial = self._dial(value)
            high_user = field == 'HLM'
            if (self._sign() > 0) == high_user:
                await self.post('DHLM', dial)
            else:
                await self.post('DLLM', dial)
            await self._post_user_limits()
        elif field in ('DHLM', 'DLLM'):
            await self._post_user_limits()
        elif field in ('VELO', 'VBAS', 'VMAX', 'BVEL'):
            pair = {'VELO': 'S', 'VBAS': 'SBAS', 'VMAX': 'SMAX', 'BVEL': 'SBAK'}[field]
            await self.post(pair, value / urev)
        elif field in ('S', 'SBAS', 'SMAX', 'SBAK'):
            pair = {'S': 'VELO', 'SBAS': 'VBAS', 'SMAX': 'VMAX', 'SBAK': 'BVEL'}[field]
            await self.post(pair, value * urev)
        elif field in ('MRES', 'UREV', 'SREV'):
            if field == 'MRES':
                await self.post('UREV', value * self.get('SREV'))
            else:
                await self.post('MRES', self.get('UREV') / self.get('SREV'))
            urev = abs(self.get('UREV')) or 1.0
            for speed, rps in (('VELO', 'S'), ('VBAS', 'SBAS'), ('VMAX', 'SMAX'),
                               ('BVEL', 'SBAK')):
                await self.post(rps, self.get(speed) / urev)
            await self._post_drive(self.get('DVAL'))
            await self._post_readback()
        elif field == 'PREC':
            await self.set_metadata(POSITION_FIELDS + SPEED_FIELDS, precision=value)
        elif field == 'EGU':
            await self.set_metadata(POSITION_FIELDS, units=value)
            await self.set_metadata(SPEED_FIELDS, units=f'{value}/s')
        elif field == 'CNEN':
            await self._post_status()
        elif field == '_able':
            await self.post('DISP', value)

        start, self._start = self._start, None
        if start is not None:
            return await self._begin(*start)
        if field in ('STOP', 'SPMG') and self.moving:
            return self._idle_event
        return None

    # -- motion ---------------------------------------------------------------
    def _plan(self, kind: str, arg: float) -> List[_Leg]:
        """Legs of a motion: (target dial, speed, base speed, acceleration time)."""
        vbase, accl = self.get('VBAS'), self.get('ACCL')
        if kind == 'jog':
            jvel = self.get('JVEL') or self.get('VELO')
            jar = self.get('JAR')
            jog_accl = (jvel - vbase) / jar if jar > 0 else accl
            hi, lo = self.get('DHLM'), self.get('DLLM')
            if hi == 0.0 and lo == 0.0:
                target = self._hard[1] + 1.0 if arg > 0 else self._hard[0] - 1.0
            else:
                target = hi if arg > 0 else lo
            return [(target, jvel, vbase, jog_accl)]
        if kind == 'home':
            return [(arg, self.get('HVEL') or self.get('VELO'), vbase, accl)]
        target = int(round(arg / self._mres())) * self._mres()
        velo = self.get('VELO')
        bdst = self.get('BDST')
        if abs(bdst) < abs(self._mres()):
            return [(target, velo, vbase, accl)]
        bvel, bacc = self.get('BVEL') or velo, self.get('BACC')
        distance = target - self._pos
        if distance * bdst > 0 and abs(distance) <= abs(bdst):
            return [(target, bvel, vbase, bacc)]
        return [(target - bdst, velo, vbase, accl), (target, bvel, vbase, bacc)]

    async def _begin(self, kind: str, arg: float) -> asyncio.Event:
        """Start a motion (cancelling one under way); return the idle event."""
        legs = self._plan(kind, arg)
        previous = self._task
        if previous is not None and not previous.done():
            previous.cancel()
        self._stop_evt.clear()
        self._stop_kind = None
        self._mode = kind
        self._idle_event.clear()
        first_target = legs[0][0]
        dial_direction = 1 if first_target >= self._pos else 0
        user_direction = dial_direction if self._sign() > 0 else 1 - dial_direction
        await self.post_many(TDIR=dial_direction, CDIR=user_direction, DMOV=0, MOVN=1,
                             MIP=1 if kind == 'move' else (2 if kind == 'jog' else 8))
        self._task = self.spawn(self._motion(legs, previous))
        await self._post_status()
        return self._idle_event

    async def _motion(self, legs: List[_Leg], previous: Optional[asyncio.Task]) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait({previous}, timeout=2.0)
        outcome = 'done'
        try:
            for leg in legs:
                outcome = await self._run_leg(*leg)
                if outcome != 'done':
                    break
        except asyncio.CancelledError:
            raise               # replaced by a new motion, which takes over
        except Exception:
            logger.exception('%s: motion failed', self.name)
            outcome = 'stopped'
        await self._finish(outcome)

    async def _run_leg(self, target: float, vmax: float, vbase: float, accl: float) -> str:
        """Move to a dial target; return 'done', 'stopped' or 'limit'."""
        loop = asyncio.get_running_loop()
        start = self._pos
        direction = 1.0 if target >= start else -1.0
        ramp = trapezoid(abs(target - start), vbase, vmax, accl)
        t0 = loop.time()
        stopping = False
        low, high = self._hard
        max_ticks = int((ramp.duration + max(accl, 0.0)) / PERIOD) + 50
        for _ in range(max_ticks):
            if self._task is not asyncio.current_task():
                # superseded by a new motion: end, even if the cancel was lost (wait_for
                # swallows a cancellation that arrives as the stop event is set)
                raise asyncio.CancelledError
            now = loop.time() - t0
            if self._stop_evt.is_set():
                self._stop_evt.clear()
                if not stopping:
                    covered, speed = ramp.at(now)
                    start += direction * covered
                    ramp = deceleration(speed, vbase, vmax, accl)
                    t0, now, stopping = loop.time(), 0.0, True
            covered, speed = ramp.at(now)
            pos = start + direction * covered
            hit = False
            if direction > 0 and pos >= high:
                pos, hit = max(high, min(start, pos)), True
            elif direction < 0 and pos <= low:
                pos, hit = min(low, max(start, pos)), True
            finished = now >= ramp.duration - 1e-4
            async with self.lock:
                self._pos = pos
                self._speed = 0.0 if finished else speed
                await self.post('RVEL', int(round(direction * self._speed / self._mres())))
                await self._post_readback()
            if hit:
                return 'limit'
            if finished:
                return 'stopped' if stopping else 'done'
            try:
                await asyncio.wait_for(self._stop_evt.wait(),
                                       min(PERIOD, ramp.duration - now))
            except asyncio.TimeoutError:
                pass
        logger.warning('%s: move took more updates than planned; ending it', self.name)
        return 'stopped'

    async def _finish(self, outcome: str) -> None:
        async with self.lock:
            kind, self._stop_kind = self._stop_kind, None
            mode, self._mode = self._mode, None
            self._speed = 0.0
            await self.post('MOVN', 0)
            keep_target = outcome == 'done' and mode == 'move' or kind == 'pause'
            if not keep_target:
                steps, drbv = self._drbv()
                await self._post_drive(drbv)
            if mode == 'home':
                if outcome == 'done':
                    self._homed = True
                await self.post_many(HOMF=0, HOMR=0)
            if mode == 'jog':
                await self.post_many(JOGF=0, JOGR=0)
            if outcome == 'done' and self.get('SPMG') == SPMG_MOVE:
                await self.post_many(LSPG=SPMG_MOVE, SPMG=SPMG_PAUSE)
        dly = min(max(self.get('DLY'), 0.0), MAX_DLY)
        if dly > 0:
            await asyncio.sleep(dly)
        async with self.lock:
            self._task = None
            await self.post_many(DMOV=1, MIP=0)
            await self._post_readback()
            self._idle_event.set()
