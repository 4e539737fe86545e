"""The short soak: 50,000 monitor events and 1,000 PV create/clear cycles after a warm-up, with the
resident memory growth printed and bounded.

It runs ``bench/soak.py`` (the full soak, see ``bench/SOAK.md``) with small counts, in a fresh
process: a clean interpreter measures the library's memory rather than whatever the test session
accumulated, and the script starts its own IOC on a port of the session's pool.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from test_ca_helpers import REPO_ROOT, SUBPROCESS_DEADLINE

SOAK_SCRIPT = REPO_ROOT / "bench" / "soak.py"
EVENTS = 50_000
CYCLES = 1_000
#: 1,000 counter records: 10,000 events/s.
RECORDS = 1_000
#: The bound on the RSS growth after warm-up (the full soak's limit too).
LIMIT_MB = 5.0
#: The script's own deadline, and ours a little later (a hang check).
SOAK_TIMEOUT = 240.0


@pytest.fixture
def soak_port(epics_port_pool):
    port = epics_port_pool.take()
    try:
        yield port
    finally:
        epics_port_pool.release(port)


def test_short_soak_memory_growth_is_bounded(soak_port, epics_port_pool):
    command = [sys.executable, str(SOAK_SCRIPT), "--events", str(EVENTS), "--cycles",
               str(CYCLES), "--records", str(RECORDS), "--limit-mb", str(LIMIT_MB),
               "--timeout", str(SOAK_TIMEOUT), "--port", str(soak_port),
               "--repeater-port", str(epics_port_pool.repeater_port)]
    completed = subprocess.run(command, cwd=str(REPO_ROOT), capture_output=True, text=True,
                               timeout=SOAK_TIMEOUT + SUBPROCESS_DEADLINE)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result line (exit {completed.returncode})\n{completed.stderr}"
    result = json.loads(lines[-1])
    print(f"\nshort soak: RSS growth after warm-up {result.get('rss_growth_mb')} MB "
          f"(limit {LIMIT_MB} MB) over {result.get('events')} events and "
          f"{result.get('cycles')} PV create/clear cycles, in {result.get('seconds')} s")
    assert "error" not in result, f"{result['error']}\n{completed.stderr}"
    assert result["timed_out"] is False, completed.stderr
    assert result["events"] >= EVENTS
    assert result["cycles"] >= CYCLES
    assert result["not_connected"] == 0 and result["no_value"] == 0
    assert result["rss_growth_mb"] < LIMIT_MB
    assert result["ok"] is True and completed.returncode == 0, completed.stderr
