"""``python -m epics.sim``: serve the simulated beamline on loopback.

Usage::

    python -m epics.sim [--prefixes 36] [--port 5064] [--records-port PORT2]
                        [--repeater-port PORT3] [--rate 1.0] [--no-records]

(console script ``epics-sim``).  Starts the training IOC (softioc) on
127.0.0.1:PORT and the record server (caproto) on 127.0.0.1:PORT2 (default
PORT+1) as child processes, prints the client environment and a few example
commands, and runs until Ctrl-C (SIGINT) or SIGTERM, which stop both servers
within a bounded time.  A taken port (TCP or UDP) is refused before anything
starts, with exit status 2.

Threads: the main thread starts the servers and then sleeps until a signal
arrives or a server dies; `epics.sim.launcher` drains the children's output
on its own daemon threads.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import List, Optional, Sequence

from .launcher import (DEFAULT_PORT, DEFAULT_PREFIXES, DEFAULT_RATE,
                       EXIT_PORT_IN_USE, HOST, RECORD_SERVER_PVS,
                       PortInUseError, Simulator, SimulatorError,
                       port_problem)

__all__ = ['main']

PROG = 'epics-sim'
EXIT_FAILED = 1
# How often the main thread wakes to see whether a child died; the wait is
# cut short by a child's exit, so this only bounds each sleep.
_WAKE = 1.0
# How far to look for free ports to suggest when one is taken.
_SUGGEST_TRIES = 10


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Simulated beamline for the PyEpics examples and '
                    'exercises: a training IOC (id01..id36: shutter, dval1, '
                    'ival1, string1, mbbo1, filename, dwave, iwave, image, '
                    '...; sim:ip1:PRES, sim:ao1, ...) and a record server '
                    '(motors sim:m1..sim:m4, sim:scaler1, sim:mca1, '
                    'sim:transform1, sim:SIS1:). Serves on 127.0.0.1 only.')
    parser.add_argument('--prefixes', type=int, default=DEFAULT_PREFIXES,
                        metavar='N',
                        help='number of training prefixes id01..idNN '
                             '(1-99, default %(default)s)')
    parser.add_argument('--port', type=int, default=DEFAULT_PORT,
                        help='CA port of the training IOC '
                             '(default %(default)s)')
    parser.add_argument('--records-port', type=int, default=None,
                        metavar='PORT2',
                        help='CA port of the record server (default PORT+1)')
    parser.add_argument('--repeater-port', type=int, default=None,
                        metavar='PORT3',
                        help='CA repeater port for clients, where beacons go '
                             '(default: the port after the server ports)')
    parser.add_argument('--rate', type=float, default=DEFAULT_RATE,
                        help='mean updates per second of each changing PV '
                             '(default %(default)s)')
    parser.add_argument('--no-records', dest='records', action='store_false',
                        help='do not start the record server (motors, '
                             'scaler, mca, ...)')
    parser.add_argument('-v', '--verbose', action='count', default=0,
                        help='log more (-vv: the servers\' output too)')
    return parser


def _suggest_ports(port: int, records: bool) -> str:
    """A command line with free ports near `port`, if one turns up."""
    need = 2 if records else 1
    for step in range(1, _SUGGEST_TRIES + 1):
        base = port + 10 * step
        if base + need > 65535:
            break
        if all(port_problem(base + i) is None for i in range(need)):
            extra = (f' --records-port {base + 1}' if records
                     else ' --no-records')
            return f'python -m epics.sim --port {base}{extra}'
    return 'python -m epics.sim --port <free port> --records-port <another>'


def _banner(sim: Simulator) -> List[str]:
    ports = sim.ports
    env = sim.client_env()
    first = sim.prefix_names()[0]
    last = sim.prefix_names()[-1]
    lines = [f'{PROG}: training IOC (softioc): {first}..{last}, sim:ip1:PRES, '
             f'sim:ao1, sim:ai1, sim:bo1, sim:bi1 on {HOST}:{ports.training} '
             f'(TCP+UDP)']
    if ports.records is not None:
        names = ', '.join(n for v in RECORD_SERVER_PVS.values()
                          for n in v.split(','))
        lines.append(f'{PROG}: record server (caproto): {names} on '
                     f'{HOST}:{ports.records} (TCP+UDP)')
    else:
        lines.append(f'{PROG}: record server not started (--no-records)')
    lines.append('')
    lines.append('Set this environment in the shell of your CA client:')
    for key, value in env.items():
        if os.name == 'nt':
            lines.append(f'    set {key}={value}')
        else:
            lines.append(f'    export {key}="{value}"' if ' ' in value
                         else f'    export {key}={value}')
    lines += [
        '',
        'Then try, for example:',
        f'    caget {first}:dval1 {first}:shutter {first}:string1',
        f'    camonitor {first}:dval1 {first}:shutter',
        f'    python -c "import epics; print(epics.caget(\'{first}:dval1\'))"',
        f'    python -c "import epics; '
        f'print(epics.caget(\'{first}:filename\', as_string=True))"',
        f'    python -c "import epics; img = epics.caget(\'{first}:image\'); '
        f'print(img.reshape(256, 256).mean())"',
    ]
    if ports.records is not None:
        lines.append('    python -c "import epics; m = epics.Motor(\'sim:m1\'); '
                     'm.move(1.0, wait=True); print(m.RBV)"')
    lines += ['', 'Press Ctrl-C to stop.']
    return lines


def _interrupt(signum, frame) -> None:
    """SIGINT, SIGTERM and SIGHUP stop the simulator."""
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the simulated beamline until Ctrl-C or SIGTERM.

    Returns
    -------
    int
        0 after a clean stop, 2 when a port is taken, 1 on other failures.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[
            min(args.verbose, 2)],
        format=f'{PROG}: %(levelname)s %(name)s: %(message)s')
    records_port = args.records_port
    if args.records and records_port is None:
        records_port = args.port + 1
    repeater_port = args.repeater_port
    if repeater_port is None:
        repeater_port = max(args.port, records_port or 0) + 1
    try:
        sim = Simulator(prefixes=args.prefixes, port=args.port,
                        records_port=records_port, rate=args.rate,
                        records=args.records, repeater_port=repeater_port)
    except ValueError as exc:
        parser.error(str(exc))

    # SIGINT too: a shell starting us in the background would have it ignored.
    signums = [getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP')
               if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, _interrupt) for signum in signums}
    code = 0
    try:
        try:
            sim.start()
        except PortInUseError as exc:
            print(f'{PROG}: cannot start: {exc.problem}.\n'
                  f'{PROG}: another IOC or simulator probably uses it; stop '
                  f'that program, or choose free ports, for example:\n'
                  f'    {_suggest_ports(exc.port, args.records)}',
                  file=sys.stderr)
            return EXIT_PORT_IN_USE
        except (SimulatorError, ValueError) as exc:
            print(f'{PROG}: cannot start: {exc}', file=sys.stderr)
            return EXIT_FAILED
        print('\n'.join(_banner(sim)), flush=True)
        # Serve until a signal raises KeyboardInterrupt or a child dies.
        while not sim.wait(_WAKE):
            pass
        print(f'{PROG}: a server exited unexpectedly; stopping',
              file=sys.stderr)
        code = EXIT_FAILED
    except KeyboardInterrupt:
        print(f'{PROG}: stopping', flush=True)
    finally:
        # Stopping is bounded; a second Ctrl-C must not cut it short.
        for signum in signums:
            signal.signal(signum, signal.SIG_IGN)
        sim.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if code == 0:
        print(f'{PROG}: stopped', flush=True)
    return code


if __name__ == '__main__':
    sys.exit(main())
