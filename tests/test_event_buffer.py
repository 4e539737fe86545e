"""Monitor updates reach Python through the compiled event buffer, or, where it was not built,
through the pure-Python path: both deliver every update, in order. When updates come faster than
the callbacks take them, the buffer's flow control keeps the backlog bounded."""
from __future__ import annotations

import json
import subprocess
import sys

from epics import ca
from test_ca_helpers import last_line, restored, run_python


def run_python_script(script: str, *argv: str) -> subprocess.CompletedProcess:
    """Run ``script`` with arguments in a fresh interpreter with the session's CA environment."""
    return run_python(f"import sys; sys.argv = {['-c', *argv]!r}\n" + script)

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


# ---- flow control --------------------------------------------------------------------------------

#: A waveform of 64 kB that the IOC posts ten times a second.
BIG_AND_FAST_DB = """
record(waveform, "$(P)image") {
    field(FTVL, "DOUBLE")
    field(NELM, "8192")
    field(SCAN, ".1 second")
}
record(ao, "$(P)other") {
    field(VAL, "4.5")
    field(PINI, "YES")
}
"""
#: The child's flow-control limit: four of those updates.
LIMIT = 4 * 8192 * 8

FLOW_CONTROL_SCRIPT = r"""
import json, sys, threading, time
from epics import _dispatch
_dispatch.MONITOR_BACKLOG_BYTES = int(sys.argv[2])
import epics
prefix = sys.argv[1]
got, during = [], {}
release = threading.Event()

def on_update(value=None, **kwargs):
    got.append(time.monotonic())
    if len(got) == 1:            # hold the dispatcher for 3 s, as a slow callback would
        time.sleep(2.0)
        during.update(_dispatch.event_buffer_stats())
        # flow control must not hold back the answer of a get made from a callback (what is
        # ahead of the answer in the server's stream comes in with it)
        during["other"] = epics.caget(prefix + "other", timeout=5)
        release.wait(1.0)

assert epics.caput(prefix + "image", list(range(8192)), wait=True, timeout=10) == 1   # 64 kB
image = epics.PV(prefix + "image", callback=on_update)
assert image.wait_for_connection(10)
deadline = time.monotonic() + 20
while len(got) < 5 and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({"updates": len(got), **during}))
"""


def test_a_blocked_callback_does_not_make_the_process_buffer_without_bound(softioc_factory,
                                                                             pv_prefix):
    # Updates of 64 kB arrive ten times a second while the only callback thread is held: in
    # 2 s about 1.3 MB would pile up. With the limit at four updates, libca's receive thread
    # waits instead (the server then keeps only the latest value), a get from the callback is
    # still answered, and updates flow again once the callback returns.
    softioc_factory(BIG_AND_FAST_DB, macros={"P": pv_prefix})
    result = run_python_script(FLOW_CONTROL_SCRIPT, pv_prefix, str(LIMIT))
    stats = json.loads(last_line(result))
    assert stats["other"] == 4.5
    assert stats["updates"] >= 5, stats
    assert stats["held_back"] > 0, stats
    # past the limit, each update waits up to 1 s: a few may still come in during the 2 s
    one_update = 8192 * 8 + 64    # the data and its headers
    assert stats["peak_bytes"] <= LIMIT + 4 * one_update, stats
