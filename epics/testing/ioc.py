"""Start real Channel Access servers in subprocesses, on free loopback ports, for tests.

Two CA users in one process interfere (libca and an IOC share libCom's globals and threads), so
every server runs in its own process and the test process only talks to it over the network:

* :class:`SoftIoc` serves an EPICS database with a genuine EPICS base IOC (pythonSoftIOC), run by
  :mod:`epics.testing._softioc_main`;
* :class:`SubprocessIoc` runs any server command (a caproto IOC from :mod:`epics.sim`, say) with
  the same lifecycle: start and wait until it serves, stop, kill, pause, resume, restart on the
  same port.

Ports: every server gets its own TCP+UDP port on 127.0.0.1 and is told, through its environment,
to serve and send beacons there only. libca reads its environment once, when the first context is
made, so a test session that uses several servers lists all their ports up front: reserve them with
a :class:`PortPool`, put :meth:`PortPool.client_env` into ``os.environ`` before any CA context
exists, then hand a port to each server as it starts (the pytest plugin,
:mod:`epics.testing.plugin`, does exactly this).

Ports are drawn at random below the kernel's ephemeral range, so outgoing connections never take
them and concurrent test runs on one machine rarely collide; each is checked free for both TCP and
UDP before it is handed out.

Threads: each running server has one daemon thread that reads its merged stdout/stderr (so the pipe
never fills), keeps the last lines for error messages and notices the READY line.
"""
from __future__ import annotations

import atexit
import collections
import logging
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from epics._libca import DEFAULT_MAX_ARRAY_BYTES, MAX_ARRAY_BYTES_ENV

__all__ = ["IocError", "SubprocessIoc", "SoftIoc", "CaRepeater", "PortPool", "free_port", "udp_port_bound",
           "client_environment", "server_environment", "restore_environment", "unique_prefix",
           "GUARDED_ACF", "LOOPBACK", "READY_LINE"]

logger = logging.getLogger("epics.testing")

# ---- defaults, in one place ----------------------------------------------------------------------
#: The only address servers listen on and clients search.
LOOPBACK = "127.0.0.1"
#: The line a server prints on stdout once it serves (``ready="line"``).
READY_LINE = "READY"
#: Seconds a server may take to become ready. Generous: CI machines are small and shared.
DEFAULT_START_TIMEOUT = 60.0
#: Seconds a server may take to exit after SIGTERM before it is killed.
DEFAULT_STOP_TIMEOUT = 5.0
#: Lines of server output kept for error messages.
OUTPUT_LINES_KEPT = 400
#: Ports are drawn from [PORT_RANGE_LOW, start of the ephemeral range).
PORT_RANGE_LOW = 20000
#: Attempts at finding a free port before giving up.
PORT_ATTEMPTS = 500
#: Interval of the (bounded) readiness checks that have no event to wait on ("tcp", "udp").
READY_POLL_INTERVAL = 0.05

#: An access security file for :class:`SoftIoc` whose rules are changed at run time by writing two
#: records of the IOC itself. Records with ``field(ASG, "GUARDED")`` are readable while
#: ``$(P)asg:read`` is 1 and writable (and so readable) while ``$(P)asg:write`` is 1; every other
#: record (``ASG`` empty or ``DEFAULT``) is readable and writable. ``tests/ioc.db`` has both control
#: records and a guarded record, ``$(P)guarded``. The IOC reads the control records through its
#: own CA client, so a change takes effect a moment after the put, and access is denied until those
#: links connect (shortly after READY): tests wait for the access rights event, they do not assume.
GUARDED_ACF = """\
ASG(DEFAULT) {
    RULE(1, READ)
    RULE(1, WRITE)
}
ASG(GUARDED) {
    INPA("$(P)asg:write")
    INPB("$(P)asg:read")
    RULE(1, READ) {
        CALC("B=1")
    }
    RULE(1, WRITE) {
        CALC("A=1")
    }
}
"""

# The environment variable names, in one place.
_CA_ADDR_LIST = "EPICS_CA_ADDR_LIST"
_CA_AUTO_ADDR_LIST = "EPICS_CA_AUTO_ADDR_LIST"
_CA_SERVER_PORT = "EPICS_CA_SERVER_PORT"
_CA_REPEATER_PORT = "EPICS_CA_REPEATER_PORT"
_CAS_SERVER_PORT = "EPICS_CAS_SERVER_PORT"
_CAS_INTF_ADDR_LIST = "EPICS_CAS_INTF_ADDR_LIST"
_CAS_AUTO_BEACON_ADDR_LIST = "EPICS_CAS_AUTO_BEACON_ADDR_LIST"
_CAS_BEACON_ADDR_LIST = "EPICS_CAS_BEACON_ADDR_LIST"
_CAS_BEACON_PORT = "EPICS_CAS_BEACON_PORT"


class IocError(RuntimeError):
    """A test server failed to start (or to restart); the message carries its output."""


# ---- ports and environments ----------------------------------------------------------------------
_handed_out_lock = threading.Lock()
_handed_out: set = set()  # ports this process gave out, never given twice


def _ephemeral_low() -> int:
    """Return the first port of the kernel's ephemeral range (32768 when unknown)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_is_free(port: int) -> bool:
    """True if ``port`` can be bound on the loopback address for both TCP and UDP right now.

    No SO_REUSEADDR, on purpose: a port with connections in TIME_WAIT or a UDP socket bound with
    address reuse (as an IOC binds it) then counts as taken.
    """
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


def udp_port_bound(port: int, host: str = LOOPBACK) -> bool:
    """True if some socket holds UDP ``port`` (a bind to it fails), e.g. a CA repeater."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """Return a loopback port free for both TCP and UDP, not handed out before by this process.

    Raises
    ------
    IocError
        when no free port was found in :data:`PORT_ATTEMPTS` tries.
    """
    high = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(PORT_ATTEMPTS):
        if high - PORT_RANGE_LOW >= 1000:
            port = rng.randrange(PORT_RANGE_LOW, high)
        else:  # an unusual ephemeral range: let the kernel choose
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((LOOPBACK, 0))
                port = sock.getsockname()[1]
        with _handed_out_lock:
            if port in _handed_out or not _port_is_free(port):
                continue
            _handed_out.add(port)
            return port
    raise IocError(f"no free loopback port found in {PORT_ATTEMPTS} attempts")


def client_environment(ports: Sequence[int], repeater_port: int,
                       max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES) -> Dict[str, str]:
    """Return the ``EPICS_CA_*`` variables a client needs to find servers on ``ports``.

    Every port is listed in ``EPICS_CA_ADDR_LIST`` as ``127.0.0.1:PORT``, because libca reads the
    environment once: all servers a session will use must be listed before its first context.

    Parameters
    ----------
    ports
        the servers' ports (at least one).
    repeater_port
        the CA repeater port the client and the servers share (beacons arrive there).
    max_array_bytes
        ``EPICS_CA_MAX_ARRAY_BYTES``, large enough for the 8 MB test waveform by default.
    """
    if not ports:
        raise ValueError("client_environment needs at least one server port")
    return {
        _CA_AUTO_ADDR_LIST: "NO",
        _CA_ADDR_LIST: " ".join(f"{LOOPBACK}:{port}" for port in ports),
        _CA_SERVER_PORT: str(ports[0]),
        _CA_REPEATER_PORT: str(repeater_port),
        MAX_ARRAY_BYTES_ENV: str(max_array_bytes),
    }


def server_environment(port: int, repeater_port: int,
                       max_array_bytes: int = DEFAULT_MAX_ARRAY_BYTES) -> Dict[str, str]:
    """Return the environment that makes a CA server serve and beacon on loopback ``port`` only.

    The ``EPICS_CA_*`` client part lets the server's own CA client (database links, access
    security ``INP`` links) find the server itself.
    """
    return {
        _CAS_INTF_ADDR_LIST: LOOPBACK,
        _CAS_SERVER_PORT: str(port),
        _CA_SERVER_PORT: str(port),
        _CAS_AUTO_BEACON_ADDR_LIST: "NO",
        _CAS_BEACON_ADDR_LIST: LOOPBACK,
        _CAS_BEACON_PORT: str(repeater_port),
        _CA_AUTO_ADDR_LIST: "NO",
        _CA_ADDR_LIST: LOOPBACK,
        _CA_REPEATER_PORT: str(repeater_port),
        MAX_ARRAY_BYTES_ENV: str(max_array_bytes),
    }


def unique_prefix(stem: str = "tst") -> str:
    """Return a random PV prefix such as ``'tst1a2b3c:'``, so concurrent runs never collide."""
    return f"{stem}{secrets.token_hex(3)}:"


class PortPool:
    """Ports reserved at the start of a test session, handed to servers later.

    Reserve enough for every server the session will run at once, apply :meth:`client_env` to
    ``os.environ`` before the first CA context, then :meth:`take` a port per server and
    :meth:`release` it when the server is gone for good.

    Parameters
    ----------
    size
        number of server ports.
    repeater_port
        the session's CA repeater port; a free one by default.
    """

    def __init__(self, size: int = 16, repeater_port: Optional[int] = None) -> None:
        if size < 1:
            raise ValueError("a PortPool needs at least one port")
        self.ports = tuple(free_port() for _ in range(size))
        self.repeater_port = repeater_port if repeater_port is not None else free_port()
        self._free: Deque[int] = collections.deque(self.ports)
        self._lock = threading.Lock()

    def take(self) -> int:
        """Return an unused port of the pool.

        Raises
        ------
        IocError
            when every port is in use (reserve a larger pool).
        """
        with self._lock:
            if not self._free:
                raise IocError(f"all {len(self.ports)} ports of the pool are in use; reserve a "
                               f"larger pool (pytest: ini option epics_testing_ports)")
            return self._free.popleft()

    def release(self, port: int) -> None:
        """Give ``port`` back for a later server (idempotent)."""
        with self._lock:
            if port in self.ports and port not in self._free:
                self._free.append(port)

    def client_env(self) -> Dict[str, str]:
        """The client environment listing every port of the pool."""
        return client_environment(self.ports, self.repeater_port)

    def apply(self, environ: Optional[Dict[str, str]] = None) -> Dict[str, Optional[str]]:
        """Write :meth:`client_env` into ``environ`` (``os.environ`` by default).

        Returns the previous values (None where unset), for :func:`restore_environment`.
        """
        target = os.environ if environ is None else environ
        env = self.client_env()
        previous = {key: target.get(key) for key in env}
        target.update(env)
        return previous


def restore_environment(previous: Mapping[str, Optional[str]],
                        environ: Optional[Dict[str, str]] = None) -> None:
    """Undo :meth:`PortPool.apply` with the mapping it returned."""
    target = os.environ if environ is None else environ
    for key, value in previous.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


# ---- server processes ----------------------------------------------------------------------------
_live_lock = threading.Lock()
_live: set = set()  # running servers; held strongly, since a running server must be stopped
_atexit_registered = False


def _stop_all_at_exit() -> None:
    """Stop every server still running when the interpreter exits."""
    with _live_lock:
        servers = list(_live)
    for server in servers:
        try:
            server.stop()
        except Exception:  # keep stopping the others
            logger.exception("stopping %r at exit failed", server)


def _register_live(server: "SubprocessIoc") -> None:
    global _atexit_registered
    with _live_lock:
        _live.add(server)
        if not _atexit_registered:
            atexit.register(_stop_all_at_exit)
            _atexit_registered = True


def _package_root() -> str:
    """The folder holding the ``epics`` package, so ``python -m epics...`` works in a child."""
    return str(Path(__file__).resolve().parent.parent.parent)


class SubprocessIoc:
    """A CA server command run in a subprocess, with a test-friendly lifecycle.

    Parameters
    ----------
    argv
        the command; ``{port}`` and ``{repeater_port}`` in an argument are replaced by the ports.
    port
        the server's TCP/UDP port; a free one (see :func:`free_port`) by default. It stays the
        same across :meth:`restart`.
    repeater_port
        the CA repeater port the server sends beacons to: ``EPICS_CA_REPEATER_PORT`` of this
        process if set (the pytest plugin sets it), else a free port.
    ready
        how to know the server serves: ``"line"`` waits for a line ``READY`` on its stdout or
        stderr, ``"tcp"`` until its TCP port accepts a connection, ``"udp"`` until its UDP port is
        bound (for a CA repeater).
    env
        extra environment variables, applied over the server environment.
    start_timeout, stop_timeout
        seconds allowed to become ready, and to exit after SIGTERM before SIGKILL.
    name
        a label for logs and errors.
    guard
        run the command under :mod:`epics.testing._guard`, which ends it when this process dies
        (for commands that, unlike our soft IOC, do not watch their stdin). :attr:`pid` is then
        the guard's.

    The server runs in its own session (process group) with stdin a pipe: closing the pipe (also
    when the test process dies) asks it to stop, and signals go to its whole group. Usable as a
    context manager; :meth:`stop` is idempotent and also runs at interpreter exit.
    """

    def __init__(self, argv: Sequence[str], port: Optional[int] = None, *,
                 repeater_port: Optional[int] = None, ready: str = "line",
                 env: Optional[Mapping[str, str]] = None,
                 start_timeout: float = DEFAULT_START_TIMEOUT,
                 stop_timeout: float = DEFAULT_STOP_TIMEOUT, name: Optional[str] = None,
                 cwd: Optional[Union[str, Path]] = None, guard: bool = True) -> None:
        if ready not in ("line", "tcp", "udp"):
            raise ValueError(f"ready must be 'line', 'tcp' or 'udp', not {ready!r}")
        if not argv:
            raise ValueError("argv must name a command")
        self.argv = list(argv)
        self.port = port if port is not None else free_port()
        if repeater_port is None:
            from_env = os.environ.get(_CA_REPEATER_PORT, "")
            repeater_port = int(from_env) if from_env.isdigit() else free_port()
        self.repeater_port = repeater_port
        self.ready = ready
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.name = name or os.path.basename(self.argv[0])
        self.cwd = str(cwd) if cwd is not None else None
        self.guard = guard
        self._proc: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None
        self._output: Deque[str] = collections.deque(maxlen=OUTPUT_LINES_KEPT)
        self._ready_seen = threading.Event()
        self._eof = threading.Event()
        self._paused = False
        self._last_returncode: Optional[int] = None
        self._lock = threading.RLock()

    # -- information ------------------------------------------------------------------------------
    @property
    def pid(self) -> Optional[int]:
        """The server's process id while it runs (None before start and after stop)."""
        proc = self._proc
        return proc.pid if proc is not None else None

    @property
    def running(self) -> bool:
        """True while the server process exists (paused counts as running)."""
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        """The exit status of the last process, once it ended."""
        proc = self._proc
        return proc.poll() if proc is not None else self._last_returncode

    @property
    def output(self) -> str:
        """The last lines the server printed (stdout and stderr merged)."""
        return "\n".join(self._output)

    def server_env(self) -> Dict[str, str]:
        """The environment the server runs with (only the EPICS part and extras)."""
        env = server_environment(self.port, self.repeater_port)
        env.update(self.extra_env)
        return env

    def client_env(self) -> Dict[str, str]:
        """The ``EPICS_CA_*`` variables a client process needs to reach this server."""
        return client_environment([self.port], self.repeater_port)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.name} port={self.port} pid={self.pid} {state}>"

    # -- lifecycle --------------------------------------------------------------------------------
    def _command(self) -> List[str]:
        command = [arg.format(port=self.port, repeater_port=self.repeater_port)
                   if ("{port}" in arg or "{repeater_port}" in arg) else arg for arg in self.argv]
        if self.guard:
            command = [sys.executable, "-m", "epics.testing._guard", "--"] + command
        return command

    def _environment(self) -> Dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("EPICS_CA_", "EPICS_CAS_"))}  # no client env leaks in
        env.update(self.server_env())
        env["PYTHONUNBUFFERED"] = "1"
        root = _package_root()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        return env

    def start(self) -> "SubprocessIoc":
        """Start the server and wait until it serves; return self.

        Raises
        ------
        IocError
            when the process exits or is not ready within ``start_timeout`` seconds; the
            message has its exit status and last output. The process is gone by then.
        """
        with self._lock:
            if self.running:
                return self
            self._cleanup()
            # Fresh state per run: a reader thread of an earlier run must not touch this one.
            self._output = collections.deque(maxlen=OUTPUT_LINES_KEPT)
            self._ready_seen = threading.Event()
            self._eof = threading.Event()
            self._paused = False
            command = self._command()
            logger.debug("starting %s on port %d: %s", self.name, self.port, command)
            self._proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, env=self._environment(), cwd=self.cwd,
                start_new_session=True, close_fds=True)
            _register_live(self)
            self._reader = threading.Thread(
                target=_read_output, args=(self._proc, self._output, self._ready_seen, self._eof),
                name=f"ioc-output-{self.name}-{self.port}", daemon=True)
            self._reader.start()
            deadline = time.monotonic() + self.start_timeout
            try:
                self._wait_ready(deadline)
            except IocError:
                self._terminate(kill=True)
                raise
            logger.debug("%s ready on port %d (pid %d)", self.name, self.port, self._proc.pid)
            return self

    def _wait_ready(self, deadline: float) -> None:
        proc = self._proc
        assert proc is not None
        if self.ready == "line":
            self._ready_seen.wait(max(0.0, deadline - time.monotonic()))
            if self._ready_seen.is_set() and not self._eof.is_set():
                return
            if any(line.strip() == READY_LINE for line in self._output) and proc.poll() is None:
                return
        else:
            check = self._tcp_accepts if self.ready == "tcp" else (
                lambda: udp_port_bound(self.port))
            attempts = int(self.start_timeout / READY_POLL_INTERVAL) + 1
            for _ in range(attempts):
                if self._eof.is_set() and proc.poll() is not None:
                    break
                if check():
                    return
                if time.monotonic() >= deadline:
                    break
                self._eof.wait(READY_POLL_INTERVAL)  # returns early if the process dies
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        status = proc.poll()
        if status is not None:
            self._reader_join()  # let the reader take the last lines of a process that died
        why = (f"exited with status {status}" if status is not None
               else f"was not ready within {self.start_timeout:g} s")
        raise IocError(f"{self.name} (port {self.port}) {why}; command: {self._command()}\n"
                       f"--- its output ---\n{self.output}\n--- end ---")

    def _tcp_accepts(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def _signal(self, signum: int) -> None:
        """Send ``signum`` to the server's process group (only while its leader is not reaped)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:  # the group is gone and its id was reused: signal our child only
            proc.send_signal(signum)

    def _terminate(self, kill: bool) -> None:
        """End the process: SIGTERM and EOF on stdin, SIGKILL after ``stop_timeout`` (or at once)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            if self._paused:
                self._signal(signal.SIGCONT)  # a stopped process would not act on SIGTERM
                self._paused = False
            if kill:
                self._signal(signal.SIGKILL)
            else:
                try:
                    if proc.stdin is not None:
                        proc.stdin.close()
                except OSError:
                    pass
                self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s (pid %d) ignored SIGTERM for %g s: killing it", self.name,
                               proc.pid, self.stop_timeout)
                self._signal(signal.SIGKILL)
                try:
                    proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    logger.error("%s (pid %d) survived SIGKILL", self.name, proc.pid)
        self._cleanup()

    def _reader_join(self) -> None:
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=2.0)

    def _cleanup(self) -> None:
        """Forget a finished process: close its pipes, join the reader."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            return  # still running: nothing to clean up yet
        self._last_returncode = proc.returncode
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        # stdout belongs to the reader thread, which closes it at end of file (closing it here
        # could block on the reader's lock if a grandchild still held the pipe open).
        self._reader_join()
        self._reader = None
        self._proc = None
        with _live_lock:
            _live.discard(self)

    def stop(self) -> None:
        """Stop the server: ask it to exit, kill it after ``stop_timeout`` s. Idempotent."""
        with self._lock:
            self._terminate(kill=False)

    def kill(self) -> None:
        """Kill the server at once with SIGKILL (no clean shutdown), and reap it."""
        with self._lock:
            self._terminate(kill=True)

    close = stop

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): its sockets stay open but nothing answers.

        Returns once every thread of the server is stopped (where /proc tells), so a request
        sent right after cannot be answered any more."""
        with self._lock:
            if self.running:
                self._signal(signal.SIGSTOP)
                self._paused = True
                self._wait_until_stopped(DEFAULT_STOP_TIMEOUT)

    def _wait_until_stopped(self, timeout: float) -> None:
        tasks = f"/proc/{self.pid}/task"
        if not os.path.isdir(tasks):
            return   # no /proc here: the signal is delivered promptly anyway
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = []
                for task in os.listdir(tasks):
                    with open(f"{tasks}/{task}/stat") as stat:
                        states.append(stat.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                return   # the process or a thread went away
            if all(state in ("T", "t") for state in states):
                return
            time.sleep(0.005)

    def resume(self) -> None:
        """Undo :meth:`pause` (SIGCONT)."""
        with self._lock:
            if self.running:
                self._signal(signal.SIGCONT)
            self._paused = False

    def restart(self) -> "SubprocessIoc":
        """Stop the server and start it again on the same port, waiting until it serves."""
        with self._lock:
            self.stop()
            return self.start()

    def __enter__(self) -> "SubprocessIoc":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _read_output(proc: subprocess.Popen, output: Deque[str], ready_seen: threading.Event,
                 eof: threading.Event) -> None:
    """Reader thread of one run: keep the last lines, notice READY, note end of file."""
    try:
        for raw in proc.stdout:  # ends at EOF, when the process (group) closed the pipe
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            output.append(line)
            if line.strip() == READY_LINE:
                ready_seen.set()
    except (OSError, ValueError):
        pass
    finally:
        try:
            proc.stdout.close()
        except OSError:
            pass
        eof.set()
        ready_seen.set()  # wake a waiter: it checks which of the two happened


def _as_file(content: Union[str, Path], folder: str, filename: str, markers: Iterable[str]) -> str:
    """Return a path for ``content``: itself if it is a file, else a file written with the text.

    A :class:`~pathlib.Path` or a string naming an existing file is taken as a path; a string with
    one of ``markers`` or a newline is taken as the text itself.
    """
    if isinstance(content, Path) or os.path.isfile(str(content)):
        path = Path(content)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        return str(path.resolve())
    text = str(content)
    if "\n" not in text and not any(marker in text for marker in markers):
        raise FileNotFoundError(f"{text!r} is neither an existing file nor {filename} text")
    path = Path(folder) / filename
    path.write_text(text)
    return str(path)


def _macro_string(macros: Optional[Mapping[str, object]]) -> str:
    if not macros:
        return ""
    parts = []
    for key, value in macros.items():
        value = str(value)
        if any(c in value for c in ',="\'\\'):
            raise ValueError(f"macro {key}={value!r}: values may not contain , = quotes or \\")
        parts.append(f"{key}={value}")
    return ",".join(parts)


class SoftIoc(SubprocessIoc):
    """A genuine EPICS IOC (pythonSoftIOC) serving a database, in a subprocess.

    Parameters
    ----------
    db
        the database: a path, or the records themselves as a string (written to a temporary
        file), or a list of either.
    macros
        macro substitutions for the database (and the access security file), e.g.
        ``{"P": unique_prefix()}``.
    port
        see :class:`SubprocessIoc`.
    asg
        an access security file, as a path or its text (e.g. :data:`GUARDED_ACF`); None for
        none (everything readable and writable).
    **kwargs
        passed to :class:`SubprocessIoc` (``repeater_port``, ``start_timeout``, ...).

    Example
    -------
    >>> with SoftIoc('record(ao, "$(P)x") {}', macros={"P": unique_prefix()}) as ioc:
    ...     env = ioc.client_env()   # for a client in another process
    """

    def __init__(self, db: Union[str, Path, Sequence[Union[str, Path]]],
                 macros: Optional[Mapping[str, object]] = None, port: Optional[int] = None,
                 asg: Optional[Union[str, Path]] = None, **kwargs) -> None:
        self._tmpdir = tempfile.mkdtemp(prefix="epics-softioc-")
        weakref.finalize(self, _remove_tree, self._tmpdir)
        items = [db] if isinstance(db, (str, Path)) else list(db)
        self.db_files = [_as_file(item, self._tmpdir, f"db{i}.db", ("record(", "record ("))
                         for i, item in enumerate(items)]
        self.asg_file = (_as_file(asg, self._tmpdir, "access.acf", ("ASG(", "UAG(", "HAG("))
                         if asg is not None else None)
        self.macros = dict(macros or {})
        argv = [sys.executable, "-m", "epics.testing._softioc_main"]
        for path in self.db_files:
            argv += ["--db", path]
        macro_text = _macro_string(self.macros)
        if macro_text:
            argv += ["--macros", macro_text]
        if self.asg_file is not None:
            argv += ["--asg", self.asg_file]
        kwargs.setdefault("name", "softioc")
        kwargs.setdefault("guard", False)  # _softioc_main watches its stdin itself
        super().__init__(argv, port, ready="line", **kwargs)


def _remove_tree(folder: str) -> None:
    import shutil
    shutil.rmtree(folder, ignore_errors=True)


class CaRepeater(SubprocessIoc):
    """A CA repeater (``python -m epics.cli.carepeater``) on ``repeater_port``, in a subprocess.

    libca starts a repeater by itself when its first context finds none, and that one outlives
    every test and benchmark. Running one here first, on the same port as the clients and IOCs,
    keeps beacons flowing (clients notice restarted IOCs) and ends with its owner.

    >>> port = free_port()
    >>> with CaRepeater(port), SoftIoc('record(ao, "$(P)x") {}', macros={"P": unique_prefix()},
    ...                                repeater_port=port) as ioc:
    ...     pass   # a client with ioc.client_env() uses this repeater
    """

    def __init__(self, repeater_port: int, **kwargs) -> None:
        kwargs.setdefault("name", "caRepeater")
        kwargs.setdefault("start_timeout", 20.0)
        super().__init__([sys.executable, "-m", "epics.cli.carepeater"], port=repeater_port,
                         repeater_port=repeater_port, ready="udp", **kwargs)
