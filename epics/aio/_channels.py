"""The channels of one event loop: epics.ca's shared channels, seen from asyncio.

Each :class:`AioChannel` uses the channel epics.ca keeps for its PV name (so a PV used both by
synchronous code and by coroutines is one libca channel) and counts as one of its users, as a
``PV`` object does, so the synchronous side never clears it under the loop. Connection changes
arrive on the dispatcher thread (epics.ca's connection callback) and are passed to each loop
through its :class:`~epics.aio._loop.LoopBridge`; everything else here runs on the loop's thread,
except :meth:`ChannelCache.purge` for a loop that is already closed.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from typing import Any, Callable, Dict, List, Set, Tuple

from .. import ca
from ._convert import read_plan
from ._loop import LoopBridge

__all__ = ["AioChannel", "ChannelCache", "channel_cache", "all_caches", "purge_all"]

log = logging.getLogger("epics.aio")

class AioChannel:
    """One PV name on one event loop: its libca channel and connection state."""

    def __init__(self, name: str, cache: "ChannelCache") -> None:
        self.name = name
        self.cache = cache
        self.bridge = cache.bridge
        self.connected = False
        self.closed = False
        self.subscriptions: Set[Any] = set()
        # read plans by request, and the channel's type and count: valid for one connection
        self.plans: Dict[Any, Any] = {}
        self.native: Tuple[int, int] = (-1, 0)
        self._waiters: Dict[asyncio.Future, Callable[[], None]] = {}
        # a user of the channel, as a PV object is (ca.ChannelListener: the methods below)
        ca.attach(name, self)
        # a connection made before we listened was not passed on: the state says it
        self.apply_connection(ca.isConnected(self.chid))

    # --- ca.ChannelListener (channel_attached at once, the others on the dispatcher thread) ---

    def channel_attached(self, record: ca.Channel) -> None:
        self._record = record
        self.chid: int = record.chid_int

    def channel_connection_changed(self, conn: bool) -> None:
        self.bridge.call_soon(self.apply_connection, conn)

    def channel_access_changed(self, read_access: bool, write_access: bool) -> None:
        pass

    def apply_connection(self, conn: bool) -> None:
        """The channel connected or disconnected (loop thread)."""
        if self.closed or conn == self.connected:
            return
        self.connected = conn
        self.plans.clear()
        self.native = (ca.field_type(self.chid), ca.element_count(self.chid)) if conn \
            else (-1, 0)
        if conn:
            waiters, self._waiters = self._waiters, {}
            for future, start in waiters.items():
                if not future.done():
                    try:
                        start()
                    except Exception as exc:   # e.g. a value that cannot be written
                        if not future.done():
                            future.set_exception(exc)
        for subscription in list(self.subscriptions):
            subscription.connection_changed(conn)

    def when_connected(self, future: asyncio.Future, start: Callable[[], None]) -> None:
        """Run ``start()`` now if connected, else once connected unless ``future`` is done by
        then (cancelled, timed out): the request it would send is dropped with it."""
        if self.connected:
            start()
            return
        self._waiters[future] = start
        future.add_done_callback(self._forget_waiter)

    def _forget_waiter(self, future: asyncio.Future) -> None:
        self._waiters.pop(future, None)

    def field_type(self) -> int:
        return ca.field_type(self.chid)

    def element_count(self) -> int:
        return ca.element_count(self.chid)

    def read_plan(self, datatype: Any, format: int, count: int) -> Any:
        """The request and conversion for a read (made once per request and connection)."""
        key = (datatype, format, count)
        try:
            return self.plans[key]
        except (KeyError, TypeError):
            field_type, element_count = self.native
            if field_type < 0:   # told of the connection before its type was readable
                field_type, element_count = self.field_type(), self.element_count()
            plan = read_plan(self.name, field_type, element_count, datatype, format, count)
            try:
                self.plans[key] = plan
            except TypeError:    # an unhashable datatype: not kept
                pass
            return plan

    def release(self, loop_alive: bool) -> None:
        """Close the channel's subscriptions and give the libca channel back (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for subscription in list(self.subscriptions):
            subscription.close()
        if loop_alive:
            for future in list(self._waiters):
                future.cancel()
        self._waiters.clear()
        ca.detach(self._record, self)


class ChannelCache:
    """The channels of one event loop, by PV name, and the loop's bridge."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.bridge = LoopBridge(loop)
        self.bridge.on_closed.append(lambda: _forget_cache(self))
        self._channels: Dict[str, AioChannel] = {}
        self._flush_scheduled = False

    def get(self, name: str) -> AioChannel:
        channel = self._channels.get(name)
        if channel is None:
            if not isinstance(name, str):
                raise ca.CATypeError(f"a PV name must be a str, not {type(name).__name__}: "
                                     f"{name!r}")
            channel = self._channels[name] = AioChannel(name, self)
        return channel

    def channels(self) -> List[AioChannel]:
        return list(self._channels.values())

    def flush_soon(self) -> None:
        """Send what was requested with one flush at the end of this loop iteration."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        ca.flush_io()

    def purge(self) -> None:
        """Release every channel (and so every subscription) of this loop."""
        loop_alive = not self.loop.is_closed()
        if loop_alive:
            try:
                loop_alive = asyncio.get_running_loop() is self.loop
            except RuntimeError:
                loop_alive = False
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            channel.release(loop_alive)
        try:
            ca.flush_io()
        except ca.ChannelAccessException:
            pass


_caches: Dict[asyncio.AbstractEventLoop, ChannelCache] = {}
_caches_lock = threading.Lock()


def _forget_cache(cache: ChannelCache) -> None:
    with _caches_lock:
        if _caches.get(cache.loop) is cache:
            del _caches[cache.loop]
    cache.purge()


def channel_cache() -> ChannelCache:
    """The channel cache of the running loop (made on first use); caches of loops closed since
    are released now."""
    loop = asyncio.get_running_loop()
    cache = _caches.get(loop)
    if cache is None:
        with _caches_lock:
            closed = [c for c in _caches.values() if c.loop.is_closed()]
            cache = _caches[loop] = ChannelCache(loop)
        for stale in closed:
            stale.bridge.close()
    return cache


def all_caches() -> List[ChannelCache]:
    with _caches_lock:
        return list(_caches.values())


def purge_all() -> None:
    """Release the channels of every loop (aioca's ``purge_channel_caches``)."""
    with _caches_lock:
        caches = list(_caches.values())
        _caches.clear()
    for cache in caches:
        cache.purge()


def _purge_at_exit() -> None:
    try:
        purge_all()
    except Exception:   # CA already finalized (it clears every channel itself)
        log.debug("releasing the event loops' channels at exit failed", exc_info=True)


atexit.register(_purge_at_exit)
