"""Faults a long-running client meets: IOC restarts, an IOC that stops answering, exit with work in
flight, and child processes.

* An IOC of ``tests/faults.db`` is killed and restarted on the same port ten times while PVs are
  monitored: connection callbacks see False then True, monitors resume by themselves with the
  restarted IOC's first value, and during each outage ``caget`` and ``caput`` return None after
  their timeout (PyEpics), and ``put(raise_on_error=True)`` raises :class:`CANotConnectedError`.
* An IOC frozen with SIGSTOP: reads time out as documented (None, or CATimeoutError), and the PV
  recovers on SIGCONT. libca declares a silent circuit unresponsive only after
  ``EPICS_CA_CONN_TMO`` seconds (30 by default), and reads that variable once per process, so the
  full version runs a client script in a subprocess with a short setting.
* Exit with live monitors, pending put callbacks and running threads: a client script's process
  must end within 2 s of its last statement (the figure is printed; the assert is a generous hang
  check).
* ``multiprocessing`` with fork and spawn: a child uses CA with a fresh context while the parent
  keeps its monitors, and sees what the child wrote.

Every test that kills, pauses or restarts an IOC starts its own (``softioc_factory``), never the
session one. Reconnection after a restart is slow by design of libca: channels of a circuit that
died are searched for again only at the next tick of libca's disconnect governor, a timer that
fires every 10 s (a constant of libca's ``disconnectGovernorTimer.cpp``). So each restart costs
about 10 s whatever we do; the loop keeps everything else short (the outage checks use 0.3 s
timeouts and overlap with the governor's wait).
"""
from __future__ import annotations

import collections
import json
import multiprocessing
import os
import queue as queue_module
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

import epics
from epics import CAPool, CAProcess, ca, caget, caput
from epics.ca import CANotConnectedError, CATimeoutError
from epics.testing import SoftIoc, unique_prefix
from test_ca_helpers import DEADLINE, REPO_ROOT, SUBPROCESS_DEADLINE, Recorder
from test_pv_helpers import make_pv  # noqa: F401  (fixture)
from test_pv_helpers import wait_until

FAULTS_DB = Path(__file__).with_name("faults.db")

#: IOC restarts in the restart test (the issue asks for 10).
RESTARTS = 10
#: Connection and read timeout used while the IOC is down (short: the loop runs ten times).
OUTAGE_TIMEOUT = 0.3
#: Hang check for a call that should return after OUTAGE_TIMEOUT.
HANG = 10.0
#: Seconds allowed for all channels to reconnect after a restart: libca's disconnect governor
#: (10 s period) plus the IOC's start, with room for a busy machine.
RECONNECT_DEADLINE = 60.0
#: Records monitored through the restarts, and the first value each sends after a restart.
MONITORED = ("ao", "counter", "stringout", "mbbo", "wf")
FIRST_VALUES = {"ao": 1.5, "stringout": "start", "mbbo": 1}
FIRST_WF = [1.0, 2.0, 3.0]
#: Seconds a put to $(P)slow takes to complete in the exit tests: longer than any test, so the
#: put callback is still pending when the client exits.
SLOW_FOREVER = 120
#: The issue's figure: a process with CA work in flight exits within this many seconds.
EXIT_TARGET = 2.0
#: Hang check for that exit (the figure is printed; no timing assert on a shared machine).
EXIT_BOUND = 15.0
#: The SIGSTOP client's EPICS_CA_CONN_TMO (libca then declares the circuit unresponsive after
#: about this plus its 5 s echo timeout).
CONN_TMO = 1.0

START_METHODS = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]


def _elapsed(start: float) -> float:
    return time.monotonic() - start


# ---- a client script in a subprocess, talked to line by line ------------------------------------

class ClientScript:
    """Run ``code`` in a fresh interpreter with this session's CA environment plus ``env``.

    The script reports JSON lines on stdout and reads lines from stdin; every read here has a
    deadline and the process is killed at :meth:`close`. Each stdout line is stamped with the
    (wall clock) time it arrived.
    """

    def __init__(self, code: str, args: List[str], env: Optional[Dict[str, str]] = None) -> None:
        environment = dict(os.environ)
        environment["PYTHONFAULTHANDLER"] = "1"     # a crash reports every thread's stack
        environment.update(env or {})
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT)] + ([environment["PYTHONPATH"]] if environment.get("PYTHONPATH")
                                else []))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)] + list(args), env=environment,
            cwd=str(REPO_ROOT), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.lines: "queue_module.Queue[Optional[str]]" = queue_module.Queue()
        self.stderr: "collections.deque[str]" = collections.deque(maxlen=300)
        self.exited_at: Optional[float] = None
        self._readers = [
            threading.Thread(target=self._read_stdout, name="client-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="client-stderr", daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:   # ends at EOF, when the client exits
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def report(self) -> str:
        return "--- client stderr ---\n" + "\n".join(self.stderr)

    def read(self, step: str, timeout: float = SUBPROCESS_DEADLINE) -> Dict[str, Any]:
        """The next JSON line, which must be ``{"step": step, ...}``."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue_module.Empty:
            pytest.fail(f"the client sent nothing within {timeout} s (waiting for {step!r})\n"
                        f"{self.report()}")
        if line is None:
            self.proc.wait(timeout=DEADLINE)
            pytest.fail(f"the client exited (status {self.proc.returncode}) before {step!r}\n"
                        f"{self.report()}")
        message = json.loads(line)
        assert message.get("step") == step, f"expected step {step!r}, got {message}"
        return message

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_exit(self, timeout: float) -> int:
        """Wait for the client to end; return its status and note when it ended."""
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the client did not exit within {timeout} s\n{self.report()}")
        self.exited_at = time.time()
        for reader in self._readers:
            reader.join(DEADLINE)
        return status

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass


@pytest.fixture
def client_script():
    """``client_script(code, args, env)`` starts a :class:`ClientScript`; all are killed at
    teardown if still running."""
    started: List[ClientScript] = []

    def start(code: str, args: List[str], env: Optional[Dict[str, str]] = None) -> ClientScript:
        client = ClientScript(code, args, env)
        started.append(client)
        return client

    try:
        yield start
    finally:
        for client in started:
            client.close()


@pytest.fixture
def faults_ioc(softioc_factory, pv_prefix):
    """This test's own IOC of faults.db (to kill, pause or restart); returns ``(ioc, prefix)``."""
    return softioc_factory(FAULTS_DB, macros={"P": pv_prefix}), pv_prefix


@pytest.fixture(scope="module")
def shared_faults_ioc(epics_port_pool):
    """An IOC of faults.db for the tests of this module that leave it running; its prefix.

    Puts to $(P)slow never complete while the tests run (SLOW_FOREVER)."""
    prefix = unique_prefix()
    port = epics_port_pool.take()
    try:
        with SoftIoc(FAULTS_DB, macros={"P": prefix, "SLOW": SLOW_FOREVER}, port=port,
                     repeater_port=epics_port_pool.repeater_port):
            yield prefix
    finally:
        epics_port_pool.release(port)


def pause(ioc: SoftIoc) -> None:
    """SIGSTOP the IOC and wait until every thread of it has stopped.

    The signal takes effect asynchronously: on a busy machine an IOC thread can still answer a
    request sent right after ``kill`` returned, so tests wait until /proc shows every thread
    stopped (state ``T``) before they rely on the silence.
    """
    pid = ioc.pid
    ioc.pause()
    tasks = Path(f"/proc/{pid}/task")
    pause_check = threading.Event()
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        states = []
        for stat in tasks.glob("*/stat"):
            try:
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
            except (OSError, IndexError):
                continue
        if states and all(state in ("T", "t") for state in states):
            return
        pause_check.wait(0.01)
    pytest.fail(f"the IOC (pid {pid}) did not stop within {DEADLINE} s of SIGSTOP")


def conn_states(rec: Recorder) -> List[bool]:
    return [kwargs["conn"] for kwargs in rec.kwargs]


# ---- kill and restart ----------------------------------------------------------------------------

def test_ioc_killed_and_restarted_ten_times_while_monitored(faults_ioc, make_pv):
    ioc, prefix = faults_ioc
    connections = {name: Recorder() for name in MONITORED}
    updates = {name: Recorder() for name in MONITORED}
    pvs = {name: make_pv(prefix + name, callback=updates[name],
                         connection_callback=connections[name],
                         connection_timeout=OUTAGE_TIMEOUT)
           for name in MONITORED}
    for name, thispv in pvs.items():
        assert thispv.wait_for_connection(timeout=DEADLINE), f"{name} did not connect"
        assert updates[name].wait_count(1), f"no first monitor update from {name}"
    # a subscription the user made once with epics.ca: it must survive the restarts untouched
    counter_chid = ca.create_channel(prefix + "counter")
    assert ca.connect_channel(counter_chid, timeout=DEADLINE)
    raw_updates = Recorder()
    subscription = ca.create_subscription(counter_chid, callback=raw_updates)
    assert raw_updates.wait_count(1)
    ao = prefix + "ao"
    assert caget(ao, use_monitor=False, timeout=DEADLINE) == 1.5   # caget's cached PV exists
    figures = []
    try:
        for cycle in range(RESTARTS):
            # values the restarted IOC will not have, so its first values are recognisable
            marker = 100.0 + cycle
            assert pvs["ao"].put(marker, wait=True, timeout=DEADLINE) == 1
            assert pvs["stringout"].put(f"cycle {cycle}", wait=True, timeout=DEADLINE) == 1
            assert pvs["mbbo"].put(2, wait=True, timeout=DEADLINE) == 1
            assert updates["ao"].wait_value(marker)
            assert updates["stringout"].wait_value(f"cycle {cycle}")
            assert updates["mbbo"].wait_value(2)
            for rec in list(connections.values()) + list(updates.values()) + [raw_updates]:
                rec.clear()

            killed = time.monotonic()
            ioc.kill()
            for name, rec in connections.items():
                assert rec.wait_for(lambda calls: len(calls) >= 1, timeout=DEADLINE), \
                    f"cycle {cycle}: no disconnection callback for {name}"
                assert conn_states(rec) == [False], f"cycle {cycle}, {name}: {conn_states(rec)}"
                assert pvs[name].connected is False

            # the outage: reads return after their timeout, writes fail clearly
            start = time.monotonic()
            assert caget(ao, connection_timeout=OUTAGE_TIMEOUT, timeout=OUTAGE_TIMEOUT) is None
            assert OUTAGE_TIMEOUT * 0.9 <= _elapsed(start) < HANG
            start = time.monotonic()
            assert pvs["ao"].get(use_monitor=False, timeout=OUTAGE_TIMEOUT) is None
            assert _elapsed(start) < HANG
            assert caput(ao, 5.0, connection_timeout=OUTAGE_TIMEOUT) is None   # PyEpics
            with pytest.raises(CANotConnectedError) as put_error:
                pvs["ao"].put(5.0, raise_on_error=True)
            assert put_error.value.pvname == ao and ao in str(put_error.value)
            with pytest.raises(CANotConnectedError) as caput_error:
                caput(ao, 5.0, connection_timeout=OUTAGE_TIMEOUT, raise_on_error=True)
            assert ao in str(caput_error.value)
            outage_checks = _elapsed(killed)

            started = time.monotonic()
            ioc.start()
            start_time = _elapsed(started)
            for name, rec in connections.items():
                assert rec.wait_for(lambda calls: len(calls) >= 2, timeout=RECONNECT_DEADLINE), \
                    f"cycle {cycle}: {name} did not reconnect within {RECONNECT_DEADLINE} s"
            reconnected = time.monotonic()
            for name, rec in connections.items():
                assert conn_states(rec) == [False, True], \
                    f"cycle {cycle}, {name}: connection callbacks {conn_states(rec)}"

            # monitors resume by themselves, and the first value after the restart arrives
            for name, first in FIRST_VALUES.items():
                assert updates[name].wait_count(1), f"cycle {cycle}: no update from {name}"
                assert updates[name].values[0] == first, \
                    f"cycle {cycle}: first value of {name} after the restart: " \
                    f"{updates[name].values[0]!r}"
            assert updates["wf"].wait_count(1)
            assert list(updates["wf"].values[0]) == FIRST_WF
            assert updates["counter"].wait_count(2), "the counter's monitor did not resume"
            assert raw_updates.wait_count(2), "the ca.create_subscription monitor did not resume"
            assert pvs["ao"].get() == 1.5
            assert caget(ao, use_monitor=False, timeout=DEADLINE) == 1.5
            assert pvs["ao"].put(2.5, wait=True, timeout=DEADLINE) == 1
            assert updates["ao"].wait_value(2.5)
            figures.append((outage_checks, start_time, reconnected - killed,
                            reconnected - started - start_time))
    finally:
        ca.clear_subscription(subscription)
    print(f"\n{RESTARTS} IOC restarts: seconds from kill to every PV reconnected: "
          + ", ".join(f"{f[2]:.1f}" for f in figures))
    print("  of which outage checks: " + ", ".join(f"{f[0]:.1f}" for f in figures))
    print("  IOC start (process to READY): " + ", ".join(f"{f[1]:.1f}" for f in figures))
    print("  from READY to reconnected (libca's 10 s disconnect governor): "
          + ", ".join(f"{f[3]:.1f}" for f in figures))


# ---- an IOC that stops answering -----------------------------------------------------------------

def test_reads_time_out_while_the_ioc_is_stopped_and_recover_on_sigcont(faults_ioc, make_pv):
    """In this process (EPICS_CA_CONN_TMO at its 30 s default): a short SIGSTOP leaves the
    circuit up, so every read waits for its own timeout."""
    ioc, prefix = faults_ioc
    updates = Recorder()
    counter = make_pv(prefix + "counter", callback=updates)
    ao = make_pv(prefix + "ao")
    assert counter.wait_for_connection(timeout=DEADLINE) and ao.wait_for_connection(DEADLINE)
    assert updates.wait_count(1)
    pause(ioc)
    try:
        start = time.monotonic()
        assert ao.get(use_monitor=False, timeout=OUTAGE_TIMEOUT) is None
        assert OUTAGE_TIMEOUT * 0.9 <= _elapsed(start) < HANG
        start = time.monotonic()
        with pytest.raises(CATimeoutError) as info:
            caget(prefix + "ao", use_monitor=False, timeout=OUTAGE_TIMEOUT,
                  raise_on_error=True)
        assert _elapsed(start) < HANG
        assert info.value.pvname == prefix + "ao"
        start = time.monotonic()
        assert ao.put(3.5, wait=True, timeout=OUTAGE_TIMEOUT) == -1   # documented: timed out
        assert _elapsed(start) < HANG
        updates.clear()
    finally:
        ioc.resume()
    assert updates.wait_count(2), "the monitor did not resume after SIGCONT"
    assert ao.get(use_monitor=False, timeout=DEADLINE) == 3.5   # the write queued meanwhile
    assert ao.put(4.5, wait=True, timeout=DEADLINE) == 1
    assert ao.get(use_monitor=False, timeout=DEADLINE) == 4.5


SIGSTOP_CLIENT = """
    import json, queue, sys, time, warnings
    warnings.simplefilter("ignore")          # ca.get's timeout warnings
    import epics
    from epics import PV, caget, caput
    from epics.ca import CANotConnectedError, CATimeoutError

    prefix, short = sys.argv[1], float(sys.argv[2])
    def say(step, **kw):
        print(json.dumps(dict(step=step, **kw)), flush=True)
    conns, ao_conns, values = queue.Queue(), queue.Queue(), queue.Queue()
    counter = PV(prefix + "counter", callback=lambda value=None, **kw: values.put(value),
                 connection_callback=lambda conn=None, **kw: conns.put(conn))
    ao = PV(prefix + "ao", connection_timeout=short,
            connection_callback=lambda conn=None, **kw: ao_conns.put(conn))
    ok = counter.wait_for_connection(timeout=20) and ao.wait_for_connection(timeout=20)
    ok = ok and conns.get(timeout=20) is True and values.get(timeout=20) is not None
    ok = ok and ao_conns.get(timeout=20) is True
    say("connected", ok=ok)
    sys.stdin.readline()                     # the parent has stopped the IOC

    result = {}
    start = time.monotonic()
    result["get"] = ao.get(use_monitor=False, timeout=short)
    result["get_seconds"] = time.monotonic() - start
    start = time.monotonic()
    try:
        caget(prefix + "ao", use_monitor=False, timeout=short, raise_on_error=True)
        result["caget_error"] = None
    except CATimeoutError as exc:
        result["caget_error"] = str(exc)
    result["caget_seconds"] = time.monotonic() - start
    start = time.monotonic()
    try:                                     # libca gives up on the silent circuit
        result["disconnected"] = (conns.get(timeout=60) is False
                                  and ao_conns.get(timeout=20) is False)
    except queue.Empty:
        result["disconnected"] = None
    result["unresponsive_after"] = time.monotonic() - start
    start = time.monotonic()
    result["get_while_down"] = ao.get(use_monitor=False, timeout=short)
    result["get_while_down_seconds"] = time.monotonic() - start
    try:
        caput(prefix + "ao", 9.5, connection_timeout=short, raise_on_error=True)
        result["put_error"] = None
    except CANotConnectedError as exc:
        result["put_error"] = str(exc)
    say("outage", **result)
    sys.stdin.readline()                     # the parent has resumed the IOC

    start = time.monotonic()
    try:
        result = {"reconnected": (conns.get(timeout=60) is True
                                  and ao_conns.get(timeout=20) is True)}
    except queue.Empty:
        result = {"reconnected": False}
    result["reconnect_seconds"] = time.monotonic() - start
    while not values.empty():
        values.get_nowait()
    try:
        result["new_value"] = values.get(timeout=20)
    except queue.Empty:
        result["new_value"] = None
    result["put"] = ao.put(6.5, wait=True, timeout=20)
    result["get"] = ao.get(use_monitor=False, timeout=20)
    say("recovered", **result)
"""


def test_stopped_ioc_is_declared_unresponsive_and_recovers_on_sigcont(faults_ioc,
                                                                      client_script):
    """In a client process with a short EPICS_CA_CONN_TMO: reads time out, then libca declares
    the circuit unresponsive (connection callback False), and SIGCONT brings the PV back."""
    ioc, prefix = faults_ioc
    client = client_script(SIGSTOP_CLIENT, [prefix, str(OUTAGE_TIMEOUT)],
                           env={"EPICS_CA_CONN_TMO": str(CONN_TMO)})
    assert client.read("connected")["ok"] is True, client.report()
    pause(ioc)
    try:
        client.send("paused")
        outage = client.read("outage", timeout=SUBPROCESS_DEADLINE + 60)
    finally:
        ioc.resume()
    client.send("resumed")
    recovered = client.read("recovered", timeout=SUBPROCESS_DEADLINE + 60)
    assert client.wait_exit(SUBPROCESS_DEADLINE) == 0, client.report()
    print(f"\nSIGSTOP: reads timed out after {outage['get_seconds']:.2f} s "
          f"(timeout {OUTAGE_TIMEOUT} s); circuit declared unresponsive "
          f"{outage['unresponsive_after']:.1f} s later (EPICS_CA_CONN_TMO={CONN_TMO}); "
          f"reconnected {recovered['reconnect_seconds']:.2f} s after SIGCONT")
    assert outage["get"] is None
    assert outage["get_seconds"] < HANG
    assert outage["caget_error"] is not None and prefix + "ao" in outage["caget_error"]
    assert outage["caget_seconds"] < HANG
    assert outage["disconnected"] is True, "libca never declared the circuit unresponsive"
    assert outage["get_while_down"] is None and outage["get_while_down_seconds"] < HANG
    assert outage["put_error"] is not None and prefix + "ao" in outage["put_error"]
    assert recovered["reconnected"] is True
    assert recovered["new_value"] is not None, "the monitor did not resume after SIGCONT"
    assert recovered["put"] == 1
    assert recovered["get"] == 6.5


# ---- exit with work in flight --------------------------------------------------------------------

EXIT_CLIENT = """
    import json, sys, threading, time
    import epics
    from epics import PV

    prefix, mode = sys.argv[1], sys.argv[2]
    def say(step, **kw):
        print(json.dumps(dict(step=step, **kw)), flush=True)
    pvs = [PV(prefix + name, callback=lambda **kw: None)
           for name in ("ao", "counter", "stringout", "mbbo", "wf")]
    slow, slow2 = PV(prefix + "slow"), PV(prefix + "slow2")
    ok = all(p.wait_for_connection(timeout=20) for p in pvs + [slow, slow2])
    completed = []
    slow.put(1.0, callback=lambda **kw: completed.append(kw))   # completes long after exit
    threading.Thread(target=slow2.put, args=(2.0,), kwargs={"wait": True, "timeout": 600},
                     name="blocked-put", daemon=True).start()
    missing = PV(prefix + "no-such-record", connection_timeout=600)
    threading.Thread(target=missing.wait_for_connection, name="blocked-connect",
                     daemon=True).start()
    busy_calls = [0] * 4
    busy_started = threading.Event()
    def busy(index):
        for n in range(1_000_000):
            epics.caget(prefix + "counter", use_monitor=False, timeout=20)
            epics.caput(prefix + "ao%d" % index, n)
            pvs[0].get()
            epics.PV(prefix + "ao%d" % index).get(timeout=20)
            busy_calls[index] += 1
            if min(busy_calls) >= 10:
                busy_started.set()
    if "busy" in mode:                       # threads in the middle of CA calls at exit
        for index in range(4):
            threading.Thread(target=busy, args=(index,), name="busy-%d" % index,
                             daemon=True).start()
        ok = busy_started.wait(30) and ok
    say("ready", ok=ok)
    if "paused" in mode:
        sys.stdin.readline()                 # the parent has stopped the IOC
        time.sleep(0.2)                      # let requests pile up towards the silent IOC
    say("last", time=time.time(), pending=not completed)
"""


def run_exit_client(client_script, prefix: str, mode: str, ioc: Optional[SoftIoc] = None,
                    expect_pending: bool = True) -> float:
    """Run EXIT_CLIENT in ``mode``; return the seconds from its last statement to its exit.

    With ``ioc``, the IOC is stopped (SIGSTOP) before the client's last statement.
    """
    client = client_script(EXIT_CLIENT, [prefix, mode])
    assert client.read("ready")["ok"] is True, client.report()
    if ioc is not None:
        pause(ioc)
        client.send("go")
    last = client.read("last")
    status = client.wait_exit(EXIT_BOUND)
    seconds = client.exited_at - last["time"]
    print(f"\nexit ({mode}): {seconds:.2f} s after the last statement (target "
          f"{EXIT_TARGET} s), status {status}")
    assert status == 0, f"the client ended with status {status}\n{client.report()}"
    if expect_pending:
        assert last["pending"] is True, "the put callback was not pending at exit"
    return seconds


def test_exit_with_live_monitors_and_pending_put_callbacks(softioc_factory, pv_prefix,
                                                           client_script):
    softioc_factory(FAULTS_DB, macros={"P": pv_prefix, "SLOW": SLOW_FOREVER})
    run_exit_client(client_script, pv_prefix, "idle")


def test_exit_while_threads_are_making_ca_calls(shared_faults_ioc, client_script):
    """Daemon threads in the middle of caget/caput when the interpreter exits. Repeated, since a
    race at teardown does not show every time. (The IOC is shared and its slow record is still
    busy from an earlier run, so the put callback may have completed: not checked here.)"""
    for _ in range(3):
        run_exit_client(client_script, shared_faults_ioc, "busy", expect_pending=False)


def test_exit_while_the_ioc_is_stopped(softioc_factory, pv_prefix, client_script):
    """The worst case for teardown: the server never answers (SIGSTOP), so libca's context
    destruction would wait; finalize_libca must give up after its 1 s deadline."""
    ioc = softioc_factory(FAULTS_DB, macros={"P": pv_prefix, "SLOW": SLOW_FOREVER})
    try:
        run_exit_client(client_script, pv_prefix, "paused", ioc=ioc)
    finally:
        ioc.resume()


# ---- a channel cleared while another thread waits on it -----------------------------------------

def test_a_put_waiting_for_completion_ends_at_once_when_its_channel_is_cleared(softioc_factory,
                                                                               pv_prefix):
    """One thread waits for a put to $(P)slow that completes in SLOW_FOREVER; another thread
    clears the channel (as PV.disconnect or ophyd's destroy do). libca drops the request, so the
    waiter must be told at once, not sit until its timeout."""
    softioc_factory(FAULTS_DB, macros={"P": pv_prefix, "SLOW": SLOW_FOREVER})
    name = pv_prefix + "slow"
    chid = ca.create_channel(name)
    assert ca.connect_channel(chid, timeout=DEADLINE)
    outcome: "queue_module.Queue[Any]" = queue_module.Queue()

    def writer() -> None:
        try:
            outcome.put(ca.put(chid, 1.0, wait=True, timeout=SLOW_FOREVER))
        except Exception as exc:   # what the test is about
            outcome.put(exc)

    thread = threading.Thread(target=writer, name="slow-put", daemon=True)
    thread.start()
    in_flight = chid.value
    assert wait_until(lambda: any(op.chid == in_flight
                                  for op in list(epics._dispatch.operations.values()))), \
        "the put never started"
    ca.clear_channel(chid)
    try:
        result = outcome.get(timeout=HANG)
    except queue_module.Empty:
        pytest.fail(f"the put still waited {HANG} s after its channel was cleared")
    thread.join(HANG)
    assert isinstance(result, CANotConnectedError), f"the put gave {result!r}"
    assert name in str(result)


# ---- multiprocessing -----------------------------------------------------------------------------

def child_reads_writes_and_monitors(prefix: str, index: int, results: Any) -> None:
    """Child process: caget, caput with wait, and a monitor of its own; reports to the parent."""
    try:
        value = epics.caget(prefix + "ao", use_monitor=False, timeout=DEADLINE,
                            connection_timeout=DEADLINE)
        written = epics.caput(prefix + f"ao{index}", 100 + index, wait=True, timeout=DEADLINE,
                              connection_timeout=DEADLINE)
        seen: "queue_module.Queue[Any]" = queue_module.Queue()
        counter = epics.PV(prefix + "counter", callback=lambda value=None, **kw: seen.put(value))
        first, second = seen.get(timeout=DEADLINE), seen.get(timeout=DEADLINE)
        counter.disconnect()
        results.put(("ok", (value, written, first != second)))
    except BaseException as exc:   # reported to the parent test
        results.put(("error", repr(exc)))


def child_writes(prefix: str, index: int) -> Any:
    """CAPool worker: write ``200 + index`` to ``ao<index>`` and read it back."""
    epics.caput(prefix + f"ao{index}", 200 + index, wait=True, timeout=DEADLINE,
                connection_timeout=DEADLINE)
    return epics.caget(prefix + f"ao{index}", use_monitor=False, timeout=DEADLINE,
                       connection_timeout=DEADLINE)


@pytest.fixture(params=START_METHODS)
def start_method(request) -> Iterator[str]:
    """Each start method in turn, made the default (CAProcess uses the default); restored."""
    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method(request.param, force=True)
    try:
        yield request.param
    finally:
        multiprocessing.set_start_method(previous, force=True)


@pytest.fixture
def parent_monitors(shared_faults_ioc, make_pv):
    """The parent's monitors, live before any child starts: the counter and ao0..ao3 (set to 0
    first, so that what a child writes is new). Returns the prefix and the Recorders, which
    start empty."""
    prefix = shared_faults_ioc
    recs = {name: Recorder() for name in ("counter", "ao0", "ao1", "ao2", "ao3")}
    for name, rec in recs.items():
        thispv = make_pv(prefix + name, callback=rec)
        assert thispv.wait_for_connection(timeout=DEADLINE)
        assert rec.wait_count(1)
    for index in range(4):
        assert caput(prefix + f"ao{index}", 0, wait=True, timeout=DEADLINE) == 1
        assert recs[f"ao{index}"].wait_for(lambda calls: calls[-1].kwargs["value"] == 0)
    for rec in recs.values():
        rec.clear()
    return prefix, recs


def assert_parent_still_monitors(recs: Dict[str, Recorder]) -> None:
    recs["counter"].clear()
    assert recs["counter"].wait_count(2), "the parent's monitor stopped after the child ran"


def test_caprocess_child_uses_ca_while_the_parent_monitors(start_method, parent_monitors):
    prefix, recs = parent_monitors
    results = multiprocessing.get_context(start_method).Queue()
    children = [CAProcess(target=child_reads_writes_and_monitors, args=(prefix, index, results))
                for index in range(2)]
    for child in children:
        child.start()
    try:
        outcomes = [results.get(timeout=SUBPROCESS_DEADLINE) for _ in children]
    except queue_module.Empty:
        pytest.fail(f"a {start_method} child reported nothing within {SUBPROCESS_DEADLINE} s")
    finally:
        for child in children:
            child.join(SUBPROCESS_DEADLINE)
            if child.is_alive():
                child.terminate()
                child.join(DEADLINE)
    for status, payload in outcomes:
        assert status == "ok", payload
        value, written, monitored = payload
        assert value == 1.5 and written == 1 and monitored is True
    assert [child.exitcode for child in children] == [0, 0]
    for index in range(2):   # the parent's monitors saw what the children wrote
        assert recs[f"ao{index}"].wait_value(100 + index)
    assert_parent_still_monitors(recs)


def test_capool_workers_write_what_the_parent_monitors(start_method, parent_monitors):
    prefix, recs = parent_monitors
    pool = CAPool(processes=2, context=multiprocessing.get_context(start_method))
    try:
        values = pool.starmap_async(child_writes, [(prefix, index) for index in range(4)]).get(
            timeout=SUBPROCESS_DEADLINE)
    finally:
        pool.terminate()
        pool.join()
    assert values == [200, 201, 202, 203]
    for index in range(4):
        assert recs[f"ao{index}"].wait_value(200 + index)
    assert_parent_still_monitors(recs)
    assert caget(prefix + "ao3", use_monitor=False, timeout=DEADLINE) == 203
