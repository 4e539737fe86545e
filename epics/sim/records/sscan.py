"""Simulated synApps sscan record: a step scan of up to 4 positioners, 4 detector triggers and
70 detectors, over PVs served by the same simulator.

Fields (those :class:`epics.devices.Scan` uses, and what a scan needs to run): ``NPTS``, ``MPTS``,
``EXSC``, ``CPT``, ``SMSG``, ``PDLY``, ``DDLY``, ``PAUS``, ``PASM``, ``BUSY``, ``DATA``, ``VAL``;
per positioner ``n`` = 1..4: ``PnPV`` (the drive PV), ``RnPV`` (its read-back), ``PnSP``,
``PnEP``, ``PnSI``, ``PnCP``, ``PnWD`` (start, end, step, centre, width), ``PnPA`` (the table),
``PnAR`` (ABSOLUTE/RELATIVE), ``PnSM`` (LINEAR/TABLE/FLY), ``PnRA`` (the read-backs, after a
scan), ``PnDV``, ``PnRV``, ``PnNV``; per trigger: ``TnPV``, ``TnCD`` (value written), ``TnNV``;
per detector ``Dnn`` = D01..D70: ``DnnPV``, ``DnnCV`` (the last value), ``DnnDA`` (the data),
``DnnNV``.

Linear positioners: SP, EP, SI, CP and WD stay consistent as in the record with its freeze
switches off: a new SP or EP (or NPTS) gives SI, CP and WD; a new SI gives EP; a new CP or WD
gives SP and EP.

Execution: a put of 1 to ``EXSC`` runs NPTS points. At each point the positioners are written
(and waited for, as a put with completion: a simulated motor finishes its move first), then
``PDLY`` seconds, the triggers are written with ``TnCD`` (and waited for: a scaler finishes its
count), then ``DDLY`` seconds, and every detector PV is read. ``PAUS`` = 1 holds the scan
between points; a put of 0 to ``EXSC`` aborts it. At the end the arrays are posted, ``DATA`` is
1 and the positioners go where ``PASM`` says (STAY, START POS or PRIOR POS). A put-with-
completion to ``EXSC`` completes when the scan ends. The drive, read-back, trigger and detector
PVs must be served by this same simulator (motors, scalers...); a name it does not serve stops the
scan with a message in ``SMSG``.

Everything runs on the caproto server's event loop (see :mod:`._record`).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Iterable, List, Optional

import numpy as np
from caproto import ChannelData

from ._record import MAX_PUT_WAIT, Field, LazyEvent, SimRecord, dbl, lng, menu, sht, text, \
    _FieldChannel

__all__ = ['SscanRecord', 'NUM_POSITIONERS', 'NUM_TRIGGERS', 'NUM_DETECTORS', 'MAX_POINTS']

logger = logging.getLogger('epics.sim.records.sscan')

NUM_POSITIONERS = 4
NUM_TRIGGERS = 4
NUM_DETECTORS = 70
#: MPTS: the most points a scan holds.
MAX_POINTS = 200
#: Pause between checks of PAUS while the scan is held (s).
PAUSE_POLL = 0.05

AFTER_SCAN = ('STAY', 'START POS', 'PRIOR POS', 'PEAK POS', 'VALLEY POS', '+EDGE POS',
              '-EDGE POS', 'CNTR OF MASS')
_LINEAR_FIELDS = ('SP', 'EP', 'SI', 'CP', 'WD')


def _detectors() -> List[str]:
    return [f'D{i:02d}' for i in range(1, NUM_DETECTORS + 1)]


class SscanRecord(SimRecord):
    """A simulated sscan record (see the module docstring)."""

    record_type = 'sscan'
    _done_event = LazyEvent(initially_set=True)
    _abort_event = LazyEvent()

    def __init__(self, name: str):
        self._task: Optional[asyncio.Task] = None
        super().__init__(name)

    def fields(self) -> Iterable[Field]:
        specs = [dbl('VAL'), text('SMSG'), sht('CMND'), lng('NPTS', 10), lng('MPTS', MAX_POINTS,
                                                                             ro=True),
                 sht('EXSC'), lng('CPT', 0, ro=True), dbl('PDLY'), dbl('DDLY'),
                 menu('PAUS', ('GO', 'PAUSE')), menu('PASM', AFTER_SCAN),
                 menu('BUSY', ('DONE', 'BUSY'), ro=True), lng('DATA', 0, ro=True),
                 sht('ALRT', ro=True)]
        for n in range(1, NUM_POSITIONERS + 1):
            p = f'P{n}'
            specs += [text(p + 'PV'), text(f'R{n}PV'), dbl(p + 'SP'), dbl(p + 'EP', 1.0),
                      dbl(p + 'SI', 1.0 / 9), dbl(p + 'CP', 0.5), dbl(p + 'WD', 1.0),
                      dbl(p + 'PA', count=MAX_POINTS), dbl(p + 'RA', ro=True, count=MAX_POINTS),
                      menu(p + 'AR', ('ABSOLUTE', 'RELATIVE')),
                      menu(p + 'SM', ('LINEAR', 'TABLE', 'FLY')),
                      dbl(p + 'DV', ro=True), dbl(p + 'RV', ro=True), lng(p + 'NV', ro=True)]
        for n in range(1, NUM_TRIGGERS + 1):
            specs += [text(f'T{n}PV'), dbl(f'T{n}CD', 1.0), lng(f'T{n}NV', ro=True)]
        for d in _detectors():
            specs += [text(d + 'PV'), dbl(d + 'CV', ro=True),
                      dbl(d + 'DA', ro=True, count=MAX_POINTS), lng(d + 'NV', ro=True)]
        return specs

    # -- configuration --------------------------------------------------------------------------
    async def on_put(self, field, value):
        if field == 'NPTS':
            return max(1, min(int(value), MAX_POINTS))
        if field == 'EXSC' and value and self.get('NPTS') < 1:
            raise ValueError(f'{self.name}: NPTS must be at least 1')
        return value

    async def _linear(self, p: str, changed: str) -> None:
        """Keep SP, EP, SI, CP and WD of positioner ``p`` consistent after ``changed``."""
        sp, ep, si = self.get(p + 'SP'), self.get(p + 'EP'), self.get(p + 'SI')
        cp, wd = self.get(p + 'CP'), self.get(p + 'WD')
        intervals = max(self.get('NPTS') - 1, 1)
        if changed == 'SI':
            ep = sp + si * intervals
        elif changed in ('CP', 'WD'):
            sp, ep = cp - wd / 2.0, cp + wd / 2.0
        si = (ep - sp) / intervals
        await self.post_many(**{p + 'SP': sp, p + 'EP': ep, p + 'SI': si,
                                p + 'CP': (sp + ep) / 2.0, p + 'WD': ep - sp})

    async def after_put(self, field, value):
        if field == 'NPTS':
            for n in range(1, NUM_POSITIONERS + 1):
                await self._linear(f'P{n}', 'NPTS')
        elif len(field) == 4 and field[0] == 'P' and field[2:] in _LINEAR_FIELDS:
            await self._linear(field[:2], field[2:])
        elif field == 'EXSC':
            if value and not self._running:
                self._abort_event.clear()
                self._done_event.clear()
                self._task = self.spawn(self._scan())
                return self._done_event
            if not value:
                self._abort_event.set()
        return None

    @property
    def _running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- execution ------------------------------------------------------------------------------
    def _link(self, field: str) -> Optional[ChannelData]:
        """The channel a link field names; '' gives None; an unknown name raises LookupError."""
        name = (self.get(field) or '').strip()
        if not name:
            return None
        chan = self.resolve_link(name)
        if chan is None:
            raise LookupError(f'{field} {name!r} is not served by this simulator')
        return chan

    async def _write_and_wait(self, chan: ChannelData, value: float) -> None:
        if isinstance(chan, _FieldChannel):
            await chan.record.put(chan.field, value, wait=True)
        else:
            await chan.write(value)

    def _positions(self, n: int, npts: int, prior: float) -> np.ndarray:
        p = f'P{n}'
        if self.get(p + 'SM') == 0:
            positions = self.get(p + 'SP') + self.get(p + 'SI') * np.arange(npts)
        else:
            table = np.asarray(self.get(p + 'PA'), dtype=float)
            positions = np.resize(table, npts) if table.size else np.zeros(npts)
        return positions + (prior if self.get(p + 'AR') == 1 else 0.0)

    async def _hold_while_paused(self) -> None:
        for _ in range(int(MAX_PUT_WAIT / PAUSE_POLL)):
            if not self.get('PAUS') or self._abort_event.is_set():
                return
            await asyncio.sleep(PAUSE_POLL)

    async def _scan(self) -> None:
        npts = self.get('NPTS')
        data = {d: np.zeros(npts) for d in _detectors()}
        readbacks = {n: np.zeros(npts) for n in range(1, NUM_POSITIONERS + 1)}
        message, done = 'SCAN Complete', 0
        try:
            async with self.lock:
                await self.post_many(BUSY=1, DATA=0, CPT=0, ALRT=0, SMSG='Scanning...')
            drives = {n: self._link(f'P{n}PV') for n in range(1, NUM_POSITIONERS + 1)}
            drives = {n: chan for n, chan in drives.items() if chan is not None}
            readback_links = {n: self._link(f'R{n}PV') for n in drives}
            reads = {n: readback_links[n] if readback_links[n] is not None else drives[n]
                     for n in drives}
            triggers = [(self._link(f'T{n}PV'), self.get(f'T{n}CD'))
                        for n in range(1, NUM_TRIGGERS + 1)]
            triggers = [(chan, value) for chan, value in triggers if chan is not None]
            detectors = {d: self._link(d + 'PV') for d in _detectors()}
            detectors = {d: chan for d, chan in detectors.items() if chan is not None}
            prior = {n: self.link_value(chan) for n, chan in drives.items()}
            plan = {n: self._positions(n, npts, prior[n]) for n in drives}
            for point in range(npts):
                await self._hold_while_paused()
                if self._abort_event.is_set():
                    message = f'SCAN aborted at point {point}'
                    break
                for n, chan in drives.items():
                    await self._write_and_wait(chan, float(plan[n][point]))
                await asyncio.sleep(self.get('PDLY'))
                for chan, value in triggers:
                    await self._write_and_wait(chan, value)
                await asyncio.sleep(self.get('DDLY'))
                for n, chan in reads.items():
                    readbacks[n][point] = self.link_value(chan)
                for d, chan in detectors.items():
                    data[d][point] = self.link_value(chan)
                done = point + 1
                async with self.lock:
                    await self.post('CPT', done)
                    for d in detectors:
                        await self.post(d + 'CV', data[d][point])
                    for n in drives:
                        await self.post_many(**{f'P{n}DV': plan[n][point],
                                                f'P{n}RV': readbacks[n][point]})
            await self._after_scan(drives, plan, prior)
        except LookupError as exc:
            message = f'SCAN error: {exc}'
            async with self.lock:
                await self.post('ALRT', 1)
        finally:
            async with self.lock:
                for n, values in readbacks.items():
                    await self.post(f'P{n}RA', values[:max(done, 1)])
                for d, values in data.items():
                    await self.post(d + 'DA', values[:max(done, 1)])
                await self.post_many(DATA=1, BUSY=0, EXSC=0, SMSG=message[:39])
            self._done_event.set()

    async def _after_scan(self, drives, plan, prior) -> None:
        mode = AFTER_SCAN[self.get('PASM')]
        for n, chan in drives.items():
            if mode == 'START POS':
                await self._write_and_wait(chan, float(plan[n][0]))
            elif mode == 'PRIOR POS':
                await self._write_and_wait(chan, prior[n])
