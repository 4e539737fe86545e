"""The CA client context: created once, attached to every thread that needs it, renewed after
fork, torn down within a deadline.

Threads: the context is created by the first thread that uses CA; any other thread is attached to
it on its first CA call (``ensure``), so a plain ``threading.Thread`` works without ``CAThread``.
A forked child abandons the inherited context (libca's threads did not survive the fork) and creates
a fresh one on its first CA call. Higher layers register ``on_reset`` hooks to forget their
channels when that happens, and ``on_finalize`` hooks to release them before teardown.
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from typing import Callable, List, Optional

from . import _cadef
from ._errors import CAFinalizedError, ECA

__all__ = ["ensure", "library", "initialize", "finalize", "is_finalized", "initial_context",
           "current_context", "attach", "detach", "create", "destroy", "is_preemptive",
           "on_reset", "on_finalize", "on_created", "note_thread_context"]

log = logging.getLogger("epics.ca")


class _State:
    """Everything about this process's CA context, in one place (reset after fork)."""

    def __init__(self) -> None:
        self.lib: Optional[ctypes.CDLL] = None
        self.initial: Optional[int] = None      # the context our threads attach to
        self.created_here = False               # destroy only a context we created
        self.preemptive = True
        self.finalized = False
        self.pid = os.getpid()
        self.local = threading.local()          # .context: what this thread is attached to


_state = _State()
_init_lock = threading.RLock()
_reset_hooks: List[Callable[[], None]] = []
_finalize_hooks: List[Callable[[], None]] = []
#: Seconds finalize waits for CA calls other threads are making to return.
_GRACE_SECONDS = 0.1
_created_hooks: List[Callable[[ctypes.CDLL], None]] = []
#: The thread destroying the last finalized context (None before any finalize).
_teardown: Optional[threading.Thread] = None
#: Contexts finalize destroyed: a thread still attached to one is detached before CA restarts.
_destroyed: set = set()


def on_created(hook: Callable[[ctypes.CDLL], None]) -> None:
    """Run ``hook(lib)`` each time this process's initial context is made (first use, and again
    in a forked child), in the thread that made it."""
    _created_hooks.append(hook)


def on_reset(hook: Callable[[], None]) -> None:
    """Run ``hook`` when this process's context is abandoned (in a forked child)."""
    _reset_hooks.append(hook)


def on_finalize(hook: Callable[[], None]) -> None:
    """Run ``hook`` at the start of :func:`finalize`, while the context still works."""
    _finalize_hooks.append(hook)


def _other_threads_alive() -> bool:
    """Whether Python threads other than this one and the library's own are running."""
    current = threading.current_thread()
    return any(thread is not current and thread.is_alive()
               and not thread.name.startswith("epics-")
               for thread in threading.enumerate())


def ensure() -> ctypes.CDLL:
    """Make sure this thread can make CA calls; return libca.

    The fast path is one thread-local read. Raises :class:`CAFinalizedError` after finalize.
    """
    state = _state
    context = getattr(state.local, "context", None)
    if context is not None and context == state.initial:
        return state.lib
    return _slow_ensure()


def _slow_ensure() -> ctypes.CDLL:
    state = _state
    if state.finalized:
        raise CAFinalizedError("Channel Access has been finalized in this process "
                               "(finalize_libca was called or the interpreter is exiting)")
    if state.initial is None:
        initialize()
    lib = state.lib
    current = lib.ca_current_context()
    if current is not None and current in _destroyed:   # left over from before a restart
        lib.ca_detach_context()
        current = None
    if current is None:
        lib.ca_attach_context(state.initial)
        current = state.initial
    state.local.context = current
    return lib


def initialize(preemptive: bool = True, restart: bool = False) -> ctypes.CDLL:
    """Load libca and create (or adopt) the process's initial context. Idempotent.

    A context that already exists in this thread (another CA user in the process, such as an
    embedded IOC) is adopted rather than replaced, and will never be destroyed by us. After
    :func:`finalize`, only ``restart=True`` (an explicit ``initialize_libca()``, which PyEpics
    allows) starts CA again, with a new context; any other use raises.
    """
    state = _state
    with _init_lock:
        if state.finalized:
            if not restart:
                raise CAFinalizedError("Channel Access has been finalized in this process")
            if _teardown is not None and _teardown.is_alive():
                raise CAFinalizedError("Channel Access cannot start again: the teardown of "
                                       "the previous context has not finished")
            state.finalized = False
        if state.initial is not None:
            return state.lib
        lib = _cadef.load()
        existing = lib.ca_current_context()
        if existing is not None and existing in _destroyed:   # finalized here: not adoptable
            lib.ca_detach_context()
            existing = None
        if existing is None:
            lib.ca_context_create(_cadef.PREEMPTIVE if preemptive else _cadef.NON_PREEMPTIVE)
            state.initial = lib.ca_current_context()
            state.created_here = True
        else:
            state.initial = existing
            state.created_here = False
        state.preemptive = bool(lib.ca_preemtive_callback_is_enabled())
        state.lib = lib
        state.local.context = state.initial
        log.debug("CA context %#x %s (preemptive=%s)", state.initial,
                  "created" if state.created_here else "adopted", state.preemptive)
        for hook in list(_created_hooks):
            hook(lib)
        return lib


def library() -> Optional[ctypes.CDLL]:
    """libca if it has been loaded, else None (never loads it)."""
    return _state.lib


def is_finalized() -> bool:
    return _state.finalized


def is_preemptive() -> bool:
    return _state.preemptive


def initial_context() -> Optional[int]:
    """The context created (or adopted) at initialisation, as an integer address."""
    return _state.initial


def current_context() -> Optional[int]:
    """The context attached to the calling thread (None if none)."""
    lib = ensure()
    return lib.ca_current_context()


def note_thread_context(context: Optional[int]) -> None:
    """Record what the calling thread is now attached to (after attach/detach/create)."""
    _state.local.context = context


def attach(context: int) -> int:
    """Attach the calling thread to ``context``; returns the CA status."""
    lib = _state.lib or initialize()
    status = lib.ca_attach_context(context)
    if status in (ECA.NORMAL, ECA.ISATTACHED):
        note_thread_context(lib.ca_current_context())
    return status


def detach() -> None:
    """Detach the calling thread from its context (the context itself lives on)."""
    lib = _state.lib or initialize()
    lib.ca_detach_context()
    note_thread_context(None)


def create(preemptive: Optional[bool] = None) -> int:
    """Create a new context for the calling thread (the first one becomes the initial one)."""
    if _state.initial is None:
        initialize(True if preemptive is None else preemptive)
        return ECA.NORMAL
    lib = _state.lib
    if lib.ca_current_context() is None:
        mode = _state.preemptive if preemptive is None else preemptive
        lib.ca_context_create(_cadef.PREEMPTIVE if mode else _cadef.NON_PREEMPTIVE)
    note_thread_context(lib.ca_current_context())
    return ECA.NORMAL


def destroy() -> None:
    """Destroy the calling thread's context, unless it is one this library did not create."""
    lib = ensure()
    current = lib.ca_current_context()
    if current is None:
        return
    if current == _state.initial and not _state.created_here:
        log.debug("not destroying CA context %#x: it was not created by epics", current)
        return
    lib.ca_context_destroy()
    note_thread_context(None)
    if current == _state.initial:
        _state.initial = None
        _state.created_here = False


def finalize(deadline_seconds: float = 1.0) -> None:
    """Shut CA down in this process, giving up after ``deadline_seconds``.

    Hooks release channels and subscriptions first; then the context (if we created it) is
    destroyed in a helper thread, because libca's teardown can wait 30 s or forever for a server
    that does not answer. Afterwards every C callback is a no-op and CA calls raise
    :class:`CAFinalizedError`. Idempotent.
    """
    state = _state
    with _init_lock:
        if state.finalized:
            return
        state.finalized = True             # from here on, no new CA call can start
        context, lib = state.initial, state.lib
        state.initial = None               # no fast path may hand out the context now
        state.local = threading.local()
        if context is None:
            return
        if _other_threads_alive():
            # Another thread may be in the middle of a CA call: from now on its next call raises
            # CAFinalizedError; give the one it is making a moment to return before channels are
            # freed under it.
            time.sleep(_GRACE_SECONDS)
        for hook in list(_finalize_hooks):
            try:
                hook()
            except Exception:  # teardown goes on; the hook's owner logs the details
                log.debug("finalize hook %r failed", hook, exc_info=True)
        if not state.created_here or os.getpid() != state.pid:
            return

    def teardown() -> None:
        lib.ca_attach_context(context)
        lib.ca_context_destroy()

    global _teardown
    _destroyed.add(context)
    worker = _teardown = threading.Thread(target=teardown, name="epics-ca-teardown",
                                          daemon=True)
    worker.start()
    worker.join(deadline_seconds)
    if worker.is_alive():
        log.warning("CA context teardown did not finish within %.1f s; abandoning it",
                    deadline_seconds)


def _after_fork_in_child() -> None:
    """The child of a fork: libca's threads are gone, so the inherited context is unusable.

    Forget it (without touching it) and let the next CA call create a fresh one.
    """
    state = _state
    lib, finalized = state.lib, state.finalized
    state.__init__()
    state.lib = lib
    state.finalized = finalized
    if lib is not None:
        lib.ca_detach_context()   # clears libca's thread-private pointer to the parent's context
    for hook in list(_reset_hooks):
        try:
            hook()
        except Exception:
            log.debug("reset hook %r failed", hook, exc_info=True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
