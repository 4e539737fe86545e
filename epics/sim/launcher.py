"""Start and stop the simulated beamline: the training IOC and the record server.

`Simulator` runs two child processes on loopback ports:

- the training IOC (`epics.sim.training`, a softioc IOC: ``id01:dval1`` ...,
  ``sim:ip1:PRES``, ``sim:ao1`` ...), and
- the record server (`epics.sim.records.server`, caproto simulations of the
  motor, scaler, mca, transform and struck records: ``sim:m1`` ...).

softioc always runs in a process of its own so that a client library in the
calling process (ours, which loads libca) never shares a process with an IOC.

Threads: the caller's thread runs `Simulator.start` and `Simulator.stop`; one
daemon thread per child ("epics-sim-<name>-stdout") drains the child's stdout,
keeps its last lines for error messages and sets the child's events when it
prints ``READY`` or closes its stdout (it exited).  Children run in a session of
their own, so a Ctrl-C in the terminal reaches only the parent, which then stops
them in order (SIGTERM, bounded wait, SIGKILL).  The training IOC also exits
when its stdin reaches EOF, which happens when the parent dies without stopping
it.  A `weakref.finalize` hook stops children a forgotten Simulator left
running when the interpreter exits.

The module only uses the standard library, so importing it (and `epics.sim`)
starts nothing and loads nothing.
"""
from __future__ import annotations

import collections
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Deque, Dict, List, NamedTuple, Optional, Tuple

__all__ = [
    'DEFAULT_PORT', 'DEFAULT_PREFIXES', 'DEFAULT_RATE', 'HOST',
    'RECORD_SERVER_PVS', 'PortInUseError', 'SimPorts', 'Simulator',
    'SimulatorError', 'client_env', 'find_free_port', 'port_problem',
    'server_env',
]

log = logging.getLogger('epics.sim')

# One block for the defaults and names the CLI, the launcher and the IOC share.
HOST = '127.0.0.1'
DEFAULT_PORT = 5064
DEFAULT_PREFIXES = 36
DEFAULT_RATE = 1.0
#: Startup deadline for both servers; importing softioc on a loaded 2-core
#: machine takes a few seconds, so this is generous.
DEFAULT_STARTUP_TIMEOUT = 60.0
#: How long `Simulator.stop` waits for a child after SIGTERM, and after SIGKILL.
STOP_TIMEOUT = 5.0
KILL_TIMEOUT = 5.0
#: The readiness line both servers print on stdout once they serve.
READY_LINE = 'READY'
#: Exit status of the CLI and of the IOC process when a port is taken.
EXIT_PORT_IN_USE = 2
#: Arrays up to this many bytes (the PyEpics default) pass through libca; the
#: 65536-byte ``image`` needs more than libca's own 16384.
CLIENT_MAX_ARRAY_BYTES = 16777216

#: The PVs of the record server: option of
#: ``python -m epics.sim.records.server`` -> comma-separated record prefixes.
RECORD_SERVER_PVS: Dict[str, str] = {
    'motors': 'sim:m1,sim:m2,sim:m3,sim:m4',
    'scalers': 'sim:scaler1',
    'mcas': 'sim:mca1',
    'transforms': 'sim:transform1',
    'struck': 'sim:SIS1:',
}
RECORD_SERVER_MODULE = 'epics.sim.records.server'
TRAINING_MODULE = 'epics.sim.training'

# How many times to draw a random port before giving up, and how many output
# lines of a child to keep for an error message.
_FREE_PORT_TRIES = 50
_TAIL_LINES = 40


class SimulatorError(RuntimeError):
    """A simulator child failed to start, or died."""


class PortInUseError(SimulatorError, OSError):
    """A port the simulator needs on 127.0.0.1 is taken.

    Attributes
    ----------
    port : int
        The port.
    problem : str
        What is taken (``'TCP port 5064 on 127.0.0.1 is in use'``).
    """

    def __init__(self, port: int, problem: str, hint: str = '') -> None:
        self.port = port
        self.problem = problem
        message = problem if not hint else f'{problem}; {hint}'
        super().__init__(message)


class SimPorts(NamedTuple):
    """The ports of a running simulator (``records`` is None without it)."""

    training: int
    records: Optional[int]


# --- ports -----------------------------------------------------------------

def port_problem(port: int, host: str = HOST) -> Optional[str]:
    """Say whether a CA server could bind `port` on `host`, TCP and UDP.

    The TCP probe sets SO_REUSEADDR as CA servers do, so connections left in
    TIME_WAIT by a previous run do not count as taken, while a listening
    socket does.  The UDP probe sets no reuse option, so a CA server sharing
    its UDP port (rsrv allows that) is seen.

    Parameters
    ----------
    port : int
        The port to probe.
    host : str
        The address to probe (loopback).

    Returns
    -------
    str or None
        None when both are free, else what is in use, naming the port.
    """
    for kind, sock_type in (('TCP', socket.SOCK_STREAM),
                            ('UDP', socket.SOCK_DGRAM)):
        sock = socket.socket(socket.AF_INET, sock_type)
        try:
            if sock_type == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError as exc:
            return f'{kind} port {port} on {host} is in use ({exc.strerror})'
        finally:
            sock.close()
    return None


def find_free_port(exclude: Tuple[int, ...] = (), host: str = HOST) -> int:
    """Return a port free for both TCP and UDP on `host`, not in `exclude`.

    Raises
    ------
    SimulatorError
        When no such port turned up in a bounded number of tries.
    """
    for _ in range(_FREE_PORT_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in exclude and port_problem(port, host) is None:
            return port
    raise SimulatorError(f'no free TCP+UDP port found on {host} '
                         f'in {_FREE_PORT_TRIES} tries')


def server_env(port: int, beacon_port: int) -> Dict[str, str]:
    """The environment of a CA server serving on loopback only.

    Parameters
    ----------
    port : int
        TCP and UDP port the server listens on.
    beacon_port : int
        Where beacons go (the clients' CA repeater port); also the repeater
        port of the server's own CA client side, so nothing is sent to the
        other server's port.
    """
    return {
        'EPICS_CAS_INTF_ADDR_LIST': HOST,
        'EPICS_CAS_SERVER_PORT': str(port),
        'EPICS_CAS_AUTO_BEACON_ADDR_LIST': 'NO',
        'EPICS_CAS_BEACON_ADDR_LIST': HOST,
        'EPICS_CAS_BEACON_PORT': str(beacon_port),
        'EPICS_CA_REPEATER_PORT': str(beacon_port),
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': HOST,
    }


def client_env(ports: List[int], repeater_port: int) -> Dict[str, str]:
    """The environment a CA client needs to find servers on `ports`.

    `repeater_port` must not be one of the server ports: the record server's
    default port 5065 is also CA's default repeater port, and a client that
    registered with a CA server instead of a repeater complains after a while.
    """
    return {
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': ' '.join(f'{HOST}:{p}' for p in ports),
        'EPICS_CA_REPEATER_PORT': str(repeater_port),
        'EPICS_CA_MAX_ARRAY_BYTES': str(CLIENT_MAX_ARRAY_BYTES),
    }


def _package_root() -> str:
    """The directory holding this `epics` package, for the children's path."""
    return str(Path(__file__).resolve().parents[2])


def records_available() -> bool:
    """Whether the record server module is present in this package."""
    return (Path(__file__).resolve().parent / 'records' / 'server.py').is_file()


# --- children ----------------------------------------------------------------

class _Child:
    """One child process, its stdout drain thread and its readiness events."""

    def __init__(self, name: str, port: int, argv: List[str],
                 env: Dict[str, str], keep_stdin: bool,
                 any_exited: threading.Event) -> None:
        self.name = name
        self.port = port
        self.any_exited = any_exited
        self.lines: Deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self.ready = threading.Event()
        self.changed = threading.Event()    # READY seen, or stdout closed
        self.exited = threading.Event()     # stdout closed: the child is gone
        log.debug('starting %s: %s', name, ' '.join(argv))
        self.proc = subprocess.Popen(
            argv, env=env,
            stdin=subprocess.PIPE if keep_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=None,
            start_new_session=(os.name == 'posix'))
        self.thread = threading.Thread(target=self._drain,
                                       name=f'epics-sim-{name}-stdout',
                                       daemon=True)
        self.thread.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _drain(self) -> None:
        """Read stdout to EOF (the loop ends when the child closes it)."""
        stream = self.proc.stdout
        try:
            for raw in iter(stream.readline, b''):
                line = raw.decode('utf-8', 'replace').rstrip()
                self.lines.append(line)
                log.debug('%s: %s', self.name, line)
                if line.startswith(READY_LINE) and not self.ready.is_set():
                    self.ready.set()
                    self.changed.set()
        except (OSError, ValueError):
            pass        # the pipe was closed under us by stop()
        finally:
            self.exited.set()
            self.changed.set()
            self.any_exited.set()

    def wait_ready(self, deadline: float) -> None:
        """Wait until the child printed READY, it exited, or `deadline`."""
        self.changed.wait(max(0.0, deadline - time.monotonic()))
        if self.ready.is_set():
            return
        tail = '\n'.join(f'    {line}' for line in list(self.lines)[-10:])
        tail = f'; its last output:\n{tail}' if tail else ''
        if not self.exited.is_set():
            raise SimulatorError(
                f'{self.name} did not report READY in time{tail}')
        try:
            code = self.proc.wait(timeout=KILL_TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        if code == EXIT_PORT_IN_USE:
            raise PortInUseError(
                self.port, f'port {self.port} on {HOST} was taken while '
                f'the {self.name} started', 'choose another port')
        raise SimulatorError(f'{self.name} exited with code {code} before '
                             f'it was ready (see stderr){tail}')

    def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL), bounded in time."""
        proc = self.proc
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning('%s (pid %d) ignored SIGTERM for %.0f s; killing',
                            self.name, proc.pid, STOP_TIMEOUT)
                proc.kill()
                try:
                    proc.wait(timeout=KILL_TIMEOUT)
                except subprocess.TimeoutExpired:
                    log.error('%s (pid %d) survived SIGKILL', self.name,
                              proc.pid)
        self.thread.join(timeout=KILL_TIMEOUT)
        if proc.stdout is not None and not self.thread.is_alive():
            proc.stdout.close()


def _stop_children(children: List[_Child]) -> None:
    """Stop `children` in reverse start order, then forget them."""
    while children:
        child = children.pop()
        try:
            child.stop()
        except Exception:   # noqa: BLE001 - stopping the others matters more
            log.exception('error stopping %s', child.name)


class Simulator:
    """The simulated beamline: training IOC plus record server, as children.

    Parameters
    ----------
    prefixes : int
        Number of training prefixes, ``id01`` ... ``idNN`` (1 to 99).
    port : int or None
        CA port (TCP and UDP, 127.0.0.1) of the training IOC; None picks a
        free one at `start`.
    records_port : int or None
        CA port of the record server; None picks a free one.
    rate : float
        Mean updates per second of each changing PV (shutters toggle every 3
        to 9 update periods).
    records : bool
        Also start the record server (motors, scaler, mca, transform, struck).
    repeater_port : int or None
        The port clients use for their CA repeater and servers send beacons to;
        None picks a free one.
    startup_timeout : float
        Seconds `start` waits for both servers to say they are ready.
    python : str
        Interpreter for the children (default: this one).

    Examples
    --------
    >>> with Simulator(prefixes=3, rate=5.0) as sim:   # doctest: +SKIP
    ...     os.environ.update(sim.client_env())
    """

    def __init__(self, prefixes: int = DEFAULT_PREFIXES,
                 port: Optional[int] = None,
                 records_port: Optional[int] = None,
                 rate: float = DEFAULT_RATE, records: bool = True, *,
                 repeater_port: Optional[int] = None,
                 startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
                 python: Optional[str] = None) -> None:
        if not 1 <= int(prefixes) <= 99:
            raise ValueError(f'prefixes must be 1..99, not {prefixes!r}')
        if not 0.0 < float(rate) <= 1000.0:
            raise ValueError(f'rate must be in (0, 1000], not {rate!r}')
        self.prefixes = int(prefixes)
        self.rate = float(rate)
        self.records = bool(records)
        self.startup_timeout = float(startup_timeout)
        self.python = python or sys.executable
        self._want = (port, records_port, repeater_port)
        self._ports: Optional[SimPorts] = None
        self._repeater_port: Optional[int] = None
        self._children: List[_Child] = []
        self._any_exited = threading.Event()
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _stop_children,
                                           self._children)

    # --- properties ------------------------------------------------------

    @property
    def ports(self) -> SimPorts:
        """``SimPorts(training, records)`` of the running simulator."""
        if self._ports is None:
            raise SimulatorError('the simulator has not been started')
        return self._ports

    @property
    def repeater_port(self) -> int:
        """The CA repeater port of clients (beacons go there)."""
        if self._repeater_port is None:
            raise SimulatorError('the simulator has not been started')
        return self._repeater_port

    @property
    def running(self) -> bool:
        """True while all children started are alive."""
        with self._lock:
            children = list(self._children)
        return bool(children) and all(c.proc.poll() is None for c in children)

    @property
    def pids(self) -> Dict[str, int]:
        """Process ids of the children, by name (``training``, ``records``)."""
        with self._lock:
            return {c.name: c.pid for c in self._children}

    def prefix_names(self) -> List[str]:
        """The training prefixes served: ``['id01', 'id02', ...]``."""
        return [f'id{i:02d}' for i in range(1, self.prefixes + 1)]

    def client_env(self) -> Dict[str, str]:
        """Environment a CA client needs to reach both servers.

        Returns
        -------
        dict
            ``EPICS_CA_AUTO_ADDR_LIST``, ``EPICS_CA_ADDR_LIST`` (one
            ``127.0.0.1:port`` per server), ``EPICS_CA_REPEATER_PORT`` and
            ``EPICS_CA_MAX_ARRAY_BYTES`` (the image is 65536 bytes).
        """
        ports = [p for p in self.ports if p is not None]
        return client_env(ports, self.repeater_port)

    # --- start / stop ----------------------------------------------------

    def _resolve_ports(self) -> None:
        """Check requested ports, draw free ones for the rest."""
        port, records_port, repeater_port = self._want
        used: List[int] = []
        wanted = [('port', port)]
        if self.records:
            wanted.append(('records_port', records_port))
        for option, value in wanted:
            if value is not None:
                if value in used:
                    raise ValueError(f'{option} {value} is used twice')
                problem = port_problem(value)
                if problem is not None:
                    raise PortInUseError(
                        value, problem,
                        f'stop the program using it or choose another '
                        f'{option} (None picks a free one)')
            else:
                value = find_free_port(exclude=tuple(used))
            used.append(value)
        if repeater_port is None:
            repeater_port = find_free_port(exclude=tuple(used))
        elif repeater_port in used:
            raise ValueError(f'repeater_port {repeater_port} is a server port')
        self._ports = SimPorts(used[0], used[1] if self.records else None)
        self._repeater_port = repeater_port

    def _child_env(self, port: int) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(server_env(port, self.repeater_port))
        root = _package_root()
        path = env.get('PYTHONPATH')
        env['PYTHONPATH'] = root if not path else os.pathsep.join([root, path])
        env['PYTHONUNBUFFERED'] = '1'
        return env

    def start(self) -> 'Simulator':
        """Start the servers and wait until both serve.

        Returns
        -------
        Simulator
            self, for chaining.

        Raises
        ------
        PortInUseError
            A requested port is taken (nothing is started).
        SimulatorError
            A child failed or was not ready within `startup_timeout`; all
            children are stopped before this is raised.
        """
        with self._lock:
            if self._children:
                raise SimulatorError('the simulator is already running')
            self._resolve_ports()
            if self.records and not records_available():
                raise SimulatorError(
                    f'{RECORD_SERVER_MODULE} is not available; start with '
                    f'records=False (--no-records)')
            deadline = time.monotonic() + self.startup_timeout
            self._any_exited.clear()
            try:
                self._launch()
                for child in list(self._children):
                    child.wait_ready(deadline)
            except BaseException:
                _stop_children(self._children)
                raise
        log.info('simulator ready: training IOC on %s:%d, record server on '
                 '%s', HOST, self.ports.training,
                 'none' if self.ports.records is None
                 else f'{HOST}:{self.ports.records}')
        return self

    def _launch(self) -> None:
        ports = self.ports
        argv = [self.python, '-m', TRAINING_MODULE,
                '--port', str(ports.training),
                '--beacon-port', str(self.repeater_port),
                '--prefixes', str(self.prefixes),
                '--rate', repr(self.rate),
                '--exit-on-stdin-eof']
        self._children.append(_Child('training IOC', ports.training, argv,
                                     self._child_env(ports.training),
                                     True, self._any_exited))
        if ports.records is not None:
            argv = [self.python, '-m', RECORD_SERVER_MODULE,
                    '--port', str(ports.records)]
            for option, names in RECORD_SERVER_PVS.items():
                argv += [f'--{option}', names]
            self._children.append(_Child('record server', ports.records,
                                         argv,
                                         self._child_env(ports.records),
                                         False, self._any_exited))

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a child to exit.

        Returns
        -------
        bool
            True if a child has exited (the simulator is broken or stopped).
        """
        with self._lock:
            if not self._children:
                return True
        return self._any_exited.wait(timeout)

    def stop(self) -> None:
        """Stop both servers (idempotent; bounded in time)."""
        with self._lock:
            _stop_children(self._children)

    def __enter__(self) -> 'Simulator':
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = 'running' if self.running else 'stopped'
        return (f'<Simulator prefixes={self.prefixes} rate={self.rate} '
                f'ports={self._ports} {state}>')
