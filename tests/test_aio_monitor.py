"""epics.aio's camonitor and Subscription, and the async PV with its bounded monitor, against a
real IOC (tests/aio.db): plain and coroutine callbacks, merged and all updates, formats,
disconnect and connect-timeout notices, close, and the drop count of a slow consumer."""
from __future__ import annotations

import asyncio

import pytest

import epics.aio as aio
from aio_helpers import DEADLINE, aio_ioc  # noqa: F401

pytestmark = pytest.mark.asyncio


async def until(condition, what: str) -> None:
    """Wait (bounded by DEADLINE) until ``condition()`` is true."""
    for _ in range(int(DEADLINE / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_camonitor_with_a_plain_callback_sees_every_put(aio_ioc):
    seen = []
    subscription = aio.camonitor(aio_ioc.pv("ai"), seen.append, all_updates=True,
                                 format=aio.FORMAT_TIME)
    assert subscription.state == aio.Subscription.OPENING
    await until(lambda: seen, "the first update")
    assert subscription.state == aio.Subscription.OPEN
    for value in (10.0, 20.0, 30.0):
        await aio.caput(aio_ioc.pv("ao"), value, wait=True)
    await until(lambda: seen[-1] == 30.0, "the last put")
    assert [v for v in seen[1:]] == [10.0, 20.0, 30.0]
    assert all(v.name == aio_ioc.pv("ai") and v.ok and v.timestamp > 0 for v in seen)
    assert [i.subscriber_count for i in aio.get_channel_infos()
            if i.name == aio_ioc.pv("ai")] == [1]
    subscription.close()
    subscription.close()   # idempotent
    assert subscription.state == aio.Subscription.CLOSED
    count = len(seen)
    await aio.caput(aio_ioc.pv("ao"), 40.0, wait=True)
    await asyncio.sleep(0.2)
    assert len(seen) == count     # nothing after close


async def test_camonitor_with_a_coroutine_callback_merges_updates_while_it_is_busy(aio_ioc):
    seen = []

    async def slow_callback(value):
        seen.append(value)
        await asyncio.sleep(0.3)

    subscription = aio.camonitor(aio_ioc.pv("ai"), slow_callback)
    await until(lambda: seen, "the first update")
    for value in range(1, 11):
        await aio.caput(aio_ioc.pv("ao"), float(value), wait=True)
    await until(lambda: seen[-1] == 10.0, "the latest value")
    subscription.close()
    assert len(seen) < 11 and subscription.dropped_callbacks > 0   # merged, not queued
    assert seen[-1] == 10.0


async def test_camonitor_of_a_list_passes_the_index_and_ctrl_format(aio_ioc):
    seen = {}
    subscriptions = aio.camonitor([aio_ioc.pv("ao"), aio_ioc.pv("mbbo")],
                                  lambda value, index: seen.setdefault(index, value),
                                  format=aio.FORMAT_CTRL)
    await until(lambda: len(seen) == 2, "both first updates")
    assert seen[0].units == "mm" and seen[1].enums == ["Off", "On", "Standby"]
    for subscription in subscriptions:
        subscription.close()


async def test_connect_timeout_is_told_once_and_the_subscription_keeps_waiting(aio_ioc):
    seen = []
    subscription = aio.camonitor("aio:test:no:such:pv", seen.append, connect_timeout=0.2)
    await until(lambda: seen, "the connect timeout")
    assert not seen[0] and seen[0].errorcode == 80
    assert subscription.state == aio.Subscription.OPENING
    subscription.close()


async def test_a_raising_callback_is_logged_and_closes_the_subscription(aio_ioc, caplog):
    def broken(value):
        raise RuntimeError("broken callback")

    subscription = aio.camonitor(aio_ioc.pv("counter"), broken)
    await until(lambda: subscription.state == aio.Subscription.CLOSED, "the close")
    assert "broken callback" in caplog.text and aio_ioc.pv("counter") in caplog.text
    assert (await aio.caget(aio_ioc.pv("long"))) is not None    # the loop lives on


async def test_async_pv_get_put_and_ctrlvars(aio_ioc):
    async with aio.PV(aio_ioc.pv("ao")) as pv:
        assert pv.connected and pv.count == 1 and pv.read_access and pv.write_access
        await pv.put(2.25, wait=True)
        value = await pv.get()
        assert value == 2.25 and value.severity == 0
        ctrl = await pv.get_ctrlvars()
        assert (ctrl["units"], ctrl["precision"], ctrl["upper_ctrl_limit"]) == ("mm", 3, 90)
        meta = await pv.get_with_metadata(form="ctrl")
        assert meta["value"] == 2.25 and meta["units"] == "mm"
        assert await pv.get(as_string=True) == "2.25"
    async with aio.PV(aio_ioc.pv("mbbo")) as pv:
        await pv.put(1, wait=True)
        assert await pv.get(as_string=True) == "On"
        assert (await pv.get_ctrlvars())["enum_strs"] == ("Off", "On", "Standby")
    with pytest.raises(aio.CANothing):
        async with aio.PV("aio:test:no:such:pv", timeout=0.2):
            pass
    assert not await aio.PV("aio:test:no:such:pv").wait_for_connection(0.1)


async def test_pv_monitor_drops_the_oldest_when_the_consumer_is_behind(aio_ioc):
    async with aio.PV(aio_ioc.pv("ai")) as pv:
        async with pv.monitor(maxsize=3) as updates:
            first = await asyncio.wait_for(updates.__anext__(), DEADLINE)
            for value in range(1, 9):          # nobody reads meanwhile
                await aio.caput(aio_ioc.pv("ao"), float(value), wait=True)
            await until(lambda: len(updates) == 3 and updates.dropped == 5, "5 drops")
            got = [await updates.__anext__() for _ in range(3)]
            assert got == [6.0, 7.0, 8.0] and first.name == pv.pvname
        assert updates.closed
        assert [v async for v in updates] == []    # closed and read: the iteration ends


async def test_pv_monitor_latest_only_and_async_for(aio_ioc):
    async with aio.PV(aio_ioc.pv("ai")) as pv:
        updates = pv.monitor(latest_only=True)
        await asyncio.wait_for(updates.__anext__(), DEADLINE)
        for value in (1.0, 2.0, 3.0):
            await aio.caput(aio_ioc.pv("ao"), value, wait=True)
        await until(lambda: updates.dropped >= 2, "2 drops")
        async for value in updates:
            assert value == 3.0
            break
        await aio.caput(aio_ioc.pv("ao"), 4.0, wait=True)
        assert await asyncio.wait_for(updates.__anext__(), DEADLINE) == 4.0
    assert updates.closed       # closing the PV closed its monitor
