"""libca wrapped one-to-one: ``ca_create_channel`` is ``ca.create_channel``.

The public surface, signatures, defaults and return values are PyEpics 3.5's, so a script written
for PyEpics does not notice the difference. What differs is underneath: CA status codes raise
exceptions (subclasses of :class:`ChannelAccessException` naming the PV), waits are on events with
deadlines rather than polling loops, user callbacks run on one dispatcher thread rather than inside
libca (see ``_dispatch``), any thread can call CA without attaching a context by hand, and a
forked child gets a fresh context.

Module settings (read when CA starts, as in PyEpics): :data:`PREEMPTIVE_CALLBACK`,
:data:`AUTO_CLEANUP`, :data:`WITH_CA_MESSAGES`, :data:`AUTOMONITOR_MAXLENGTH` (alias
``AUTOMONITOR_LENGTH``), :data:`DEFAULT_CONNECTION_TIMEOUT`, :data:`DEFAULT_SUBSCRIPTION_MASK`,
and :data:`RAISE_ON_ERROR` (read at each call: PyEpics's None/-1 failure values, or exceptions).
"""
from __future__ import annotations

import atexit
import collections
import ctypes
import functools
import logging
import math
import re
import sys
import threading
import time
import types
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Tuple, Union

from . import _cadef, _context, _dispatch, _libca, dbr
from .utils import IOENCODING, bytes2str, clib_search_path, str2bytes, strjoin
from ._errors import (ECA, CAAccessDenied, CADeadlockError, CAFinalizedError,
                      CANotConnectedError, CASeverityException, CATimeoutError, CATypeError,
                      CAValueError, ChannelAccessException, ChannelAccessGetFailure,
                      error_for_status, status_message)

__all__ = [
    "initialize_libca", "finalize_libca", "create_context", "context_create", "destroy_context",
    "context_destroy", "attach_context", "detach_context", "use_initial_context",
    "current_context", "client_status", "flush_io", "message", "version", "pend_io",
    "pend_event", "poll", "test_io", "create_channel", "connect_channel", "clear_channel",
    "name", "host_name", "element_count", "read_access", "write_access", "field_type", "state",
    "isConnected", "access", "promote_type", "promote_fieldtype", "get", "get_with_metadata",
    "get_complete", "get_complete_with_metadata", "put", "get_ctrlvars", "get_timevars",
    "get_timestamp", "get_severity", "get_precision", "get_enum_strings", "create_subscription",
    "clear_subscription", "replace_access_rights_event", "sg_create", "sg_delete", "sg_block",
    "sg_test", "sg_reset", "sg_get", "sg_put", "get_cache", "show_cache", "clear_cache",
    "register_clear_cache", "disable_ca_messages", "enable_ca_messages",
    "replace_printf_handler", "withCA", "withCHID", "withConnectedCHID",
    "withMaybeConnectedCHID", "withInitialContext", "withSEVCHK", "PySEVCHK", "CAThread",
    "find_libca", "find_libCom", "event_buffer_in_use", "ChannelAccessException", "CASeverityException",
    "ChannelAccessGetFailure", "CATimeoutError", "CANotConnectedError", "CAAccessDenied",
    "CAValueError", "CATypeError", "CAFinalizedError", "CADeadlockError",
    "PREEMPTIVE_CALLBACK", "AUTO_CLEANUP", "WITH_CA_MESSAGES", "AUTOMONITOR_MAXLENGTH",
    "AUTOMONITOR_LENGTH", "DEFAULT_CONNECTION_TIMEOUT", "DEFAULT_SUBSCRIPTION_MASK",
    "RAISE_ON_ERROR", "raising", "HAS_NUMPY", "IOENCODING", "GET_PENDING", "str2bytes", "bytes2str", "strjoin", "ca_printf",
    "Empty", "write",
    "clib_search_path", "find_lib",
]

log = logging.getLogger("epics.ca")

# --- settings (PyEpics's names and defaults) ------------------------------------------------------
#: Callbacks arrive on libca's threads at any time (True), or only inside pend_event/poll (False).
#: Read when CA starts.
PREEMPTIVE_CALLBACK: bool = True
#: Finalize CA at interpreter exit (bounded in time).
AUTO_CLEANUP: bool = True
#: Let libca's own diagnostic text through to stderr (PyEpics's default is to swallow it;
#: CA exceptions are logged to the ``epics.ca`` logger either way).
WITH_CA_MESSAGES: bool = False
#: Arrays with at least this many elements are not monitored automatically by PV objects.
AUTOMONITOR_MAXLENGTH: int = 65536
#: Seconds to wait for a channel to connect when no timeout is given.
DEFAULT_CONNECTION_TIMEOUT: float = 2.0
#: Which changes a subscription reports by default: value changes and alarm changes.
DEFAULT_SUBSCRIPTION_MASK: int = dbr.DBE_VALUE | dbr.DBE_ALARM
#: PyEpics's conventions (False, the default): a PV that does not connect or answer in time gives
#: None (``caget``, ``PV.get``, ``caput``, ``PV.put``) or -1 (``caput_many``), a PV name with white
#: space makes a channel that never connects, a bad enum index goes to the server as it is.
#: True: each of these raises a typed exception naming the PV instead (CANotConnectedError,
#: CATimeoutError, CAValueError). The ``raise_on_error`` keyword of those functions overrides this
#: setting for one call; :func:`raising` is where the two meet.
RAISE_ON_ERROR: bool = False
#: Seconds finalize_libca gives libca's context teardown before abandoning it.
SHUTDOWN_DEADLINE: float = 1.0

#: numpy is a requirement of epicsca, so arrays always come back as numpy arrays when asked
#: (PyEpics's flag for an optional numpy; kept because its scripts and tests read it).
HAS_NUMPY: bool = True


class _GetPending:
    """The type of :data:`GET_PENDING`."""

    def __repr__(self) -> str:
        return "GET_PENDING"


#: PyEpics's marker for "a get was sent and its reply has not arrived". epicsca's gets wait on
#: events and never hand it out; scripts that compare against it keep working.
GET_PENDING = _GetPending()
#: PyEpics's older name of the type of :data:`GET_PENDING`.
Empty = _GetPending


def write(msg: str, newline: bool = True, flush: bool = True) -> None:
    """Write ``msg`` to standard output (PyEpics's ``ca.write``, kept for scripts that use it;
    the library itself logs and never prints)."""
    sys.stdout.write(msg + ("\n" if newline else ""))
    if flush:
        sys.stdout.flush()

#: libca's printf hook once :func:`replace_printf_handler` installed one ('' before, as in PyEpics).
ca_printf: Any = ""

#: libca once loaded (PyEpics exposes it under this name); None before first use.
libca: Optional[ctypes.CDLL] = None
#: The context created (or adopted) when CA started.
initial_context: Optional[int] = None

ChidLike = Union[int, ctypes.c_void_p, ctypes.c_long, "dbr.chid_t"]
chid_t = dbr.chid_t   # what create_channel returns


# --- the channel record --------------------------------------------------------------------------

class _Channel:
    """What this library knows about one channel (PyEpics calls this a cache item).

    Written from libca's threads (connection and access changes), read everywhere; user
    callbacks it holds are run on the dispatcher thread.
    """

    __slots__ = ("pvname", "context", "chid_int", "handle", "conn", "connect_count", "pv_users",
                 "connected", "ts", "failures", "read_access", "write_access", "callbacks",
                 "access_event_callback", "listeners", "get_results", "subscriptions",
                 "callbacks_due", "__weakref__")

    def __init__(self, pvname: str, context: Optional[int]) -> None:
        self.pvname = pvname
        self.context = context
        self.chid_int = 0
        self.handle = _dispatch.new_handle()
        self.conn = False
        self.connect_count = 0       # connections so far: PV setup is redone once per connection
        self.pv_users = 0            # PV objects sharing this channel (cleared when none is left)
        self.connected = _dispatch.Flag()
        self.ts = 0.0
        self.failures = 0
        self.read_access = False
        self.write_access = False
        # Who is told what: tuples, replaced (never changed) when one is added or removed, so a
        # thread running them needs no copy, and most channels share the one empty tuple
        self.callbacks: Tuple[Callable, ...] = ()              # connection callbacks
        self.access_event_callback: Tuple[Callable, ...] = ()  # access-rights callbacks
        # objects told of both (PV objects, see ChannelListener and attach): one entry instead
        # of two callbacks
        self.listeners: Tuple[Any, ...] = ()
        self.subscriptions: Tuple["_Subscription", ...] = ()
        # the last get per DBR type: a dict of its own from the first get (get_with_metadata)
        self.get_results: Mapping[int, _dispatch.Operation] = _NO_GET_RESULTS
        # connection-callback runs queued for the dispatcher and not finished yet: a wait for
        # the connection also waits for them (see connect_channel)
        self.callbacks_due = 0

    @property
    def chid(self) -> chid_t:
        return chid_t(self.chid_int)

    def __getitem__(self, key: str) -> Any:   # PyEpics compatibility: entry['pvname']
        return getattr(self, key)

    def __repr__(self) -> str:
        return (f"<_Channel {self.pvname!r} {'connected' if self.conn else 'disconnected'} "
                f"failures={self.failures} callbacks={len(self.callbacks)} "
                f"access_callbacks={len(self.access_event_callback)} chid={self.chid_int}>")

    # called on the dispatcher (or libca's) thread: record, wake waiters, queue user callbacks
    def connection_changed(self, up: bool) -> None:
        with _connection_lock:   # create_channel may report the same connection: once only
            if up == self.conn:
                return
            self.conn = up
        self.ts = time.time()
        if up:
            self.failures = 0
            self.connect_count += 1
            self.connected.set()
        else:
            self.connected.clear()
        if self.callbacks:
            with _connection_callbacks_ran:
                self.callbacks_due += 1
            _dispatch.submit(self.run_connection_callbacks, up, True)
        elif self.listeners:
            _dispatch.submit(self.run_connection_callbacks, up)

    def access_changed(self, read: bool, write: bool) -> None:
        self.read_access, self.write_access = read, write
        if self.access_event_callback or self.listeners:
            _dispatch.submit(self.run_access_event_callbacks, read, write)

    def run_connection_callbacks(self, conn: bool, counted: bool = False) -> None:
        """Tell the listeners and run the connection callbacks (dispatcher thread); ``counted``
        when connection_changed counted this run in ``callbacks_due``."""
        try:
            for listener in self.listeners:
                _call_user(listener.channel_connection_changed, conn)
            for callback in self.callbacks:
                _call_user(callback, pvname=self.pvname, chid=self.chid_int, conn=conn)
        finally:
            if counted:
                with _connection_callbacks_ran:
                    self.callbacks_due -= 1
                    _connection_callbacks_ran.notify_all()

    def wait_for_connection_callbacks(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until the connection callbacks queued so far have run, as
        in PyEpics, where they run in libca's thread before the connection is seen: a script
        that connects and then reads what its callback recorded finds it there. Not on the
        dispatcher thread itself, which runs them after the callback it is in."""
        if not self.callbacks_due or _dispatch.in_dispatcher():
            return
        if not _context.is_preemptive():
            _dispatch.drain()
            return
        with _connection_callbacks_ran:
            _connection_callbacks_ran.wait_for(lambda: not self.callbacks_due, timeout)

    def run_access_event_callbacks(self, ra: bool, wa: bool) -> None:
        for listener in self.listeners:
            _call_user(listener.channel_access_changed, ra, wa)
        for callback in self.access_event_callback:
            _call_user(callback, ra, wa)


def _call_user(callback: Callable, *args: Any, **kwargs: Any) -> None:
    """Run one user callback; an exception is logged and does not stop the others."""
    try:
        callback(*args, **kwargs)
    except Exception:
        _dispatch.callback_log.exception("user callback %s raised",
                                         getattr(callback, "__qualname__", callback))


class _Subscription:
    """A live ``ca_create_subscription``: how to read its events and whom to give them to."""

    __slots__ = ("handle", "evid", "chid_int", "pvname", "dbrtype", "count", "reader",
                 "batch_reader", "as_numpy", "deliver", "active", "mask")

    def __init__(self, chid_int: int, pvname: str, dbrtype: int, count: int, mask: int,
                 deliver: Callable[[Any, dict], None], as_numpy: bool = True) -> None:
        self.handle = _dispatch.new_handle()
        self.evid: Optional[int] = None
        self.chid_int = chid_int
        self.pvname = pvname
        self.dbrtype = dbrtype
        self.count = -1            # element count of the readers below
        self.reader = None         # reads an update at an address (Python-callback path)
        self.batch_reader = None   # reads an update inside an event-buffer batch
        self.as_numpy = as_numpy
        self.deliver = deliver
        self.active = True
        self.mask = mask


class Subscription(tuple):
    """What :func:`create_subscription` returns: PyEpics's ``(callback_ref, user_arg_ref,
    event_id)`` tuple, except that nothing needs to be kept alive by the caller (the library
    holds the subscription until :func:`clear_subscription` or :func:`clear_channel`)."""

    def __new__(cls, subscription: _Subscription) -> "Subscription":
        return super().__new__(cls, (_dispatch.event_callback(), subscription.handle,
                                     ctypes.c_void_p(subscription.evid)))

    @property
    def event_id(self) -> ctypes.c_void_p:
        return self[2]


# --- registries ----------------------------------------------------------------------------------
#: context -> pvname -> _Channel (PyEpics's ``_cache``).
_cache: Dict[Optional[int], Dict[str, _Channel]] = {}
#: chid -> _Channel (PyEpics's ``_chid_cache``); the same dict the C callbacks look in.
_chid_cache: Dict[int, _Channel] = _dispatch.channels
_connection_lock = threading.Lock()
_NO_GET_RESULTS: Mapping[int, Any] = types.MappingProxyType({})   # a channel not read yet
_members_lock = threading.Lock()


def _add_member(channel: _Channel, group: str, member: Any) -> None:
    """Add ``member`` to one of the channel's tuples (callbacks, listeners, subscriptions...),
    as a new tuple: threads adding to one channel at once lose nothing."""
    with _members_lock:
        setattr(channel, group, getattr(channel, group) + (member,))


def _remove_member(channel: _Channel, group: str, member: Any) -> None:
    """Take every entry that is ``member`` (or equal to it) out of one of the channel's tuples."""
    with _members_lock:
        setattr(channel, group, tuple(other for other in getattr(channel, group)
                                      if other is not member and other != member))
_connection_callbacks_ran = threading.Condition()   # notified when _Channel.callbacks_due drops
_sg_buffers: Dict[int, list] = {}
_clear_cache_callbacks: Dict[int, Callable[[], None]] = {}
_create_lock = threading.RLock()


def _ensure() -> ctypes.CDLL:
    """libca, with CA started and the calling thread attached (cheap after the first call)."""
    lib = _context._state.lib
    if lib is not None and getattr(_context._state.local, "context", None) == \
            _context._state.initial and _context._state.initial is not None:
        return lib
    if _context._state.initial is None and not _context._state.finalized:
        _start()
    return _context.ensure()


def _on_context_created(lib: ctypes.CDLL) -> None:
    """Set up a new initial context: exception logging, message handling, dispatcher."""
    global libca, initial_context
    libca = lib
    initial_context = _context.initial_context()
    lib.ca_add_exception_event(_dispatch.EXCEPTION_THUNK, None)
    if WITH_CA_MESSAGES:
        _dispatch.set_printf_writer(sys.stderr.write)
    else:
        _dispatch.set_printf_writer(None)
        lib.ca_replace_printf_handler(_dispatch.PRINTF_THUNK)
    _dispatch.start(_context.is_preemptive())


_context.on_created(_on_context_created)


def _reset_after_fork() -> None:
    global libca, initial_context
    initial_context = None
    _to_free.clear()
    _cache.clear()
    _sg_buffers.clear()


_context.on_reset(_reset_after_fork)


def _chid_int(chid: Any) -> int:
    """Accept every form a chid takes in PyEpics code (int, c_long, c_void_p)."""
    if type(chid) is int:
        return chid
    value = getattr(chid, "value", chid)
    if isinstance(value, int):
        return value
    raise ChannelAccessException(f"not a valid chid: {chid!r}")


def _channel(chid: Any) -> Tuple[int, _Channel]:
    """The chid as int and its record; an error if this library did not create it."""
    chid = _chid_int(chid)
    channel = _chid_cache.get(chid)
    if channel is None:
        if _context._state.finalized:
            raise CAFinalizedError("Channel Access has been finalized in this process "
                                   "(finalize_libca was called or the interpreter is exiting)")
        raise ChannelAccessException(f"unknown channel ID {chid:#x} (cleared, or not created "
                                     "by epics.ca.create_channel)")
    return chid, channel


def _wait(event: threading.Event, timeout: Optional[float]) -> bool:
    """Wait for an internal completion; with non-preemptive callbacks, pump libca meanwhile."""
    if event.is_set():
        return True
    if _context.is_preemptive():
        if _dispatch.in_dispatcher() and _dispatch.using_event_buffer():
            return _dispatch.wait_in_dispatcher(event, timeout)
        return event.wait(timeout)
    deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
    lib = _ensure()
    while not event.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        lib.ca_pend_event(min(remaining, 0.01))
        _dispatch.drain()
    return True


# --- starting and stopping -----------------------------------------------------------------------

def initialize_libca() -> ctypes.CDLL:
    """Load libca and create the initial CA context (called automatically on first use).

    Reads :data:`PREEMPTIVE_CALLBACK` and sets ``EPICS_CA_MAX_ARRAY_BYTES`` to 16 MiB unless the
    user set it. Registers :func:`finalize_libca` to run at exit when :data:`AUTO_CLEANUP`.
    Called after :func:`finalize_libca`, it starts CA again with a new context (as PyEpics);
    until then, CA calls raise :class:`CAFinalizedError`.

    Returns
    -------
    ctypes.CDLL
        libca, with every prototype declared.
    """
    return _start(restart=True)


def _start(restart: bool = False) -> ctypes.CDLL:
    """Start CA on first use (``restart``: also after finalize_libca, for initialize_libca)."""
    lib = _context.initialize(PREEMPTIVE_CALLBACK, restart=restart)
    if AUTO_CLEANUP:
        _register_atexit()
    return lib


_atexit_registered = False


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(finalize_libca, maxtime=SHUTDOWN_DEADLINE)
        _atexit_registered = True


def finalize_libca(maxtime: float = 10.0) -> None:
    """Shut Channel Access down: clear every subscription and channel, then destroy the context.

    Bounded: libca's teardown is given at most ``min(maxtime, SHUTDOWN_DEADLINE)`` seconds and
    abandoned after that. Afterwards C callbacks do nothing and CA calls raise
    :class:`CAFinalizedError`. Runs at exit automatically; calling it twice is harmless.
    """
    _context.finalize(min(maxtime, SHUTDOWN_DEADLINE))


def _clear_everything() -> None:
    """Finalize hook: release channels while the context still works."""
    lib = _context.library()
    _dispatch.stop()
    for callback in list(_clear_cache_callbacks.values()):
        try:
            callback()
        except Exception:
            log.debug("clear-cache callback failed", exc_info=True)
    for subscription in list(_dispatch.subscriptions.values()):
        subscription.active = False
    _dispatch.subscriptions.clear()
    if lib is not None and lib.ca_current_context() is None and initial_context:
        lib.ca_attach_context(initial_context)   # finalize may run in any thread
    for chid in list(_chid_cache):
        _to_free.append((0.0, chid))
    _free_forgotten_channels(everything=True)
    _chid_cache.clear()
    _cache.clear()
    try:
        lib.ca_flush_io()
    except Exception:
        pass


_context.on_finalize(_clear_everything)


# --- contexts ------------------------------------------------------------------------------------

def context_create(ctx: Optional[int] = None) -> int:
    """Create a CA context for the calling thread (``ctx``: 1 preemptive, 0 not, None from
    :data:`PREEMPTIVE_CALLBACK`). Returns ECA_NORMAL."""
    preemptive = PREEMPTIVE_CALLBACK if ctx is None else bool(ctx)
    if _context.initial_context() is None:
        _start()
        return ECA.NORMAL
    return _context.create(preemptive)


def create_context(ctx: Optional[int] = None) -> None:
    """Create a CA context (the Verb_Object spelling of :func:`context_create`)."""
    context_create(ctx)


def context_destroy() -> None:
    """Destroy the calling thread's context; a context this library did not create (an embedded
    IOC's, say) is left alone."""
    context = _ensure().ca_current_context()
    for chid, channel in list(_chid_cache.items()):
        if channel.context == context:
            _forget_channel(chid, channel)
    _cache.pop(context, None)
    _context.destroy()


def destroy_context() -> None:
    """Destroy the calling thread's context (alias of :func:`context_destroy`)."""
    context_destroy()


def attach_context(context: int) -> int:
    """Attach the calling thread to ``context``; returns the CA status (ECA_ISATTACHED if the
    thread already has a context)."""
    _ensure_started()
    return _context.attach(_chid_int(context) if not isinstance(context, int) else context)


def detach_context() -> None:
    """Detach the calling thread from its context."""
    _ensure_started()
    _context.detach()


def use_initial_context() -> int:
    """Attach the calling thread to the initial context (needed only by code that detached;
    new threads are attached automatically). Returns ECA_NORMAL."""
    _ensure_started()
    current = _context.library().ca_current_context()
    if current != _context.initial_context():
        if current is not None:
            _context.detach()
        _context.attach(_context.initial_context())
    _context.note_thread_context(_context.initial_context())
    return ECA.NORMAL


def _ensure_started() -> None:
    if _context.initial_context() is None and not _context.is_finalized():
        _start()
    elif _context.is_finalized():
        raise CAFinalizedError("Channel Access has been finalized in this process")


def current_context() -> Optional[int]:
    """The context of the calling thread, as an integer (None if it has none)."""
    return _ensure().ca_current_context()


def client_status(context: int, level: int) -> int:
    """Print libca's diagnostics for ``context`` to stderr (``level`` 0..n, more detail)."""
    return _ensure().ca_context_status(context, level)


def flush_io() -> int:
    """Send every queued request now. Returns ECA_NORMAL."""
    return _ensure().ca_flush_io()


def message(status: int) -> str:
    """libca's text for a CA status code."""
    return _ensure().ca_message(status).decode("utf-8", "replace")


def version() -> str:
    """The CA protocol version of libca, e.g. '4.13'."""
    return _ensure().ca_version().decode()


def pend_io(timeout: float = 1.0) -> int:
    """Wait up to ``timeout`` for outstanding synchronous IO; returns the CA status
    (ECA_NORMAL, or ECA_TIMEOUT if IO was still outstanding)."""
    return _ensure().ca_pend_io(timeout)


def pend_event(timeout: float = 1.e-5) -> int:
    """Let libca process events for ``timeout`` seconds (and, with non-preemptive callbacks,
    run the callbacks that arrived). Returns ECA_TIMEOUT, libca's normal answer."""
    status = _ensure().ca_pend_event(timeout)
    if not _context.is_preemptive():
        _dispatch.drain()
    return status


def poll(evt: float = 1.e-5, iot: float = 1.0) -> int:
    """``pend_event(evt)`` then ``pend_io(iot)``: PyEpics's way of letting CA work."""
    pend_event(evt)
    return pend_io(iot)


def test_io() -> bool:
    """True when all synchronous IO has completed."""
    return _ensure().ca_test_io() == ECA.IODONE


# --- messages ------------------------------------------------------------------------------------

def replace_printf_handler(writer: Optional[Callable[..., Any]] = None) -> int:
    """Send libca's diagnostic text to ``writer`` (called with the text; None swallows it).

    libca passes a printf format and a ``va_list`` that ctypes cannot expand, so the writer gets
    the format string (as in PyEpics). CA exceptions are logged to ``epics.ca`` regardless.
    """
    if writer is not None and not callable(writer):
        raise ChannelAccessException("replace_printf_handler() needs a callable or None")
    global ca_printf
    _dispatch.set_printf_writer(writer)
    ca_printf = _dispatch.PRINTF_THUNK
    return _ensure().ca_replace_printf_handler(ca_printf)


def disable_ca_messages() -> None:
    """Swallow libca's diagnostic text: ``replace_printf_handler(None)``."""
    replace_printf_handler(None)


def enable_ca_messages(writer: Union[str, Callable[..., Any], None] = "stderr") -> None:
    """Let libca's diagnostic text through to ``writer`` ('stderr', 'stdout' or a callable)."""
    if writer == "stderr":
        writer = sys.stderr.write
    elif writer == "stdout":
        writer = sys.stdout.write
    replace_printf_handler(writer)


# --- channels ------------------------------------------------------------------------------------

def raising(raise_on_error: Optional[bool] = None) -> bool:
    """Whether a call should raise rather than return PyEpics's failure value: the call's own
    ``raise_on_error`` when given (True or False), else the process-wide :data:`RAISE_ON_ERROR`."""
    return RAISE_ON_ERROR if raise_on_error is None else bool(raise_on_error)


_BAD_NAME_CHARACTER = re.compile(r"[\s\x00-\x1f\x7f]")


def _check_pvname(pvname: Any, raise_on_error: Optional[bool] = None) -> str:
    """The PV name as a str. An empty or non-string name, or one with a NUL (libca would read
    a shorter, other name), always raises; a name with white space or other control characters
    raises only when :func:`raising` (PyEpics hands it to libca, where it makes a channel that
    never connects, since no server has such a name)."""
    if isinstance(pvname, bytes):
        pvname = pvname.decode("utf-8", "replace")
    if not isinstance(pvname, str):
        raise CATypeError(f"a PV name must be a str, not {type(pvname).__name__}: {pvname!r}")
    if not pvname:
        raise CAValueError("empty PV name", pvname=pvname)
    if "\x00" in pvname:
        raise CAValueError(f"PV name {pvname!r} contains a NUL character", pvname=pvname)
    if raising(raise_on_error) and _BAD_NAME_CHARACTER.search(pvname):
        raise CAValueError(f"PV name {pvname!r} contains white space or control characters",
                           pvname=pvname)
    return pvname


def create_channel(pvname: str, connect: bool = False, auto_cb: bool = True,
                   callback: Optional[Callable[..., Any]] = None) -> chid_t:
    """Create (or reuse) the channel for ``pvname`` in the calling thread's context.

    Parameters
    ----------
    pvname : str
        The PV name.
    connect : bool
        Wait (up to :data:`DEFAULT_CONNECTION_TIMEOUT`) for the channel to connect.
    auto_cb : bool
        Kept for PyEpics compatibility: connection state is always tracked.
    callback : callable, optional
        Called as ``callback(pvname=..., chid=..., conn=...)`` on each connection change (on the
        dispatcher thread); called at once if the channel is already connected. As in PyEpics,
        a connection seen by :func:`connect_channel` or a read has had its callbacks run.

    Returns
    -------
    chid_t
        The channel ID, used by the other functions. The same PV name in the same context gives
        the same channel.

    Raises
    ------
    CAValueError, CATypeError
        for an empty, malformed or non-string PV name.
    """
    pvname = _check_pvname(pvname)
    lib = _ensure()
    context = lib.ca_current_context()
    with _create_lock:
        per_context = _cache.setdefault(context, {})
        channel = per_context.get(pvname)
        is_new = channel is None
        if is_new:
            channel = _Channel(pvname, context)
            if callable(callback):
                _add_member(channel, "callbacks", callback)
            handle = channel.handle
            _dispatch.pending_channels[handle] = channel
            chid = ctypes.c_void_p()
            try:
                lib.ca_create_channel(pvname.encode("utf-8"), _dispatch.connection_callback(),
                                      handle, 0, ctypes.byref(chid))
            finally:
                _dispatch.pending_channels.pop(handle, None)
            channel.chid_int = chid.value
            _chid_cache[chid.value] = channel
            per_context[pvname] = channel
            # connection may have happened before the chid was known: state is authoritative
            if lib.ca_state(chid.value) == dbr.CS_CONN:
                channel.connection_changed(True)
    if not is_new and callable(callback) and callback not in channel.callbacks:
        _add_member(channel, "callbacks", callback)
        if channel.conn:
            _call_user(callback, pvname=pvname, chid=channel.chid_int, conn=True)
    if connect:
        connect_channel(channel.chid_int)
    return channel.chid


def connect_channel(chid: ChidLike, timeout: Optional[float] = None,
                    verbose: bool = False) -> bool:
    """Wait up to ``timeout`` (default :data:`DEFAULT_CONNECTION_TIMEOUT`) for a channel to
    connect; returns whether it is connected. Never raises for a PV that does not exist."""
    chid, channel = _channel(chid)
    if timeout is None:
        timeout = DEFAULT_CONNECTION_TIMEOUT
    if channel.conn:
        channel.wait_for_connection_callbacks(timeout)
        return True
    started = time.monotonic()
    _ensure().ca_flush_io()
    connected = _wait(channel.connected, timeout)
    if connected:
        channel.wait_for_connection_callbacks(max(0.0, timeout - (time.monotonic() - started)))
    if verbose:
        log.info("connect_channel(%r): %s", channel.pvname, connected)
    if not connected:
        channel.ts = time.time()
        channel.failures += 1
    return connected


#: Seconds between forgetting a channel and freeing it in libca (see clear_channel).
CLEAR_DELAY = 0.5
_to_free: "collections.deque[Tuple[float, int]]" = collections.deque()


def clear_channel(chid: ChidLike) -> int:
    """Release a channel and its subscriptions. Returns ECA_NORMAL.

    The channel is forgotten at once (any later use raises), and freed in libca a moment later
    (:data:`CLEAR_DELAY`), by the dispatcher thread: another thread may be in the middle of a
    call on this very channel, and libca would otherwise free the memory under it.
    """
    chid, channel = _channel(chid)
    _ensure()
    _forget_channel(chid, channel)
    _free_later(chid)
    return ECA.NORMAL


def _free_later(chid: int) -> None:
    """Have the channel freed in libca CLEAR_DELAY from now (by _free_forgotten_channels)."""
    _to_free.append((time.monotonic() + CLEAR_DELAY, chid))


def _free_forgotten_channels(everything: bool = False) -> None:
    """Free in libca the channels cleared at least CLEAR_DELAY ago (all of them at finalize).
    Runs on the dispatcher thread (or in poll without one)."""
    lib = _context._state.lib
    if lib is None or not _to_free:
        return
    now = time.monotonic()
    freed = False
    while _to_free and (everything or _to_free[0][0] <= now):
        _, chid = _to_free.popleft()
        try:
            lib.ca_clear_channel(chid)
            freed = True
        except Exception:
            log.debug("clearing channel %#x failed", chid, exc_info=True)
    if freed:
        try:
            lib.ca_flush_io()
        except Exception:
            pass


_dispatch.on_idle(_free_forgotten_channels)


def _forget_channel(chid: int, channel: _Channel) -> None:
    for subscription in channel.subscriptions:
        subscription.active = False
        _dispatch.subscriptions.pop(subscription.handle, None)
    channel.subscriptions = ()
    for handle, operation in list(_dispatch.operations.items()):   # libca will not answer now:
        if operation.chid == chid:                                 # a waiter hears it at once
            _dispatch.operations.pop(handle, None)
            operation.status = ECA.CHANDESTROY
            operation.done.set()
    channel.get_results = _NO_GET_RESULTS
    _chid_cache.pop(chid, None)
    per_context = _cache.get(channel.context)
    if per_context is not None and per_context.get(channel.pvname) is channel:
        del per_context[channel.pvname]
    channel.conn = False
    channel.connected.clear()


def remove_connection_callback(chid: ChidLike, callback: Callable[..., Any]) -> None:
    """Stop calling ``callback`` (given to :func:`create_channel`) on connection changes."""
    _remove_member(_channel(chid)[1], "callbacks", callback)


def replace_access_rights_event(chid: ChidLike,
                                callback: Optional[Callable[[bool, bool], Any]] = None) -> None:
    """Add ``callback(read_access, write_access)``, run on each change of access rights."""
    chid, channel = _channel(chid)
    if callback is not None and callback not in channel.access_event_callback:
        _add_member(channel, "access_event_callback", callback)
    _ensure().ca_replace_access_rights_event(chid, _dispatch.access_callback())


# --- channels shared by objects of the layers above (PV, epics.aio) ------------------------------
# Package-public: the PV layer and epics.aio use these names; scripts use PV objects instead.

class ChannelListener(Protocol):
    """What :func:`attach` tells an object that shares a channel (a PV object).

    ``channel_attached`` runs at once in :func:`attach`, before any event; the other two run on
    the dispatcher thread, for every connection and access-rights change of the channel.
    """

    def channel_attached(self, channel: "Channel") -> None: ...

    def channel_connection_changed(self, conn: bool) -> None: ...

    def channel_access_changed(self, read_access: bool, write_access: bool) -> None: ...


def attach(pvname: str, listener: ChannelListener) -> "Channel":
    """Share the channel of ``pvname`` (created if needed) with ``listener``; returns its record.

    Each attached listener counts as one user of the channel: :func:`detach` clears the channel
    when its last user leaves (channels made by :func:`create_channel` alone stay, as in PyEpics).
    """
    chid = _chid_int(create_channel(pvname))
    channel = _channel(chid)[1]
    # the listener first holds the record: listening on a connected channel brings its access
    # rights at once, on the dispatcher thread, and the listener's handler needs the record
    listener.channel_attached(channel)
    _add_member(channel, "listeners", listener)
    channel.pv_users += 1
    _ensure().ca_replace_access_rights_event(chid, _dispatch.access_callback())
    return channel


def detach(channel: "Channel", listener: ChannelListener) -> None:
    """Undo :func:`attach`: no more events for ``listener``; the last user clears the channel."""
    _remove_member(channel, "listeners", listener)
    channel.pv_users -= 1
    if channel.pv_users <= 0 and is_current(channel):
        try:
            clear_channel(channel.chid_int)
        except ChannelAccessException:
            log.debug("clearing the channel of %r failed", channel.pvname, exc_info=True)


def is_current(channel: "Channel") -> bool:
    """Whether ``channel`` is still the live record of its chid (not cleared meanwhile)."""
    return _chid_cache.get(channel.chid_int) is channel


Channel = _Channel              # the channel record's type, for annotations above this layer
MonitorSubscription = _Subscription   # what subscribe() returns
check_pvname = _check_pvname
chid_int = _chid_int
call_user = _call_user          # run a user callback: an exception is logged, never raised


def name(chid: ChidLike) -> str:
    """The PV name of a channel."""
    return _channel(chid)[1].pvname


def host_name(chid: ChidLike) -> str:
    """'host:port' of the server of a channel ('<disconnected>' when not connected)."""
    chid, _ = _channel(chid)
    return _ensure().ca_host_name(chid).decode("utf-8", "replace")


def element_count(chid: ChidLike) -> int:
    """Number of elements of the channel's value (1 for scalars; 0 when not connected)."""
    chid, _ = _channel(chid)
    return _ensure().ca_element_count(chid)


def read_access(chid: ChidLike) -> int:
    """1 if the channel may be read, else 0."""
    chid, _ = _channel(chid)
    return _ensure().ca_read_access(chid)


def write_access(chid: ChidLike) -> int:
    """1 if the channel may be written, else 0."""
    chid, _ = _channel(chid)
    return _ensure().ca_write_access(chid)


def field_type(chid: ChidLike) -> int:
    """The native DBR type of the channel (-1 when not connected)."""
    chid, _ = _channel(chid)
    return _ensure().ca_field_type(chid)


def state(chid: ChidLike) -> int:
    """The channel state: dbr.CS_NEVER_CONN, CS_PREV_CONN, CS_CONN or CS_CLOSED."""
    chid, _ = _channel(chid)
    return _ensure().ca_state(chid)


def isConnected(chid: ChidLike) -> bool:
    """Whether the channel is connected."""
    return state(chid) == dbr.CS_CONN


def access(chid: ChidLike) -> str:
    """'no access', 'read-only', 'write-only' or 'read/write'."""
    return ("no access", "read-only", "write-only", "read/write")[
        read_access(chid) + 2 * write_access(chid)]


def promote_fieldtype(ftype: int, use_time: bool = False, use_ctrl: bool = False) -> int:
    """The TIME or CTRL variant of a native type (CTRL wins; there is no CTRL_STRING, so a
    STRING asked for with CTRL gets TIME_STRING)."""
    if use_ctrl:
        ftype += dbr.CTRL_STRING
    elif use_time:
        ftype += dbr.TIME_STRING
    if ftype == dbr.CTRL_STRING:
        ftype = dbr.TIME_STRING
    return ftype


def promote_type(chid: ChidLike, use_time: bool = False, use_ctrl: bool = False) -> int:
    """:func:`promote_fieldtype` of the channel's native type."""
    return promote_fieldtype(field_type(chid), use_time=use_time, use_ctrl=use_ctrl)


# --- reading -------------------------------------------------------------------------------------

def _connect_or_none(chid: int, channel: _Channel, timeout: Optional[float]) -> bool:
    if channel.conn and not channel.callbacks_due:
        return True
    return connect_channel(chid, timeout=DEFAULT_CONNECTION_TIMEOUT if timeout is None
                           else timeout)


def get_with_metadata(chid: ChidLike, ftype: Optional[int] = None, count: Optional[int] = None,
                      wait: bool = True, timeout: Optional[float] = None,
                      as_string: bool = False, as_numpy: bool = True) -> Optional[dict]:
    """Read a channel's value and the metadata of the requested DBR type.

    Parameters
    ----------
    chid : chid_t
        The channel.
    ftype : int, optional
        DBR type to request (native type by default; a TIME or CTRL type gives metadata).
    count : int, optional
        Most elements to read (the server's current count by default).
    wait : bool
        Wait for the answer (True) or return None at once and collect it later with
        :func:`get_complete_with_metadata`.
    timeout : float, optional
        Most seconds to wait for the answer (default ``1 + log10(count)``).
    as_string : bool
        Return the value as text (enum state name, CHAR waveform as str...).
    as_numpy : bool
        Arrays as numpy arrays (True) or lists.

    Returns
    -------
    dict or None
        ``{'value': ..., 'status': ..., 'severity': ..., 'timestamp': ..., ...}``, or None when
        the channel does not connect, ``wait=False``, or the read timed out (with a warning, as
        PyEpics). Raises :class:`ChannelAccessGetFailure` if the server refused the read.
    """
    chid, channel = _channel(chid)
    lib = _ensure()
    if not _connect_or_none(chid, channel, timeout):
        return None
    if ftype is None:
        ftype = lib.ca_field_type(chid)
    if ftype in (None, -1):
        return None
    nelm = lib.ca_element_count(chid)
    count = 0 if count is None else min(count, nelm)
    try:
        operation = _request_get(lib, chid, ftype, count, nelm, as_numpy)
    except CANotConnectedError:   # disconnected since the check above: as if it never was
        return None
    if channel.get_results is _NO_GET_RESULTS:
        channel.get_results = {}
    channel.get_results[ftype] = operation  # type: ignore[index]
    if not wait:   # sent with the next flush: get_complete's, or any other
        return None
    lib.ca_flush_io()
    return get_complete_with_metadata(chid, ftype=ftype, count=count, timeout=timeout,
                                      as_string=as_string, as_numpy=as_numpy)


def get(chid: ChidLike, ftype: Optional[int] = None, count: Optional[int] = None,
        wait: bool = True, timeout: Optional[float] = None, as_string: bool = False,
        as_numpy: bool = True) -> Any:
    """Read a channel's value (see :func:`get_with_metadata` for the parameters).

    Returns the value (a Python scalar, str, or numpy array for arrays), or None when the
    channel does not connect, ``wait=False`` was used, or the read timed out.
    """
    info = get_with_metadata(chid, ftype=ftype, count=count, wait=wait, timeout=timeout,
                             as_string=as_string, as_numpy=as_numpy)
    return info["value"] if info is not None else None


def get_complete_with_metadata(chid: ChidLike, ftype: Optional[int] = None,
                               count: Optional[int] = None, timeout: Optional[float] = None,
                               as_string: bool = False, as_numpy: bool = True
                               ) -> Optional[dict]:
    """Collect the answer of an earlier ``get(..., wait=False)`` (or one that timed out).

    Returns the same dict as :func:`get_with_metadata`, or None if no get was started or this
    wait times out too.
    """
    chid, channel = _channel(chid)
    lib = _ensure()
    if ftype is None:
        ftype = lib.ca_field_type(chid)
    nelm = lib.ca_element_count(chid)
    requested = count
    count = nelm if not count else min(count, nelm)
    operation = channel.get_results.get(ftype)
    if operation is None:
        warnings.warn(f"get_complete for {channel.pvname!r} without an initial get() call",
                      stacklevel=2)
        return None
    if not operation.done.is_set():
        lib.ca_flush_io()
    if timeout is None:
        timeout = 1.0 + math.log10(max(1, count))
    if not _wait(operation.done, timeout):
        warnings.warn(f"ca.get('{channel.pvname}') timed out after {timeout:.2f} seconds.",
                      stacklevel=2)
        return None
    if operation.status != ECA.NORMAL:
        if isinstance(operation.value, Exception):
            raise ChannelAccessGetFailure(
                f"cannot convert the value of {channel.pvname!r}: {operation.value}",
                chid=chid, status=operation.status, pvname=channel.pvname)
        raise ChannelAccessGetFailure(
            f"get of {channel.pvname!r} failed: {status_message(operation.status)}",
            chid=chid, status=operation.status, pvname=channel.pvname)
    value = operation.value
    if nelm > 1 and dbr.native_type(ftype) == dbr.CHAR and not hasattr(value, "__len__"):
        value = _one_element_array(value, as_numpy)
    if requested and hasattr(value, "__len__") and not isinstance(value, str) and \
            len(value) > requested:
        value = value[:requested]
    if as_numpy is False:
        value = _as_ctypes_array(value, ftype)
    metadata = dict(operation.meta) if operation.meta else {}
    if as_string:
        value = _as_string(value, chid, nelm, ftype, metadata)
    metadata["value"] = value
    return metadata


def _request_get(lib: ctypes.CDLL, chid: int, ftype: int, count: int, nelm: int,
                 as_numpy: bool) -> _dispatch.Operation:
    """Send a get of ``count`` elements (0: all ``nelm``) and register the operation that its
    answer fills (see ``_dispatch``)."""
    operation = _dispatch.Operation(as_numpy)
    operation.chid = chid
    handle = _dispatch.new_handle()
    _dispatch.operations[handle] = operation
    try:
        lib.ca_array_get_callback(ftype, count, chid, _dispatch.get_callback(count or nelm),
                                  handle)
    except BaseException:
        _dispatch.operations.pop(handle, None)
        raise
    return operation


def _get_many(chids: List[int], count: Optional[int], as_numpy: bool, as_string: bool,
              timeout: float) -> List[Any]:
    """Read many connected channels at once: every request goes out in one flush, then the
    answers are collected (None for a channel that did not answer within ``timeout``).
    The engine of ``caget_many``: the per-call checks of :func:`get` done once for all."""
    lib = _ensure()
    pending = []
    for chid in chids:
        ftype = lib.ca_field_type(chid)
        nelm = lib.ca_element_count(chid)
        if ftype < 0:   # disconnected meanwhile
            pending.append(None)
            continue
        try:
            operation = _request_get(lib, chid, ftype, min(count, nelm) if count else 0, nelm,
                                     as_numpy)
        except ChannelAccessException:
            pending.append(None)
            continue
        pending.append((operation, ftype, nelm))
    lib.ca_flush_io()
    deadline = time.monotonic() + timeout
    values = []
    for chid, entry in zip(chids, pending):
        if entry is None:
            values.append(None)
            continue
        operation, ftype, nelm = entry
        if not _wait(operation.done, max(0.0, deadline - time.monotonic())) or \
                operation.status != ECA.NORMAL:
            values.append(None)
            continue
        value = operation.value
        if nelm > 1 and dbr.native_type(ftype) == dbr.CHAR and not hasattr(value, "__len__"):
            value = _one_element_array(value, as_numpy)
        if as_string:
            value = _as_string(value, chid, nelm, ftype, operation.meta)
        values.append(value)
    return values


def _as_ctypes_array(value: Any, ftype: int) -> Any:
    """A numeric or CHAR array read with ``as_numpy=False`` as a ctypes array of the native C
    type, which is what PyEpics's ``ca.get`` returns (a list of str stays a list)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return value
    native = dbr.native_type(ftype)
    if native == dbr.STRING:
        return value.tolist() if hasattr(value, "tolist") else value
    import numpy
    items = numpy.ascontiguousarray(value, dtype=dbr.NP_Map[native])
    return (dbr.Map[native] * len(items)).from_buffer_copy(items)


def _one_element_array(value: Any, as_numpy: bool) -> Any:
    import numpy
    array = numpy.array([value], dtype=numpy.uint8)
    return array if as_numpy else array.tolist()


def get_complete(chid: ChidLike, ftype: Optional[int] = None, count: Optional[int] = None,
                 timeout: Optional[float] = None, as_string: bool = False,
                 as_numpy: bool = True) -> Any:
    """The value of an earlier incomplete :func:`get` (see :func:`get_complete_with_metadata`)."""
    info = get_complete_with_metadata(chid, ftype=ftype, count=count, timeout=timeout,
                                      as_string=as_string, as_numpy=as_numpy)
    return info["value"] if info is not None else None


def _as_string(value: Any, chid: int, count: int, ftype: int,
               metadata: Optional[dict] = None) -> str:
    """PyEpics's plain string form of a value read by ``get``."""
    native = dbr.native_type(ftype)
    if native == dbr.CHAR and count > 1:
        return dbr.char_array_to_str(value)
    if native == dbr.ENUM and count == 1 and isinstance(value, int):
        strings = (metadata or {}).get("enum_strs") or get_enum_strings(chid)
        if strings and 0 <= value < len(strings):
            return strings[value]
        return str(value)
    if native == dbr.STRING:
        return value if isinstance(value, str) else str(list(value))
    if count > 1 and hasattr(value, "__len__"):
        return f"<array count={len(value)}, type={ftype}>"
    return str(value)


def _unpack(chid: Optional[ChidLike], data: Any, count: Optional[int] = None,
            ftype: Optional[int] = None, as_numpy: bool = True) -> Any:
    """Convert a buffer filled by :func:`sg_get` into a value (PyEpics's helper name)."""
    buffer = getattr(data, "buffer", data)
    if ftype is None:
        ftype = getattr(data, "ftype", None)
        if ftype is None:
            ftype = field_type(chid)
    if not count:
        count = getattr(data, "count", None) or (element_count(chid) if chid else 1)
    value, _ = dbr.make_reader(ftype, count, as_numpy)(ctypes.addressof(buffer))
    return value


def get_ctrlvars(chid: ChidLike, timeout: float = 5.0, warn: bool = True) -> Optional[dict]:
    """The CTRL metadata of a channel: units, precision, limits, enum_strs... (no value)."""
    metadata = get_with_metadata(chid, ftype=promote_type(chid, use_ctrl=True), count=1,
                                 timeout=timeout, wait=True)
    if metadata is not None:
        metadata.pop("value", None)
    return metadata


def get_timevars(chid: ChidLike, timeout: float = 5.0, warn: bool = True) -> Optional[dict]:
    """The TIME metadata of a channel: status, severity, timestamp... (no value)."""
    metadata = get_with_metadata(chid, ftype=promote_type(chid, use_time=True), count=1,
                                 timeout=timeout, wait=True)
    if metadata is not None:
        metadata.pop("value", None)
    return metadata


def get_timestamp(chid: ChidLike) -> float:
    """POSIX time of the channel's last update (0 if unknown)."""
    return (get_timevars(chid) or {}).get("timestamp", 0)


def get_severity(chid: ChidLike) -> int:
    """Alarm severity of the channel (0 if unknown)."""
    return (get_timevars(chid) or {}).get("severity", 0)


def get_precision(chid: ChidLike) -> Optional[int]:
    """Display precision of a FLOAT or DOUBLE channel; None for other types."""
    if field_type(chid) in (dbr.FLOAT, dbr.DOUBLE):
        return (get_ctrlvars(chid) or {}).get("precision", None)
    return None


def get_enum_strings(chid: ChidLike) -> Optional[Tuple[str, ...]]:
    """The state names of an ENUM channel; None for other types."""
    if field_type(chid) == dbr.ENUM:
        return (get_ctrlvars(chid) or {}).get("enum_strs", None)
    return None


# --- writing -------------------------------------------------------------------------------------

def _put_buffer(channel: _Channel, ftype: int, nelm: int, value: Any,
                raise_on_error: Optional[bool] = None) -> Tuple[int, int, Any]:
    """dbr.make_put_buffer, with errors that name the PV. An empty sequence put to an array
    fills it with empty strings or zeros (PyEpics), or raises when :func:`raising`."""
    try:
        return dbr.make_put_buffer(ftype, nelm, value,
                                   empty_fills=not raising(raise_on_error))
    except TypeError as exc:
        raise CATypeError(f"cannot put {value!r:.80} to PV {channel.pvname!r}: {exc}",
                          pvname=channel.pvname, function="put") from exc
    except (ValueError, OverflowError) as exc:
        raise CAValueError(f"cannot put {value!r:.80} to PV {channel.pvname!r}: {exc}",
                           pvname=channel.pvname, function="put") from exc


#: Completion statuses that mean the channel went away under a waiting put (cleared, or its
#: circuit lost): these always raise, as a put to a channel that is not connected does.
_CHANNEL_GONE = frozenset({ECA.CHANDESTROY, ECA.DISCONN})


def put(chid: ChidLike, value: Any, wait: bool = False, timeout: float = 30,
        callback: Optional[Callable[..., Any]] = None, callback_data: Any = None,
        ftype: Optional[int] = None, raise_on_error: Optional[bool] = None) -> int:
    """Write a value to a channel.

    Parameters
    ----------
    chid : chid_t
        The channel (connected within :data:`DEFAULT_CONNECTION_TIMEOUT` if it is not yet).
    value : object
        A number, str, sequence or numpy array, converted to the channel's type.
    wait : bool
        Wait until the server has finished processing the write (put-completion).
    timeout : float
        Most seconds to wait when ``wait=True``.
    callback : callable, optional
        Called on the dispatcher thread when processing has completed, as
        ``callback(pvname=..., data=callback_data)`` (or ``callback(pvname=..., **callback_data)``
        when ``callback_data`` is a dict), as in PyEpics.
    callback_data : object
        Passed to ``callback``.
    ftype : int, optional
        DBR type to write as (native by default).
    raise_on_error : bool, optional
        An empty sequence put to an array channel writes ``count`` empty strings or zeros, and a
        write the server completes with a failure (``wait=True``) is logged and returns 1 (a
        channel cleared or disconnected meanwhile raises :class:`CANotConnectedError`), as
        PyEpics does; with True (None: :data:`RAISE_ON_ERROR`) they raise :class:`CAValueError`
        and :class:`CASeverityException`.

    Returns
    -------
    int
        1 (ECA_NORMAL) on success; -1 when ``wait=True`` and the completion did not arrive within
        ``timeout``.

    Raises
    ------
    CANotConnectedError
        the channel is not connected.
    CAValueError, CATypeError
        the value cannot be written to this channel (the message says why).
    CAAccessDenied
        the server refuses writes to this channel.
    CASeverityException
        the server reported that the completed write failed (``wait=True``), with
        ``raise_on_error``.
    """
    chid, channel = _channel(chid)
    lib = _ensure()
    if not channel.conn and not connect_channel(chid, timeout=DEFAULT_CONNECTION_TIMEOUT):
        raise CANotConnectedError(
            f"put() cannot write to {channel.pvname!r}: not connected (waited "
            f"{DEFAULT_CONNECTION_TIMEOUT} s)", pvname=channel.pvname, function="put")
    if ftype is None:
        ftype = lib.ca_field_type(chid)
        if ftype < 0:   # TYPENOTCONN: the channel went down since the check above
            raise CANotConnectedError(f"put() cannot write to {channel.pvname!r}: it has just "
                                      f"disconnected", pvname=channel.pvname, function="put")
    dbrtype, count, buffer = _put_buffer(channel, ftype, lib.ca_element_count(chid), value,
                                         raise_on_error)
    if not wait and callback is None:
        lib.ca_array_put(dbrtype, count, chid, buffer)
        lib.ca_flush_io()
        return ECA.NORMAL
    pvname = channel.pvname
    on_done = None
    if callable(callback):
        def on_done(operation: _dispatch.Operation) -> None:
            if operation.status != ECA.NORMAL:
                log.warning("put to %r completed with failure: %s", pvname,
                            status_message(operation.status))
            if isinstance(callback_data, dict):
                callback(pvname=pvname, **callback_data)
            else:
                callback(pvname=pvname, data=callback_data)
    operation = _dispatch.Operation(on_done=on_done)
    operation.value = buffer
    handle = _dispatch.new_handle()
    operation.chid = chid
    _dispatch.operations[handle] = operation
    try:
        lib.ca_array_put_callback(dbrtype, count, chid, buffer, _dispatch.PUT_THUNK, handle)
        lib.ca_flush_io()
    except Exception:
        _dispatch.operations.pop(handle, None)
        raise
    if wait:
        if not _wait(operation.done, timeout):
            return -1
        if operation.status != ECA.NORMAL:
            if raising(raise_on_error) or operation.status in _CHANNEL_GONE:
                raise error_for_status(operation.status, "put", pvname)
            # PyEpics's convention: the server's completion status is not the return value
            log.warning("put to %r completed with failure: %s", pvname,
                        status_message(operation.status))
    return ECA.NORMAL


# --- requests answered by a callback (the engine of epics.aio) -----------------------------------

def array_get_callback(chid: ChidLike, dbrtype: int, count: int,
                       on_done: Callable[[int, Any, dict], None], as_numpy: bool = True,
                       element_count: Optional[int] = None) -> None:
    """``ca_array_get_callback``: send a read and return at once; nothing waits for the answer.

    ``on_done(status, value, metadata)`` runs once, on the dispatcher thread, when libca answers:
    ``status`` is ECA_NORMAL with the converted value and metadata (as :func:`get_with_metadata`
    gives them), or the failure code. ``count`` 0 asks for the server's current count. The
    request goes out with the next :func:`flush_io` (the caller sends many in one write).
    ``element_count``, when the caller knows it, saves asking libca again.
    Raises :class:`CANotConnectedError` if the channel is not connected.
    """
    chid, channel = _channel(chid)
    lib = _ensure()

    def finish(operation: _dispatch.Operation) -> None:
        on_done(operation.status, operation.value, operation.meta or {})

    operation = _dispatch.Operation(as_numpy, on_done=finish, waited=False)
    operation.chid = chid
    handle = _dispatch.new_handle()
    _dispatch.operations[handle] = operation
    try:
        lib.ca_array_get_callback(dbrtype, count, chid,
                                  _dispatch.get_callback(count or element_count
                                                         or lib.ca_element_count(chid)),
                                  handle)
    except BaseException:
        _dispatch.operations.pop(handle, None)
        raise


def array_put(chid: ChidLike, dbrtype: int, count: int, buffer: Any,
              on_done: Optional[Callable[[int], None]] = None) -> None:
    """``ca_array_put`` of a buffer made by :func:`dbr.make_put_buffer`; with ``on_done``,
    ``ca_array_put_callback``: ``on_done(status)`` runs once, on the dispatcher thread, when the
    server has finished processing. Returns at once; sent with the next :func:`flush_io`."""
    chid, channel = _channel(chid)
    lib = _ensure()
    if on_done is None:
        lib.ca_array_put(dbrtype, count, chid, buffer)
        return
    operation = _dispatch.Operation(on_done=lambda operation: on_done(operation.status),
                                    waited=False)
    operation.value = buffer    # kept alive until libca is done with it
    operation.chid = chid
    handle = _dispatch.new_handle()
    _dispatch.operations[handle] = operation
    try:
        lib.ca_array_put_callback(dbrtype, count, chid, buffer, _dispatch.PUT_THUNK, handle)
    except BaseException:
        _dispatch.operations.pop(handle, None)
        raise


# --- subscriptions -------------------------------------------------------------------------------

def subscribe(chid: ChidLike, dbrtype: int, deliver: Optional[Callable[[Any, dict], None]],
              mask: Optional[int] = None, count: int = 0, as_numpy: bool = True,
              c_callback: Any = None, usr: Optional[int] = None) -> _Subscription:
    """Subscribe with a low-level ``deliver(value, metadata)`` run on the dispatcher thread.

    The building block of :func:`create_subscription` and of PV monitors; returns the
    subscription record (its ``handle`` clears it with :func:`unsubscribe`). With
    ``c_callback`` (a C function taking ``struct event_handler_args``) and its ``usr``, libca
    calls that instead and nothing reaches the dispatcher (``deliver`` is unused): the batch
    monitor sets of :mod:`epics.batch` do this.
    """
    chid, channel = _channel(chid)
    lib = _ensure()
    subscription = _Subscription(chid, channel.pvname, dbrtype, count,
                                 mask or DEFAULT_SUBSCRIPTION_MASK, deliver, as_numpy)
    if c_callback is None:
        _dispatch.subscriptions[subscription.handle] = subscription
        c_callback, usr = _dispatch.event_callback(), subscription.handle
    evid = ctypes.c_void_p()
    try:
        lib.ca_create_subscription(dbrtype, count, chid, subscription.mask, c_callback, usr,
                                   ctypes.byref(evid))
        _dispatch.flush_soon()
    except Exception:
        _dispatch.subscriptions.pop(subscription.handle, None)
        raise
    subscription.evid = evid.value
    _add_member(channel, "subscriptions", subscription)
    return subscription


def unsubscribe(subscription: _Subscription) -> None:
    """Clear a subscription made by :func:`subscribe` (idempotent)."""
    if not subscription.active:
        return
    subscription.active = False
    _dispatch.subscriptions.pop(subscription.handle, None)
    channel = _chid_cache.get(subscription.chid_int)
    if channel is None:
        return   # the channel was cleared, and libca cleared the subscription with it
    _remove_member(channel, "subscriptions", subscription)
    _ensure().ca_clear_subscription(subscription.evid)
    _context.library().ca_flush_io()


def create_subscription(chid: ChidLike, use_time: bool = False, use_ctrl: bool = False,
                        ftype: Optional[int] = None, mask: Optional[int] = None,
                        callback: Optional[Callable[..., Any]] = None, count: int = 0,
                        timeout: Optional[float] = None) -> Subscription:
    """Call ``callback`` on each change of a channel.

    Parameters
    ----------
    chid : chid_t
        The channel (must connect within ``timeout`` unless ``ftype`` is given).
    use_time, use_ctrl : bool
        Request the TIME or CTRL variant of the type (metadata in the callback's keywords).
    ftype : int, optional
        DBR type to request, overriding the two above.
    mask : int, optional
        dbr.DBE_VALUE | DBE_ALARM | DBE_LOG | DBE_PROPERTY; default
        :data:`DEFAULT_SUBSCRIPTION_MASK`.
    callback : callable
        Called on the dispatcher thread as ``callback(value=..., pvname=..., chid=...,
        ftype=..., count=..., **metadata)``.
    count : int
        Elements per update (0: the server's current count).
    timeout : float, optional
        Connection timeout (default :data:`DEFAULT_CONNECTION_TIMEOUT`).

    Returns
    -------
    Subscription
        PyEpics's ``(callback_ref, user_arg_ref, event_id)`` tuple; pass it (or its event_id) to
        :func:`clear_subscription`. Unlike PyEpics, dropping it is harmless.
    """
    chid, channel = _channel(chid)
    if ftype is None:
        if not channel.conn and not connect_channel(
                chid, timeout=DEFAULT_CONNECTION_TIMEOUT if timeout is None else timeout):
            raise CANotConnectedError(
                f"create_subscription() timed out waiting for {channel.pvname!r} to connect",
                pvname=channel.pvname, function="create_subscription")
        ftype = field_type(chid)
    ftype = promote_fieldtype(ftype, use_time=use_time, use_ctrl=use_ctrl)
    pvname = channel.pvname
    holder: List[_Subscription] = []

    def deliver(value: Any, metadata: dict) -> None:
        if callback is None or (holder and not holder[0].active):
            return
        count_now = len(value) if hasattr(value, "__len__") and not isinstance(value, str) else 1
        callback(value=value, pvname=pvname, chid=chid, ftype=ftype, count=count_now,
                 **metadata)

    subscription = subscribe(chid, ftype, deliver, mask=mask, count=count)
    holder.append(subscription)
    return Subscription(subscription)


def clear_subscription(event_id: Any) -> int:
    """Cancel a subscription, given what :func:`create_subscription` returned or its event_id.
    Returns ECA_NORMAL."""
    if isinstance(event_id, Subscription):
        event_id = event_id.event_id
    evid = getattr(event_id, "value", event_id)
    subscription = next((candidate for candidate in list(_dispatch.subscriptions.values())
                         if candidate.evid == evid), None)
    if subscription is None:
        raise CASeverityException("clear_subscription", status_message(ECA.BADMONID),
                                  status=ECA.BADMONID)
    unsubscribe(subscription)
    return ECA.NORMAL


# --- synchronous groups --------------------------------------------------------------------------

class _SGData:
    """The buffer of a :func:`sg_get`, filled when :func:`sg_block` returns; convert it with
    :func:`_unpack` (as PyEpics) or read ``.value``."""

    def __init__(self, chid: int, ftype: int, count: int, as_numpy: bool) -> None:
        self.chid, self.ftype, self.count, self.as_numpy = chid, ftype, count, as_numpy
        self.buffer = ctypes.create_string_buffer(dbr.dbr_size(ftype, count))

    @property
    def value(self) -> Any:
        return _unpack(self.chid, self, count=self.count, ftype=self.ftype,
                       as_numpy=self.as_numpy)


def sg_create() -> ctypes.c_uint:
    """Create a synchronous group; returns its id."""
    gid = ctypes.c_uint()
    _ensure().ca_sg_create(ctypes.byref(gid))
    _sg_buffers[gid.value] = []
    return gid


def _gid(gid: Any) -> int:
    return getattr(gid, "value", gid)


def sg_delete(gid: Any) -> int:
    """Delete a synchronous group. Returns ECA_NORMAL."""
    status = _ensure().ca_sg_delete(_gid(gid))
    _sg_buffers.pop(_gid(gid), None)
    return status


def sg_block(gid: Any, timeout: float = 10.0) -> int:
    """Wait up to ``timeout`` for every request of a group to complete; returns the status
    (ECA_NORMAL, or ECA_TIMEOUT)."""
    return _ensure().ca_sg_block(_gid(gid), timeout)


def sg_test(gid: Any) -> bool:
    """True when every request of the group has completed."""
    return _ensure().ca_sg_test(_gid(gid)) == ECA.IODONE


def sg_reset(gid: Any) -> int:
    """Forget a group's outstanding requests. Returns ECA_NORMAL."""
    status = _ensure().ca_sg_reset(_gid(gid))
    _sg_buffers[_gid(gid)] = []
    return status


def sg_get(gid: Any, chid: ChidLike, ftype: Optional[int] = None, as_numpy: bool = True,
           as_string: bool = True) -> _SGData:
    """Queue a read in a synchronous group; returns its buffer, to convert with
    ``ca._unpack(chid, data)`` (or ``data.value``) after :func:`sg_block`."""
    chid, channel = _channel(chid)
    lib = _ensure()
    if ftype is None:
        ftype = lib.ca_field_type(chid)
    count = lib.ca_element_count(chid)
    data = _SGData(chid, ftype, count, as_numpy)
    lib.ca_sg_array_get(_gid(gid), ftype, count, chid, data.buffer)
    _sg_buffers.setdefault(_gid(gid), []).append(data)
    return data


def sg_put(gid: Any, chid: ChidLike, value: Any) -> int:
    """Queue a write in a synchronous group. Returns ECA_NORMAL."""
    chid, channel = _channel(chid)
    lib = _ensure()
    dbrtype, count, buffer = _put_buffer(channel, lib.ca_field_type(chid),
                                         lib.ca_element_count(chid), value)
    _sg_buffers.setdefault(_gid(gid), []).append(buffer)
    return lib.ca_sg_array_put(_gid(gid), dbrtype, count, chid, buffer)


# --- the cache -----------------------------------------------------------------------------------

def get_cache(pvname: str) -> Optional[_Channel]:
    """The channel record for ``pvname`` in the calling thread's context, or None."""
    return _cache.get(current_context(), {}).get(pvname)


def show_cache(print_out: bool = True) -> Optional[str]:
    """A table of the channels of this process (printed, or returned with print_out=False)."""
    lines = ["#  PVName        ChannelID/Context Connected?",
             "#--------------------------------------------"]
    for context, channels in list(_cache.items()):
        for pvname, channel in list(channels.items()):
            lines.append(f" {pvname:15s} {channel.chid_int}/{context}  {channel.conn}")
    text = "\n".join(lines)
    if print_out:
        print(text)
        return None
    return text


def register_clear_cache(callback: Callable[[], None]) -> None:
    """Run ``callback()`` before :func:`clear_cache` clears the channels (PV caches use this)."""
    _clear_cache_callbacks[id(callback)] = callback


def clear_cache() -> None:
    """Clear every channel of this process and start over with a fresh context.

    PV objects made before are unusable afterwards (as in PyEpics); ``get_pv`` makes new ones.
    """
    for callback in list(_clear_cache_callbacks.values()):
        callback()
    _ensure()
    for chid, channel in list(_chid_cache.items()):
        _forget_channel(chid, channel)
        _free_later(chid)
    _cache.clear()
    _chid_cache.clear()


# --- decorators (PyEpics's, for user code that uses them) ----------------------------------------

def withCA(fcn: Callable) -> Callable:
    """Decorator: start CA (and attach this thread) before calling ``fcn``."""
    @functools.wraps(fcn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _ensure()
        return fcn(*args, **kwargs)
    return wrapper


def withCHID(fcn: Callable) -> Callable:
    """Decorator: the first argument must be a channel created by :func:`create_channel`."""
    @functools.wraps(fcn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args:
            _channel(args[0])
        return fcn(*args, **kwargs)
    return wrapper


def withConnectedCHID(fcn: Callable) -> Callable:
    """Decorator: the first argument must be a channel that connects within the call's
    ``timeout`` keyword (or :data:`DEFAULT_CONNECTION_TIMEOUT`); raises if it does not."""
    @functools.wraps(fcn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args:
            chid, channel = _channel(args[0])
            timeout = kwargs.get("timeout", DEFAULT_CONNECTION_TIMEOUT)
            if not channel.conn and not connect_channel(chid, timeout=timeout):
                raise CANotConnectedError(
                    f"{fcn.__name__}() timed out waiting for {channel.pvname!r} to connect "
                    f"({timeout} seconds)", pvname=channel.pvname, function=fcn.__name__)
        return fcn(*args, **kwargs)
    return wrapper


def withMaybeConnectedCHID(fcn: Callable) -> Callable:
    """Decorator: try to connect the channel of the first argument before calling ``fcn``."""
    @functools.wraps(fcn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args:
            chid, channel = _channel(args[0])
            if not channel.conn:
                connect_channel(chid, timeout=kwargs.get("timeout", DEFAULT_CONNECTION_TIMEOUT))
        return fcn(*args, **kwargs)
    return wrapper


def withInitialContext(fcn: Callable) -> Callable:
    """Decorator: run ``fcn`` attached to the initial context."""
    @functools.wraps(fcn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        use_initial_context()
        return fcn(*args, **kwargs)
    return wrapper


def PySEVCHK(func_name: str, status: int, expected: int = ECA.NORMAL) -> int:
    """Return ``status`` if it is ``expected``, else raise the matching
    :class:`CASeverityException` (carrying libca's message)."""
    if status == expected:
        return status
    raise error_for_status(status, func_name)


def withSEVCHK(fcn: Callable) -> Callable:
    """Decorator: the CA status ``fcn`` returns must be ECA_NORMAL (see :func:`PySEVCHK`)."""
    @functools.wraps(fcn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return PySEVCHK(fcn.__name__, fcn(*args, **kwargs))
    return wrapper


class CAThread(threading.Thread):
    """A Thread that attaches to the initial CA context before running (kept for PyEpics code;
    plain threads are attached automatically)."""

    def run(self) -> None:
        use_initial_context()
        super().run()


def event_buffer_in_use() -> bool:
    """True when monitor updates reach Python through the compiled event buffer
    (``epics/_evbuf.c``, built at install when a C compiler is present); False when they take
    the pure-Python path (correct, but slower under heavy monitor load). Known once CA started."""
    return _dispatch.using_event_buffer()


def find_libca() -> str:
    """Path of the libca that is (or would be) loaded (``PYEPICS_LIBCA`` first)."""
    return _libca.find_libca()


def find_libCom() -> str:
    """Path of the libCom next to :func:`find_libca`'s libca."""
    return _libca.find_libcom()


def find_lib(inp_lib_name: str = "ca") -> str:
    """Path of libca (``'ca'``) or of the libCom beside it (any other name), PyEpics's spelling
    of :func:`find_libca` and :func:`find_libCom`."""
    return find_libca() if inp_lib_name == "ca" else find_libCom()


class _CaModule(types.ModuleType):
    """Lets the slides' ``ca.AUTOMONITOR_LENGTH`` alias read and write AUTOMONITOR_MAXLENGTH."""

    @property
    def AUTOMONITOR_LENGTH(self) -> int:
        return self.AUTOMONITOR_MAXLENGTH

    @AUTOMONITOR_LENGTH.setter
    def AUTOMONITOR_LENGTH(self, value: int) -> None:
        self.AUTOMONITOR_MAXLENGTH = value


sys.modules[__name__].__class__ = _CaModule
