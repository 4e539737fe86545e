"""ophyd-async (its CA backend is aioca, on the same libca) and epics in one process.

Not collected by the suite: tests/test_ophyd_async.py runs it as a script against a softioc, so
that it can time how long the process takes to exit. Argument: the PV prefix (records ``x``, an
ao, and ``text``, a stringout). Prints ``CHECKED`` once every check passed, then exits; any
failure raises (exit status 1).
"""
import asyncio
import sys

import epics
from ophyd_async.core import observe_value
from ophyd_async.epics.core import epics_signal_rw

TIMEOUT = 10.0


async def check(prefix: str) -> None:
    value = epics_signal_rw(float, f"ca://{prefix}x", name="x")
    text = epics_signal_rw(str, f"ca://{prefix}text", name="text")
    await value.connect(timeout=TIMEOUT)
    await text.connect(timeout=TIMEOUT)
    pv = epics.get_pv(f"{prefix}x")
    assert pv.wait_for_connection(timeout=TIMEOUT)

    # ophyd-async writes, epics reads (a fresh read and the monitored value)
    await value.set(2.5, timeout=TIMEOUT)
    assert epics.caget(f"{prefix}x", use_monitor=False) == 2.5
    # epics writes, ophyd-async reads
    assert epics.caput(f"{prefix}x", 4.0, wait=True, timeout=TIMEOUT) == 1
    assert await value.get_value() == 4.0
    await text.set("from ophyd-async", timeout=TIMEOUT)
    assert epics.caget(f"{prefix}text") == "from ophyd-async"
    epics.caput(f"{prefix}text", "from epics", wait=True)
    assert await text.get_value() == "from epics"

    # monitors on both sides see a write from the other
    seen = []
    pv.add_callback(lambda value=None, **kws: seen.append(value))
    updates = []

    async def watch() -> None:
        async for update in observe_value(value, timeout=TIMEOUT):
            updates.append(update)
            if update == 7.0:
                return

    watcher = asyncio.ensure_future(watch())
    await asyncio.sleep(0.2)
    epics.caput(f"{prefix}x", 7.0, wait=True)
    await asyncio.wait_for(watcher, TIMEOUT)
    await value.set(8.0, timeout=TIMEOUT)
    for _ in range(100):
        if 8.0 in seen:
            break
        await asyncio.sleep(0.05)
    assert 7.0 in updates and 8.0 in seen, (updates, seen)


if __name__ == "__main__":
    asyncio.run(check(sys.argv[1]))
    sys.stdout.write("CHECKED\n")
    sys.stdout.flush()
