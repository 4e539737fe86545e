"""Clearing a channel while another thread is using it must never crash the process.

The user of a channel and the code that releases it often live in different threads (ophyd
releases PVs while its metadata thread still reads them): the release must leave the other
thread an error, not freed memory. Run in a child process, since a failure here is a crash.
"""
from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import sys, threading, time
from epics import ca
name = sys.argv[1]
stop = time.monotonic() + 3.0
errors = {"raised": 0, "done": 0}

def use(chid):
    try:
        ca.field_type(chid); ca.element_count(chid); ca.host_name(chid)
        ca.get(chid, timeout=0.5)
        errors["done"] += 1
    except ca.ChannelAccessException:
        errors["raised"] += 1

def user(chids):
    while time.monotonic() < stop:
        for chid in list(chids):
            use(chid)
        time.sleep(0.0002)

chids = []
threads = [threading.Thread(target=user, args=(chids,)) for _ in range(3)]
for thread in threads:
    thread.start()
rounds = 0
while time.monotonic() < stop:
    chid = ca.create_channel(name, connect=True)
    chids.append(chid)
    time.sleep(0.002)
    chids.remove(chid)
    ca.clear_channel(chid)
    rounds += 1
for thread in threads:
    thread.join(10)
print("rounds", rounds, "uses", errors["done"], "refused", errors["raised"])
"""


def test_clearing_a_channel_another_thread_uses_does_not_crash(ioc):
    result = subprocess.run([sys.executable, "-c", SCRIPT, ioc.pv("ao")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    words = result.stdout.split()
    assert words[0] == "rounds" and int(words[1]) > 10 and int(words[3]) > 0, result.stdout
