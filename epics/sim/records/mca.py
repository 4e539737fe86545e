"""Simulated synApps mca record (multichannel analyser).

On its own (pulse-height analysis) the record simulates an energy-dispersive
detector: the spectrum is fluorescence peaks (Ar, Fe, Cu, Zn K lines, plus
elastic and Compton scatter) on a smooth background, with the energy of
channel k given by the calibration ``CALO + CALS*k + CALQ*k**2``.  Counts arrive
at ``rate`` counts/s (Poisson noise), VAL fills ~5 times a second while ACQG =
Acquiring, ERTM/ELTM (real/live time, with a small dead time) advance, and the
ROIs (``Rn``: sum over ``RnLO..RnHI``, ``RnN``: minus a background from
``RnBG`` channels at each side) follow.

Acquisition ends at the first preset reached: real time PRTM, live time PLTM,
counts PCT in PCTL..PCTH, or an ROI with RnIP = Y reaching RnP (0 = no preset;
with none set it runs until STOP).  STRT starts (continuing the counts), ERAS
erases, ERST erases and starts, STOP stops; a put-with-completion to STRT or
ERST completes when the acquisition ends.

An mca record belonging to a multichannel scaler (see ``struck``) has a
``controller``: STRT/STOP/ERAS/ERST go to it, and it loads the data with
:meth:`McaRecord.load`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Iterable, List, Optional, Protocol

import numpy as np

from ._record import MAX_PUT_WAIT, Field, LazyEvent, SimRecord, dbl, lng, menu, sht, text

__all__ = ['McaRecord', 'McaController', 'NUM_ROIS']

logger = logging.getLogger('epics.sim.records.mca')

NUM_ROIS = 32
#: Seconds between spectrum updates while acquiring.
UPDATE_PERIOD = 0.2
#: Detector dead time per count (s): gives a few % dead time at the default rate.
DEAD_TIME = 1.0e-6
#: Fluorescence / scatter lines: (energy keV, relative intensity).
LINES = ((2.957, 0.05), (6.404, 1.0), (7.058, 0.13), (8.048, 0.6), (8.905, 0.08),
         (8.639, 0.3), (9.572, 0.04), (10.0, 0.35), (9.72, 0.5))


class McaController(Protocol):
    """What an mca record delegates to when a multichannel scaler owns it."""

    async def mca_command(self, mca: 'McaRecord', command: str) -> Optional[asyncio.Event]:
        """Run 'start', 'stop', 'erase' or 'erase_start'; return an event set when done."""


class McaRecord(SimRecord):
    """A simulated mca record (see the module docstring).

    Parameters
    ----------
    name : str
        Record name, e.g. ``'sim:mca1'``.
    nmax : int
        Number of channels (NMAX; NUSE starts equal).
    rate : float
        Total input count rate (counts/s) of the simulated detector.
    calo, cals, calq : float
        Energy calibration (offset, slope, quadratic) in ``egu``.
    controller : McaController, optional
        Owner that runs acquisitions (multichannel scaler mode).
    seed : int, optional
        Seed of the count noise.
    """
    record_type = 'mca'
    #: Set while no acquisition runs (a put-with-completion to a start waits on it).
    _done_event = LazyEvent(initially_set=True)
    #: Set by a stop to end the acquisition.
    _stop_event = LazyEvent()

    def __init__(self, name: str, *, nmax: int = 2048, rate: float = 5.0e4,
                 calo: float = 0.0, cals: float = 0.01, calq: float = 0.0,
                 egu: str = 'keV', desc: str = '', mode: int = 0,
                 controller: Optional[McaController] = None, seed: Optional[int] = None):
        self._nmax = max(1, int(nmax))
        self._opts = dict(calo=calo, cals=cals, calq=calq, egu=egu, desc=desc, mode=mode)
        self._rate = float(rate)
        self.controller = controller
        self._rng = np.random.default_rng(seed)
        self._data = np.zeros(self._nmax, dtype=np.int64)
        self._task: Optional[asyncio.Task] = None
        self._erased = 0
        self._nord = 0
        super().__init__(name)

    def fields(self) -> Iterable[Field]:
        o = self._opts
        nmax = self._nmax
        specs: List[Field] = [
            lng('VAL', 0, count=nmax), lng('NMAX', nmax, ro=True), lng('NUSE', nmax),
            lng('NORD', nmax, ro=True), sht('STRT'), sht('STOP'), sht('ERAS'), sht('ERST'),
            menu('ACQG', ('Done', 'Acquiring'), ro=True), sht('READ'), sht('PROC'),
            dbl('PRTM'), dbl('PLTM'), dbl('PCT'), lng('PCTL'), lng('PCTH'), lng('PSWP'),
            dbl('ERTM', ro=True), dbl('ELTM', ro=True), dbl('ACT', ro=True),
            dbl('RTIM', ro=True), dbl('DTIM', ro=True), dbl('IDTIM', ro=True),
            text('STIM', '', ro=True),
            dbl('CALO', o['calo']), dbl('CALS', o['cals']), dbl('CALQ', o['calq']),
            text('EGU', o['egu']), dbl('TTH', 10.0), dbl('DWEL', 1.0),
            menu('CHAS', ('Internal', 'External')), menu('MODE', ('PHA', 'MCS', 'List'),
                                                          o['mode']),
            lng('SEQ'), sht('PREC', 4), text('DESC', o['desc']), text('OUT', '@sim'),
            menu('DTYP', ('asynMCA',), 0, ro=True), dbl('VERS', 7.0, ro=True),
        ]
        for i in range(NUM_ROIS):
            specs += [dbl(f'R{i}', ro=True), dbl(f'R{i}N', ro=True),
                      lng(f'R{i}LO', -1), lng(f'R{i}HI', -1), lng(f'R{i}BG', 1),
                      menu(f'R{i}IP', ('N', 'Y')), dbl(f'R{i}P'), text(f'R{i}NM')]
        return specs

    def default_precision(self, field: str) -> int:
        if field.startswith('R') and field[1:2].isdigit():
            return 0
        return 4

    # -- events -------------------------------------------------------------
    @property
    def acquiring(self) -> bool:
        """Whether this record's own acquisition runs."""
        return self._task is not None and not self._task.done()

    # -- data -------------------------------------------------------------------
    def nuse(self) -> int:
        """Channels in use (NUSE clamped to 1..NMAX)."""
        return max(1, min(int(self.get('NUSE')), self._nmax))

    def energies(self) -> np.ndarray:
        """Energy of each channel in use, from the calibration."""
        k = np.arange(self.nuse(), dtype=np.float64)
        return self.get('CALO') + k * (self.get('CALS') + k * self.get('CALQ'))

    def spectrum_shape(self) -> np.ndarray:
        """Expected share of the counts per channel (sums to 1)."""
        e = self.energies()
        shape = 0.004 * np.exp(-np.clip(e, 0, None) / 4.0) + 0.0006
        shape = np.where(e > 0.5, shape, 0.0)
        for energy, intensity in LINES:
            sigma = 0.05 + 0.004 * energy
            width = 6.0 if energy == 9.72 else 1.0      # Compton: broad
            shape = shape + intensity * np.exp(-0.5 * ((e - energy) / (sigma * width)) ** 2)
        total = shape.sum()
        if not np.isfinite(total) or total <= 0:
            return np.full(e.shape, 1.0 / len(e))
        return shape / total

    def roi_sum(self, i: int, data: np.ndarray) -> tuple:
        """(total, net) of ROI ``i`` over ``data`` ((0, 0) for an unset ROI)."""
        n = len(data)
        lo, hi = int(self.get(f'R{i}LO')), int(self.get(f'R{i}HI'))
        if lo < 0 or hi < lo or lo >= n:
            return 0.0, 0.0
        hi = min(hi, n - 1)
        total = float(data[lo:hi + 1].sum())
        bg = max(int(self.get(f'R{i}BG')), 0)
        net = total
        if bg > 0:
            left = data[max(lo - bg, 0):lo]
            right = data[hi + 1:min(hi + 1 + bg, n)]
            edges = [float(x.mean()) for x in (left, right) if len(x)]
            if edges:
                net = total - sum(edges) / len(edges) * (hi - lo + 1)
        return total, net

    def roi_sums(self, data: np.ndarray) -> List[tuple]:
        """(total, net) for each ROI over ``data``."""
        return [self.roi_sum(i, data) for i in range(NUM_ROIS)]

    def _shown(self) -> np.ndarray:
        """The part of the data VAL shows (NORD channels)."""
        nord = self._nord if self.controller is not None else self.nuse()
        return self._data[:nord]

    async def _post_roi(self, i: int, data: np.ndarray) -> None:
        total, net = self.roi_sum(i, data)
        await self.post(f'R{i}', total)
        await self.post(f'R{i}N', net)

    async def _post_act(self, data: np.ndarray) -> None:
        pctl, pcth = int(self.get('PCTL')), int(self.get('PCTH'))
        if 0 <= pctl <= pcth:
            await self.post('ACT', float(data[pctl:pcth + 1].sum()))
        else:
            await self.post('ACT', float(data.sum()))

    async def _post_data(self, data: np.ndarray, ertm: float, eltm: float) -> None:
        """Post VAL, NORD, times, ACT and the ROIs for the given spectrum."""
        await self.post('VAL', np.asarray(data, dtype=np.int32).copy())
        await self.post('NORD', len(data))
        await self.post_many(ERTM=ertm, ELTM=eltm)
        await self._post_act(data)
        for i in range(NUM_ROIS):
            await self._post_roi(i, data)

    async def load(self, data: np.ndarray, *, ertm: float, eltm: Optional[float] = None,
                   acquiring: Optional[bool] = None) -> None:
        """Show data acquired by the controller (multichannel scaler mode)."""
        self._data = np.zeros(self._nmax, dtype=np.int64)
        self._data[:len(data)] = data[:self._nmax]
        self._nord = min(len(data), self._nmax)
        await self._post_data(np.asarray(data[:self._nmax]), ertm,
                              ertm if eltm is None else eltm)
        if acquiring is not None:
            await self.post('ACQG', int(acquiring))

    # -- puts -------------------------------------------------------------------
    async def on_put(self, field, value):
        if field == 'NUSE':
            return max(1, min(int(value), self._nmax))
        return value

    async def after_put(self, field, value):
        commands = {'STRT': 'start', 'STOP': 'stop', 'ERAS': 'erase', 'ERST': 'erase_start'}
        if field in commands:
            await self.post(field, 0)
            if not value:
                return None
            if self.controller is not None:
                return await self.controller.mca_command(self, commands[field])
            return await self._command(commands[field])
        if field in ('NUSE', 'READ'):
            await self._post_data(self._shown(), self.get('ERTM'), self.get('ELTM'))
        elif field in ('PCTL', 'PCTH'):
            await self._post_act(self._shown())
        elif field[:1] == 'R' and field[-2:] in ('LO', 'HI', 'BG') and field[1:-2].isdigit():
            await self._post_roi(int(field[1:-2]), self._shown())
        elif field == 'PREC':
            await self.set_metadata(('ERTM', 'ELTM', 'PRTM', 'PLTM', 'CALO', 'CALS',
                                     'CALQ'), precision=value)
        return None

    async def _command(self, command: str) -> Optional[asyncio.Event]:
        if command in ('erase', 'erase_start'):
            self._erased += 1
            self._data[:] = 0
            await self._post_data(self._data[:self.nuse()], 0.0, 0.0)
            await self.post_many(IDTIM=0.0, DTIM=0.0)
        if command in ('start', 'erase_start'):
            if not self.acquiring:
                self._stop_event.clear()
                self._done_event.clear()
                await self.post_many(ACQG=1, STIM=time.strftime('%Y-%m-%d %H:%M:%S'))
                self._task = self.spawn(self._acquire())
            return self._done_event
        if command == 'stop' and self.acquiring:
            self._stop_event.set()
            return self._done_event
        return None

    # -- acquisition ---------------------------------------------------------
    def _presets_reached(self, data: np.ndarray) -> bool:
        pct = self.get('PCT')
        if pct > 0:
            pctl, pcth = int(self.get('PCTL')), int(self.get('PCTH'))
            region = data[pctl:pcth + 1] if 0 <= pctl <= pcth else data
            if region.sum() >= pct:
                return True
        for i, (total, _net) in enumerate(self.roi_sums(data)):
            if self.get(f'R{i}IP') == 1 and 0 < self.get(f'R{i}P') <= total:
                return True
        return False

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            dead = self._rate * DEAD_TIME / (1.0 + self._rate * DEAD_TIME)
            async with self.lock:
                await self.post_many(IDTIM=100.0 * dead, DTIM=100.0 * dead)
            erased = self._erased
            ertm0, t0 = self.get('ERTM'), loop.time()
            last = ertm0
            shape, nuse = self.spectrum_shape(), self.nuse()
            prtm, pltm = self.get('PRTM'), self.get('PLTM')
            limits = [MAX_PUT_WAIT]
            if prtm > 0:
                limits.append(prtm)
            if pltm > 0:
                limits.append(pltm / (1.0 - dead))
            t_end = min(limits)
            # bounded: an erase restarts the clock (and the budget) at most 100 times
            budget = int(t_end / UPDATE_PERIOD) + 50
            ticks = restarts = 0
            while ticks < budget:
                ticks += 1
                if self._erased != erased:          # erased while acquiring
                    erased = self._erased
                    if restarts < 100:
                        restarts, ticks = restarts + 1, 0
                        ertm0, t0, last = 0.0, loop.time(), 0.0
                if self.nuse() != nuse:
                    shape, nuse = self.spectrum_shape(), self.nuse()
                real = min(ertm0 + loop.time() - t0, t_end)
                finished = real >= t_end - 1e-4
                if finished:
                    real = t_end
                live_dt = (real - last) * (1.0 - dead)
                last = real
                if live_dt > 0:
                    self._data[:nuse] += self._rng.poisson(shape * self._rate * live_dt)
                data = self._data[:nuse]
                async with self.lock:
                    await self._post_data(data, real, real * (1.0 - dead))
                if finished or self._presets_reached(data) or self._stop_event.is_set():
                    return
                try:
                    await asyncio.wait_for(self._stop_event.wait(),
                                           min(UPDATE_PERIOD, t_end - real))
                except asyncio.TimeoutError:
                    pass
            logger.warning('%s: acquisition took more updates than planned', self.name)
        finally:
            async with self.lock:
                await self.post('ACQG', 0)
                self._done_event.set()
