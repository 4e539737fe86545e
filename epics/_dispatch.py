"""C callbacks in, user callbacks out.

Which thread runs what:

* libca's own threads call the module-level thunks below (``_on_connection``, ``_on_access``,
  ``_on_get``, ``_on_put``, ``_on_event``, ``_on_exception``). They do the minimum: look up the
  operation by the ``usr`` handle or chid, copy the data out of libca's buffer, set internal
  events, and enqueue the user-facing work. They never run user code and never block.
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
import itertools
import logging
import threading
from typing import Any, Callable, Dict, Optional

from . import _cadef, _context, dbr
from ._errors import ECA, status_message

log = logging.getLogger("epics.ca")
callback_log = logging.getLogger("epics.callbacks")

# --- the work queue and its thread ---------------------------------------------------------------

_queue: "collections.deque[tuple]" = collections.deque()
_wake = threading.Event()
_thread: Optional[threading.Thread] = None
_thread_lock = threading.Lock()
_dispatcher_ident: Optional[int] = None


def submit(function: Callable, *args: Any) -> None:
    """Run ``function(*args)`` on the dispatcher thread, after everything queued before it."""
    _queue.append((function, args))
    if not _wake.is_set():
        _wake.set()


def _run(function: Callable, args: tuple) -> None:
    try:
        function(*args)
    except Exception:
        callback_log.exception("callback %s raised (the other callbacks still run)",
                               getattr(function, "__qualname__", function))


def _dispatch_forever() -> None:
    global _dispatcher_ident
    _dispatcher_ident = threading.get_ident()
    popleft, queue, wake = _queue.popleft, _queue, _wake
    while True:
        try:
            function, args = popleft()
        except IndexError:
            wake.clear()
            if queue:
                continue
            wake.wait()
            continue
        try:
            function(*args)
        except Exception:
            callback_log.exception("callback %s raised (the other callbacks still run)",
                                   getattr(function, "__qualname__", function))


def start() -> None:
    """Start the dispatcher thread if callbacks are preemptive and it is not running."""
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_dispatch_forever, name="epics-callbacks",
                                       daemon=True)
            _thread.start()


def drain(max_items: int = 100000) -> int:
    """Run queued work in the calling thread (non-preemptive mode, or to flush at shutdown)."""
    done = 0
    popleft = _queue.popleft
    while done < max_items:
        try:
            function, args = popleft()
        except IndexError:
            break
        _run(function, args)
        done += 1
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


class Operation:
    """A get or put in flight: libca fills it from its thread, the caller waits on ``done``."""

    __slots__ = ("done", "status", "value", "meta", "as_numpy", "on_done", "count", "type")

    def __init__(self, as_numpy: bool = True, on_done: Optional[Callable] = None) -> None:
        self.done = threading.Event()
        self.status: Optional[int] = None
        self.value: Any = None
        self.meta: Optional[dict] = None
        self.as_numpy = as_numpy
        self.on_done = on_done      # run on the dispatcher thread with the operation
        self.count = 0
        self.type = -1


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


def _on_get(args: _cadef.event_handler_args) -> None:
    operation = operations.pop(args.usr, None)
    if operation is None or _context._state.finalized:
        return
    status = args.status
    operation.status = status
    operation.count = args.count
    operation.type = args.type
    if status == ECA.NORMAL:
        try:
            operation.value, operation.meta = dbr.make_reader(
                args.type, args.count, operation.as_numpy)(args.dbr)
        except Exception as exc:  # a buffer we cannot convert: report it to the waiter
            operation.status = ECA.BADTYPE
            operation.value = exc
    operation.done.set()
    if operation.on_done is not None:
        submit(operation.on_done, operation)


def _on_put(args: _cadef.event_handler_args) -> None:
    operation = operations.pop(args.usr, None)
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
    global _wake, _thread
    channels.clear()
    pending_channels.clear()
    operations.clear()
    subscriptions.clear()
    _queue.clear()
    _wake = threading.Event()
    _thread = None


_context.on_reset(forget_all)
