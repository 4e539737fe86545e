"""epics.aio's aioca functions against a real IOC (tests/aio.db): caget's augmented values in
every format, requests by datatype, lists read concurrently, caput with and without put-callback,
connect, cainfo, timeouts (seconds, absolute deadline) and throw=False."""
from __future__ import annotations

import asyncio
import datetime
import time

import numpy as np
import pytest

import epics
import epics.aio as aio
from aio_helpers import DEADLINE, aio_ioc  # noqa: F401

pytestmark = pytest.mark.asyncio

#: aioca 2.1's __all__, every name of which epics.aio provides.
AIOCA_NAMES = [
    "Subscription", "caput", "caget", "camonitor", "connect", "cainfo", "CAInfo", "CANothing",
    "ChannelInfo", "get_channel_infos", "purge_channel_caches", "run", "__version__",
    "DBE_VALUE", "DBE_LOG", "DBE_ALARM", "DBE_PROPERTY", "DBR_STRING", "DBR_SHORT", "DBR_FLOAT",
    "DBR_ENUM", "DBR_CHAR", "DBR_LONG", "DBR_DOUBLE", "DBR_CHAR_STR", "DBR_CHAR_UNICODE",
    "DBR_ENUM_STR", "DBR_CHAR_BYTES", "DBR_PUT_ACKT", "DBR_PUT_ACKS", "DBR_STSACK_STRING",
    "DBR_CLASS_NAME", "FORMAT_RAW", "FORMAT_TIME", "FORMAT_CTRL", "ca_extra_fields",
]
NOWHERE = "aio:test:no:such:pv"


async def test_every_name_of_aiocas_api_is_there():
    assert [name for name in AIOCA_NAMES if not hasattr(aio, name)] == []
    assert set(AIOCA_NAMES) <= set(aio.__all__)
    assert (aio.DBR_CHAR_STR, aio.DBR_ENUM_STR, aio.FORMAT_CTRL, aio.DBE_PROPERTY) == \
        (999, 996, 2, 8)


async def test_caget_gives_augmented_values_of_the_native_type(aio_ioc):
    value = await aio.caget(aio_ioc.pv("ao"))
    assert value == 1.5 and isinstance(value, float) and isinstance(value, aio._values.ca_float)
    assert (value.name, value.ok, value.datatype, value.element_count) == \
        (aio_ioc.pv("ao"), True, aio.DBR_DOUBLE, 1)
    assert await aio.caget(aio_ioc.pv("long")) == 42
    assert await aio.caget(aio_ioc.pv("string")) == "hello"
    array = await aio.caget(aio_ioc.pv("wf"))
    assert isinstance(array, np.ndarray) and array.tolist() == [1.0, 2.0, 3.0]
    assert array.element_count == 16


async def test_caget_time_and_ctrl_formats_bring_metadata(aio_ioc):
    before = time.time()
    await aio.caput(aio_ioc.pv("ao"), 1.5, wait=True)
    timed = await aio.caget(aio_ioc.pv("ao"), format=aio.FORMAT_TIME)
    assert (timed.status, timed.severity) == (0, 0)
    assert before - 1 <= timed.timestamp <= time.time() + 1
    assert timed.raw_stamp[0] == int(timed.timestamp) and 0 <= timed.raw_stamp[1] < 1e9
    assert isinstance(timed.datetime, datetime.datetime)
    ctrl = await aio.caget(aio_ioc.pv("ao"), format=aio.FORMAT_CTRL)
    assert (ctrl.units, ctrl.precision) == ("mm", 3)
    assert (ctrl.lower_disp_limit, ctrl.upper_disp_limit) == (-100, 100)
    assert (ctrl.lower_ctrl_limit, ctrl.upper_ctrl_limit) == (-90, 90)
    assert (ctrl.upper_warning_limit, ctrl.upper_alarm_limit) == (60, 80)
    enum = await aio.caget(aio_ioc.pv("mbbo"), format=aio.FORMAT_CTRL)
    assert enum == 1 and enum.enums == ["Off", "On", "Standby"]


async def test_caget_datatype_requests(aio_ioc):
    assert await aio.caget(aio_ioc.pv("mbbo"), datatype=aio.DBR_ENUM_STR) == "On"
    assert await aio.caget(aio_ioc.pv("ao"), datatype=aio.DBR_ENUM_STR) == 1.5
    assert await aio.caget(aio_ioc.pv("text"), datatype=aio.DBR_CHAR_STR) == "a long text"
    assert await aio.caget(aio_ioc.pv("text"), datatype=aio.DBR_CHAR_BYTES) == b"a long text"
    assert await aio.caget(aio_ioc.pv("string.VAL$")) == "hello"   # a '$' name: a long string
    as_int = await aio.caget(aio_ioc.pv("ao"), datatype=int)
    assert as_int == 2 or as_int == 1    # rounded by the server's conversion
    assert isinstance(await aio.caget(aio_ioc.pv("long"), datatype=float), float)
    assert await aio.caget(aio_ioc.pv("ao"), datatype=str) == "1.500"
    assert await aio.caget(aio_ioc.pv("ao"), datatype=aio.DBR_CLASS_NAME) == "ao"
    acked = await aio.caget(aio_ioc.pv("ao"), datatype=aio.DBR_STSACK_STRING)
    assert hasattr(acked, "ackt") and hasattr(acked, "acks")
    assert (await aio.caget(aio_ioc.pv("wf"), count=2)).tolist() == [1.0, 2.0]
    assert len(await aio.caget(aio_ioc.pv("wf"), count=-1)) == 16
    with pytest.raises(TypeError, match="datatype"):
        await aio.caget(aio_ioc.pv("ao"), datatype=complex)


async def test_caget_of_a_list_reads_concurrently_and_keeps_the_order(aio_ioc):
    names = [aio_ioc.pv(n) for n in ("long", "ao", "string", "mbbo")] * 25
    started = time.monotonic()
    values = await aio.caget(names, timeout=DEADLINE)
    assert values == [42, 1.5, "hello", 1] * 25
    assert [v.name for v in values] == names
    assert time.monotonic() - started < DEADLINE
    assert await aio.caget([]) == []
    assert await aio.caget(tuple(names[:2])) == [42, 1.5]


async def test_failures_raise_canothing_or_return_it_with_throw_false(aio_ioc):
    started = time.monotonic()
    with pytest.raises(aio.CANothing) as raised:
        await aio.caget(NOWHERE, timeout=0.3)
    assert 0.25 < time.monotonic() - started < 3
    nothing = raised.value
    assert (nothing.name, nothing.ok, nothing.errorcode, bool(nothing)) == \
        (NOWHERE, False, 80, False)
    assert "timeout" in str(nothing).lower()
    returned = await aio.caget(NOWHERE, timeout=0.2, throw=False)
    assert isinstance(returned, aio.CANothing) and not returned
    mixed = await aio.caget([aio_ioc.pv("long"), NOWHERE], timeout=0.3, throw=False)
    assert mixed[0] == 42 and not mixed[1] and mixed[1].name == NOWHERE
    with pytest.raises(aio.CANothing) as raised:
        await aio.caget([aio_ioc.pv("long"), NOWHERE], timeout=0.3)
    assert raised.value.name == "Multiple PVs"


async def test_timeout_as_an_absolute_deadline_and_none(aio_ioc):
    deadline = (time.time() + 0.3,)
    started = time.monotonic()
    assert not await aio.caget(NOWHERE, timeout=deadline, throw=False)
    assert 0.2 < time.monotonic() - started < 3
    assert await aio.caget(aio_ioc.pv("long"), timeout=None) == 42
    assert not await aio.caget(NOWHERE, timeout=(time.time() - 1,), throw=False)


async def test_caput_with_and_without_put_callback(aio_ioc):
    result = await aio.caput(aio_ioc.pv("long"), 7)
    assert isinstance(result, aio.CANothing) and result.ok and bool(result)
    assert await aio.caget(aio_ioc.pv("long")) == 7
    started = time.monotonic()
    await aio.caput(aio_ioc.pv("slow"), 4.5, wait=True, timeout=DEADLINE)
    assert time.monotonic() - started >= 0.4          # the IOC took its 0.5 s
    assert await aio.caget(aio_ioc.pv("slow:done")) == 4.5
    with pytest.raises(aio.CANothing):
        await aio.caput(aio_ioc.pv("slow"), 5.5, wait=True, timeout=0.1)
    await aio.caput(aio_ioc.pv("string"), "written")
    assert await aio.caget(aio_ioc.pv("string")) == "written"
    await aio.caput(aio_ioc.pv("text"), "another text", datatype=aio.DBR_CHAR_STR, wait=True)
    assert await aio.caget(aio_ioc.pv("text"), datatype=aio.DBR_CHAR_STR) == "another text"
    await aio.caput(aio_ioc.pv("mbbo"), "Standby", wait=True)
    assert await aio.caget(aio_ioc.pv("mbbo")) == 2
    await aio.caput(aio_ioc.pv("wf"), [4, 5, 6, 7], wait=True)
    assert (await aio.caget(aio_ioc.pv("wf"))).tolist() == [4, 5, 6, 7]
    await aio.caput(aio_ioc.pv("long"), "12", wait=True)   # text: the server converts it
    assert await aio.caget(aio_ioc.pv("long")) == 12
    with pytest.raises(ValueError, match="long"):
        await aio.caput(aio_ioc.pv("long"), [1, 2, 3])
    assert not await aio.caput(NOWHERE, 1, timeout=0.2, throw=False)


async def test_caput_of_a_list(aio_ioc):
    names = [aio_ioc.pv("long"), aio_ioc.pv("ao")]
    results = await aio.caput(names, [3, 4.25], wait=True)
    assert [r.ok for r in results] == [True, True]
    assert await aio.caget(names) == [3, 4.25]
    await aio.caput(names, 9, wait=True)                      # one value for all
    assert await aio.caget(names) == [9, 9]
    waveforms = [aio_ioc.pv("wf")] * 2
    await aio.caput(waveforms, [8, 9], repeat_value=True, wait=True)   # the list is one value
    assert [w.tolist() for w in await aio.caget(waveforms)] == [[8, 9]] * 2
    with pytest.raises(ValueError, match="2 PVs but 3 values"):
        await aio.caput(names, [1, 2, 3])


async def test_connect_and_cainfo(aio_ioc):
    assert (await aio.connect(aio_ioc.pv("ao"))).ok
    assert [r.ok for r in await aio.connect([aio_ioc.pv("ao"), aio_ioc.pv("long")])] == \
        [True, True]
    assert not await aio.connect(NOWHERE, timeout=0.2, throw=False)
    assert (await aio.connect(NOWHERE, wait=False)).ok
    info = await aio.cainfo(aio_ioc.pv("wf"))
    assert (info.ok, info.state, info.count, info.datatype, info.read, info.write) == \
        (True, 2, 16, aio.DBR_DOUBLE, True, True)
    assert "127.0.0.1" in info.host or "localhost" in info.host
    assert "connected" in str(info) and "double" in str(info)
    never = await aio.cainfo(NOWHERE, wait=False)
    assert never.state_strings[never.state] == "never connected" and never.count == 0
    infos = {i.name: i for i in aio.get_channel_infos()}
    assert infos[aio_ioc.pv("wf")].connected and not infos[NOWHERE].connected


async def test_aio_and_the_synchronous_api_share_one_channel(aio_ioc):
    name = aio_ioc.pv("long")
    await aio.caput(name, 31, wait=True)
    pv = epics.PV(name)
    try:
        assert pv.wait_for_connection(DEADLINE)
        assert await asyncio.get_running_loop().run_in_executor(None, pv.get) == 31
        assert pv.chid.value == aio.PV(name).chid     # one libca channel
    finally:
        pv.disconnect()
    assert await aio.caget(name) == 31     # the PV's disconnect left our channel alone
