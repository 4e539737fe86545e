"""Tests of the test kit itself (epics.testing, the pytest plugin, caRepeater, .ci/run).

These use caproto's synchronous client, not ours, so that the kit is proven independently of the
library it serves. ``repeater=False`` everywhere: caproto would otherwise spawn a repeater of its own
that outlives the test.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable, Dict, List

import pytest
from caproto import CaprotoTimeoutError
from caproto.sync.client import read, write

from epics.testing import (GUARDED_ACF, CaRepeater, IocError, PortPool, SoftIoc, SubprocessIoc,
                           client_environment, free_port, udp_port_bound, unique_prefix)
from epics.testing.ioc import READY_LINE

REPO = Path(__file__).resolve().parent.parent
IOC_DB = Path(__file__).with_name("ioc.db")
TIMEOUT = 5.0  # seconds for one caproto read or write: generous for a shared 2-core machine

SMALL_DB = """
record(ao, "$(P)x") {
    field(PINI, "YES")
    field(VAL, "1.5")
}
"""


# ---- helpers -------------------------------------------------------------------------------------
def caget(name: str, **kwargs):
    return read(name, timeout=TIMEOUT, repeater=False, **kwargs)


def caput(name: str, value, **kwargs):
    return write(name, value, timeout=TIMEOUT, repeater=False, notify=True, **kwargs)


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.1) -> bool:
    """Poll ``predicate`` (for state we cannot subscribe to) until true or ``timeout``; bounded."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 1):
        if predicate():
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return predicate()


def process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def children_of(pid: int) -> List[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 1 and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def kit_children() -> List[int]:
    """Our live child processes that the kit started (soft IOCs, guards, repeaters)."""
    pids = []
    for pid in children_of(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"epics.testing." in cmdline or b"epics.cli.carepeater" in cmdline:
            pids.append(pid)
    return pids


def value_of(name: str) -> float:
    return float(caget(name).data[0])


# ---- the session IOC and the plugin's environment -----------------------------------------------
def test_plugin_sets_client_environment(epics_port_pool, ioc):
    addr_list = os.environ["EPICS_CA_ADDR_LIST"].split()
    assert addr_list == [f"127.0.0.1:{port}" for port in epics_port_pool.ports]
    assert os.environ["EPICS_CA_AUTO_ADDR_LIST"] == "NO"
    assert os.environ["EPICS_CA_REPEATER_PORT"] == str(epics_port_pool.repeater_port)
    assert int(os.environ["EPICS_CA_MAX_ARRAY_BYTES"]) > 8 * 1024 * 1024
    assert ioc.port in epics_port_pool.ports
    assert ioc.softioc.repeater_port == epics_port_pool.repeater_port


def test_plugin_runs_a_repeater(request, epics_port_pool):
    from epics.testing.plugin import get_session
    session = get_session(request.config)
    assert session.repeater is not None and session.repeater.running
    assert udp_port_bound(epics_port_pool.repeater_port)


def test_a_ca_repeater_of_ones_own_holds_its_port_until_stopped():
    port = free_port()
    with CaRepeater(port) as repeater:
        assert repeater.running
        assert udp_port_bound(port)
        pid = repeater.pid
        assert pid in kit_children()
    assert not repeater.running
    assert not udp_port_bound(port)
    assert pid not in kit_children()


def test_session_ioc_serves_the_test_database(ioc, pvname):
    assert pvname("ao") == ioc.prefix + "ao"
    assert re.fullmatch(r"tst[0-9a-f]{6}:", ioc.prefix)
    assert value_of(pvname("ao")) == 1.5
    assert caget(pvname("ao.EGU")).data[0] == b"mm"
    assert caget(pvname("stringout")).data[0] == b"hello"
    assert int(caget(pvname("longout")).data[0]) == 42
    assert list(caget(pvname("wf:double")).data) == [1.5, 2.5, 3.5, 4.5, 5.5]
    assert list(caget(pvname("wf:long")).data) == [1, 2, 3, 4, 5]
    assert bytes(caget(pvname("wf:char")).data).rstrip(b"\0") == b"hello"
    assert caget(pvname("wf:string")).data == [b"alpha", b"beta", b"gamma"]
    assert int(caget(pvname("wf:big.NELM")).data[0]) == 1048576
    assert int(caget(pvname("wf:char256.NELM")).data[0]) == 256


def test_session_ioc_counter_counts(pvname):
    first = value_of(pvname("counter"))
    assert wait_until(lambda: value_of(pvname("counter")) != first)


def test_slow_record_completes_put_after_its_delay(pvname):
    caput(pvname("slow"), 7.25)  # returns when the put callback came, after the seq's delay
    assert value_of(pvname("slow:done")) == 7.25


def test_big_waveform_round_trip(pvname):
    import numpy as np
    data = np.arange(1048576, dtype=float)
    caput(pvname("wf:big"), data)
    back = caget(pvname("wf:big")).data
    assert len(back) == 1048576 and back[-1] == 1048575.0


# ---- SoftIoc lifecycle ---------------------------------------------------------------------------
def test_softioc_factory_restart_keeps_port(softioc_factory, pv_prefix):
    ioc = softioc_factory(SMALL_DB, macros={"P": pv_prefix})
    port, pid = ioc.port, ioc.pid
    caput(pv_prefix + "x", 3.0)
    assert value_of(pv_prefix + "x") == 3.0
    ioc.restart()
    assert ioc.port == port
    assert ioc.pid != pid and not process_alive(pid)
    assert value_of(pv_prefix + "x") == 1.5  # a new IOC: back to the database's value


def test_pause_and_resume(softioc_factory, pv_prefix):
    ioc = softioc_factory(SMALL_DB, macros={"P": pv_prefix})
    ioc.pause()
    try:
        with pytest.raises(CaprotoTimeoutError):
            read(pv_prefix + "x", timeout=1.0, repeater=False)
    finally:
        ioc.resume()
    assert value_of(pv_prefix + "x") == 1.5


def test_stop_while_paused(softioc_factory, pv_prefix):
    ioc = softioc_factory(SMALL_DB, macros={"P": pv_prefix})
    pid = ioc.pid
    ioc.pause()
    ioc.stop()
    assert not process_alive(pid)


def test_stop_is_idempotent_and_leaves_nothing(softioc_factory, pv_prefix):
    ioc = softioc_factory(SMALL_DB, macros={"P": pv_prefix})
    pid = ioc.pid
    assert process_alive(pid) and pid in kit_children()
    ioc.stop()
    ioc.stop()
    assert ioc.pid is None and not ioc.running
    assert ioc.returncode == 0  # a clean exit on SIGTERM, not a kill
    assert not process_alive(pid)
    assert pid not in kit_children()


def test_kill_then_start_again(softioc_factory, pv_prefix):
    ioc = softioc_factory(SMALL_DB, macros={"P": pv_prefix})
    pid = ioc.pid
    ioc.kill()
    assert not process_alive(pid)
    assert ioc.returncode == -signal.SIGKILL
    ioc.stop()  # nothing left to stop
    ioc.start()
    assert value_of(pv_prefix + "x") == 1.5


def test_exit_when_stdin_closes():
    """The IOC leaves by itself when its parent goes away (modelled by closing its stdin)."""
    with SoftIoc(SMALL_DB, macros={"P": unique_prefix()}) as ioc:
        proc = ioc._proc
        proc.stdin.close()
        assert proc.wait(timeout=20) == 0


def test_context_manager_and_client_env(pv_prefix):
    with SoftIoc(SMALL_DB, macros={"P": pv_prefix}) as ioc:
        pid = ioc.pid
        env = ioc.client_env()
        assert env["EPICS_CA_ADDR_LIST"] == f"127.0.0.1:{ioc.port}"
        assert env["EPICS_CA_AUTO_ADDR_LIST"] == "NO"
        assert env["EPICS_CA_REPEATER_PORT"] == str(ioc.repeater_port)
        code = (f"from caproto.sync.client import read; "
                f"print(read({pv_prefix + 'x'!r}, timeout=5, repeater=False).data[0])")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_")}
        out = subprocess.run([sys.executable, "-c", code], env={**clean, **env},
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "1.5", out.stderr
    assert not process_alive(pid)


def test_database_from_path_and_list(softioc_factory, tmp_path, pv_prefix):
    db = tmp_path / "two.db"
    db.write_text('record(stringout, "$(P)s") { field(VAL, "from a file") }\n')
    ioc = softioc_factory([db, SMALL_DB], macros={"P": pv_prefix})
    assert caget(pv_prefix + "s").data[0] == b"from a file"
    assert value_of(pv_prefix + "x") == 1.5
    assert ioc.db_files[0] == str(db.resolve())


def test_missing_database_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        SoftIoc(tmp_path / "missing.db")
    with pytest.raises(FileNotFoundError):
        SoftIoc("missing.db")


def test_broken_database_fails_with_its_output():
    before = set(kit_children())
    ioc = SoftIoc('record(ao, "$(P)x") { field(NOSUCHFIELD, "1") }', macros={"P": "bad:"},
                  start_timeout=60)
    with pytest.raises(IocError) as info:
        ioc.start()
    assert "exited with status" in str(info.value)
    assert "NOSUCHFIELD" in str(info.value) or "softioc failed" in str(info.value)
    assert not ioc.running and ioc.pid is None
    assert set(kit_children()) <= before


def test_start_timeout_kills_the_process():
    before = set(kit_children())
    never_ready = [sys.executable, "-c", "import time; time.sleep(120)"]
    server = SubprocessIoc(never_ready, start_timeout=1.0, name="sleeper")
    with pytest.raises(IocError, match="not ready within"):
        server.start()
    assert not server.running
    assert set(kit_children()) <= before


def test_stop_kills_a_server_that_ignores_sigterm():
    code = textwrap.dedent(f"""
        import signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print({READY_LINE!r}, flush=True)
        time.sleep(120)
    """)
    # no guard: the guard itself would pass SIGTERM on; here the server gets it directly
    server = SubprocessIoc([sys.executable, "-c", code], stop_timeout=1.0, guard=False,
                           name="stubborn")
    server.start()
    pid = server.pid
    server.stop()
    assert not process_alive(pid)
    assert server.returncode == -signal.SIGKILL


def test_subprocess_ioc_caproto_server(subprocess_ioc_factory, pv_prefix):
    """Any server command with the same lifecycle: here caproto's example IOC, ready when its TCP
    port accepts connections."""
    server = subprocess_ioc_factory(
        [sys.executable, "-m", "caproto.ioc_examples.simple", "--prefix", pv_prefix,
         "--list-pvs"], ready="tcp", name="caproto-simple")
    guard_pid = server.pid
    (child,) = children_of(guard_pid)
    assert value_of(pv_prefix + "A") == 1
    server.restart()
    assert value_of(pv_prefix + "A") == 1
    server.stop()
    assert not process_alive(guard_pid) and not process_alive(child)


def test_access_security_changes_at_run_time(softioc_factory, pv_prefix):
    softioc_factory(IOC_DB, macros={"P": pv_prefix}, asg=GUARDED_ACF)
    guarded = pv_prefix + "guarded"

    def write_sticks(value: float) -> bool:
        try:
            caput(guarded, value)
            return value_of(guarded) == value
        except Exception:
            return False

    # the IOC reads asg:write through its own CA client: writable once that link connects
    assert wait_until(lambda: write_sticks(3.5))
    caput(pv_prefix + "asg:write", 0)
    assert wait_until(lambda: not write_sticks(4.5))
    assert value_of(guarded) == 3.5
    caput(pv_prefix + "asg:write", 1)
    assert wait_until(lambda: write_sticks(5.5))


# ---- ports and environments ----------------------------------------------------------------------
def test_free_ports_are_distinct_and_free():
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    assert all(0 < port < 65536 for port in ports)
    assert not any(udp_port_bound(port) for port in ports)


def test_port_pool_take_and_release():
    pool = PortPool(2)
    first, second = pool.take(), pool.take()
    assert {first, second} == set(pool.ports)
    with pytest.raises(IocError):
        pool.take()
    pool.release(first)
    pool.release(first)
    assert pool.take() == first
    assert pool.repeater_port not in pool.ports
    environ: Dict[str, str] = {"EPICS_CA_ADDR_LIST": "old"}
    previous = pool.apply(environ)
    assert environ["EPICS_CA_ADDR_LIST"] == f"127.0.0.1:{first} 127.0.0.1:{second}"
    from epics.testing import restore_environment
    restore_environment(previous, environ)
    assert environ == {"EPICS_CA_ADDR_LIST": "old"}


def test_client_environment():
    env = client_environment([5100, 5200], 5300)
    assert env == {
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_ADDR_LIST": "127.0.0.1:5100 127.0.0.1:5200",
        "EPICS_CA_SERVER_PORT": "5100",
        "EPICS_CA_REPEATER_PORT": "5300",
        "EPICS_CA_MAX_ARRAY_BYTES": "16777216",
    }
    with pytest.raises(ValueError):
        client_environment([], 5300)


def test_unique_prefix():
    prefixes = {unique_prefix() for _ in range(100)}
    assert len(prefixes) == 100
    assert all(re.fullmatch(r"tst[0-9a-f]{6}:", p) for p in prefixes)


# ---- the plugin in a pytest session of its own ---------------------------------------------------
INNER_TEST = '''
import os, time
from pathlib import Path
from epics.testing import unique_prefix
from epics.testing.plugin import get_session

def children_of(pid):
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(entry)
        except (OSError, IndexError, ValueError):
            pass
    return found

def test_inner(softioc_factory, request):
    ioc = softioc_factory('record(ao, "$(P)x") {}', macros={"P": unique_prefix()})
    repeater = get_session(request.config).repeater  # a guard process and its caRepeater child
    pids = [ioc.pid, repeater.pid] + children_of(repeater.pid)
    Path(os.environ["KIT_PIDS"]).write_text(" ".join(map(str, pids)))
    if os.environ.get("KIT_HANG"):
        time.sleep(120)
    assert False, "this test fails on purpose"
'''


def _inner_pytest(tmp_path: Path, hang: bool) -> subprocess.Popen:
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EPICS_", "PYTEST_"))}
    env.update(KIT_PIDS=str(tmp_path / "pids"), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    if hang:
        env["KIT_HANG"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "epics.testing.plugin", "--epics-testing",
         "-p", "no:cacheprovider", "-q", "test_inner.py"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True)


def _read_pids(tmp_path: Path) -> List[int]:
    return [int(p) for p in (tmp_path / "pids").read_text().split() if int(p)]


def test_plugin_stops_iocs_of_a_failing_test(tmp_path):
    proc = _inner_pytest(tmp_path, hang=False)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 1, out  # the inner test failed, as it should
    assert b"1 failed" in out
    pids = _read_pids(tmp_path)
    assert len(pids) == 3  # the IOC, and the session's repeater (a guard and its child)
    assert wait_until(lambda: not any(process_alive(pid) for pid in pids), timeout=20)


def test_servers_end_when_the_test_process_is_killed(tmp_path):
    proc = _inner_pytest(tmp_path, hang=True)
    try:
        assert wait_until(lambda: (tmp_path / "pids").exists() and proc.poll() is None,
                          timeout=120), proc.stdout.read() if proc.poll() is not None else ""
        pids = _read_pids(tmp_path)
        assert len(pids) == 3
        os.kill(proc.pid, signal.SIGKILL)  # no teardown, no atexit
        proc.wait(timeout=30)
        # orphans notice end of file on stdin and leave
        assert wait_until(lambda: not any(process_alive(pid) for pid in pids), timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()


def test_factory_without_plugin_session_fails_clearly(tmp_path):
    (tmp_path / "test_off.py").write_text(
        "def test_off(softioc_factory):\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPICS_", "PYTEST_"))}
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "epics.testing.plugin", "-p",
                          "no:cacheprovider", "-q", "test_off.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 1
    assert "epics_testing = true" in out.stdout


# ---- caRepeater --------------------------------------------------------------------------------
def _repeater_command() -> List[str]:
    script = shutil.which("caRepeater", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "epics.cli.carepeater"]


def test_carepeater_binds_its_port_and_exits_on_sigterm():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_")}
    env["EPICS_CA_REPEATER_PORT"] = str(port)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(_repeater_command(), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: udp_port_bound(port) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.stdout.read()
        assert udp_port_bound(port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert wait_until(lambda: not udp_port_bound(port), timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
        proc.stdout.close()


def test_carepeater_leaves_when_the_port_is_taken():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_")}
    env["EPICS_CA_REPEATER_PORT"] = str(port)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with SubprocessIoc(_repeater_command(), port=port, repeater_port=port, ready="udp",
                       guard=False, name="caRepeater") as first:
        second = subprocess.run(_repeater_command(), env=env, stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=60)
        assert second.returncode == 0
        assert first.running
    assert not udp_port_bound(port)


# ---- CI ------------------------------------------------------------------------------------------
def test_ci_runs_the_readme_test_command():
    """.ci/run takes its command from README.md's test-command block: one fact, one place."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- test-command -->\s*```sh\n(.+?)\n```\s*<!-- /test-command -->",
                      readme, re.S)
    assert block is not None
    command = block.group(1)
    assert "\n" not in command
    assert "pip install -e '.[test]'" in command and "-m pytest" in command
    shown = subprocess.run(["bash", str(REPO / ".ci" / "run"), "--print-command"],
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == command


@pytest.mark.parametrize("status, expected", [(0, 0), (5, 1), (3, 3)])
def test_ci_treats_no_tests_collected_as_failure(tmp_path, status, expected):
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "README.md").write_text(
        f"<!-- test-command -->\n```sh\nbash -c \"exit {status}\"\n```\n<!-- /test-command -->\n")
    result = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == expected, result.stderr
