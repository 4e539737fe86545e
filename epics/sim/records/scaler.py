"""Simulated synApps scaler record, with the calc records of synApps' scaler databases.

Counting: a put of 1 to CNT clears the counts and, after DLY seconds, counts;
channel 1 is the clock (S1 = FREQ * elapsed), the other channels (up to NCH)
count simulated detector rates.  Counting ends when a gated channel (Gn = Y)
reaches its preset PRn; PR1 is the clock preset, kept equal to TP * FREQ, so TP
is the counting time.  S1..S32 and T (elapsed time) are posted RATE times a
second while counting; at the end CNT goes back to 0 (Done), which is also
when a put-with-completion to CNT completes.  A put of 0 to CNT aborts.
CONT = AutoCount counts continuously for TP1 seconds at a time (display rate
RAT1) whenever no CNT count runs, resuming max(DLY1, 1) s after one.

Companion PVs, as synApps' scaler databases make them: ``<scaler>_calcN``
(N = 1..NCH, calc records with A..L linked to S1..S12; each starts with the
expression naming its own channel, so calcN = SN for N <= 12) and
``<scaler>_calcEnable`` (DISABLE/ENABLE), which lets the calcs process on each
update.
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
from typing import Iterable, List, Optional, Sequence

from ._record import MAX_PUT_WAIT, Field, LazyEvent, SimRecord, dbl, menu, sht, text
from .transform import CalcRecord

__all__ = ['ScalerRecord', 'MAX_CHANNELS']

logger = logging.getLogger('epics.sim.records.scaler')

MAX_CHANNELS = 32
#: Default channel names (the rest are blank).
DEFAULT_NAMES = ('clock', 'I0', 'I1', 'It', 'If', 'Ic', 'Id', 'Ie')
#: Default simulated count rates (counts/s) of channels 2, 3, ...
DEFAULT_RATES = (1.2e5, 8.0e4, 5.0e4, 2.0e4, 1.0e4, 5.0e3, 2.0e3)
#: Longest count (s) without any preset; ends it so no loop runs forever.
MAX_COUNT_TIME = MAX_PUT_WAIT
#: Seconds between calc processings while counting (they also run at the end).
CALC_PERIOD = 0.5


class ScalerRecord(SimRecord):
    """A simulated scaler record (see the module docstring).

    Parameters
    ----------
    name : str
        Record name, e.g. ``'sim:scaler1'``.
    nch : int
        Number of channels that count (NCH, 1..32); all 32 channels' fields exist.
    freq : float
        Clock frequency (FREQ, Hz).
    rates : sequence of float, optional
        Count rates of channels 2.. (counts/s); defaults to :data:`DEFAULT_RATES`,
        repeated and decreasing.
    seed : int, optional
        Seed of the count noise.
    """
    record_type = 'scaler'
    #: Set while no count runs (a put-with-completion to CNT waits on it).
    _done_event = LazyEvent(initially_set=True)
    #: Set by CNT=0 to end a count early.
    _abort_event = LazyEvent()

    def __init__(self, name: str, *, nch: int = 8, freq: float = 1e7,
                 rates: Optional[Sequence[float]] = None, desc: str = '',
                 seed: Optional[int] = None):
        self._nch = max(1, min(int(nch), MAX_CHANNELS))
        self._freq = float(freq)
        self._desc = desc
        base = list(rates) if rates else list(DEFAULT_RATES)
        self._rates = [0.0] + [base[i] if i < len(base) else base[-1] / (i - len(base) + 2)
                               for i in range(MAX_CHANNELS - 1)]
        self._rng = random.Random(seed)
        self._count_task: Optional[asyncio.Task] = None
        self._auto_task: Optional[asyncio.Task] = None
        super().__init__(name)
        letters = 'ABCDEFGHIJKL'
        inputs = [f'{name}.S{i} NPP NMS' for i in range(1, len(letters) + 1)]
        self.calcs: List[CalcRecord] = [
            CalcRecord(f'{name}_calc{i}', calc=letters[i - 1] if i <= len(letters) else '',
                       inputs=inputs, desc=f'channel {i} calc')
            for i in range(1, self._nch + 1)]
        self.children.extend(self.calcs)

    def fields(self) -> Iterable[Field]:
        tp = 1.0
        specs: List[Field] = [
            dbl('VAL'), dbl('FREQ', self._freq), menu('CNT', ('Done', 'Count')),
            menu('CONT', ('OneShot', 'AutoCount')), dbl('DLY'), dbl('DLY1'),
            dbl('TP', tp), dbl('TP1', 1.0), dbl('RATE', 10.0), dbl('RAT1', 10.0),
            dbl('T', ro=True), sht('PREC', 3), text('EGU', 'sec'), text('DESC', self._desc),
            sht('NCH', self._nch, ro=True), sht('CARD', 0, ro=True), sht('SS', 0, ro=True),
            sht('US', 0, ro=True), text('OUT', '@sim'),
            menu('DTYP', ('Asyn Scaler',), 0, ro=True), dbl('VERS', 3.19, ro=True),
            text('COUT'), text('COUTP'), sht('PROC'),
            Field('_calcEnable', 'enum', 1, enums=('DISABLE', 'ENABLE'),
                  pvnames=(f'{self.name}_calcEnable', f'{self.name}_calcEnable.VAL'),
                  rtyp='bo'),
        ]
        for i in range(1, MAX_CHANNELS + 1):
            name = DEFAULT_NAMES[i - 1] if i <= min(self._nch, len(DEFAULT_NAMES)) else ''
            if not name and i <= self._nch:
                name = f'ch{i}'
            specs += [menu(f'G{i}', ('N', 'Y'), 1 if i == 1 else 0),
                      dbl(f'PR{i}', round(tp * self._freq) if i == 1 else 0.0),
                      menu(f'D{i}', ('Up', 'Dn')), text(f'NM{i}', name),
                      dbl(f'S{i}', ro=True)]
        return specs

    def default_precision(self, field: str) -> int:
        if field[:1] == 'S' and field[1:].isdigit() or field.startswith('PR'):
            return 0
        return 3

    def default_units(self, field: str) -> str:
        return 'sec' if field in ('T', 'TP', 'TP1', 'DLY', 'DLY1') else ''

    @property
    def counting(self) -> bool:
        """Whether a CNT count is under way."""
        return self._count_task is not None and not self._count_task.done()

    async def startup(self) -> None:
        self._done_event.set()
        for calc in self.calcs:
            await calc.process()

    # -- puts -------------------------------------------------------------
    async def on_put(self, field, value):
        if field in ('TP', 'TP1', 'DLY', 'DLY1'):
            return max(float(value), 0.0)
        if field in ('RATE', 'RAT1'):
            return min(max(float(value), 0.0), 60.0)
        if field == 'FREQ' and value <= 0:
            raise ValueError('FREQ must be > 0')
        return value

    async def after_put(self, field, value):
        freq = self.get('FREQ')
        if field == 'TP':
            await self.post_many(PR1=round(value * freq), G1=1)
        elif field == 'PR1':
            await self.post('TP', value / freq)
            if value > 0:
                await self.post('G1', 1)
        elif field.startswith('PR') and value > 0:
            await self.post('G' + field[2:], 1)
        elif field == 'FREQ':
            await self.post('PR1', round(self.get('TP') * freq))
        elif field == 'PREC':
            await self.set_metadata(('T', 'TP', 'TP1', 'DLY', 'DLY1', 'FREQ'),
                                    precision=value)
        elif field == 'CONT':
            if value == 1 and not self.counting:
                self._start_auto(0.0)
            elif value == 0:
                await self._stop_auto()
        elif field == 'CNT':
            if value == 1:
                if not self.counting:
                    self._done_event.clear()
                    self._abort_event.clear()
                    self._count_task = self.spawn(self._user_count())
                return self._done_event
            if self.counting:
                self._abort_event.set()
                return self._done_event
        return None

    # -- counting -----------------------------------------------------------
    def _start_auto(self, delay: float) -> None:
        if self._auto_task is None or self._auto_task.done():
            self._auto_task = self.spawn(self._autocount(delay))

    async def _stop_auto(self) -> None:
        task, self._auto_task = self._auto_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)

    async def _user_count(self) -> None:
        try:
            await self._stop_auto()
            async with self.lock:
                await self.post('SS', 1)
            await self._acquire(user=True)
        finally:
            async with self.lock:
                await self.post_many(CNT=0, SS=0)
                self._done_event.set()
                if self.get('CONT') == 1:
                    self._start_auto(max(self.get('DLY1'), 1.0))

    async def _autocount(self, delay: float) -> None:
        """Count TP1-second cycles while CONT = AutoCount and no CNT count runs."""
        if delay > 0:
            await asyncio.sleep(delay)
        cycles = 0
        while self.get('CONT') == 1 and not self.counting:
            cycles += 1
            dly1 = self.get('DLY1')
            if dly1 > 0 and cycles > 1:
                await asyncio.sleep(min(dly1, MAX_COUNT_TIME))
            await self._acquire(user=False)

    async def _wait_abort(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for an abort; return whether one came."""
        try:
            await asyncio.wait_for(self._abort_event.wait(), max(timeout, 0.0))
            return True
        except asyncio.TimeoutError:
            return False

    async def _acquire(self, *, user: bool) -> None:
        """One count: clear, count until a preset (or abort), post the final counts."""
        loop = asyncio.get_running_loop()
        freq = self.get('FREQ')
        nch = self._nch
        if user:
            presets = {i: self.get(f'PR{i}') for i in range(1, MAX_CHANNELS + 1)
                       if self.get(f'G{i}') == 1 and self.get(f'PR{i}') > 0}
            delay, rate = self.get('DLY'), self.get('RATE')
            if delay > 0 and await self._wait_abort(min(delay, MAX_COUNT_TIME)):
                return
        else:
            presets = {1: max(self.get('TP1'), 0.1) * freq}
            rate = self.get('RAT1')
        t_end = presets[1] / freq if 1 in presets else MAX_COUNT_TIME
        t_end = min(t_end, MAX_COUNT_TIME)
        period = 1.0 / rate if rate > 0 else 1.0
        counts = [0.0] * (MAX_CHANNELS + 1)
        async with self.lock:
            await self._post_counts(counts, 0.0)
        t0 = loop.time()
        last_t, last_calc = 0.0, 0.0
        max_ticks = int(t_end / period) + 20
        for _ in range(max_ticks):
            elapsed = min(loop.time() - t0, t_end)
            finished = elapsed >= t_end - 1e-4
            if finished:
                elapsed = t_end
            self._accumulate(counts, last_t, elapsed, nch)
            last_t = elapsed
            counts[1] = round(freq * elapsed)
            for i, preset in presets.items():
                if i > 1 and i <= nch and counts[i] >= preset:
                    counts[i] = preset
                    finished = True
            aborted = user and self._abort_event.is_set()
            async with self.lock:
                await self._post_counts(counts, elapsed)
            if finished or aborted or elapsed - last_calc >= CALC_PERIOD:
                last_calc = elapsed
                await self._process_calcs()
            if finished or aborted:
                return
            wait = min(period, t_end - elapsed)
            if user:
                await self._wait_abort(wait)
            else:
                await asyncio.sleep(wait)
        logger.warning('%s: count took more updates than planned; ending it', self.name)

    def _accumulate(self, counts: List[float], t_from: float, t_to: float, nch: int) -> None:
        """Add simulated detector counts over [t_from, t_to] to channels 2..nch."""
        dt = t_to - t_from
        if dt <= 0:
            return
        beam = 1.0 + 0.02 * math.sin(2.0 * math.pi * t_to / 7.0)
        for i in range(2, nch + 1):
            mean = self._rates[i - 1] * beam * dt
            noise = self._rng.gauss(0.0, math.sqrt(mean)) if mean > 0 else 0.0
            counts[i] += max(round(mean + noise), 0)

    async def _post_counts(self, counts: List[float], elapsed: float) -> None:
        for i in range(1, MAX_CHANNELS + 1):
            await self.post(f'S{i}', counts[i])
        await self.post('T', elapsed)

    async def _process_calcs(self) -> None:
        if self.get('_calcEnable') != 1:
            return
        for calc in self.calcs:
            await calc.process()
