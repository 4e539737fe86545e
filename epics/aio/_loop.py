"""Waking an asyncio event loop from epics.ca's threads, and aioca's timeouts.

Which thread runs what: :meth:`LoopBridge.call_soon` is called on the dispatcher thread (where
epics.ca runs completion, connection and monitor callbacks) or any other thread; it only appends
to a queue, and wakes the loop (``loop.call_soon_threadsafe``) once per batch rather than once
per call, so libca's and the dispatcher's threads are never blocked by the loop. The functions it
was given run on the loop's thread, in order. Once the loop is closed nothing more is run: the
bridge notices (the loop refuses the wake-up), drops what was queued and runs its ``on_closed``
hooks on the calling thread, which release the loop's channels and subscriptions.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from typing import Any, Awaitable, Callable, List, Optional, TypeVar

from ._constants import Timeout
from ._values import ECA_TIMEOUT, CANothing

__all__ = ["LoopBridge", "remaining", "wait_with_timeout"]

log = logging.getLogger("epics.aio")
T = TypeVar("T")


class LoopBridge:
    """Runs functions on one event loop's thread, asked for from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.closed = False
        self.on_closed: List[Callable[[], None]] = []
        self._pending: "collections.deque[tuple]" = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def call_soon(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` on the loop's thread soon (any thread; never blocks)."""
        if self.closed:
            return
        self._pending.append((function, args))
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._run)
        except RuntimeError:      # the loop is closed: nothing will ever run there again
            self.close()

    def _run(self) -> None:
        with self._lock:
            self._scheduled = False   # calls from now on schedule a new run
        popleft = self._pending.popleft
        for _ in range(len(self._pending)):
            function, args = popleft()
            try:
                function(*args)
            except Exception:
                log.exception("%s raised on the event loop", getattr(function, "__qualname__",
                                                                      function))

    def close(self) -> None:
        """Run nothing more; run the ``on_closed`` hooks once (on the calling thread)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._pending.clear()
        for hook in self.on_closed:
            try:
                hook()
            except Exception:
                log.exception("releasing the CA resources of a closed event loop failed")


def remaining(timeout: Timeout) -> Optional[float]:
    """Seconds left of an aioca timeout: None (for ever), seconds, or ``(deadline,)``."""
    if timeout is None:
        return None
    if isinstance(timeout, tuple):
        return max(0.0, timeout[0] - time.time())
    return max(0.0, float(timeout))


async def wait_with_timeout(awaitable: Awaitable[T], name: str, timeout: Timeout) -> T:
    """Await ``awaitable``; past the timeout it is cancelled and ``CANothing(name,
    ECA_TIMEOUT)`` is raised."""
    seconds = remaining(timeout)
    if seconds is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        raise CANothing(name, ECA_TIMEOUT) from None
