"""Simulated Struck SIS3820 multichannel scaler (the synApps mca/SIS38XX database).

PVs, for a prefix like ``sim:SIS1:``: the driver PVs (``EraseStart``,
``StartAll``, ``StopAll``, ``EraseAll``, ``Acquiring``, ``ChannelAdvance``,
``Dwell``, ``PresetReal``, ``ElapsedReal``, ``NuseAll``, ``CurrentChannel``,
``SoftwareChannelAdvance``, ``Prescale``, ``ReadAll``, ``Model``, ...; each also
as ``<pv>.VAL``) and one mca record per channel, ``sim:SIS1:mca1`` ... (VAL is
that channel's counts per time bin, NORD the bins filled).

Acquisition: EraseStart (or StartAll, which keeps the bins so far) starts
filling time bins.  With ChannelAdvance = Internal a bin closes every Dwell
seconds; with External a bin closes at each put of 1 to SoftwareChannelAdvance
(standing in for the external pulse).  Channel 1 counts the 50 MHz reference
clock (or simulated external pulses when Channel1Source = External), the others
simulated detector rates.  Acquisition stops after NuseAll bins, after
PresetReal seconds (0 = no limit), or on StopAll; Acquiring is 1 meanwhile.
The arrays are updated about 10 times a second.  Puts to EraseStart/StartAll
complete at once (poll Acquiring); a put-with-completion to an mca's STRT or
ERST completes when the acquisition ends.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Iterable, List, Optional

import numpy as np

from ._record import MAX_PUT_WAIT, Field, LazyEvent, SimRecord
from .mca import McaRecord

__all__ = ['StruckRecord', 'CLOCK_HZ']

logger = logging.getLogger('epics.sim.records.struck')

#: Reference clock counted by channel 1 (Hz).
CLOCK_HZ = 50.0e6
#: Shortest dwell time (s) simulated.
MIN_DWELL = 1.0e-3
#: Seconds between array updates while acquiring.
UPDATE_PERIOD = 0.1
#: Simulated count rates (counts/s) of channels 2, 3, ...
RATES = (2.0e5, 1.5e5, 1.0e5, 5.0e4, 2.0e4, 1.0e4, 5.0e3)

_RTYP = {'double': 'ao', 'long': 'longout', 'short': 'longout', 'enum': 'bo',
         'string': 'stringin'}


def _pv(prefix: str, name: str, kind: str, value=None, *, enums=(), ro=False,
        rtyp: Optional[str] = None) -> Field:
    """A driver PV of the SIS3820 database: its own record, also reachable as .VAL."""
    return Field(name, kind, value, enums=tuple(enums), readonly=ro,
                 pvnames=(prefix + name, f'{prefix}{name}.VAL'),
                 rtyp=rtyp or _RTYP[kind])


class StruckRecord(SimRecord):
    """A simulated SIS3820 (see the module docstring).

    Not one record but a group of them: the driver PVs are this object's
    fields, and :attr:`mcas` are the per-channel mca records.

    Parameters
    ----------
    prefix : str
        PV prefix, e.g. ``'sim:SIS1:'`` (a missing final ``:`` is added).
    nchan : int
        Number of channels (mca records).
    nmax : int
        Bins per channel (MaxChannels).
    seed : int, optional
        Seed of the count noise.
    """
    record_type = 'SIS3820'
    delim = ''
    bare_field = None
    common_fields = False
    #: Set while no acquisition runs (a put-with-completion to a start waits on it).
    _done_event = LazyEvent(initially_set=True)
    #: Set by StopAll (or an mca's stop) to end the acquisition.
    _stop_event = LazyEvent()
    #: Set by SoftwareChannelAdvance to move to the next channel.
    _advance_event = LazyEvent()

    def __init__(self, prefix: str, *, nchan: int = 8, nmax: int = 2048,
                 seed: Optional[int] = None):
        if not prefix.endswith(':'):
            prefix += ':'
        self._nchan = max(1, int(nchan))
        self._nmax = max(1, int(nmax))
        self._rng = np.random.default_rng(seed)
        self._buffers = np.zeros((self._nchan, self._nmax), dtype=np.int64)
        self._current = 0
        self._elapsed = 0.0
        self._task: Optional[asyncio.Task] = None
        self._advances = 0
        super().__init__(prefix)
        self.mcas: List[McaRecord] = [
            McaRecord(f'{prefix}mca{i}', nmax=self._nmax, cals=1.0, calo=0.0,
                      egu='bin', mode=1, controller=self, desc=f'SIS3820 channel {i}')
            for i in range(1, self._nchan + 1)]
        self.children.extend(self.mcas)

    def fields(self) -> Iterable[Field]:
        p = self.name
        done_erase, done_start = ('Done', 'Erase'), ('Done', 'Start')
        modes = tuple(f'Mode {i}' for i in range(7))
        return [
            _pv(p, 'EraseAll', 'enum', 0, enums=done_erase),
            _pv(p, 'EraseStart', 'enum', 0, enums=done_erase),
            _pv(p, 'StartAll', 'enum', 0, enums=done_start),
            _pv(p, 'StopAll', 'enum', 0, enums=('Done', 'Stop')),
            _pv(p, 'Acquiring', 'enum', 0, enums=('Done', 'Acquiring'), ro=True,
                rtyp='busy'),
            _pv(p, 'ChannelAdvance', 'enum', 0, enums=('Internal', 'External'),
                rtyp='mbbo'),
            _pv(p, 'Prescale', 'long', 1),
            _pv(p, 'PresetReal', 'double', 0.0),
            _pv(p, 'ElapsedReal', 'double', 0.0, ro=True, rtyp='ai'),
            _pv(p, 'Dwell', 'double', 0.1),
            _pv(p, 'NuseAll', 'long', self._nmax),
            _pv(p, 'MaxChannels', 'long', self._nmax, ro=True, rtyp='longin'),
            _pv(p, 'CurrentChannel', 'long', 0, ro=True, rtyp='longin'),
            _pv(p, 'CountOnStart', 'enum', 0, enums=('No', 'Yes')),
            _pv(p, 'SoftwareChannelAdvance', 'enum', 0, enums=('Done', 'Advance')),
            _pv(p, 'InitialChannelAdvance', 'enum', 0, enums=('No', 'Yes')),
            _pv(p, 'Channel1Source', 'enum', 0, enums=('Int. clock', 'External'),
                rtyp='mbbo'),
            _pv(p, 'AcquireMode', 'enum', 0, enums=('MCS', 'Scaler'), rtyp='mbbo'),
            _pv(p, 'InputMode', 'enum', 2, enums=modes, rtyp='mbbo'),
            _pv(p, 'OutputMode', 'enum', 0, enums=modes[:4], rtyp='mbbo'),
            _pv(p, 'OutputPolarity', 'enum', 0, enums=('Normal', 'Inverted')),
            _pv(p, 'LNEOutputStretcherEnable', 'enum', 0, enums=('Disable', 'Enable')),
            _pv(p, 'LNEOutputDelay', 'double', 0.0),
            _pv(p, 'LNEOutputWidth', 'double', 1e-6),
            _pv(p, 'UserLED', 'enum', 0, enums=('Off', 'On')),
            _pv(p, 'MUXOutput', 'long', 0),
            _pv(p, 'ReadAll', 'enum', 0, enums=('Done', 'Read')),
            _pv(p, 'DoReadAll', 'enum', 0, enums=('Done', 'Read')),
            _pv(p, 'Model', 'string', 'SIS3820', ro=True),
            _pv(p, 'Firmware', 'long', 0x0110, ro=True, rtyp='longin'),
        ]

    def default_precision(self, field: str) -> int:
        return 6 if field in ('Dwell', 'LNEOutputDelay', 'LNEOutputWidth') else 3

    @property
    def acquiring(self) -> bool:
        """Whether an acquisition runs."""
        return self._task is not None and not self._task.done()

    async def startup(self) -> None:
        self._done_event.set()

    # -- commands -------------------------------------------------------------
    async def on_put(self, field, value):
        if field == 'NuseAll':
            return max(1, min(int(value), self._nmax))
        if field == 'Dwell':
            return max(float(value), MIN_DWELL)
        return value

    async def after_put(self, field, value):
        if field in ('EraseAll', 'EraseStart', 'StartAll', 'StopAll',
                     'SoftwareChannelAdvance', 'ReadAll', 'DoReadAll'):
            await self.post(field, 0)
            if not value:
                return None
        if field == 'EraseAll':
            await self._erase()
        elif field == 'EraseStart':
            await self._erase()
            self._begin()
        elif field == 'StartAll':
            self._begin()
        elif field == 'StopAll':
            self._stop_event.set()
        elif field == 'SoftwareChannelAdvance':
            self._advances += 1
            self._advance_event.set()
        elif field in ('ReadAll', 'DoReadAll'):
            await self._load_mcas()
        elif field == 'NuseAll':
            for mca in self.mcas:
                await mca.post('NUSE', value)
        return None

    async def mca_command(self, mca: McaRecord, command: str) -> Optional[asyncio.Event]:
        """An mca's STRT/STOP/ERAS/ERST acts on all channels, as in the driver."""
        async with self.lock:
            if command in ('erase', 'erase_start'):
                await self._erase()
            if command in ('start', 'erase_start'):
                self._begin()
                return self._done_event
            if command == 'stop':
                self._stop_event.set()
                return self._done_event
        return None

    async def _erase(self) -> None:
        self._buffers[:] = 0
        self._current = 0
        self._elapsed = 0.0
        await self.post_many(CurrentChannel=0, ElapsedReal=0.0)
        await self._load_mcas()

    def _begin(self) -> None:
        if self.acquiring:
            return
        self._stop_event.clear()
        self._advance_event.clear()
        self._done_event.clear()
        self._task = self.spawn(self._acquire())

    async def _load_mcas(self) -> None:
        acquiring = self.acquiring
        for i, mca in enumerate(self.mcas):
            await mca.load(self._buffers[i, :self._current], ertm=self._elapsed,
                           acquiring=acquiring)

    # -- acquisition -------------------------------------------------------------
    def _bin_counts(self, seconds: float) -> np.ndarray:
        """Counts of each channel for one time bin of ``seconds``."""
        rates = [RATES[i] if i < len(RATES) else RATES[-1] / (i - len(RATES) + 2)
                 for i in range(self._nchan - 1)]
        means = np.array([CLOCK_HZ] + rates) * seconds
        counts = self._rng.poisson(means[1:]) if self._nchan > 1 else np.zeros(0)
        if self.get('Channel1Source') == 0:
            clock = round(means[0])
        else:
            clock = self._rng.poisson(1.0e4 * seconds)
        return np.concatenate(([clock], counts)).astype(np.int64)

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with self.lock:
                await self.post('Acquiring', 1)
            for mca in self.mcas:
                await mca.post('ACQG', 1)
            nuse = int(self.get('NuseAll'))
            dwell = max(self.get('Dwell'), MIN_DWELL)
            preset = self.get('PresetReal')
            external = self.get('ChannelAdvance') == 1
            t_limit = MAX_PUT_WAIT if preset <= 0 else min(preset, MAX_PUT_WAIT)
            start_bin = self._current
            if not external:
                t_limit = min(t_limit, (nuse - start_bin) * dwell)
            elapsed0 = self._elapsed
            t0 = loop.time()
            bin_start = 0.0
            advances_seen = self._advances
            budget = int(t_limit / UPDATE_PERIOD) + nuse + 50
            for _ in range(budget):
                elapsed = loop.time() - t0
                if external:
                    pending = self._advances - advances_seen
                    advances_seen = self._advances
                    self._advance_event.clear()
                    for _k in range(min(pending, nuse - self._current)):
                        self._buffers[:, self._current] = self._bin_counts(elapsed - bin_start)
                        self._current += 1
                        bin_start = elapsed
                else:
                    target = min(start_bin + int(elapsed / dwell + 1e-6), nuse)
                    for _k in range(max(0, target - self._current)):
                        self._buffers[:, self._current] = self._bin_counts(dwell)
                        self._current += 1
                self._elapsed = elapsed0 + elapsed
                finished = (self._current >= nuse or self._stop_event.is_set()
                            or elapsed >= t_limit)
                async with self.lock:
                    await self.post_many(CurrentChannel=self._current,
                                         ElapsedReal=self._elapsed)
                for i, mca in enumerate(self.mcas):
                    await mca.load(self._buffers[i, :self._current], ertm=self._elapsed)
                if finished:
                    return
                # bins fill in batches, UPDATE_PERIOD apart, however short Dwell is
                wait = min(UPDATE_PERIOD, max(t_limit - elapsed, 0.0) + 1e-3)
                waiters = [asyncio.ensure_future(self._stop_event.wait())]
                if external:
                    waiters.append(asyncio.ensure_future(self._advance_event.wait()))
                try:
                    await asyncio.wait(waiters, timeout=wait,
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
            logger.warning('%s: acquisition took more updates than planned', self.name)
        finally:
            async with self.lock:
                await self.post('Acquiring', 0)
            for mca in self.mcas:
                await mca.post('ACQG', 0)
            self._done_event.set()
