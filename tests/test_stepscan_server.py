"""The scan server and its clients (``python -m epics.stepscan server|submit|status|watch|
abort``) over SQLite and a real PostgreSQL (the pgserver wheel, started here), against the
simulated beamline. Every server process a test starts is stopped by it.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from epics.stepscan.request import check_request
from epics.stepscan.server import ScanServer
from epics.stepscan.storage import ScanError, open_store

from stepscan_helpers import start_beamline, stop_beamline, wait_for

from silx.io import specfile  # in the test extra: a missing reader must fail, not skip
import pgserver  # in the test extra: a missing server must fail, not skip

CLI = [sys.executable, '-m', 'epics.stepscan']
PROCESS_TIMEOUT = 60.0


@pytest.fixture(scope='module')
def beamline(epics_port_pool):
    beamline = start_beamline(epics_port_pool, motors=('m1', 'm2'), extra=False)
    try:
        yield beamline
    finally:
        stop_beamline(epics_port_pool, beamline)


@pytest.fixture(scope='module')
def postgres(tmp_path_factory):
    """A PostgreSQL server of our own (its data in a temporary folder), stopped at the end."""
    server = pgserver.get_server(str(tmp_path_factory.mktemp('pgdata')), cleanup_mode='stop')
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(postgres):
    """A fresh database on the PostgreSQL server, for one test."""
    import psycopg
    name = f'scans_{uuid.uuid4().hex[:10]}'
    base = postgres.get_uri()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE {name}')
    return base.replace('/postgres?', f'/{name}?')


@pytest.fixture(params=['sqlite', 'postgresql'])
def db_url(request, tmp_path):
    if request.param == 'sqlite':
        return f'sqlite:///{tmp_path / "scans.sqlite"}'
    return request.getfixturevalue('pg_url')


def request_for(beamline, filename, command='ascan', args=('x', 0.0, 0.05, 3, 0.02), **extra):
    return {'name': 'test scan', 'command': command, 'args': list(args),
            'filename': str(filename),
            'config': {'motors': {'x': beamline.m1, 'y': beamline.m2},
                       'detectors': [{'prefix': beamline.scaler, 'kind': 'scaler',
                                      'nchan': 2}]},
            **extra}


def cli(*args, timeout=PROCESS_TIMEOUT, check=True):
    done = subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f'{args} exited {done.returncode}: {done.stdout}{done.stderr}')
    return done


class Servers:
    """Server processes started by a test, all stopped at its end."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.procs = []

    def start(self, url, *options):
        log = open(self.tmp_path / f'server{len(self.procs)}.log', 'w')
        proc = subprocess.Popen(CLI + ['server', '--db', url, '-v', *options],
                                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def servers(tmp_path):
    started = Servers(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def read_spec(filename):
    sf = specfile.SpecFile(str(filename))
    try:
        return [(s.number, list(s.labels), s.data.tolist()) for s in sf]
    finally:
        sf.close()


# ---- the store --------------------------------------------------------------------------------
def test_store_queue_points_and_abort(db_url):
    with open_store(db_url) as store:
        first = store.submit({'command': 'ascan'}, name='one')
        second = store.submit({'command': 'dscan'}, name='two')
        claimed = store.claim('server-a')
        assert (claimed.id, claimed.state, claimed.server, claimed.claims) == (
            first, 'running', 'server-a', 1)
        assert claimed.request == {'command': 'ascan'}
        store.add_point(first, 0, {'x': 0.5, 'I0': 12.0})
        store.add_point(first, 1, {'x': 0.6, 'I0': 13.0})
        assert store.points(first) == [(0, {'x': 0.5, 'I0': 12.0}), (1, {'x': 0.6, 'I0': 13.0})]
        assert store.points(first, after=0) == [(1, {'x': 0.6, 'I0': 13.0})]
        assert store.request_abort(first) is True
        assert store.heartbeat(first) is True             # the server learns of the abort
        store.finish(first, 'aborted', 'aborted by a client')
        assert store.request_abort(second) is True        # still queued: aborted at once
        assert store.get(second).state == 'aborted'
        assert store.claim('server-a') is None
        assert [s.id for s in store.list_scans()] == [second, first]
        assert store.get(first).points_taken == 2
        with pytest.raises(ScanError, match='no scan 999'):
            store.get(999)


def test_concurrent_claims_never_take_a_scan_twice(db_url):
    with open_store(db_url) as store:
        ids = [store.submit({'n': i}) for i in range(40)]
    claimed = {name: [] for name in 'abcd'}

    def drain(name):
        with open_store(db_url) as mine:
            for _ in range(100):
                record = mine.claim(name)
                if record is None:
                    return
                claimed[name].append(record.id)
    threads = [threading.Thread(target=drain, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = [i for got in claimed.values() for i in got]
    assert sorted(everything) == ids            # each scan exactly once
    with open_store(db_url) as store:
        assert {store.get(i).claims for i in ids} == {1}


def test_stale_running_scans_are_marked_failed(db_url):
    with open_store(db_url) as store:
        scan_id = store.submit({'command': 'ascan'})
        store.claim('dead-server')
        store.add_point(scan_id, 0, {'x': 1.0})
        assert store.fail_stale(60.0) == []
        time.sleep(0.3)
        assert store.fail_stale(0.2) == [scan_id]
        record = store.get(scan_id)
        assert record.state == 'failed' and 'dead-server stopped' in record.message
        assert store.points(scan_id) == [(0, {'x': 1.0})]


def test_bad_requests_are_refused_with_the_reason(beamline, tmp_path):
    good = request_for(beamline, tmp_path / 'x.spec')
    assert check_request(good) is good
    with pytest.raises(ScanError, match="unknown command 'scan3'"):
        check_request({**good, 'command': 'scan3'})
    with pytest.raises(ScanError, match='ascan takes 5 arguments'):
        check_request({**good, 'args': ['x', 0, 1]})
    with pytest.raises(ScanError, match=r"motors \['z'\] are not in the configuration"):
        check_request({**good, 'args': ['z', 0, 1, 3, 0.1]})
    bad = tmp_path / 'bad.json'
    bad.write_text('{"command": ')
    done = cli('submit', str(bad), '--db', str(tmp_path / 'db.sqlite'), check=False)
    assert done.returncode == 1 and 'is not valid JSON' in done.stderr


# ---- servers ------------------------------------------------------------------------------------
def test_server_in_process_on_postgresql(beamline, pg_url, tmp_path):
    """The same server on PostgreSQL: the scan runs, its points land in the database."""
    with open_store(pg_url) as store:
        scan_id = store.submit(request_for(beamline, tmp_path / 'pg.spec'))
    server = ScanServer(pg_url, name='pg-server')
    try:
        assert server.serve(max_scans=1) == 1
    finally:
        server.close()
    with open_store(pg_url) as store:
        record = store.get(scan_id)
        points = store.points(scan_id)
    assert (record.state, record.points_taken, record.npts, record.server) == (
        'done', 3, 3, 'pg-server')
    [(number, labels, data)] = read_spec(tmp_path / 'pg.spec')
    assert record.scan_number == number == 1
    assert labels == ['x', 'clock', 'I0']
    assert [[p[label] for _, p in points] for label in labels] == data


def test_submit_watch_status_through_the_command_line(beamline, servers, tmp_path):
    url = f'sqlite:///{tmp_path / "scans.sqlite"}'
    request = tmp_path / 'scan.json'
    request.write_text(json.dumps(request_for(beamline, tmp_path / 'cli.spec')))
    servers.start(url, '--idle-exit', '30')
    done = cli('submit', str(request), '--db', url)
    assert done.stdout.strip() == 'scan 1 queued'
    watched = cli('watch', '1', '--db', url, '--timeout', '60')
    lines = watched.stdout.splitlines()
    assert lines[0] == '#point  x  clock  I0'
    assert [line.split()[:2] for line in lines[1:4]] == [['0', '0'], ['1', '0.025'],
                                                         ['2', '0.05']]
    assert lines[-1] == 'scan 1 done: 3 point(s)'
    status = cli('status', '--db', url).stdout
    assert ' done ' in status and '3/3' in status and 'cli.spec#1' in status
    [(number, labels, data)] = read_spec(tmp_path / 'cli.spec')
    assert data[0] == [0.0, 0.025, 0.05]


def test_abort_from_the_command_line(beamline, servers, tmp_path):
    url = f'sqlite:///{tmp_path / "scans.sqlite"}'
    request = tmp_path / 'long.json'
    request.write_text(json.dumps(request_for(beamline, tmp_path / 'long.spec',
                                              args=['x', 0.0, 0.1, 50, 0.1])))
    servers.start(url, '--idle-exit', '30')
    cli('submit', str(request), '--db', url)
    with open_store(url) as store:
        wait_for(lambda: store.get(1).points_taken >= 2, 30.0, 'two points')
    assert cli('abort', '1', '--db', url).stdout.strip() == 'scan 1: abort requested'
    watched = cli('watch', '1', '--db', url, '--timeout', '30', check=False)
    assert watched.returncode == 2, watched.stdout
    assert 'scan 1 aborted' in watched.stdout
    assert 'aborted by a client of the scan server' in watched.stdout


def test_two_servers_never_run_the_same_scan(beamline, servers, tmp_path):
    url = f'sqlite:///{tmp_path / "scans.sqlite"}'
    with open_store(url) as store:
        ids = [store.submit(request_for(beamline, tmp_path / f'scan{i}.spec',
                                        args=['y', 0.0, 0.02, 2, 0.02])) for i in range(4)]
    servers.start(url, '--name', 'one', '--idle-exit', '3')
    servers.start(url, '--name', 'two', '--idle-exit', '3')
    with open_store(url) as store:
        wait_for(lambda: all(store.get(i).state == 'done' for i in ids), 60.0, 'all scans')
        records = [store.get(i) for i in ids]
    assert [r.claims for r in records] == [1, 1, 1, 1]
    assert {r.server for r in records} <= {'one', 'two'}
    for i in range(4):
        assert [number for number, _, _ in read_spec(tmp_path / f'scan{i}.spec')] == [1]


def test_killed_server_leaves_the_scan_failed_with_its_data(beamline, servers, tmp_path):
    url = f'sqlite:///{tmp_path / "scans.sqlite"}'
    with open_store(url) as store:
        scan_id = store.submit(request_for(beamline, tmp_path / 'killed.spec',
                                           args=['x', 0.0, 0.1, 50, 0.1]))
    victim = servers.start(url, '--name', 'victim')
    with open_store(url) as store:
        wait_for(lambda: store.get(scan_id).points_taken >= 3, 30.0, 'three points')
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        taken = store.get(scan_id).points_taken
        assert store.get(scan_id).state == 'running'      # nobody has noticed yet
        servers.start(url, '--name', 'rescuer', '--stale-after', '2', '--idle-exit', '30')
        record = wait_for(lambda: (lambda r: r if r.state != 'running' else None)(
            store.get(scan_id)), 30.0, 'the scan to be marked failed')
        points = store.points(scan_id)
    assert record.state == 'failed'
    assert 'victim stopped while running it' in record.message
    assert len(points) == record.points_taken >= taken
    [(number, labels, data)] = read_spec(tmp_path / 'killed.spec')
    # the file has every point the database has (a row is on disk before it is posted, so
    # the kill may have come between the two)
    assert len(points) <= len(data[0]) <= len(points) + 1
    assert data[0][:len(points)] == [p['x'] for _, p in points]
