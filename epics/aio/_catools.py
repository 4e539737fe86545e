"""aioca's functions: caget, caput, connect, cainfo, and what they report.

Every function runs on the calling event loop's thread; each is one short block over
``_requests``. A list (or tuple) of PV names runs the operations concurrently: every request is
sent in one flush, and nothing waits for one PV before asking the next.
"""
from __future__ import annotations

import asyncio
import warnings
from typing import Any, Coroutine, List, Sequence, Union

from .. import ca, dbr
from ._channels import AioChannel, channel_cache, purge_all
from ._constants import DEFAULT_TIMEOUT, FORMAT_RAW, Timeout
from ._requests import await_many, await_one, start_connect, start_get, start_put
from ._values import CANothing

__all__ = ["caget", "caput", "connect", "cainfo", "CAInfo", "ChannelInfo", "get_channel_infos",
           "purge_channel_caches", "run"]

PVs = Union[List[str], tuple]


def _is_many(pv: Any) -> bool:
    return isinstance(pv, (list, tuple))


async def caget(pv: Union[str, PVs], datatype: Any = None, format: int = FORMAT_RAW,
                count: int = 0, timeout: Timeout = DEFAULT_TIMEOUT, throw: bool = True) -> Any:
    """Read one PV, or a list of PVs concurrently, as augmented values (aioca's ``caget``).

    Parameters
    ----------
    pv : str or list of str
        The PV name(s).
    datatype : DBR code, python type or numpy dtype, optional
        Ask for a type other than the native one (DBR_CHAR_STR, DBR_ENUM_STR... included).
    format : int
        FORMAT_RAW (value only), FORMAT_TIME (+ status, severity, timestamp) or FORMAT_CTRL
        (+ units, limits, precision, enums).
    count : int
        Elements to read: 0 the server's current count, -1 the channel's element count.
    timeout : None, float or (deadline,)
        Seconds (or an absolute ``time.time()`` deadline in a 1-tuple) for connection and read
        together; None waits for ever. For a list with ``throw`` it covers the whole list.
    throw : bool
        Raise :class:`CANothing` on failure (True), or return it in place of the value.

    Returns
    -------
    augmented value, or list of them
        ``ca_float``, ``ca_int``, ``ca_str``, ``ca_bytes`` or ``ca_array`` with ``.name``,
        ``.ok`` and the metadata of ``format``.
    """
    cache = channel_cache()
    if _is_many(pv):
        futures = [start_get(cache.get(name), datatype, format, count) for name in pv]
        return await await_many(futures, pv, timeout, throw)
    return await await_one(start_get(cache.get(pv), datatype, format, count), pv, timeout,
                           throw)


async def caput(pv: Union[str, PVs], value: Any, repeat_value: bool = False, datatype: Any = None,
                wait: bool = False, timeout: Timeout = DEFAULT_TIMEOUT,
                throw: bool = True) -> Any:
    """Write a value to one PV, or values to a list of PVs concurrently (aioca's ``caput``).

    For a list, ``value`` is one value per PV, or a single value written to all (when it is a
    str, not iterable, or ``repeat_value`` is set). ``wait=True`` waits until the server has
    finished processing (put-callback); ``timeout`` covers connection and completion. Returns
    ``CANothing(pv)`` (ok) or a list of them; failures as for :func:`caget`.
    """
    cache = channel_cache()
    if not _is_many(pv):
        if repeat_value is not False:   # aioca's caput(pv, value, datatype): no repeat_value
            datatype = repeat_value
        return await await_one(start_put(cache.get(pv), value, datatype, wait), pv, timeout,
                               throw)
    values = _values_for(pv, value, repeat_value)
    futures = [start_put(cache.get(name), item, datatype, wait) for name, item in zip(pv, values)]
    return await await_many(futures, pv, timeout, throw)


def _values_for(pvs: Sequence[str], value: Any, repeat_value: bool) -> List[Any]:
    if repeat_value or isinstance(value, (str, bytes)):
        return [value] * len(pvs)
    try:
        values = list(value)
    except TypeError:
        return [value] * len(pvs)
    if len(values) != len(pvs):
        raise ValueError(f"caput: {len(pvs)} PVs but {len(values)} values")
    return values


async def connect(pv: Union[str, PVs], wait: bool = True, timeout: Timeout = DEFAULT_TIMEOUT,
                  throw: bool = True) -> Any:
    """Connect to one PV or a list of them (aioca's ``connect``): ``CANothing(pv)`` (ok) once
    connected; with ``wait=False`` the connection is only started."""
    cache = channel_cache()
    if _is_many(pv):
        futures = [_connect_future(cache.get(name), wait) for name in pv]
        return await await_many(futures, pv, timeout, throw)
    return await await_one(_connect_future(cache.get(pv), wait), pv, timeout, throw)


def _connect_future(channel: AioChannel, wait: bool) -> asyncio.Future:
    if wait:
        return start_connect(channel)
    future = channel.cache.loop.create_future()
    future.set_result(CANothing(channel.name))
    return future


class CAInfo:
    """What :func:`cainfo` reports about a channel (aioca's ``CAInfo``)."""

    #: ``state_strings[state]`` describes the connection state.
    state_strings = ["never connected", "previously connected", "connected", "closed"]
    #: ``datatype_strings[datatype]`` names the native type.
    datatype_strings = ["string", "short", "float", "enum", "char", "long", "double",
                        "no access"]

    def __init__(self, pv: str, channel: AioChannel) -> None:
        chid = channel.chid
        self.ok = True
        self.name = pv
        self.state: int = ca.state(chid)
        self.host: str = ca.host_name(chid)
        self.read = bool(ca.read_access(chid))
        self.write = bool(ca.write_access(chid))
        if self.state == dbr.CS_CONN:
            self.count: int = ca.element_count(chid)
            self.datatype: int = ca.field_type(chid)
        else:
            self.count = 0
            self.datatype = 7   # DBF_NO_ACCESS

    def __str__(self) -> str:
        return (f"{self.name}:\n    State: {self.state_strings[self.state]}\n"
                f"    Host: {self.host}\n    Access: {self.read}, {self.write}\n"
                f"    Data type: {self.datatype_strings[self.datatype]}\n"
                f"    Count: {self.count}")


async def cainfo(pv: Union[str, PVs], wait: bool = True, timeout: Timeout = DEFAULT_TIMEOUT,
                 throw: bool = True) -> Any:
    """:class:`CAInfo` of one PV or a list of them, once connected (unless ``wait=False``)."""
    cache = channel_cache()
    if not _is_many(pv):
        channel = cache.get(pv)
        result = await await_one(_connect_future(channel, wait), pv, timeout, throw)
        return CAInfo(pv, channel) if result else result
    channels = [cache.get(name) for name in pv]
    results = await await_many([_connect_future(channel, wait) for channel in channels], pv,
                               timeout, throw)
    return [CAInfo(name, channel) if result else result
            for name, channel, result in zip(pv, channels, results)]


class ChannelInfo:
    """One channel of the running loop: ``name``, ``connected``, ``subscriber_count``."""

    def __init__(self, name: str, connected: bool, subscriber_count: int) -> None:
        self.name = name
        self.connected = connected
        self.subscriber_count = subscriber_count

    def __repr__(self) -> str:
        return (f"ChannelInfo({self.name!r}, connected={self.connected}, "
                f"subscriber_count={self.subscriber_count})")


def get_channel_infos() -> List[ChannelInfo]:
    """The channels the running loop has opened (call from a coroutine)."""
    return [ChannelInfo(channel.name, channel.connected, len(channel.subscriptions))
            for channel in channel_cache().channels()]


def purge_channel_caches() -> None:
    """Close every channel (and subscription) that aioca-style calls opened, in every loop."""
    purge_all()


def run(coro: Coroutine, forever: bool = False) -> Any:
    """Run ``coro`` in a new event loop and close it (deprecated, as in aioca: use asyncio.run).

    With ``forever`` the loop runs until stopped and ``coro`` is cancelled at the end."""
    warnings.warn("epics.aio.run is deprecated, please use asyncio.run instead",
                  DeprecationWarning, stacklevel=2)
    loop = asyncio.new_event_loop()
    task = None
    try:
        if forever:
            task = loop.create_task(coro)
            loop.run_forever()
            return None
        return loop.run_until_complete(coro)
    finally:
        if task is not None:
            task.cancel()
            loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        loop.close()
