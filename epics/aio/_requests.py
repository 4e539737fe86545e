"""One read, write or connection as an asyncio future, and many of them awaited together.

Which thread runs what: ``start_*`` run on the loop's thread: they create the future, and send
the request at once if the channel is connected, or when it connects. libca's answer reaches
epics.ca's dispatcher thread, which converts it (``_convert``) and hands the result to the loop's
bridge; the future is settled on the loop's thread, unless it is done already (cancelled or timed
out), in which case the answer is dropped. Nothing here blocks.
"""
from __future__ import annotations

import asyncio
from typing import Any, List, Optional, Sequence

from .. import ca
from ._channels import AioChannel
from ._constants import Timeout
from ._convert import put_buffer
from ._loop import remaining, wait_with_timeout
from ._values import ECA_DISCONN, ECA_NORMAL, ECA_TIMEOUT, CANothing

__all__ = ["start_get", "start_put", "start_connect", "await_one", "await_many"]


def _settle(future: asyncio.Future, result: Any) -> None:
    """Loop thread: give the future its result (an exception is raised to the awaiter)."""
    if future.done():
        return
    if isinstance(result, BaseException) and not (isinstance(result, CANothing) and result.ok):
        future.set_exception(result)
    else:
        future.set_result(result)


def _failure(name: str, exc: ca.ChannelAccessException) -> BaseException:
    """A CA error raised when sending, as aioca reports it: CANothing with the status."""
    if isinstance(exc, (ca.CAValueError, ca.CATypeError)):
        return exc    # bad input: the caller's mistake, raised as it is
    if isinstance(exc, ca.CANotConnectedError):
        return CANothing(name, ECA_DISCONN)
    return CANothing(name, exc.status or ECA_DISCONN)


def start_get(channel: AioChannel, datatype: Any, format: int, count: int) -> asyncio.Future:
    """Read ``channel`` (once connected); the future's result is the augmented value."""
    cache = channel.cache
    future = cache.loop.create_future()
    name, bridge = channel.name, cache.bridge

    def send() -> None:
        plan = channel.read_plan(datatype, format, count)

        def on_done(status: int, value: Any, metadata: dict) -> None:   # dispatcher thread
            if status == ECA_NORMAL:
                try:
                    result = plan.convert(value, metadata)
                except Exception as exc:
                    result = exc
            else:
                result = CANothing(name, status)
            bridge.call_soon(_settle, future, result)

        try:
            ca.array_get_callback(channel.chid, plan.dbrcode, plan.count, on_done,
                                  element_count=channel.native[1])
        except ca.ChannelAccessException as exc:
            future.set_exception(_failure(name, exc))
            return
        cache.flush_soon()

    channel.when_connected(future, send)
    return future


def start_put(channel: AioChannel, value: Any, datatype: Any, wait: bool) -> asyncio.Future:
    """Write ``value`` to ``channel`` (once connected); the future's result is ``CANothing(name)``
    when sent (``wait=False``) or when the server has finished processing (``wait=True``)."""
    cache = channel.cache
    future = cache.loop.create_future()
    name, bridge = channel.name, cache.bridge

    def on_done(status: int) -> None:   # dispatcher thread
        bridge.call_soon(_settle, future, CANothing(name) if status == ECA_NORMAL
                         else CANothing(name, status))

    def send() -> None:
        field_type, element_count = channel.native
        if field_type < 0:
            field_type, element_count = channel.field_type(), channel.element_count()
        dbrtype, count, buffer = put_buffer(name, field_type, element_count, datatype, value)
        try:
            ca.array_put(channel.chid, dbrtype, count, buffer, on_done if wait else None)
        except ca.ChannelAccessException as exc:
            future.set_exception(_failure(name, exc))
            return
        cache.flush_soon()
        if not wait:
            future.set_result(CANothing(name))

    channel.when_connected(future, send)
    return future


def start_connect(channel: AioChannel) -> asyncio.Future:
    """The future's result is ``CANothing(name)`` once ``channel`` is connected."""
    future = channel.cache.loop.create_future()

    def connected() -> None:
        if not future.done():
            future.set_result(CANothing(channel.name))

    channel.when_connected(future, connected)
    return future


async def await_one(future: asyncio.Future, name: str, timeout: Timeout, throw: bool) -> Any:
    """aioca's result of one operation: its value, or with ``throw=False`` the CANothing that
    would have been raised."""
    try:
        return await wait_with_timeout(future, name, timeout)
    except CANothing as error:
        if throw:
            raise
        return error


def _cancel_rest(futures: Sequence[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.cancel()
        elif not future.cancelled():
            future.exception()   # retrieved: a failure nobody awaits is not logged as lost


async def await_many(futures: List[asyncio.Future], names: Sequence[str], timeout: Timeout,
                     throw: bool) -> List[Any]:
    """aioca's result of operations run concurrently. With ``throw`` one timeout covers them all
    (``CANothing('Multiple PVs', ECA_TIMEOUT)``) and the first failure is raised; without, each
    gets its own result, a CANothing for those that failed or did not finish in time."""
    if not futures:
        return []
    try:
        if throw:
            return list(await wait_with_timeout(asyncio.gather(*futures), "Multiple PVs",
                                                timeout))
        seconds: Optional[float] = remaining(timeout)
        await asyncio.wait(futures, timeout=seconds)
        results = []
        for name, future in zip(names, futures):
            if not future.done():
                results.append(CANothing(name, ECA_TIMEOUT))
            elif isinstance(future.exception(), CANothing):
                results.append(future.exception())
            elif future.exception() is not None:
                raise future.exception()
            else:
                results.append(future.result())
        return results
    finally:
        _cancel_rest(futures)
