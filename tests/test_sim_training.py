"""Tests of the simulated beamline's training IOC (``python -m epics.sim``).

Real processes on free loopback ports.  PVs are read with caproto's
synchronous client, not with our own library (it is tested elsewhere); the
client environment goes into ``os.environ`` through ``monkeypatch`` for each
test, and ``repeater=False`` keeps caproto from spawning a repeater daemon.
Every wait has a deadline; nothing asserts on timing.
"""
from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List

import numpy as np
import pytest

caproto_sync = pytest.importorskip('caproto.sync.client')
from caproto import ChannelType  # noqa: E402

from epics.sim import PortInUseError, Simulator, SimulatorError  # noqa: E402
from epics.sim.launcher import (EXIT_PORT_IN_USE, find_free_port,  # noqa: E402
                                port_problem, records_available)
from epics.sim.training import MBBO_STATES, Schedule  # noqa: E402

PREFIXES = 3
RATE = 10.0             # fast: walks step ~10 times a second, shutters ~2 Hz
READ_TIMEOUT = 5.0
CHANGE_DEADLINE = 30.0  # generous: the machine is small and shared
POLL_PERIOD = 0.1
CLI_DEADLINE = 90.0
PORT_FREE_DEADLINE = 20.0
REPO = Path(__file__).resolve().parents[1]


# --- helpers -------------------------------------------------------------------

def read(name: str, **kwargs):
    """One caproto read of `name`, bounded, with no repeater spawned."""
    return caproto_sync.read(name, timeout=READ_TIMEOUT, repeater=False,
                             **kwargs)


def wait_for_change(name: str, deadline_s: float = CHANGE_DEADLINE):
    """Read `name` until its value differs from the first read."""
    first = read(name).data
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        time.sleep(POLL_PERIOD)
        now = read(name).data
        if not np.array_equal(now, first):
            return first, now
    pytest.fail(f'{name} did not change within {deadline_s} s')


def wait_port_free(port: int, deadline_s: float = PORT_FREE_DEADLINE) -> None:
    """Wait until nobody serves `port` any more (its server process ended)."""
    deadline = time.monotonic() + deadline_s
    while port_problem(port) is not None:
        if time.monotonic() > deadline:
            pytest.fail(f'port {port} still in use {deadline_s} s after stop: '
                        f'{port_problem(port)}')
        time.sleep(POLL_PERIOD)


def pid_gone(pid: int) -> bool:
    """True when no process `pid` exists (it was reaped by Popen.wait)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def cli_env() -> dict:
    env = dict(os.environ)
    path = env.get('PYTHONPATH')
    env['PYTHONPATH'] = (str(REPO) if not path
                         else os.pathsep.join([str(REPO), path]))
    return env


class CliProcess:
    """``python -m epics.sim ...`` as a child, its stdout read by a thread."""

    def __init__(self, args: List[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'epics.sim', *args], env=cli_env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.lines: 'queue.Queue[str]' = queue.Queue()
        self.seen: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, ''):  # ends at EOF
            self.lines.put(line.rstrip('\n'))

    def wait_for_line(self, text: str, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None and \
                    self.lines.empty():
                pytest.fail(f'no line with {text!r} from the CLI; got '
                            f'{self.seen!r}; rc={self.proc.poll()}')
            try:
                line = self.lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture(scope='module')
def sim():
    """One training IOC for the read tests (no record server)."""
    simulator = Simulator(prefixes=PREFIXES, rate=RATE, records=False)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def ca_env(sim, monkeypatch):
    """The simulator's client environment in os.environ for one test."""
    for key, value in sim.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv('EPICS_CA_SERVER_PORT', str(sim.ports.training))
    return sim


# --- the API -------------------------------------------------------------------

def test_client_env(sim):
    env = sim.client_env()
    port = sim.ports.training
    assert sim.ports.records is None
    assert env['EPICS_CA_AUTO_ADDR_LIST'] == 'NO'
    assert env['EPICS_CA_ADDR_LIST'] == f'127.0.0.1:{port}'
    assert int(env['EPICS_CA_REPEATER_PORT']) == sim.repeater_port != port
    assert int(env['EPICS_CA_MAX_ARRAY_BYTES']) >= 65536
    assert sim.running
    assert sim.prefix_names() == ['id01', 'id02', 'id03']


def test_bad_arguments():
    with pytest.raises(ValueError):
        Simulator(prefixes=0)
    with pytest.raises(ValueError):
        Simulator(prefixes=100)
    with pytest.raises(ValueError):
        Simulator(rate=0.0)
    with pytest.raises(SimulatorError):
        Simulator(records=False).ports  # noqa: B018 - not started


def test_schedule_runs_tasks_until_stopped():
    schedule = Schedule(np.random.default_rng(1))
    stop = threading.Event()
    counts = {'a': 0, 'b': 0}

    def step(name):
        counts[name] += 1
        if min(counts.values()) >= 3:
            stop.set()

    def failing():
        raise RuntimeError('bad PV')

    schedule.add('a', lambda: step('a'), 0.01)
    schedule.add('b', lambda: step('b'), 0.02)
    schedule.add('bad', failing, 0.01)
    runner = threading.Thread(target=schedule.run, args=(stop,), daemon=True)
    runner.start()
    runner.join(timeout=CHANGE_DEADLINE)
    stop.set()
    assert not runner.is_alive()
    assert min(counts.values()) >= 3
    assert len(schedule) == 2      # the failing task was dropped


# --- the training IOC ------------------------------------------------------

@pytest.mark.parametrize('name', ['id01:dval1', 'id02:dval3', 'id03:ival1',
                                  'id01:dwave', 'id01:iwave', 'id02:image',
                                  'sim:ip1:PRES'])
def test_values_change(ca_env, name):
    first, now = wait_for_change(name)
    assert len(first) == len(now)


def test_shutter_toggles(ca_env):
    first, now = wait_for_change('id01:shutter')
    assert {first[0], now[0]} == {b'Closed', b'Open'}
    meta = read('id01:shutter', data_type='control').metadata
    assert tuple(meta.enum_strings) == (b'Closed', b'Open')


@pytest.mark.parametrize('suffix', ['dval1', 'dval2', 'dval3'])
def test_doubles(ca_env, suffix):
    resp = read(f'id02:{suffix}', data_type='control')
    assert resp.data_type == ChannelType.CTRL_DOUBLE
    assert resp.data_count == 1
    assert resp.metadata.precision in (3, 4)
    assert resp.metadata.units


@pytest.mark.parametrize('suffix', ['ival1', 'ival2', 'ival3'])
def test_integers(ca_env, suffix):
    resp = read(f'id03:{suffix}')
    assert resp.data_type == ChannelType.LONG
    assert resp.data_count == 1
    assert float(resp.data[0]).is_integer()


def test_strings(ca_env):
    for suffix in ('string1', 'string2'):
        resp = read(f'id01:{suffix}')
        assert resp.data_type == ChannelType.STRING
        assert resp.data_count == 1
        assert 0 < len(resp.data[0]) < 40
    caproto_sync.write('id03:string2', b'written by a test', notify=True,
                       timeout=READ_TIMEOUT, repeater=False)
    assert read('id03:string2').data[0] == b'written by a test'


def test_enums(ca_env):
    resp = read('id01:bo1', force_int_enums=True)
    assert resp.data_type == ChannelType.ENUM
    assert resp.data[0] in (0, 1)
    meta = read('id01:bo1', data_type='control').metadata
    assert tuple(meta.enum_strings) == (b'0', b'1')
    resp = read('id01:mbbo1', force_int_enums=True)
    assert resp.data_type == ChannelType.ENUM
    meta = read('id01:mbbo1', data_type='control').metadata
    assert tuple(s.decode() for s in meta.enum_strings) == MBBO_STATES
    assert len(MBBO_STATES) >= 3


@pytest.mark.parametrize('suffix,ftvl,nelm,ctype', [
    ('filename', b'CHAR', 128, ChannelType.CHAR),
    ('dwave', b'DOUBLE', 256, ChannelType.DOUBLE),
    ('iwave', b'LONG', 256, ChannelType.LONG),
    ('image', b'UCHAR', 65536, ChannelType.CHAR),
])
def test_waveforms(ca_env, suffix, ftvl, nelm, ctype):
    name = f'id02:{suffix}'
    assert read(f'{name}.FTVL').data[0] == ftvl
    assert read(f'{name}.NELM').data[0] == nelm
    resp = read(name)
    assert resp.data_type == ctype
    if suffix == 'filename':
        text = bytes(resp.data).split(b'\0')[0].decode()
        assert 40 < len(text) < nelm
        assert text.startswith('/')
    else:
        assert resp.data_count == nelm


def test_image_is_a_picture(ca_env):
    image = read('id01:image').data.reshape(256, 256)
    assert image.max() > 100        # a bright spot ...
    assert np.median(image) < 50    # ... on a dark background


def test_only_requested_prefixes(ca_env):
    assert read('id03:dval1').data_count == 1
    with pytest.raises(TimeoutError):
        caproto_sync.read('id04:dval1', timeout=1.0, repeater=False)


def test_device_records(ca_env):
    pump = 'sim:ip1:PRES'
    assert read(f'{pump}.DESC').data[0] == b'Ion pump 1 Pressure'
    assert read(f'{pump}.EGU').data[0] == b'Torr'
    assert read(f'{pump}.PREC').data[0] == 2
    assert 1e-9 < read(pump).data[0] < 1e-5
    for name in ('sim:ao1', 'sim:ai1', 'sim:bo1', 'sim:bi1', 'sim:ip2:PRES'):
        assert read(name).data_count == 1
    # sim:ai1 reads back sim:ao1 (with a little noise).
    caproto_sync.write('sim:ao1', 2.5, notify=True, timeout=READ_TIMEOUT,
                       repeater=False)
    deadline = time.monotonic() + CHANGE_DEADLINE
    while abs(read('sim:ai1').data[0] - 2.5) > 0.1:
        if time.monotonic() > deadline:
            pytest.fail('sim:ai1 did not follow sim:ao1')
        time.sleep(POLL_PERIOD)


# --- ports, start and stop -----------------------------------------------------

@pytest.mark.parametrize('kind', [socket.SOCK_STREAM, socket.SOCK_DGRAM])
def test_simulator_refuses_taken_port(kind):
    port = find_free_port()
    with socket.socket(socket.AF_INET, kind) as blocker:
        blocker.bind(('127.0.0.1', port))
        if kind == socket.SOCK_STREAM:
            blocker.listen()
        assert str(port) in port_problem(port)
        simulator = Simulator(prefixes=1, port=port, records=False)
        with pytest.raises(PortInUseError) as info:
            simulator.start()
        assert info.value.port == port
        assert simulator.pids == {}
        assert not simulator.running


@pytest.mark.parametrize('kind', [socket.SOCK_STREAM, socket.SOCK_DGRAM])
def test_cli_refuses_taken_port(kind):
    port = find_free_port()
    with socket.socket(socket.AF_INET, kind) as blocker:
        blocker.bind(('127.0.0.1', port))
        if kind == socket.SOCK_STREAM:
            blocker.listen()
        result = subprocess.run(
            [sys.executable, '-m', 'epics.sim', '--port', str(port),
             '--no-records', '--prefixes', '1'],
            env=cli_env(), stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=CLI_DEADLINE)
    assert result.returncode == EXIT_PORT_IN_USE
    proto = 'TCP' if kind == socket.SOCK_STREAM else 'UDP'
    assert f'{proto} port {port}' in result.stderr
    assert 'in use' in result.stderr
    assert '--port' in result.stderr     # says what to do


def test_ioc_process_refuses_taken_port():
    """The IOC process checks its port itself (rsrv would take another)."""
    port = find_free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(('127.0.0.1', port))
        blocker.listen()
        result = subprocess.run(
            [sys.executable, '-m', 'epics.sim.training', '--port', str(port),
             '--beacon-port', str(find_free_port(exclude=(port,))),
             '--prefixes', '1'],
            env=cli_env(), stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=CLI_DEADLINE)
    assert result.returncode == EXIT_PORT_IN_USE
    assert f'TCP port {port}' in result.stderr


def test_stop_leaves_no_process():
    simulator = Simulator(prefixes=1, rate=RATE, records=False)
    with simulator:
        pids = simulator.pids
        port = simulator.ports.training
        assert list(pids) == ['training IOC']
        assert port_problem(port) is not None   # served
    assert not simulator.running
    for pid in pids.values():
        assert pid_gone(pid)
    wait_port_free(port)
    simulator.stop()                             # idempotent
    assert simulator.wait(0.0)                   # nothing runs


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_cli_stops_on_signal(signum):
    port = find_free_port()
    cli = CliProcess(['--port', str(port), '--no-records', '--prefixes', '1',
                      '--rate', str(RATE)])
    try:
        cli.wait_for_line('Press Ctrl-C', CLI_DEADLINE)
        banner = '\n'.join(cli.seen)
        assert f'EPICS_CA_ADDR_LIST=127.0.0.1:{port}' in banner
        assert 'EPICS_CA_AUTO_ADDR_LIST=NO' in banner
        assert 'caget id01:dval1' in banner
        assert port_problem(port) is not None
        cli.proc.send_signal(signum)
        assert cli.proc.wait(timeout=CLI_DEADLINE) == 0
        wait_port_free(port)        # the IOC child has gone too
    finally:
        cli.close()


def test_ioc_exits_when_cli_is_killed():
    """SIGKILL of the CLI closes the IOC's stdin, and the IOC exits."""
    port = find_free_port()
    cli = CliProcess(['--port', str(port), '--no-records', '--prefixes', '1'])
    try:
        cli.wait_for_line('Press Ctrl-C', CLI_DEADLINE)
        cli.proc.kill()
        cli.proc.wait(timeout=CLI_DEADLINE)
        wait_port_free(port)
    finally:
        cli.close()


# --- with the record server ------------------------------------------------

@pytest.mark.skipif(not records_available(),
                    reason='epics.sim.records.server is not there yet')
def test_with_record_server(monkeypatch):
    with Simulator(prefixes=1, rate=RATE, records=True) as simulator:
        ports = simulator.ports
        assert ports.records is not None and ports.records != ports.training
        env = simulator.client_env()
        assert env['EPICS_CA_ADDR_LIST'] == (
            f'127.0.0.1:{ports.training} 127.0.0.1:{ports.records}')
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert read('id01:dval1').data_count == 1
        assert read('sim:m1.VAL').data_count == 1
        pids = simulator.pids
    for pid in pids.values():
        assert pid_gone(pid)
    wait_port_free(ports.records)
