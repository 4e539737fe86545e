"""``python -m epics.sim.demo``: the library at work, in one command, with no IOC of your own.

It starts the simulated beamline (`epics.sim.Simulator`: the training IOC and the record server)
and a CA repeater, on free loopback ports, points this process's Channel Access client at them,
and then shows, each step under a heading and with the Python it runs:

1. ``caget``, ``caput`` and ``cainfo``;
2. ``camonitor`` for a few seconds;
3. a ``PV`` with a callback;
4. a ``Device`` made of the training PVs of one prefix;
5. a ``Motor`` move with ``wait=True`` and its readback;
6. two exercises of the PyEpics class (the full solutions are in ``examples/``): Shutter
   Watcher #2 (how long each shutter is open during a short interval) and the waveform
   statistics, with the plot saved as a PNG when matplotlib is installed;
7. the command-line tools (``python -m epics caget ...``).

Then it stops everything it started (CA in this process, the repeater, both servers), also on
Ctrl-C, SIGTERM or an error, and exits with 0 (130 after Ctrl-C, 1 after an error). The whole
run takes well under a minute. Options: ``--prefixes``, ``--rate``, ``--seconds`` (length of
each watching step), ``--png PATH``, ``--no-plot``, ``--no-tools``.

libca reads the ``EPICS_CA_*`` environment once, when the first CA context is made, so the
simulator's client environment goes into ``os.environ`` after the servers have started and
before the first CA call (importing `epics` makes no CA call). The servers themselves run in
child processes, so they never share a process with this client.

Threads: the main thread runs the steps. PV callbacks run on the library's dispatcher thread;
the ones here only print or record, under a lock where the main thread reads the same data.
`epics.sim.launcher` drains the servers' output on its own daemon threads.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .. import PV, Device, Motor, ca, caget, cainfo, camonitor, camonitor_clear, caput
from ..motor import DONE_OK
from ..testing import IocError, SubprocessIoc
from .launcher import HOST, Simulator, SimulatorError

__all__ = ['main']

PROG = 'python -m epics.sim.demo'
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
#: Seconds allowed for each command-line tool run in a subprocess.
TOOL_TIMEOUT = 30.0
#: Seconds allowed for the motor move.
MOVE_TIMEOUT = 30.0
#: Seconds allowed for the CA repeater to bind its port.
REPEATER_TIMEOUT = 20.0
#: Seconds to wait for a PV to connect.
CONNECT_TIMEOUT = 5.0
DEFAULT_PNG = os.path.join(tempfile.gettempdir(), 'epics-demo-waveforms.png')
MATPLOTLIB_MISSING = ("matplotlib is not installed (pip install 'epicsca[plot]', or pip "
                      "install matplotlib): plot skipped")


class DemoError(RuntimeError):
    """A step of the demo could not be done (the message says which and why)."""


# --- printing -------------------------------------------------------------------------------------

def heading(number: int, title: str) -> None:
    """A step's heading."""
    print(f'\n== {number}. {title} ==', flush=True)


def show(code: str, result: Any = None, shown: bool = True) -> None:
    """A line of Python as typed at the prompt, and its result (unless `shown` is False)."""
    print(f'>>> {code}')
    if shown:
        print(repr(result))
    sys.stdout.flush()


def say(text: str) -> None:
    print(text, flush=True)


def _interrupt(signum, frame) -> None:
    """Ctrl-C (SIGINT), SIGTERM and SIGHUP end the demo through the same clean-up."""
    raise KeyboardInterrupt


# --- the steps ------------------------------------------------------------------------------------

def step_procedural(prefix: str) -> None:
    """caget, caput and cainfo."""
    heading(1, 'caget, caput, cainfo')
    value = caget(f'{prefix}:dval1')
    if value is None:
        raise DemoError(f'caget({prefix}:dval1) found no value: the PV did not connect')
    show(f"caget('{prefix}:dval1')", value)
    show(f"caget('{prefix}:ival1')", caget(f'{prefix}:ival1'))
    show(f"caget('{prefix}:shutter', as_string=True)", caget(f'{prefix}:shutter', as_string=True))
    show(f"caget('{prefix}:mbbo1', as_string=True)", caget(f'{prefix}:mbbo1', as_string=True))
    show(f"caget('{prefix}:filename', as_string=True)",
         caget(f'{prefix}:filename', as_string=True))
    show(f"caget('{prefix}:dwave')[:4]", caget(f'{prefix}:dwave')[:4])
    text = 'Hello from the epicsca demo'
    show(f"caput('{prefix}:string1', {text!r}, wait=True)",
         caput(f'{prefix}:string1', text, wait=True))
    show(f"caget('{prefix}:string1', use_monitor=False)",
         caget(f'{prefix}:string1', use_monitor=False))
    show(f"cainfo('{prefix}:dval1')", shown=False)
    cainfo(f'{prefix}:dval1')


def step_camonitor(prefix: str, seconds: float) -> None:
    """camonitor on two PVs for a while."""
    heading(2, f'camonitor for {seconds:g} s')
    names = [f'{prefix}:dval1', f'{prefix}:shutter']
    for name in names:
        show(f"camonitor('{name}')", shown=False)
        camonitor(name)
    time.sleep(seconds)
    for name in names:
        camonitor_clear(name)
        show(f"camonitor_clear('{name}')", shown=False)


def step_pv_callback(prefix: str, seconds: float) -> None:
    """A PV object with a callback on every change."""
    heading(3, 'a PV with a callback')
    name = f'{prefix}:ival1'
    calls: List[Any] = []

    def on_change(pvname: Optional[str] = None, value: Any = None,
                  char_value: Optional[str] = None, **kws: Any) -> None:
        calls.append(value)
        print(f'    callback: {pvname} = {char_value}', flush=True)

    print('>>> def on_change(pvname=None, value=None, char_value=None, **kws):\n'
          "...     print(f'callback: {pvname} = {char_value}')")
    show(f"pv = PV('{name}', callback=on_change)", shown=False)
    pv = PV(name, callback=on_change)
    if not pv.wait_for_connection(timeout=CONNECT_TIMEOUT):
        raise DemoError(f'{name} did not connect within {CONNECT_TIMEOUT} s')
    show('pv.get(), pv.units, pv.host', (pv.get(), pv.units, pv.host))
    time.sleep(seconds)
    pv.clear_callbacks()
    show('pv.clear_callbacks()', shown=False)
    say(f'{len(calls)} callbacks in {seconds:g} s')


def step_device(prefix: str) -> None:
    """A Device made of one prefix's training PVs."""
    heading(4, 'a Device')
    attrs = ('dval1', 'dval2', 'dval3', 'ival1', 'ival2', 'ival3', 'mbbo1', 'string1',
             'filename')
    show(f"dev = Device('{prefix}', delim=':', attrs={attrs!r})", shown=False)
    dev = Device(prefix, delim=':', attrs=attrs, timeout=CONNECT_TIMEOUT)
    show('dev.dval1', dev.dval1)
    show('dev.ival2', dev.ival2)
    show("dev.get('mbbo1', as_string=True)", dev.get('mbbo1', as_string=True))
    dev.put('mbbo1', 'Counting', wait=True)
    show("dev.put('mbbo1', 'Counting', wait=True)", shown=False)
    show("dev.get('mbbo1', as_string=True, use_monitor=False)",
         dev.get('mbbo1', as_string=True, use_monitor=False))
    dev.string1 = 'written through a Device'
    show("dev.string1 = 'written through a Device'", shown=False)
    show("dev.get('string1', use_monitor=False)", dev.get('string1', use_monitor=False))
    state = dev.save_state()
    show("dev.save_state()['ival1'], dev.save_state()['filename']",
         (state['ival1'], state['filename']))
    dev.put('mbbo1', 'Idle', wait=True)


def step_motor() -> None:
    """A Motor move with wait=True, and its readback."""
    heading(5, 'a Motor')
    show("m = Motor('sim:m1')", shown=False)
    motor = Motor('sim:m1', timeout=CONNECT_TIMEOUT)
    start = motor.get_position(readback=True)
    show('m.get_position(readback=True), m.EGU, m.VELO', (start, motor.EGU, motor.VELO))
    target = round(start + 1.5 if start < 50 else start - 1.5, 3)
    began = time.monotonic()
    code = motor.move(target, wait=True, timeout=MOVE_TIMEOUT)
    took = time.monotonic() - began
    show(f'm.move({target}, wait=True)', code)
    say(f'    ({"DONE_OK: the motor stopped at the target" if code == DONE_OK else "not DONE_OK"};'
        f' the move took {took:.1f} s)')
    show('m.get_position(readback=True)', motor.get_position(readback=True))
    show('m.DMOV', motor.DMOV)
    if code != DONE_OK:
        raise DemoError(f'the move of sim:m1 to {target} ended with code {code}')


def step_shutter_watcher(prefixes: Sequence[str], seconds: float) -> None:
    """Exercise Shutter Watcher #2, short: how long each shutter is open during an interval."""
    heading(6, f'exercise: Shutter Watcher #2 ({seconds:g} s)')
    say('Full solution: examples/shutter_watcher2.py (and examples/shutter_watcher1.py).')
    lock = threading.Lock()
    state: Dict[str, bool] = {}
    open_since: Dict[str, float] = {}
    open_time: Dict[str, float] = {}
    openings: Dict[str, int] = {}
    started: List[float] = []           # the interval's start, once it began

    def on_shutter(pvname: Optional[str] = None, value: Any = None,
                   char_value: Optional[str] = None, **kws: Any) -> None:
        now = time.monotonic()
        with lock:
            was_open, is_open = state.get(pvname), bool(value)
            state[pvname] = is_open
            if not started or was_open is None or was_open == is_open:
                return
            if is_open:
                open_since[pvname] = now
                openings[pvname] = openings.get(pvname, 0) + 1
            elif pvname in open_since:
                open_time[pvname] = (open_time.get(pvname, 0.0)
                                     + now - open_since.pop(pvname))
        print(f'    {pvname} {char_value}', flush=True)

    pvs = [PV(f'{prefix}:shutter', callback=on_shutter) for prefix in prefixes]
    deadline = time.monotonic() + CONNECT_TIMEOUT
    for pv in pvs:
        if not pv.wait_for_connection(timeout=max(0.0, deadline - time.monotonic())):
            raise DemoError(f'{pv.pvname} did not connect within {CONNECT_TIMEOUT} s')
        pv.get_ctrlvars()               # the state names, Open and Closed
    with lock:
        begin = time.monotonic()
        started.append(begin)
        for name, is_open in state.items():
            if is_open:
                open_since[name] = begin
    time.sleep(seconds)
    for pv in pvs:
        pv.clear_callbacks()
    with lock:
        end = time.monotonic()
        for name, since in open_since.items():
            open_time[name] = open_time.get(name, 0.0) + end - since
        open_since.clear()
        length = end - begin
    say(f'{"shutter":<14}{"open (s)":>10}{"open (%)":>10}{"openings":>10}')
    for pv in pvs:
        seconds_open = open_time.get(pv.pvname, 0.0)
        say(f'{pv.pvname:<14}{seconds_open:>10.2f}{100 * seconds_open / length:>10.1f}'
            f'{openings.get(pv.pvname, 0):>10d}')


def step_waveforms(prefix: str, png: Optional[str]) -> None:
    """Exercise Working with waveforms: numpy arrays, their statistics, and a PNG plot."""
    heading(7, 'exercise: working with waveforms')
    say('Full solution: examples/waveforms.py.')
    arrays = {}
    for name in ('dwave', 'iwave', 'image'):
        array = caget(f'{prefix}:{name}')
        if array is None:
            raise DemoError(f'caget({prefix}:{name}) found no value')
        arrays[name] = array
        show(f"{name} = caget('{prefix}:{name}')", shown=False)
        say(f'    {type(array).__name__} {array.dtype} {array.shape}: mean {array.mean():.4f}, '
            f'sum {array.sum():.6g}, std {array.std():.4f}')
    image = arrays['image'].reshape(256, 256)
    show('image = image.reshape(256, 256); image.max(), image.argmax() // 256, '
         'image.argmax() % 256',
         (int(image.max()), int(image.argmax() // 256), int(image.argmax() % 256)))
    if png is None:
        say('plot skipped (--no-plot)')
        return
    if importlib.util.find_spec('matplotlib') is None:
        say(MATPLOTLIB_MISSING)
        return
    import matplotlib
    matplotlib.use('Agg')               # files only: no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    try:
        axes[0].plot(arrays['dwave'])
        axes[0].set_title(f'{prefix}:dwave')
        axes[1].step(range(arrays['iwave'].size), arrays['iwave'], where='mid', color='tab:red')
        axes[1].set_title(f'{prefix}:iwave')
        axes[2].imshow(image, cmap='viridis')
        axes[2].set_title(f'{prefix}:image')
        fig.tight_layout()
        fig.savefig(png, dpi=80)
    finally:
        plt.close(fig)
    say(f'plot saved: {png}')


def step_tools(prefix: str) -> None:
    """The command-line tools, each in a subprocess with this process's client environment."""
    heading(8, 'command-line tools')
    if importlib.util.find_spec('epics.__main__') is None:
        say('python -m epics is not available in this installation: skipped')
        return
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env['PYTHONPATH'] = os.pathsep.join(p for p in (root, env.get('PYTHONPATH')) if p)
    commands = [
        ['caget', f'{prefix}:dval1', f'{prefix}:shutter', f'{prefix}:string1'],
        ['caput', f'{prefix}:ival3', '42'],
        ['cainfo', f'{prefix}:mbbo1'],
    ]
    for command in commands:
        say(f'$ python -m epics {" ".join(command)}')
        try:
            proc = subprocess.run([sys.executable, '-m', 'epics', *command], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=TOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            say(f'    (did not finish within {TOOL_TIMEOUT:g} s: skipped)')
            continue
        for line in proc.stdout.rstrip().splitlines():
            say(f'    {line}')
        if proc.returncode != 0:
            say(f'    (exit status {proc.returncode})')


# --- running it -----------------------------------------------------------------------------------

class Demo:
    """What the demo started, so that `stop` can stop exactly that, in reverse order."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sim: Optional[Simulator] = None
        self.repeater: Optional[SubprocessIoc] = None     # running caRepeater
        self.ca_used = False

    def start(self) -> None:
        args = self.args
        heading(0, 'starting the simulated beamline')
        self.sim = Simulator(prefixes=args.prefixes, rate=args.rate,
                             records=args.records)
        say(f'Simulator(prefixes={args.prefixes}, rate={args.rate}) on free loopback ports ...')
        self.sim.start()
        ports = self.sim.ports
        pids = self.sim.pids
        say(f'training IOC (softioc, pid {pids.get("training IOC")}): '
            f'{", ".join(self.sim.prefix_names())} on {HOST}:{ports.training}')
        if ports.records is not None:
            say(f'record server (caproto, pid {pids.get("record server")}): sim:m1..sim:m4, '
                f'sim:scaler1, ... on {HOST}:{ports.records}')
        # Our own CA repeater on the simulator's repeater port: libca would otherwise try to
        # spawn one (left running after the demo), or complain that it cannot reach one.
        self.repeater = SubprocessIoc([sys.executable, '-m', 'epics.cli.carepeater'],
                                      port=self.sim.repeater_port,
                                      repeater_port=self.sim.repeater_port, ready='udp',
                                      start_timeout=REPEATER_TIMEOUT, name='caRepeater')
        self.repeater.start()
        say(f'CA repeater (pid {self.repeater.pid}) on UDP {HOST}:{self.sim.repeater_port}')
        env = self.sim.client_env()
        os.environ.update(env)          # before the first CA call: libca reads it once
        say('client environment: ' + ' '.join(f'{k}={v!r}' for k, v in env.items()))

    def run(self) -> None:
        args = self.args
        prefixes = self.sim.prefix_names()
        first = prefixes[0]
        self.ca_used = True
        step_procedural(first)
        step_camonitor(first, args.seconds)
        step_pv_callback(first, args.seconds)
        step_device(prefixes[-1])
        if self.sim.ports.records is not None:
            step_motor()
        else:
            heading(5, 'a Motor')
            say('skipped: the record server is not running (caproto is not installed)')
        step_shutter_watcher(prefixes, 2 * args.seconds)
        step_waveforms(first, args.png if args.plot else None)
        if args.tools:
            step_tools(first)

    def stop(self) -> None:
        """Stop CA in this process, the repeater and the servers (each once, bounded)."""
        stopped = []
        if self.ca_used:
            try:
                ca.finalize_libca()
                stopped.append('Channel Access in this process')
            except Exception as exc:   # noqa: BLE001 - the servers must still be stopped
                say(f'stopping Channel Access failed: {exc}')
            self.ca_used = False
        if self.repeater is not None:
            pid = self.repeater.pid
            self.repeater.stop()
            self.repeater = None
            stopped.append(f'CA repeater (pid {pid})')
        if self.sim is not None:
            pids = self.sim.pids
            self.sim.stop()
            self.sim = None
            stopped += [f'{name} (pid {pid})' for name, pid in pids.items()]
        if stopped:
            say(f'stopped: {", ".join(stopped)}')


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Start the simulated beamline and show caget, caput, cainfo, camonitor, '
                    'PV callbacks, a Device, a Motor and two exercises of the PyEpics class '
                    'against it; stop everything at the end.')
    parser.add_argument('--prefixes', type=int, default=3, metavar='N',
                        help='training prefixes id01..idNN to serve (default %(default)s)')
    parser.add_argument('--rate', type=float, default=5.0,
                        help='updates per second of each changing PV (default %(default)s)')
    parser.add_argument('--seconds', type=float, default=3.0,
                        help='length of each watching step (default %(default)s)')
    parser.add_argument('--png', default=DEFAULT_PNG,
                        help='where to save the waveform plot (default %(default)s)')
    parser.add_argument('--no-plot', dest='plot', action='store_false',
                        help='do not plot the waveforms')
    parser.add_argument('--no-tools', dest='tools', action='store_false',
                        help='do not run the command-line tools')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; return the exit status (0 done, 1 failed, 130 interrupted)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not 1 <= args.prefixes <= 99:
        parser.error('--prefixes must be 1..99')
    if not 0.0 < args.rate <= 100.0:
        parser.error('--rate must be in (0, 100]')
    if not 0.0 <= args.seconds <= 60.0:
        parser.error('--seconds must be in [0, 60]')
    if importlib.util.find_spec('softioc') is None:
        print(f"{PROG}: the simulator needs softioc: pip install 'epicsca[sim]' "
              f"(from a checkout: pip install '.[sim]')", file=sys.stderr)
        return EXIT_FAILED
    args.records = importlib.util.find_spec('caproto') is not None

    # SIGINT too: a shell starting the demo in the background would have it ignored.
    signums = [getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP')
               if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, _interrupt) for signum in signums}
    demo = Demo(args)
    code = EXIT_OK
    began = time.monotonic()
    try:
        demo.start()
        demo.run()
    except KeyboardInterrupt:
        say('\ninterrupted: stopping everything the demo started')
        code = EXIT_INTERRUPTED
    except (DemoError, SimulatorError, IocError, OSError) as exc:
        print(f'{PROG}: failed: {exc}', file=sys.stderr)
        code = EXIT_FAILED
    except Exception:   # noqa: BLE001 - report, then still stop what we started
        print(f'{PROG}: failed:', file=sys.stderr)
        traceback.print_exc()
        code = EXIT_FAILED
    finally:
        # The clean-up is bounded in time; a second Ctrl-C must not cut it short.
        for signum in signums:
            signal.signal(signum, signal.SIG_IGN)
        heading(9, 'stopping')
        try:
            demo.stop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    if code == EXIT_OK:
        say(f'demo done in {time.monotonic() - began:.0f} s')
    return code


if __name__ == '__main__':
    sys.exit(main())
