"""Monitor updates reach Python through the compiled event buffer, or, where it was not built,
through the pure-Python path: both deliver every update, in order."""
from __future__ import annotations

import subprocess
import sys

from epics import ca
from test_ca_helpers import restored

SCRIPT = r"""
import sys, time
import epics
from epics import _libca
if sys.argv[2] == "python":
    _libca.find_evbuf = lambda: None          # as on a machine without a C compiler
pv = epics.PV(sys.argv[1] + "ao")
assert pv.wait_for_connection(10)
seen = []
pv.put(0.0, wait=True)
pv.add_callback(lambda value=None, **kw: seen.append(value))
for value in range(1, 51):
    pv.put(float(value), wait=True)
deadline = time.monotonic() + 10
while (not seen or seen[-1] != 50.0) and time.monotonic() < deadline:
    time.sleep(0.01)
print(epics.ca.event_buffer_in_use(), seen[-1], seen[-50:] == [float(v) for v in range(1, 51)])
"""


def _run(ioc, path: str) -> list:
    with restored(ioc.pv("ao")):
        result = subprocess.run([sys.executable, "-c", SCRIPT, ioc.prefix, path],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_event_buffer_is_built_and_used(ioc):
    # CI machines have a C compiler: a silent build failure would show up here
    assert _run(ioc, "buffer") == ["True", "50.0", "True"]


def test_without_the_event_buffer_updates_still_arrive_in_order(ioc):
    assert _run(ioc, "python") == ["False", "50.0", "True"]


def test_this_process_uses_the_event_buffer(ioc):
    ca.create_channel(ioc.pv("ao"), connect=True)
    assert ca.event_buffer_in_use()
