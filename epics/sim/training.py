"""The training IOC of the PyEpics talk's exercises, served by softioc.

For each prefix ``id01`` ... ``idNN`` (36 by default):

============  ==========================  =====================================
PV            record                      behaviour
============  ==========================  =====================================
shutter       bo  (Closed / Open)         toggles every 3-9 update periods
dval1..3      ao  (PREC 4/3/3, mm/keV/mA) mean-reverting random walk
ival1..3      longout                     mean-reverting random walk
string1..2    stringout (40 chars)        static (write to it)
bo1           bo  (0 / 1)                 static
mbbo1         mbbo (5 states)             static
filename      waveform CHAR, NELM 128     static long file name
dwave         waveform DOUBLE, NELM 256   damped sine drifting in phase
iwave         waveform LONG, NELM 256     Poisson counts of a wandering peak
image         waveform UCHAR, NELM 65536  256 x 256 picture of a moving spot
============  ==========================  =====================================

and, shared, for the Device examples of the talk: ``sim:ip1:PRES`` and
``sim:ip2:PRES`` (ion pump pressures: ai with DESC, EGU Torr, PREC 2, alarm
limits), ``sim:ao1`` and ``sim:bo1`` (outputs), ``sim:ai1`` and ``sim:bi1``
(inputs reading back ao1, with noise, and bo1); and the instruments server
PVs ``sim:inst:instrument``, ``position``, ``command``, ``status``, ``message``,
``busy`` (`epics.sim.instrument_pvs`).

Walks continue from the record's current value, so a value a client writes is
kept and then wanders on.  The image is UCHAR rather than CHAR because pixel
values are 0..255; both travel as DBR_CHAR, so clients see the same bytes.

Threads: the main thread builds the records, runs ``iocInit``, prints
``READY`` and waits for a stop request: SIGTERM, SIGINT, or EOF on stdin when
started with ``--exit-on-stdin-eof`` (the launcher does; the
"epics-sim-stdin" daemon thread watches it, so the IOC dies with its parent).
The "epics-sim-updater" thread runs a `Schedule` that calls ``record.set()``
for the PVs that are due; softioc's ``set`` hands the value to EPICS record
processing under EPICS' own locks, so it is safe from that thread.  EPICS'
threads (rsrv) serve Channel Access.

softioc is imported only inside `run_ioc`: importing this module is cheap and
never starts an IOC in a client process.  Internal entry point, used by
`epics.sim.launcher`::

    python -m epics.sim.training --port 5064 --beacon-port 5066 [--prefixes 36]
        [--rate 1.0] [--seed N] [--exit-on-stdin-eof]
"""
from __future__ import annotations

import argparse
import ctypes
import heapq
import itertools
import logging
import math
import os
import signal
import sys
import threading
import time
from typing import Callable, Optional, Sequence

import numpy as np

from .instrument_pvs import build_instrument_pvs
from .launcher import (DEFAULT_PREFIXES, DEFAULT_RATE, EXIT_PORT_IN_USE, HOST,
                       READY_LINE, port_problem, server_env)

__all__ = ['IMAGE_SHAPE', 'MBBO_STATES', 'PREFIX_FIELDS', 'Schedule',
           'build_records', 'main', 'prefix_name', 'run_ioc']

log = logging.getLogger('epics.sim.training')

#: Suffixes served under every training prefix, in the order of the talk.
PREFIX_FIELDS = ('shutter', 'dval1', 'dval2', 'dval3', 'ival1', 'ival2',
                 'ival3', 'string1', 'string2', 'bo1', 'mbbo1', 'filename',
                 'dwave', 'iwave', 'image')
MBBO_STATES = ('Idle', 'Moving', 'Counting', 'Paused', 'Fault')
FILENAME_NELM = 128
WAVE_NELM = 256
IMAGE_SHAPE = (256, 256)

# (suffix, PREC, EGU, centre, step sigma, LOPR, HOPR) of the double walks and
# (suffix, EGU, centre, largest step, LOPR, HOPR) of the integer walks.
_DOUBLES = (('dval1', 4, 'mm', 0.0, 0.05, -10.0, 10.0),
            ('dval2', 3, 'keV', 10.0, 0.01, 5.0, 25.0),
            ('dval3', 3, 'mA', 100.0, 0.2, 0.0, 110.0))
_INTEGERS = (('ival1', 'counts', 1000, 25, 0, 2000),
             ('ival2', 'Hz', 50, 3, 0, 100),
             ('ival3', '', 0, 2, -100, 100))
# Fraction of the distance to the centre a walk moves back per step.
_REVERSION = 0.05
# Shutters toggle on average after this many update periods (3 to 9, as every
# interval is drawn from 0.5 to 1.5 times the mean): several seconds at 1 Hz.
_SHUTTER_PERIODS = 6.0
# A task that raises this many times in a row is dropped.
_MAX_FAILURES = 3
# Longest sleep of the updater and of the main thread; only bounds the time
# between checks of the stop event, which wakes them at once when set.
_MAX_SLEEP = 1.0
# How long the main thread waits for the updater to finish at exit.
_JOIN_TIMEOUT = 2.0


def prefix_name(index: int) -> str:
    """The training prefix number `index` (1-based): ``id01``."""
    return f'id{index:02d}'


# --- the update schedule ---------------------------------------------------

class _Task:
    """A PV update: `step` makes and sets the next value every ~`period` s."""

    __slots__ = ('name', 'step', 'period', 'failures')

    def __init__(self, name: str, step: Callable[[], None],
                 period: float) -> None:
        self.name = name
        self.step = step
        self.period = period
        self.failures = 0


class Schedule:
    """Runs tasks at jittered intervals from one thread.

    Each task runs on average once per its period; every interval is drawn
    uniformly from 0.5 to 1.5 periods, so PVs do not update in lockstep.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._heap: list = []
        self._seq = itertools.count()   # tie-breaker: tasks do not compare

    def __len__(self) -> int:
        return len(self._heap)

    def _interval(self, task: _Task) -> float:
        return task.period * float(self._rng.uniform(0.5, 1.5))

    def add(self, name: str, step: Callable[[], None], period: float) -> None:
        """Add a task; its first run is within one period from now."""
        task = _Task(name, step, period)
        due = time.monotonic() + task.period * float(self._rng.uniform())
        heapq.heappush(self._heap, (due, next(self._seq), task))

    def run(self, stop: threading.Event) -> None:
        """Run due tasks until `stop` is set.

        The loop ends only through `stop` (it is the IOC's life); each pass
        runs one task or sleeps on `stop` until the next one is due.
        """
        while self._heap and not stop.is_set():
            due, _, task = self._heap[0]
            now = time.monotonic()
            if due > now:
                stop.wait(min(due - now, _MAX_SLEEP))
                continue
            heapq.heappop(self._heap)
            try:
                task.step()
                task.failures = 0
            except Exception:   # noqa: BLE001 - one bad PV must not stop all
                task.failures += 1
                log.exception('updating %s failed (%d in a row)', task.name,
                              task.failures)
                if task.failures >= _MAX_FAILURES:
                    log.error('%s is no longer updated', task.name)
                    continue
            # Reschedule from now, not from `due`: a late pass does not
            # trigger a burst of catch-up updates.
            heapq.heappush(self._heap, (now + self._interval(task),
                                        next(self._seq), task))


# --- value models ------------------------------------------------------------

class _Walk:
    """Mean-reverting random walk of a scalar record (float or int)."""

    def __init__(self, record, rng: np.random.Generator, center: float,
                 sigma: float, low: float, high: float,
                 integer: bool = False) -> None:
        self.record = record
        self.rng = rng
        self.center = center
        self.sigma = sigma
        self.low = low
        self.high = high
        self.integer = integer

    def __call__(self) -> None:
        value = float(self.record.get())    # starts from what clients wrote
        pull = _REVERSION * (self.center - value)
        if self.integer:
            step = round(pull) + int(self.rng.integers(-self.sigma,
                                                       self.sigma + 1))
            self.record.set(int(min(max(value + step, self.low), self.high)))
        else:
            step = pull + self.sigma * float(self.rng.standard_normal())
            self.record.set(min(max(value + step, self.low), self.high))


class _LogWalk:
    """Random walk of log10(value): a vacuum pressure."""

    def __init__(self, record, rng: np.random.Generator, center: float,
                 sigma: float = 0.03) -> None:
        self.record = record
        self.rng = rng
        self.log_center = math.log10(center)
        self.sigma = sigma

    def __call__(self) -> None:
        value = max(float(self.record.get()), 1e-12)
        logv = math.log10(value)
        logv += (_REVERSION * (self.log_center - logv)
                 + self.sigma * float(self.rng.standard_normal()))
        self.record.set(10.0 ** logv)


class _DampedSine:
    """A noisy damped sine whose phase drifts (``dwave``)."""

    def __init__(self, record, rng: np.random.Generator) -> None:
        self.record = record
        self.rng = rng
        self.x = np.arange(WAVE_NELM, dtype=np.float64)
        self.phase = float(rng.uniform(0.0, 2.0 * math.pi))
        self.envelope = np.exp(-self.x / 200.0)

    def __call__(self) -> None:
        self.phase += 0.3 + 0.1 * float(self.rng.standard_normal())
        wave = 5.0 * np.sin(2.0 * math.pi * self.x / 64.0 + self.phase)
        wave *= self.envelope
        wave += 0.1 * self.rng.standard_normal(WAVE_NELM)
        self.record.set(wave)


class _Peak:
    """Poisson counts of a Gaussian peak on a background (``iwave``)."""

    def __init__(self, record, rng: np.random.Generator) -> None:
        self.record = record
        self.rng = rng
        self.x = np.arange(WAVE_NELM, dtype=np.float64)
        self.center = float(rng.uniform(80.0, 176.0))

    def __call__(self) -> None:
        self.center += 3.0 * float(self.rng.standard_normal())
        self.center = min(max(self.center, 40.0), WAVE_NELM - 40.0)
        mean = 20.0 + 1000.0 * np.exp(-0.5 * ((self.x - self.center) / 8.0)**2)
        self.record.set(self.rng.poisson(mean).astype(np.int32))


class _Spot:
    """A Gaussian spot moving on a Lissajous path, with noise (``image``)."""

    def __init__(self, record, rng: np.random.Generator) -> None:
        self.record = record
        self.rng = rng
        self.rows = np.arange(IMAGE_SHAPE[0], dtype=np.float64)
        self.cols = np.arange(IMAGE_SHAPE[1], dtype=np.float64)
        self.t = float(rng.uniform(0.0, 100.0))

    def frame(self) -> np.ndarray:
        """The next picture, flattened, uint8."""
        self.t += 0.2
        jitter = 3.0 * self.rng.standard_normal(2)
        cy = 128.0 + 80.0 * math.sin(1.1 * self.t) + jitter[0]
        cx = 128.0 + 80.0 * math.sin(0.7 * self.t + 0.5) + jitter[1]
        # Separable Gaussian: the outer product of two 1-d profiles.
        gy = np.exp(-0.5 * ((self.rows - cy) / 14.0) ** 2)
        gx = np.exp(-0.5 * ((self.cols - cx) / 14.0) ** 2)
        picture = 220.0 * np.outer(gy, gx)
        picture += self.rng.integers(0, 16, IMAGE_SHAPE)
        return np.clip(picture, 0, 255).astype(np.uint8).ravel()

    def __call__(self) -> None:
        self.record.set(self.frame())


def _toggle(record) -> Callable[[], None]:
    def step() -> None:
        record.set(1 - int(record.get()))
    return step


def _follow(record, source, rng: Optional[np.random.Generator] = None,
            noise: float = 0.0) -> Callable[[], None]:
    """A read-back: `record` takes `source`'s value (plus noise)."""
    def step() -> None:
        value = source.get()
        if rng is not None:
            value = float(value) + noise * float(rng.standard_normal())
        record.set(value)
    return step


# --- records -----------------------------------------------------------------

def _build_prefix(builder, schedule: Schedule, rng: np.random.Generator,
                  prefix: str, period: float) -> None:
    builder.SetDeviceName(prefix)
    shutter = builder.boolOut('shutter', ZNAM='Closed', ONAM='Open',
                              initial_value=int(rng.integers(0, 2)),
                              DESC=f'{prefix} shutter')
    schedule.add(f'{prefix}:shutter', _toggle(shutter),
                 period * _SHUTTER_PERIODS)
    for num, (suffix, prec, egu, center, sigma, lopr, hopr) in enumerate(
            _DOUBLES, 1):
        rec = builder.aOut(suffix, PREC=prec, EGU=egu, DRVL=lopr, DRVH=hopr,
                           initial_value=center + 10 * sigma
                           * float(rng.standard_normal()),
                           DESC=f'{prefix} double value {num}')
        schedule.add(f'{prefix}:{suffix}',
                     _Walk(rec, rng, center, sigma, lopr, hopr), period)
    for num, (suffix, egu, center, step, lopr, hopr) in enumerate(
            _INTEGERS, 1):
        rec = builder.longOut(suffix, EGU=egu, DRVL=lopr, DRVH=hopr,
                              initial_value=center + int(rng.integers(
                                  -5 * step, 5 * step + 1)),
                              DESC=f'{prefix} integer value {num}')
        schedule.add(f'{prefix}:{suffix}',
                     _Walk(rec, rng, center, step, lopr, hopr, integer=True),
                     period)
    builder.stringOut('string1', initial_value=f'{prefix} sample: LaB6 std',
                      DESC=f'{prefix} string 1')
    builder.stringOut('string2', initial_value='Hello, EPICS training!',
                      DESC=f'{prefix} string 2')
    builder.boolOut('bo1', ZNAM='0', ONAM='1', initial_value=0,
                    DESC=f'{prefix} binary output')
    builder.mbbOut('mbbo1', *MBBO_STATES, initial_value=0,
                   DESC=f'{prefix} multi-bit binary output')
    filename = (f'/data/2014/Oct/epics_training/{prefix}/'
                f'xafs_scan_LaB6_calibration_sample_{prefix}_0001.xdi')
    builder.longStringOut('filename', initial_value=filename,
                          length=FILENAME_NELM,
                          DESC=f'{prefix} long file name')
    dwave = builder.WaveformIn('dwave', np.zeros(WAVE_NELM, np.float64),
                               DESC=f'{prefix} double waveform')
    schedule.add(f'{prefix}:dwave', _DampedSine(dwave, rng), period)
    iwave = builder.WaveformIn('iwave', np.zeros(WAVE_NELM, np.int32),
                               DESC=f'{prefix} integer waveform')
    schedule.add(f'{prefix}:iwave', _Peak(iwave, rng), period)
    spot = np.zeros(IMAGE_SHAPE[0] * IMAGE_SHAPE[1], np.uint8)
    image = builder.WaveformIn('image', spot,
                               DESC=f'{prefix} 256x256 image')
    schedule.add(f'{prefix}:image', _Spot(image, rng), period)


def _build_devices(builder, schedule: Schedule, rng: np.random.Generator,
                   period: float) -> None:
    """The ``sim:`` records of the talk's Device examples."""
    builder.SetDeviceName('sim')
    for num, pressure in ((1, 4.1e-7), (2, 2.3e-8)):
        pump = builder.aIn(f'ip{num}:PRES', EGU='Torr', PREC=2, LOPR=1e-11,
                           HOPR=1e-4, HIGH=1e-6, HSV='MINOR', HIHI=1e-5,
                           HHSV='MAJOR', initial_value=pressure,
                           DESC=f'Ion pump {num} Pressure')
        schedule.add(f'sim:ip{num}:PRES', _LogWalk(pump, rng, pressure),
                     period)
    ao1 = builder.aOut('ao1', PREC=3, EGU='V', DRVL=-10.0, DRVH=10.0,
                       initial_value=1.0, DESC='Analog output 1')
    ai1 = builder.aIn('ai1', PREC=3, EGU='V', LOPR=-10.0, HOPR=10.0,
                      initial_value=1.0, DESC='Analog input 1 (reads ao1)')
    schedule.add('sim:ai1', _follow(ai1, ao1, rng, 0.002), period)
    bo1 = builder.boolOut('bo1', ZNAM='Off', ONAM='On', initial_value=0,
                          DESC='Binary output 1')
    bi1 = builder.boolIn('bi1', ZNAM='Off', ONAM='On', initial_value=0,
                         DESC='Binary input 1 (reads bo1)')
    schedule.add('sim:bi1', _follow(bi1, bo1), period)


def build_records(builder, prefixes: int, rate: float,
                  rng: np.random.Generator) -> Schedule:
    """Create all records with softioc's `builder` and their schedule.

    Parameters
    ----------
    builder : module
        ``softioc.builder`` (passed in so this module does not import it).
    prefixes : int
        Number of prefixes ``id01`` ... .
    rate : float
        Mean updates per second of every changing PV.
    rng : numpy.random.Generator
        Source of all randomness.

    Returns
    -------
    Schedule
        The update tasks, to be run after ``iocInit``.
    """
    schedule = Schedule(rng)
    period = 1.0 / rate
    for index in range(1, prefixes + 1):
        _build_prefix(builder, schedule, rng, prefix_name(index), period)
    _build_devices(builder, schedule, rng, period)
    build_instrument_pvs(builder)
    builder.LoadDatabase()
    return schedule


class _Dispatcher:
    """softioc dispatcher running on_update callbacks inline.

    No record here has an on_update callback, so this is never called in
    practice; softioc requires one, and its default needs cothread.
    """

    def __call__(self, func, func_args=(), completion=None,
                 completion_args=()) -> None:
        try:
            func(*func_args)
        except Exception:   # noqa: BLE001 - never into EPICS' thread
            log.exception('on_update callback failed')
        finally:
            if completion is not None:
                completion(*completion_args)


def _flush_errlog() -> None:
    """Let EPICS print its queued iocInit messages before we say READY."""
    try:
        from epicscorelibs.ioc import Com  # noqa: PLC0415
        # void errlogFlush(void): waits until the errlog queue is printed.
        # A prototype of our own, so Com's shared attributes stay untouched.
        ctypes.CFUNCTYPE(None)(('errlogFlush', Com))()
    except (ImportError, AttributeError, OSError):
        log.debug('errlogFlush unavailable', exc_info=True)


def _watch_stdin(stop: threading.Event) -> None:
    """Set `stop` when stdin reaches EOF (the parent process is gone)."""
    try:
        fd = sys.stdin.fileno()
        while os.read(fd, 4096):    # ends at EOF, i.e. when the parent dies
            pass
    except (OSError, ValueError):
        pass
    log.info('stdin closed: stopping')
    stop.set()


def run_ioc(port: int, beacon_port: int, prefixes: int = DEFAULT_PREFIXES,
            rate: float = DEFAULT_RATE, seed: Optional[int] = None,
            exit_on_stdin_eof: bool = False) -> int:
    """Serve the training IOC on 127.0.0.1:`port` until asked to stop.

    Ends the process through EPICS' exit (softioc needs that), so it returns
    only when the IOC could not start.

    Returns
    -------
    int
        `EXIT_PORT_IN_USE` when the port is taken.
    """
    problem = port_problem(port)
    if problem is not None:
        print(f'epics-sim training IOC: {problem}; stop the program using '
              f'it or choose another port', file=sys.stderr, flush=True)
        return EXIT_PORT_IN_USE
    # Before softioc is imported: EPICS reads these when the server starts.
    os.environ.update(server_env(port, beacon_port))

    from softioc import builder, softioc  # noqa: PLC0415 - child process only

    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    for name in ('SIGTERM', 'SIGINT', 'SIGHUP'):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_signal)

    rng = np.random.default_rng(seed)
    schedule = build_records(builder, prefixes, rate, rng)
    # Once more, just before the server binds: when its TCP port is taken,
    # rsrv only warns and serves on a random port, where nobody looks.
    problem = port_problem(port)
    if problem is not None:
        print(f'epics-sim training IOC: {problem} (taken meanwhile)',
              file=sys.stderr, flush=True)
        return EXIT_PORT_IN_USE
    softioc.iocInit(_Dispatcher(), enable_pva=False)
    _flush_errlog()
    updater = threading.Thread(target=schedule.run, args=(stop,),
                               name='epics-sim-updater', daemon=True)
    updater.start()
    if exit_on_stdin_eof:
        threading.Thread(target=_watch_stdin, args=(stop,),
                         name='epics-sim-stdin', daemon=True).start()
    print(f'{READY_LINE} training IOC: {prefixes} prefixes on {HOST}:{port}',
          flush=True)
    # The IOC's life: wake at least every _MAX_SLEEP so signal handlers run.
    while not stop.wait(_MAX_SLEEP):
        pass
    updater.join(_JOIN_TIMEOUT)
    sys.stdout.flush()
    softioc.safeEpicsExit(0)
    return 0    # not reached: epicsExit ends the process


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m epics.sim.training`` (used by the launcher)."""
    parser = argparse.ArgumentParser(
        prog='python -m epics.sim.training',
        description='Training IOC (softioc) of the simulated beamline; '
                    'normally started by `python -m epics.sim`.')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--beacon-port', type=int, required=True)
    parser.add_argument('--prefixes', type=int, default=DEFAULT_PREFIXES)
    parser.add_argument('--rate', type=float, default=DEFAULT_RATE)
    parser.add_argument('--seed', type=int, default=None)
    parser.add_argument('--exit-on-stdin-eof', action='store_true')
    args = parser.parse_args(argv)
    if not 1 <= args.prefixes <= 99:
        parser.error('--prefixes must be 1..99')
    if not 0.0 < args.rate <= 1000.0:
        parser.error('--rate must be in (0, 1000]')
    logging.basicConfig(level=logging.WARNING,
                        format='epics-sim training IOC: %(levelname)s '
                               '%(name)s: %(message)s')
    return run_ioc(args.port, args.beacon_port, args.prefixes, args.rate,
                   args.seed, args.exit_on_stdin_eof)


if __name__ == '__main__':
    sys.exit(main())
