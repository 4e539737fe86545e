"""``async for value in pv.monitor()``: a PV's updates through a bounded queue.

Runs on the event loop's thread (the updates come from a :class:`Subscription`, whose own queue
is bounded the same way, so neither the dispatcher thread nor libca ever waits for the consumer).
When the consumer falls behind, the oldest updates are dropped, or with ``latest_only`` every
update but the latest; :attr:`PVMonitor.dropped` counts them.
"""
from __future__ import annotations

import asyncio
import collections
from typing import Any, Optional

from ._constants import FORMAT_TIME
from ._subscription import Subscription

__all__ = ["PVMonitor"]


class PVMonitor:
    """An async iterator over the updates of one PV (augmented values); an async context
    manager that closes it. Made by :meth:`epics.aio.PV.monitor`."""

    def __init__(self, pvname: str, maxsize: int = 1000, latest_only: bool = False,
                 format: int = FORMAT_TIME, events: Optional[int] = None) -> None:
        if maxsize < 1:
            raise ValueError(f"monitor of {pvname!r}: maxsize must be at least 1, got {maxsize}")
        self.pvname = pvname
        self.maxsize = 1 if latest_only else int(maxsize)
        self.closed = False
        self._values: "collections.deque[Any]" = collections.deque(maxlen=self.maxsize)
        self._dropped_here = 0
        self._waiter: Optional[asyncio.Future] = None
        self._subscription = Subscription(pvname, self._on_value, events, None, format, 0,
                                          all_updates=True, notify_disconnect=False,
                                          connect_timeout=None, queue_size=self.maxsize)

    @property
    def dropped(self) -> int:
        """Updates dropped so far because the consumer was behind."""
        return self._dropped_here + self._subscription.dropped_callbacks

    def __len__(self) -> int:
        """Updates waiting to be read."""
        return len(self._values)

    def _on_value(self, value: Any) -> None:
        if len(self._values) >= self.maxsize:
            self._dropped_here += 1
        self._values.append(value)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> "PVMonitor":
        return self

    async def __anext__(self) -> Any:
        while not self._values:
            if self.closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._values.popleft()

    def close(self) -> None:
        """Stop the updates; an ``async for`` over this monitor ends once it has read what
        was queued (idempotent)."""
        if not self.closed:
            self.closed = True
            self._subscription.close()
            self._wake()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> "PVMonitor":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()
