"""Cancellation and shutdown of epics.aio against a real IOC (tests/aio.db): a cancelled get, put
or connect leaves nothing behind; closing a loop with live subscriptions returns at once and
releases them; several loops in several threads work side by side; a process exits promptly."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest

import epics.aio as aio
from epics import ca
from aio_helpers import DEADLINE, aio_ioc  # noqa: F401

NOWHERE = "aio:test:lifecycle:no:such:pv"


def _waiters(name: str) -> int:
    return len(aio._channels.channel_cache().get(name)._waiters)


@pytest.mark.asyncio
async def test_cancelling_a_get_put_or_connect_releases_its_waiter(aio_ioc):
    for start in (lambda: aio.caget(NOWHERE), lambda: aio.caput(NOWHERE, 1, wait=True),
                  lambda: aio.connect(NOWHERE), lambda: aio.caget([NOWHERE, NOWHERE])):
        task = asyncio.ensure_future(start())
        await asyncio.sleep(0.05)
        assert _waiters(NOWHERE) >= 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _waiters(NOWHERE) == 0
    # a put with callback cancelled while the server works: its answer later is dropped
    task = asyncio.ensure_future(aio.caput(aio_ioc.pv("slow"), 2.0, wait=True))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.6)
    assert await aio.caget(aio_ioc.pv("slow:done")) == 2.0
    channels = len(aio.get_channel_infos())
    for _ in range(20):                               # repeated timeouts: no channel per call
        assert not await aio.caget(NOWHERE, timeout=0.01, throw=False)
    assert len(aio.get_channel_infos()) == channels


def test_closing_a_loop_with_live_subscriptions_returns_promptly_and_releases_them(aio_ioc):
    name = aio_ioc.pv("counter")
    seen = []

    async def subscribe_and_leave():
        aio.camonitor(name, seen.append)
        async def coroutine_callback(value):
            await asyncio.sleep(0)
        aio.camonitor(name, coroutine_callback)
        pv = aio.PV(name)
        pv.monitor()
        for _ in range(int(DEADLINE / 0.02)):
            if seen:
                break
            await asyncio.sleep(0.02)
        return len(ca.get_cache(name).subscriptions)

    started = time.monotonic()
    live = asyncio.run(subscribe_and_leave())     # asyncio.run cancels tasks and closes
    assert time.monotonic() - started < DEADLINE
    assert live == 3 and seen
    # the libca subscriptions went with the loop (cancelled with its tasks, or at the next
    # update that found the loop closed)
    for _ in range(100):
        if not ca.get_cache(name) or not ca.get_cache(name).subscriptions:
            break
        time.sleep(0.02)
    assert not ca.get_cache(name) or ca.get_cache(name).subscriptions == ()


def test_a_loop_closed_without_cancelling_is_released_at_its_next_update(aio_ioc):
    name = aio_ioc.pv("counter")
    loop = asyncio.new_event_loop()
    seen = []

    async def subscribe():
        aio.camonitor(name, seen.append)
        while not seen:
            await asyncio.sleep(0.02)
    loop.run_until_complete(asyncio.wait_for(subscribe(), DEADLINE))
    loop.close()                  # no cancellation of the subscription's task
    for _ in range(100):
        if not ca.get_cache(name) or not ca.get_cache(name).subscriptions:
            break
        time.sleep(0.02)
    assert not ca.get_cache(name) or ca.get_cache(name).subscriptions == ()


def test_several_loops_in_several_threads(aio_ioc):
    names = [aio_ioc.pv(n) for n in ("ao", "long", "string")]
    results, errors = {}, []

    def worker(index: int) -> None:
        async def work():
            seen = []
            subscription = aio.camonitor(aio_ioc.pv("counter"), seen.append)
            values = []
            for _ in range(10):
                values.append(await aio.caget(names, timeout=DEADLINE))
            while len(seen) < 2:
                await asyncio.sleep(0.02)
            subscription.close()
            return values[-1]
        try:
            results[index] = asyncio.run(asyncio.wait_for(work(), DEADLINE * 2))
        except Exception as exc:   # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE * 3)
    assert errors == [] and len(results) == 4
    assert len({tuple(map(str, values)) for values in results.values()}) == 1


def test_a_process_with_live_subscriptions_exits_promptly(aio_ioc):
    code = f"""
import asyncio, epics.aio as aio
async def main():
    seen = []
    aio.camonitor({aio_ioc.pv('counter')!r}, seen.append)
    aio.camonitor({NOWHERE!r}, seen.append)
    while not seen:
        await asyncio.sleep(0.02)
    print("subscribed", flush=True)
loop = asyncio.new_event_loop()
loop.run_until_complete(main())   # the loop is left open, its subscriptions live
"""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert "subscribed" in done.stdout
    assert time.monotonic() - started < 15


@pytest.mark.asyncio
async def test_notify_disconnect_and_the_updates_after_the_ioc_restarts(softioc_factory,
                                                                        pv_prefix):
    ioc = softioc_factory(f'record(ao, "{pv_prefix}x") {{ field(PINI, "YES") field(VAL, "3") }}')
    name = pv_prefix + "x"
    seen = []
    subscription = aio.camonitor(name, seen.append, notify_disconnect=True)
    quiet = aio.camonitor(name, lambda value: None if value else seen.append("told anyway"))

    async def until(condition, what, seconds=DEADLINE):
        for _ in range(int(seconds / 0.02)):
            if condition():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; seen {seen}")

    await until(lambda: seen == [3.0], "the first value")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ioc.stop)
    await until(lambda: len(seen) == 2, "the disconnect notice")
    assert isinstance(seen[1], aio.CANothing) and seen[1].errorcode == 192 and not seen[1]
    assert not await aio.caget(name, timeout=0.2, throw=False)
    await loop.run_in_executor(None, ioc.start)
    # libca searches for the channels of a lost circuit again on its disconnect governor's
    # timer (every 10 s), so the reconnection may take that long
    await until(lambda: len(seen) == 3, "the value after the restart", seconds=30)
    assert seen[2] == 3.0 and subscription.state == aio.Subscription.OPEN
    assert await aio.caget(name, timeout=DEADLINE) == 3.0
    subscription.close()
    quiet.close()


def test_run_is_deprecated_as_in_aioca_but_runs(aio_ioc):
    with pytest.warns(DeprecationWarning, match="asyncio.run"):
        assert aio.run(aio.caget(aio_ioc.pv("ao"), datatype=aio.DBR_CLASS_NAME)) == "ao"


@pytest.mark.asyncio
async def test_purge_channel_caches_closes_channels_and_subscriptions(aio_ioc):
    subscription = aio.camonitor(aio_ioc.pv("counter"), lambda value: None)
    await aio.caget(aio_ioc.pv("long"))
    assert {i.name for i in aio.get_channel_infos()} >= {aio_ioc.pv("long"),
                                                          aio_ioc.pv("counter")}
    aio.purge_channel_caches()
    assert subscription.state == aio.Subscription.CLOSED
    assert aio.get_channel_infos() == []
    assert await aio.caget(aio_ioc.pv("long"), timeout=DEADLINE) is not None   # opens anew
