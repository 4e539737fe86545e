"""ophyd-async and epics in one process: both read and write one softioc, and the process exits
in under 2 s.

ophyd-async's CA backend is aioca, which runs its own CA context on the same libca
(epicscorelibs) as this package. The checks run in a child process (tests/ophyd_async_case.py)
so that the exit itself is timed: from the line the script prints after its last check to the
end of the process. Skipped when ophyd-async is not installed (it is in the test extras).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

CASE = Path(__file__).resolve().parent / "ophyd_async_case.py"
#: Seconds the child may take for its checks (imports of ophyd-async and bluesky take a while).
CASE_TIMEOUT = 120.0
#: Most seconds from the last check to the end of the process (the issue's bound).
EXIT_BOUND = 2.0

DB = """
record(ao, "$(P)x") { field(VAL, "0") field(PINI, "YES") }
record(stringout, "$(P)text") { field(VAL, "start") field(PINI, "YES") }
"""


def test_ophyd_async_and_epics_share_a_process(softioc_factory, pv_prefix, tmp_path):
    pytest.importorskip("ophyd_async", reason="ophyd-async is not installed (it is in the test "
                                              "extras)")
    pytest.importorskip("aioca", reason="aioca is not installed (ophyd-async's CA backend)")
    ioc = softioc_factory(DB, macros={"P": pv_prefix})
    env = dict(__import__("os").environ, **ioc.client_env())
    child = subprocess.Popen([sys.executable, str(CASE), pv_prefix], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    checked_at = None
    try:
        deadline = time.monotonic() + CASE_TIMEOUT
        for line in child.stdout:                     # ends when the child closes its output
            lines.append(line)
            if line.strip() == "CHECKED":
                checked_at = time.monotonic()
            if time.monotonic() > deadline:
                break
        child.wait(timeout=max(deadline - time.monotonic(), 1.0))
        ended_at = time.monotonic()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    output = "".join(lines)
    assert child.returncode == 0, output
    assert checked_at is not None, output
    assert ended_at - checked_at < EXIT_BOUND, (
        f"the process took {ended_at - checked_at:.2f} s to exit after its checks\n{output}")
