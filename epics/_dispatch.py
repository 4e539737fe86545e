"""C callbacks in, user callbacks out.

Which thread runs what:

* Monitor updates: libca's threads call the C function ``evbuf_event_callback`` (``_evbuf.c``),
  which copies each update into a buffer without touching Python. The dispatcher thread takes the
  buffer in batches and converts and delivers every update in it, holding the GIL once per batch
  rather than once per event. (Without the compiled buffer, ``_on_event`` below does the same
  per event from libca's thread, which is slower under load.)
* Connection and access-rights changes and the answers of gets (up to
  :data:`BUFFERED_GET_MAX_ELEMENTS` elements) take the buffer's second queue, the control queue,
  the same way. A thread of its own (``epics-control``) applies it in batches: it sets the
  channel state, fills the get, wakes the waiting thread and queues the user callbacks, never
  running user code, so a reply is never kept waiting by monitor updates or a slow callback.
* libca's threads call the module-level thunks below for puts, exceptions, bigger gets, and
  everything when the buffer is not built (``_on_connection``, ``_on_access``, ``_on_get``,
  ``_on_put``, ``_on_exception``). They do the minimum: look up the operation by the ``usr``
  handle or chid, copy the data out of libca's buffer, set internal completions, and enqueue the
  user-facing work. They never run user code and never block.
* One dispatcher thread (``epics-callbacks``) runs the enqueued work in arrival order: user
  callbacks for monitors, connections, access rights and put completion. A callback that raises is
  logged (logger ``epics.callbacks``) and the next one runs. Blocking CA calls made from a
  callback work, because internal completions never wait for this thread.
* With non-preemptive callbacks (``PREEMPTIVE_CALLBACK = False``), there is no dispatcher thread:
  the queue is drained by the thread that calls ``ca.poll``/``pend_event``.

Lifetimes: every per-operation object (a get, a put, a subscription) lives in a registry keyed by
an integer handle passed to libca as ``usr``, and is dropped when libca says the operation is done
(or when the subscription/channel is cleared). The thunks are module globals, alive forever.
"""
from __future__ import annotations

import collections
import ctypes
import itertools
import logging
import struct
import threading
from _thread import allocate_lock as _allocate_lock
from typing import Any, Callable, Dict, Optional

from . import _cadef, _context, dbr
from ._errors import ECA, status_message

log = logging.getLogger("epics.ca")
callback_log = logging.getLogger("epics.callbacks")

# --- the work queue and its thread ---------------------------------------------------------------

_queue: "collections.deque[tuple]" = collections.deque()
_wake = threading.Event()
_thread: Optional[threading.Thread] = None
_control_thread: Optional[threading.Thread] = None   # applies the control queue (evbuf only)
_thread_lock = threading.Lock()
_dispatcher_ident: Optional[int] = None


_evbuf: Optional[ctypes.CDLL] = None     # the compiled event buffer, when in use
_stopping = False


def submit(function: Callable, *args: Any) -> None:
    """Run ``function(*args)`` on the dispatcher thread, after everything queued before it."""
    _queue.append((function, args))
    if _evbuf is not None:
        _evbuf.evbuf_wake()
    elif not _wake.is_set():
        _wake.set()


def _run(function: Callable, args: tuple) -> None:
    try:
        function(*args)
    except Exception:
        callback_log.exception("callback %s raised (the other callbacks still run)",
                               getattr(function, "__qualname__", function))


def _dispatch_forever() -> None:
    _attach_dispatcher()
    popleft, queue, wake = _queue.popleft, _queue, _wake
    while not _stopping:
        try:
            function, args = popleft()
        except IndexError:
            wake.clear()
            _flush_if_pending()
            _run_idle_hooks()
            if queue:
                continue
            wake.wait(_IDLE_PERIOD)
            continue
        try:
            function(*args)
        except Exception:
            callback_log.exception("callback %s raised (the other callbacks still run)",
                                   getattr(function, "__qualname__", function))


_HEADER = struct.Struct("=QiiiIQ")   # evbuf_header of _evbuf.c: usr, type, count, status, nbytes
_HEADER_SIZE = _HEADER.size


#: Queues of _evbuf.c, and the record types of its control queue that are not get answers.
_MONITORS, _CONTROL = 0, 1
_RECORD_CONNECTION, _RECORD_ACCESS = -1, -2


def _apply_control_batch(address: int, length: int) -> None:
    """Apply every record of one buffer taken from the control queue: connection and access
    changes (which set the channel's state and queue its user callbacks) and get answers."""
    raw = (ctypes.c_char * length).from_address(address)
    unpack = _HEADER.unpack_from
    offset = 0
    while offset < length:
        usr, dbrtype, count, status, nbytes, _ = unpack(raw, offset)
        data = offset + _HEADER_SIZE
        offset = data + ((nbytes + 7) & -8)
        try:
            if dbrtype == _RECORD_CONNECTION:
                channel = channels.get(usr)
                # unknown: ca_create_channel has not returned yet; it reads the state itself
                if channel is not None:
                    channel.connection_changed(count == dbr.OP_CONN_UP)
            elif dbrtype == _RECORD_ACCESS:
                channel = channels.get(usr)
                if channel is not None:
                    channel.access_changed(bool(count & 1), bool(count & 2))
            else:
                operation = operations.pop(usr, None)
                if operation is not None:
                    _finish_get(operation, status, dbrtype, count,
                                lambda: dbr.make_buffer_reader(dbrtype, count,
                                                               operation.as_numpy)(raw, data))
        except Exception:
            log.exception("applying a connection, access or get record failed")


def take_control() -> None:
    """Apply what waits in the control queue now (the control thread, or a polling thread with
    non-preemptive callbacks)."""
    if _control_taker is not None:
        _control_taker.take_and_deliver()


def _apply_control_forever(evbuf: ctypes.CDLL) -> None:
    while not _stopping:
        if evbuf.evbuf_wait(_IDLE_PERIOD, 1):
            take_control()


def _deliver_batch(address: int, length: int) -> None:
    """Convert and deliver every monitor update of one buffer taken from the event buffer."""
    raw = (ctypes.c_char * length).from_address(address)
    unpack = _HEADER.unpack_from
    subs = subscriptions
    offset = 0
    while offset < length:
        usr, dbrtype, count, status, nbytes, _ = unpack(raw, offset)
        data = offset + _HEADER_SIZE
        offset = data + ((nbytes + 7) & -8)
        subscription = subs.get(usr)
        if subscription is None or status != 1:
            continue
        try:
            if count == subscription.count:
                value, meta = subscription.batch_reader(raw, data)
            else:
                reader = dbr.make_buffer_reader(dbrtype, count, subscription.as_numpy)
                subscription.batch_reader, subscription.count = reader, count
                value, meta = reader(raw, data)
            subscription.deliver(value, meta)
        except Exception:
            callback_log.exception("monitor callback for %r raised (the other callbacks still "
                                   "run)", getattr(subscription, "pvname", usr))


#: A spare buffer bigger than this is freed once the backlog that grew it is gone.
_KEEP_BUFFER_BYTES = 1 << 20
#: Flow control: past this many bytes of monitor updates waiting (some 18,000 scalar updates),
#: each further update makes libca's receive thread wait (up to 1 s) for the dispatcher to take
#: them, so that the server keeps only the latest value of each subscription instead of this
#: process buffering without bound when updates come faster than callbacks can take them.
#: 0 turns it off (set before the first CA call).
MONITOR_BACKLOG_BYTES = 1 << 20


def event_buffer_stats() -> Dict[str, int]:
    """Counters of the event buffer: monitor updates seen, the peak of bytes waiting, updates
    lost to a failed allocation (0) and updates held back by flow control. Empty without it."""
    if _evbuf is None:
        return {}
    counters = [ctypes.c_uint64() for _ in range(4)]
    _evbuf.evbuf_stats(*[ctypes.byref(counter) for counter in counters])
    return dict(zip(("events", "peak_bytes", "lost", "held_back"),
                    (counter.value for counter in counters)))


class _BatchTaker:
    """Swaps buffers with one queue of ``_evbuf.c`` and delivers what it takes (one consumer
    thread at a time: the dispatcher, or the polling thread without one)."""

    def __init__(self, evbuf: ctypes.CDLL, queue: int,
                 deliver: Callable[[int, int], None]) -> None:
        self.evbuf = evbuf
        self.queue = queue
        self.deliver = deliver
        self.spare: Optional[int] = None
        self.spare_capacity = 0
        self.length = ctypes.c_size_t()
        self.capacity = ctypes.c_size_t()

    def take_and_deliver(self) -> int:
        taken = self.evbuf.evbuf_take(self.queue, self.spare, self.spare_capacity,
                                      ctypes.byref(self.length), ctypes.byref(self.capacity))
        length = self.length.value
        if length:
            self.deliver(taken, length)
            capacity = self.capacity.value
            if capacity > _KEEP_BUFFER_BYTES and capacity > 4 * length:
                # a backlog made this buffer big; give the memory back rather than keep it
                self.evbuf.evbuf_free(taken)
                self.spare, self.spare_capacity = None, 0
            else:
                self.spare, self.spare_capacity = taken, capacity
        return length


_flush_pending = False
_idle_hooks: list = []
#: Most seconds the dispatcher sleeps before running its idle hooks again.
_IDLE_PERIOD = 0.25


def on_idle(hook: Callable[[], None]) -> None:
    """Run ``hook()`` on the dispatcher thread every loop (at least every _IDLE_PERIOD s)."""
    _idle_hooks.append(hook)


def _run_idle_hooks() -> None:
    for hook in _idle_hooks:
        try:
            hook()
        except Exception:
            log.debug("idle hook %r failed", hook, exc_info=True)


def flush_soon() -> None:
    """Have queued requests sent shortly, by the dispatcher thread, rather than now.

    Sending each subscription as it is made costs one network write per PV; deferring lets one
    write carry every request made in the meantime (10,000 PVs connect in one burst). Without a
    dispatcher thread (non-preemptive callbacks) it flushes now.
    """
    global _flush_pending
    if _thread is None or not _thread.is_alive() or threading.get_ident() == _dispatcher_ident:
        if threading.get_ident() == _dispatcher_ident:
            _flush_pending = True      # the loop flushes before it sleeps again
            return
        _context._state.lib.ca_flush_io()
        return
    if not _flush_pending:
        _flush_pending = True
        if _evbuf is not None:
            _evbuf.evbuf_wake()
        else:
            _wake.set()


def _flush_if_pending() -> None:
    global _flush_pending
    if _flush_pending:
        _flush_pending = False
        lib = _context._state.lib
        if lib is not None and not _context._state.finalized:
            try:
                lib.ca_flush_io()
            except Exception:
                log.debug("deferred flush failed", exc_info=True)


def _attach_dispatcher() -> None:
    """Attach the dispatcher thread to the initial context before it makes any CA call
    (a flush, or a user callback's get): unattached, libca would quietly give it a context of
    its own, and requests sent there would never reach the server."""
    global _dispatcher_ident
    _dispatcher_ident = threading.get_ident()
    try:
        _context.ensure()
    except Exception:
        log.exception("the callback thread could not attach to the CA context")


def _dispatch_with_evbuf(evbuf: ctypes.CDLL) -> None:
    _attach_dispatcher()
    while not _stopping:
        drain()
        _flush_if_pending()
        _run_idle_hooks()
        if evbuf.evbuf_wait(_IDLE_PERIOD, 0):
            drain()
            _batch_taker.take_and_deliver()


def wait_in_dispatcher(flag: Any, timeout: Optional[float]) -> bool:
    """Wait for ``flag`` on the dispatcher thread (a user callback waits for a reply): flow
    control is paused meanwhile, since the reply may come through a libca thread that it
    holds back."""
    _evbuf.evbuf_consumer_waits(1)
    try:
        return flag.wait(timeout)
    finally:
        _evbuf.evbuf_consumer_waits(0)


_batch_taker: Optional[_BatchTaker] = None
_control_taker: Optional[_BatchTaker] = None


def event_callback() -> Any:
    """The C callback to give ``ca_create_subscription``: the event buffer's if it is built."""
    return _EVBUF_CALLBACK if _evbuf is not None else EVENT_THUNK


def connection_callback() -> Any:
    """The connection handler to give ``ca_create_channel``."""
    return _EVBUF_CONNECTION if _evbuf is not None else CONNECTION_THUNK


def access_callback() -> Any:
    """The handler to give ``ca_replace_access_rights_event``."""
    return _EVBUF_ACCESS if _evbuf is not None else ACCESS_THUNK


#: Gets of more elements than this are answered by the Python thunk, straight from libca's
#: buffer: through the control queue a big array would be copied once more.
BUFFERED_GET_MAX_ELEMENTS = 4096


def get_callback(count: int) -> Any:
    """The callback to give ``ca_array_get_callback`` for a get of ``count`` elements."""
    if _evbuf is not None and count <= BUFFERED_GET_MAX_ELEMENTS:
        return _EVBUF_GET
    return GET_THUNK


_EVBUF_CALLBACK: Any = None
_EVBUF_GET: Any = None
_EVBUF_CONNECTION: Any = None
_EVBUF_ACCESS: Any = None


def start(preemptive: bool = True) -> None:
    """Connect the event buffer and start the dispatcher thread (if callbacks are preemptive)."""
    global _thread, _evbuf, _EVBUF_CALLBACK, _EVBUF_GET, _EVBUF_CONNECTION, _EVBUF_ACCESS
    global _batch_taker, _control_taker, _stopping, _control_thread
    with _thread_lock:
        if _evbuf is None:
            evbuf = _cadef.load_evbuf()
            if evbuf is None:
                log.info("the compiled event buffer (epics/_evbuf.c) is not built: monitor "
                         "updates take the slower pure-Python path")
            else:
                _EVBUF_CALLBACK = ctypes.cast(evbuf.evbuf_event_callback, _cadef.EventCallback)
                _EVBUF_GET = ctypes.cast(evbuf.evbuf_get_callback, _cadef.EventCallback)
                _EVBUF_CONNECTION = ctypes.cast(evbuf.evbuf_connection_callback,
                                                _cadef.ConnectionCallback)
                _EVBUF_ACCESS = ctypes.cast(evbuf.evbuf_access_callback,
                                            _cadef.AccessRightsCallback)
                evbuf.evbuf_set_high_water(MONITOR_BACKLOG_BYTES)
                _batch_taker = _BatchTaker(evbuf, _MONITORS, _deliver_batch)
                _control_taker = _BatchTaker(evbuf, _CONTROL, _apply_control_batch)
                _evbuf = evbuf
        elif _stopping:   # CA started again after finalize stopped the buffer
            _cadef.init_evbuf(_evbuf)
        _stopping = False
        if not preemptive or (_thread is not None and _thread.is_alive()):
            return
        if _evbuf is not None:
            if _control_thread is None or not _control_thread.is_alive():
                _control_thread = threading.Thread(target=_apply_control_forever,
                                                   args=(_evbuf,), name="epics-control",
                                                   daemon=True)
                _control_thread.start()
            _thread = threading.Thread(target=_dispatch_with_evbuf, args=(_evbuf,),
                                       name="epics-callbacks", daemon=True)
        else:
            _thread = threading.Thread(target=_dispatch_forever, name="epics-callbacks",
                                       daemon=True)
        _thread.start()


def using_event_buffer() -> bool:
    """Whether monitor updates go through the compiled event buffer (see the module doc)."""
    return _evbuf is not None


def stop() -> None:
    """Stop accepting monitor updates and let the dispatcher thread end (at finalize)."""
    global _stopping
    _stopping = True
    if _evbuf is not None:
        _evbuf.evbuf_stop()
    _wake.set()


def drain(max_items: int = 100000) -> int:
    """Run queued work in the calling thread: the dispatcher's loop, and ``poll`` with
    non-preemptive callbacks (where it also delivers buffered monitor updates)."""
    done = 0
    popleft = _queue.popleft
    while done < max_items:
        try:
            function, args = popleft()
        except IndexError:
            break
        _run(function, args)
        done += 1
    if threading.get_ident() != _dispatcher_ident:
        if _batch_taker is not None:
            take_control()
            _batch_taker.take_and_deliver()
        if _thread is None or not _thread.is_alive():
            _run_idle_hooks()
    return done


def in_dispatcher() -> bool:
    """True when called from a user callback running on the dispatcher thread."""
    return threading.get_ident() == _dispatcher_ident


def backlog() -> int:
    """How many callbacks are waiting to run."""
    return len(_queue)


# --- registries ----------------------------------------------------------------------------------

_handles = itertools.count(1)
#: chid (int) -> the channel record of the ca layer (any object with the hooks below).
channels: Dict[int, Any] = {}
#: usr handle (the channel's puser) -> channel record, until ca_create_channel has returned its chid.
pending_channels: Dict[int, Any] = {}
#: usr handle -> pending get / put operation.
operations: Dict[int, Any] = {}
#: usr handle -> live subscription.
subscriptions: Dict[int, Any] = {}


def new_handle() -> int:
    """A fresh non-zero integer to pass to libca as ``usr``."""
    return next(_handles)


class Flag:
    """A flag that can be set, cleared and waited for, like threading.Event but made of one
    lock (held while the flag is clear): every channel and every get or put in flight has one,
    and there may be tens of thousands (caget_many).
    ``set`` and ``clear`` come from one libca thread at a time (libca serialises a channel's
    connection callbacks)."""

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._lock = _allocate_lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._lock.release()

    def clear(self) -> None:
        if self._set:
            self._set = False
            self._lock.acquire()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: Optional[float] = None) -> bool:
        if self._set:
            return True
        if self._lock.acquire(True, -1 if timeout is None else max(0.0, timeout)):
            self._lock.release()
            return True
        return self._set


class Operation:
    """A get or put in flight: libca fills it from its thread, the caller waits on ``done``.

    ``waited=False`` for one that nobody waits for (its ``on_done`` is all): it shares one flag
    that is always set instead of a lock of its own, which a bulk of callback reads (epics.aio's
    ``caget`` of a list) would otherwise allocate one by one."""

    __slots__ = ("done", "status", "value", "meta", "as_numpy", "on_done", "count", "type",
                 "chid")

    def __init__(self, as_numpy: bool = True, on_done: Optional[Callable] = None,
                 waited: bool = True) -> None:
        self.done = Flag() if waited else _NOT_WAITED_FOR
        self.status: Optional[int] = None
        self.value: Any = None
        self.meta: Optional[dict] = None
        self.as_numpy = as_numpy
        self.on_done = on_done      # run on the dispatcher thread with the operation
        self.count = 0
        self.type = -1
        self.chid = 0


_NOT_WAITED_FOR = Flag()
_NOT_WAITED_FOR.set()


# --- the thunks libca calls -----------------------------------------------------------------------

def _on_connection(args: _cadef.connection_handler_args) -> None:
    if _context._state.finalized:
        return
    channel = channels.get(args.chid)
    if channel is None:  # connected before ca_create_channel returned: find it by its puser
        channel = pending_channels.get(_context._state.lib.ca_puser(args.chid))
    if channel is not None:
        channel.connection_changed(args.op == dbr.OP_CONN_UP)


def _on_access(args: _cadef.access_rights_handler_args) -> None:
    if _context._state.finalized:
        return
    channel = channels.get(args.chid)
    if channel is not None:
        channel.access_changed(bool(args.ar.read_access), bool(args.ar.write_access))


def _forget_operation(args: _cadef.event_handler_args) -> Any:
    """The operation libca has just finished, removed from the registry."""
    return operations.pop(args.usr, None)


def _on_get(args: _cadef.event_handler_args) -> None:
    operation = _forget_operation(args)
    if operation is None or _context._state.finalized:
        return
    _finish_get(operation, args.status, args.type, args.count,
                lambda: dbr.make_reader(args.type, args.count, operation.as_numpy)(args.dbr))


def _finish_get(operation: "Operation", status: int, dbrtype: int, count: int,
                read: Callable[[], tuple]) -> None:
    """Fill a get operation with libca's answer (``read()`` converts it) and wake its waiter."""
    operation.status = status
    operation.count = count
    operation.type = dbrtype
    if status == ECA.NORMAL:
        try:
            operation.value, operation.meta = read()
        except Exception as exc:  # a buffer we cannot convert: report it to the waiter
            operation.status = ECA.BADTYPE
            operation.value = exc
    operation.done.set()
    if operation.on_done is not None:
        submit(operation.on_done, operation)


def _on_put(args: _cadef.event_handler_args) -> None:
    operation = _forget_operation(args)
    if operation is None or _context._state.finalized:
        return
    operation.status = args.status
    operation.done.set()
    if operation.on_done is not None:
        submit(operation.on_done, operation)


def _on_event(args: _cadef.event_handler_args) -> None:
    subscription = subscriptions.get(args.usr)
    if subscription is None:
        return
    status = args.status
    if status != 1:  # ECA_NORMAL; e.g. read access lost: the connection/access callbacks say so
        return
    count = args.count
    reader = subscription.reader
    if count != subscription.count or reader is None:
        reader = dbr.make_reader(args.type, count, subscription.as_numpy)
        subscription.reader, subscription.count = reader, count
    value, meta = reader(args.dbr)
    _queue.append((subscription.deliver, (value, meta)))
    if not _wake.is_set():
        _wake.set()


def _on_exception(args: _cadef.exception_handler_args) -> None:
    if _context._state.finalized:
        return
    context = args.ctx.decode("utf-8", "replace") if args.ctx else ""
    pvname = None
    if args.chid:
        channel = channels.get(args.chid)
        pvname = getattr(channel, "pvname", None)
    log.warning("CA exception %s%s: %s", status_message(args.stat),
                f" for PV {pvname!r}" if pvname else "", context)


_printf_writer: Optional[Callable[[str], Any]] = None


def _on_printf(pformat: Optional[bytes], va_list: int) -> int:
    writer = _printf_writer
    if writer is not None and pformat:
        try:
            writer(pformat.decode("utf-8", "replace"))
        except Exception:
            pass
    return 0


def set_printf_writer(writer: Optional[Callable[[str], Any]]) -> None:
    """Where libca's diagnostic text goes (None swallows it)."""
    global _printf_writer
    _printf_writer = writer


CONNECTION_THUNK = _cadef.ConnectionCallback(_on_connection)
ACCESS_THUNK = _cadef.AccessRightsCallback(_on_access)
GET_THUNK = _cadef.EventCallback(_on_get)
PUT_THUNK = _cadef.EventCallback(_on_put)
EVENT_THUNK = _cadef.EventCallback(_on_event)
EXCEPTION_THUNK = _cadef.ExceptionCallback(_on_exception)
PRINTF_THUNK = _cadef.PrintfCallback(_on_printf)


def forget_all() -> None:
    """Drop every registry entry (after fork: the handles belong to a dead context, and the
    dispatcher thread did not survive, so its wake-up event is made anew)."""
    global _wake, _thread, _control_thread
    channels.clear()
    pending_channels.clear()
    operations.clear()
    subscriptions.clear()
    _queue.clear()
    _wake = threading.Event()
    _thread = None
    _control_thread = None
    if _evbuf is not None:
        _evbuf.evbuf_after_fork()


_context.on_reset(forget_all)
