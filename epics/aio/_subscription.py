"""camonitor and its Subscription (aioca's).

Which thread runs what: monitor updates are converted to augmented values on epics.ca's
dispatcher thread (``_deliver``), which queues them on the subscription and asks the loop's
bridge, at most once per batch, to run ``_signal`` on the loop's thread. There a plain callback
is called at once with every queued value; a coroutine callback is awaited by the subscription's
task, one update at a time. Without ``all_updates`` only the latest value waits in the queue: the
ones it replaced count in ``dropped_callbacks``. The task also waits for the connection and makes
the libca subscription; cancelling it (as ``asyncio.run`` does to every task at its end) closes
the subscription.
"""
from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import threading
from typing import Any, Awaitable, Callable, List, Optional, Union

from .. import ca
from ._channels import channel_cache
from ._constants import DBE_ALARM, DBE_PROPERTY, DBE_VALUE, FORMAT_CTRL, FORMAT_RAW, FORMAT_TIME, Timeout
from ._convert import read_plan
from ._loop import wait_with_timeout
from ._values import ECA_DISCONN, CANothing

__all__ = ["Subscription", "camonitor"]

log = logging.getLogger("epics.callbacks")

#: the events a subscription asks for by default, by format (aioca's)
_DEFAULT_EVENTS = {FORMAT_RAW: DBE_VALUE, FORMAT_TIME: DBE_VALUE | DBE_ALARM,
                   FORMAT_CTRL: DBE_VALUE | DBE_ALARM | DBE_PROPERTY}


class Subscription:
    """A live ``camonitor``: calls ``callback(value)`` on each update until :meth:`close`.

    ``state`` is OPENING (waiting for the connection), OPEN or CLOSED; ``dropped_callbacks``
    counts updates replaced by a newer one before the callback could see them.
    """

    OPENING = 0
    OPEN = 1
    CLOSED = 2

    def __init__(self, name: str, callback: Callable[[Any], Union[None, Awaitable]],
                 events: Optional[int], datatype: Any, format: int, count: int,
                 all_updates: bool, notify_disconnect: bool, connect_timeout: Timeout,
                 *, queue_size: Optional[int] = None) -> None:
        cache = channel_cache()
        self.name = name
        self.callback = callback
        self.all_updates = all_updates
        self.notify_disconnect = notify_disconnect
        self.dropped_callbacks = 0
        self.state = self.OPENING
        self.channel = cache.get(name)
        self._loop = cache.loop
        self._bridge = cache.bridge
        # queue_size (an epics.aio extension): with all_updates, at most this many updates
        # wait; the oldest are dropped (and counted) beyond it
        self._pending: "collections.deque[Any]" = collections.deque(
            maxlen=queue_size if all_updates else 1)
        self._lock = threading.Lock()
        self._signalled = False
        self._is_sync: Optional[bool] = None    # known after the first call
        self._wakeup: Optional[asyncio.Future] = None
        self._ca_subscription: Any = None
        if events is None:
            events = _DEFAULT_EVENTS[format]
        self.channel.subscriptions.add(self)
        self._task = self._loop.create_task(
            self._run(events, datatype, format, count, connect_timeout))

    # --- the dispatcher thread ----------------------------------------------------------------

    def _queue(self, value: Any) -> None:
        with self._lock:
            if self._pending.maxlen and len(self._pending) >= self._pending.maxlen:
                self.dropped_callbacks += 1
            self._pending.append(value)
            if self._signalled:
                return
            self._signalled = True
        self._bridge.call_soon(self._signal)

    # --- the loop's thread ----------------------------------------------------------------------

    def _take(self) -> List[Any]:
        with self._lock:
            values = list(self._pending)
            self._pending.clear()
            self._signalled = False
        return values

    def _signal(self) -> None:
        if self.state == self.CLOSED:
            return
        if self._is_sync:
            for value in self._take():
                if self.state == self.CLOSED:
                    return
                try:
                    self.callback(value)
                except Exception:
                    self._report_and_close()
                    return
        elif self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def connection_changed(self, connected: bool) -> None:
        """Told by the channel (loop thread)."""
        if not connected and self.notify_disconnect and self.state == self.OPEN:
            self._queue(CANothing(self.name, ECA_DISCONN))

    async def _call(self, value: Any) -> None:
        result = self.callback(value)
        if inspect.isawaitable(result):
            self._is_sync = False
            await result
        elif self._is_sync is None:
            self._is_sync = True

    async def _run(self, events: int, datatype: Any, format: int, count: int,
                   connect_timeout: Timeout) -> None:
        try:
            if connect_timeout is not None:
                try:
                    await wait_with_timeout(self._connected(), self.name, connect_timeout)
                except CANothing as timed_out:   # told even without notify_disconnect
                    await self._call(timed_out)
            await self._connected()
            self._open(events, datatype, format, count)
            while self.state == self.OPEN:
                values = self._take()
                if not values:
                    if self._is_sync:   # _signal calls it from now on; wait for close()
                        self._wakeup = self._loop.create_future()
                        await self._wakeup
                        return
                    self._wakeup = self._loop.create_future()
                    await self._wakeup
                    continue
                for value in values:
                    if self.state != self.OPEN:
                        return
                    await self._call(value)
        except asyncio.CancelledError:
            self.close()
            raise
        except Exception:
            self._report_and_close()

    async def _connected(self) -> None:
        if not self.channel.connected:
            future = self._loop.create_future()
            self.channel.when_connected(future, lambda: future.done() or future.set_result(None))
            await future

    def _open(self, events: int, datatype: Any, format: int, count: int) -> None:
        channel = self.channel
        plan = read_plan(self.name, channel.field_type(), channel.element_count(), datatype,
                         format, count)
        convert = plan.convert

        def deliver(value: Any, metadata: dict) -> None:   # dispatcher thread
            if self.state == self.CLOSED:
                return
            try:
                augmented = convert(value, metadata)
            except Exception:
                log.exception("camonitor %r: cannot convert an update", self.name)
                self._bridge.call_soon(self.close)
                return
            self._queue(augmented)

        self._ca_subscription = ca.subscribe(channel.chid, plan.dbrcode, deliver, mask=events,
                                             count=plan.count)
        self.state = self.OPEN

    def _report_and_close(self) -> None:
        log.exception("camonitor %r: the callback raised; subscription closed", self.name)
        self.close()

    def close(self) -> None:
        """Stop the updates and release the libca subscription (idempotent). No callback runs
        after this, not even for updates already queued."""
        if self.state == self.CLOSED:
            return
        self.state = self.CLOSED
        if self._ca_subscription is not None:
            try:
                ca.unsubscribe(self._ca_subscription)
            except ca.ChannelAccessException:
                log.debug("clearing the subscription of %r failed", self.name, exc_info=True)
        self.channel.subscriptions.discard(self)
        self._pending.clear()
        if self._loop.is_closed():
            return
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop and not self._task.done() and asyncio.current_task() is not self._task:
            self._task.cancel()
        elif on_loop and self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
        elif not on_loop:
            self._bridge.call_soon(self._task.cancel)


def camonitor(pv: Union[str, List[str]], callback: Callable[..., Union[None, Awaitable]],
              events: Optional[int] = None, datatype: Any = None, format: int = FORMAT_RAW,
              count: int = 0, all_updates: bool = False, notify_disconnect: bool = False,
              connect_timeout: Timeout = None) -> Union[Subscription, List[Subscription]]:
    """Call ``callback(value)`` on each update of a PV (aioca's ``camonitor``); for a list of
    PVs, ``callback(value, index)``. Call it from a coroutine (it needs the running loop).

    ``callback`` may be a plain function (run on the loop's thread) or a coroutine function
    (awaited, one update at a time). ``events`` defaults by ``format``: DBE_VALUE (RAW),
    | DBE_ALARM (TIME), | DBE_PROPERTY (CTRL). ``all_updates`` queues every update instead of
    keeping only the latest. ``notify_disconnect`` passes ``CANothing(pv, ECA_DISCONN)`` on a
    disconnection. ``connect_timeout`` passes ``CANothing(pv, ECA_TIMEOUT)`` once if the PV has
    not connected by then (the subscription keeps waiting). Returns the :class:`Subscription`
    (or a list of them).
    """
    options = dict(events=events, datatype=datatype, format=format, count=count,
                   all_updates=all_updates, notify_disconnect=notify_disconnect,
                   connect_timeout=connect_timeout)
    if isinstance(pv, (list, tuple)):
        return [Subscription(name, _with_index(callback, index), **options)
                for index, name in enumerate(pv)]
    return Subscription(pv, callback, **options)


def _with_index(callback: Callable[..., Any], index: int) -> Callable[[Any], Any]:
    return lambda value: callback(value, index)
