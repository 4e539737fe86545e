"""Run functions in the GUI thread: the job PyEpics's wx decorators (``DelayedEpicsCallback``,
``EpicsFunction``) did, for Qt.

Threads: :func:`call_in_gui_thread` and functions wrapped by :func:`gui_thread` may be called from
any thread (a CA callback on the dispatcher thread, a worker); the wrapped function itself always
runs in the thread of the ``QApplication`` (the GUI thread), queued through a Qt signal. Called from
the GUI thread, it runs at once.
"""
from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Callable, Optional, TypeVar

from qtpy.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

__all__ = ["call_in_gui_thread", "gui_thread", "in_gui_thread"]

log = logging.getLogger("epics.qt")

F = TypeVar("F", bound=Callable[..., Any])


class _Invoker(QObject):
    """Lives in the GUI thread; its signal carries a callable there (a queued connection)."""

    call = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(self._run)

    @Slot(object)
    def _run(self, job: Callable[[], Any]) -> None:
        try:
            job()
        except Exception:
            log.exception("a function run in the GUI thread raised")


_invoker: Optional[_Invoker] = None
_invoker_lock = threading.Lock()


def _get_invoker() -> _Invoker:
    global _invoker
    app = QCoreApplication.instance()
    if app is None:
        raise RuntimeError("no QApplication: create one before calling into the GUI thread")
    with _invoker_lock:
        if _invoker is None or _invoker.thread() is not app.thread():
            invoker = _Invoker()
            invoker.moveToThread(app.thread())
            _invoker = invoker
        return _invoker


def in_gui_thread() -> bool:
    """True when the calling thread is the QApplication's thread."""
    app = QCoreApplication.instance()
    return app is not None and QThread.currentThread() is app.thread()


def call_in_gui_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``function(*args, **kwargs)`` in the GUI thread: now if called there, else queued.

    The result is dropped and an exception is logged (``epics.qt``), never raised into the
    caller's thread (a CA callback must not be broken by a GUI error).

    Raises
    ------
    RuntimeError
        If no QApplication exists yet.
    """
    if in_gui_thread():
        try:
            function(*args, **kwargs)
        except Exception:
            log.exception("%s raised in the GUI thread", getattr(function, "__qualname__",
                                                               function))
        return
    _get_invoker().call.emit(functools.partial(function, *args, **kwargs))


def gui_thread(function: F) -> F:
    """Decorator: every call of ``function`` runs in the GUI thread (see
    :func:`call_in_gui_thread`); use it for a CA callback that updates widgets."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        call_in_gui_thread(function, *args, **kwargs)
    return wrapper  # type: ignore[return-value]
