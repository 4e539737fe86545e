"""epics.archiver's engine against a real IOC, into SQLite: configuration, deadband, alarm
states, enum metadata, the maximum interval, gaps on disconnect, IOC restart, engine restart
through the CLI (nothing stored is lost), and the engine's buffer bound.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from epics import caput
from epics.archiver import (ConfigError, Engine, EngineSettings, PvPolicy, expand, load_config,
                            open_storage, select_share)
from epics.archiver.storage import DISCONNECTED_STATUS
from archiver_helpers import ARCHIVER_DB, DEADLINE, wait_until, write_config

FAST = EngineSettings(flush_interval=0.05, retry_interval=0.1, alert_poll=0.2)


def test_name_patterns_expand_like_shell_braces():
    assert expand("S:m{1..3}.RBV") == ["S:m1.RBV", "S:m2.RBV", "S:m3.RBV"]
    assert expand("T{08..10}") == ["T08", "T09", "T10"]
    assert expand("X[ab]:{lo,hi}") == ["Xa:lo", "Xa:hi", "Xb:lo", "Xb:hi"]
    with pytest.raises(ValueError, match="never closed"):
        expand("S:m{1..3")


def test_config_toml_and_ini_give_the_same_policies(tmp_path):
    toml = write_config(tmp_path / "a.toml", "sqlite:///x.db",
                        [("vac", ["V:ip{1..2}"], {"deadband": 0.5, "max_interval": 30.0})])
    ini = tmp_path / "a.ini"
    ini.write_text("[storage]\nurl = sqlite:///x.db\n[group:vac]\npvs = V:ip{1..2}\n"
                   "deadband = 0.5\nmax_interval = 30\n[page:main]\ntitle = Main\n"
                   "Vacuum = Pump 1 | V:ip1\n   Pump 2 | V:ip2\n")
    for path in (toml, ini):
        config = load_config(path)
        assert [(p.name, p.deadband, p.max_interval) for p in config.pvs] == \
            [("V:ip1", 0.5, 30.0), ("V:ip2", 0.5, 30.0)]
    page = load_config(ini).web.pages[0]
    assert page.sections[0].entries == (("Pump 1", "V:ip1"), ("Pump 2", "V:ip2"))
    assert load_config(ini).web.host == "127.0.0.1"   # localhost unless told otherwise


def test_config_errors_name_the_pv_and_the_file(tmp_path):
    path = write_config(tmp_path / "bad.toml", "sqlite:///x.db",
                        [("a", ["P:x"], {}), ("b", ["P:x"], {})])
    with pytest.raises(ConfigError, match=r"bad.toml.*P:x.*group 'a'"):
        load_config(path)
    path = write_config(tmp_path / "bad2.toml", "sqlite:///x.db",
                        [("a", ["P:x"], {"deadband": "wide"})])
    with pytest.raises(ConfigError, match="deadband"):
        load_config(path)


def test_shares_split_the_pvs_without_overlap():
    policies = [PvPolicy(f"S:pv{i}") for i in range(100)]
    shares = [select_share(policies, (i, 3)) for i in range(3)]
    names = [p.name for share in shares for p in share]
    assert sorted(names) == sorted(p.name for p in policies) and all(shares)


def test_a_pvs_history_keeps_the_order_its_updates_arrived_in():
    """A record never processed has no IOC time stamp: its first update is stamped on arrival,
    which can be after the IOC's stamp of the next update (a put right after connecting)."""
    from epics.archiver.policy import PvState, sample_from_update
    state = PvState(PvPolicy("T:temp"))
    first = state.offer(sample_from_update("T:temp", 0.0, 0, 0, 0, 0), now=1.0)
    ioc_stamp = first.t_ns - 1_000_000                 # 1 ms before the first one arrived
    second = state.offer(sample_from_update("T:temp", 1.0, 0, 0, ioc_stamp // 10**9,
                                            ioc_stamp % 10**9), now=1.1)
    assert (first.value, second.value) == (0.0, 1.0)
    assert second.t_ns == first.t_ns + 1
    later = first.t_ns + 5_000_000_000                 # an update stamped after: kept as it is
    third = state.offer(sample_from_update("T:temp", 2.0, 0, 0, later // 10**9,
                                           later % 10**9), now=1.2)
    assert third.t_ns == later


@pytest.fixture
def ioc(softioc_factory, pv_prefix):
    return softioc_factory(ARCHIVER_DB, macros={"P": pv_prefix}), pv_prefix


def values_of(storage, pv):
    return [s.value if s.value is not None else s.text
            for s in storage.samples(pv, 0, 2**62, include_previous=False)]


def test_deadband_alarm_states_enums_and_gaps(ioc, tmp_path):
    softioc, prefix = ioc
    temp, mode, msg = prefix + "temp", prefix + "mode", prefix + "msg"
    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = Engine([PvPolicy(temp, deadband=0.5), PvPolicy(mode), PvPolicy(msg)],
                    open_storage(url), FAST).start()
    reader = open_storage(url)
    try:
        wait_until(lambda: engine.status().connected == 3, what="3 PVs connected")
        for value in (1.0, 1.2, 2.0, 60.0, 90.0):
            caput(temp, value, wait=True)
        caput(mode, 2, wait=True)
        caput(msg, "beam on", wait=True)
        wait_until(lambda: values_of(reader, temp)[-1:] == [90.0], what="temp stored")
        # 1.2 is within the deadband of 1.0; the initial 0.0 and every alarm change are kept
        assert values_of(reader, temp) == [0.0, 1.0, 2.0, 60.0, 90.0]
        severities = [s.severity for s in reader.samples(temp, 0, 2**62)]
        assert severities[-2:] == [1, 2]          # MINOR at 60, MAJOR at 90
        wait_until(lambda: values_of(reader, mode)[-1:] == [2.0], what="mode stored")
        wait_until(lambda: values_of(reader, msg)[-1:] == ["beam on"], what="msg stored")
        wait_until(lambda: (reader.pv_info(mode) or None) and reader.pv_info(mode).enum_strs,
                   what="enum strings stored")
        assert reader.pv_info(mode).enum_strs[:3] == ("Off", "On", "Auto")
        assert reader.pv_info(temp).units == "degC" and reader.pv_info(temp).precision == 2
        assert reader.pv_info(msg).kind == "string"

        softioc.stop()
        wait_until(lambda: reader.latest([temp]).get(temp) and
                   reader.latest([temp])[temp].is_gap, what="gap stored on disconnect")
        assert reader.latest([temp])[temp].status == DISCONNECTED_STATUS
        softioc.start()   # the IOC restarts with its initial values: archived again
        wait_until(lambda: values_of(reader, temp)[-1:] == [0.0], what="value after restart")
        stored = reader.samples(temp, 0, 2**62, include_previous=False)
        assert [s.is_gap for s in stored] == [False] * 5 + [True, False]
    finally:
        engine.stop()
        reader.close()


def test_max_interval_stores_an_unchanging_value_again(ioc, tmp_path):
    _, prefix = ioc
    quiet = prefix + "quiet"
    url = f"sqlite:///{tmp_path / 'q.db'}"
    with Engine([PvPolicy(quiet, max_interval=0.3)], open_storage(url), FAST):
        reader = open_storage(url)
        wait_until(lambda: reader.count(quiet) >= 4, what="repeated samples")
        samples = reader.samples(quiet, 0, 2**62, include_previous=False)
        assert {s.value for s in samples} == {7.0}
        assert all(b.t_ns > a.t_ns for a, b in zip(samples, samples[1:]))
        reader.close()


def run_engine_cli(config, env=None):
    return subprocess.Popen([sys.executable, "-m", "epics.archiver", "run", "--config",
                             str(config), "--status-every", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env or os.environ.copy())


def stop_cli(process):
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"the engine did not stop on SIGTERM:\n{output}")
    return process.returncode, output


def test_engine_restart_through_the_cli_loses_nothing(ioc, tmp_path):
    _, prefix = ioc
    counter = prefix + "count"
    url = f"sqlite:///{tmp_path / 'r.db'}"
    config = write_config(tmp_path / "r.toml", url, [("c", [counter], {})])
    reader = open_storage(url)
    counts = []
    for _ in range(2):
        process = run_engine_cli(config)
        try:
            before = reader.count(counter) if counts else 0
            wait_until(lambda: reader.count(counter) >= before + 10, what="counter archived")
        finally:
            code, output = stop_cli(process)
        assert code == 0, output
        assert "0 not written" in output
        counts.append(reader.count(counter))
    # The second run added to the first: everything the first stored is still there, and the
    # counter's values only go up.
    values = values_of(reader, counter)
    assert counts[1] > counts[0] and len(values) == counts[1]
    assert values == sorted(values) and len(set(values)) == len(values)
    reader.close()


def test_hash_password_cli_makes_a_hash_that_checks():
    from epics.archiver.passwords import check_password
    result = subprocess.run([sys.executable, "-m", "epics.archiver", "hash-password", "--stdin"],
                            input="s3cret\n", capture_output=True, text=True, timeout=DEADLINE)
    hashed = result.stdout.strip()
    assert hashed.startswith("pbkdf2_sha256$") and "s3cret" not in hashed
    assert check_password("s3cret", hashed) and not check_password("secret", hashed)


def test_a_bad_config_is_a_clear_cli_error(tmp_path):
    path = tmp_path / "bad.ini"
    path.write_text("[group:g]\npvs = S:m{1..3\n")
    result = subprocess.run([sys.executable, "-m", "epics.archiver", "run", "--config",
                             str(path)], capture_output=True, text=True, timeout=DEADLINE)
    assert result.returncode == 2 and "bad.ini [group g]" in result.stderr
    assert "never closed" in result.stderr
