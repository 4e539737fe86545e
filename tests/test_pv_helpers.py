"""Helpers shared by the PV, procedural and multiprocessing test modules; no tests here.

The ``epics.ca`` helpers (:class:`Recorder`, :func:`restored`, :func:`in_thread`, ``DEADLINE``...)
come from ``test_ca_helpers``; this module adds what the higher layers need:

* :func:`wait_until`: wait, bounded by a deadline, for a condition that has no event to wait on
  (a PV attribute that a monitor updates);
* :func:`missing_pv`: a fresh name no server serves, so tests of connection timeouts never meet a
  channel another test left behind;
* :func:`make_pv` (fixture): PV objects that are disconnected at the test's teardown, pass or fail.
"""
from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable, Dict, List

import pytest

from epics import pv as pvmod
# re-exported for the PV, procedural and multiprocessing test modules
from test_ca_helpers import (DEADLINE, MISSING_PV, SUBPROCESS_DEADLINE, Recorder,  # noqa: F401
                             last_line, restored, run_python)

#: Interval of the bounded checks of :func:`wait_until` (there is no event to wait on).
POLL_INTERVAL = 0.02
#: A short connection timeout for PVs that are meant not to connect.
SHORT_TIMEOUT = 0.5

_missing_counter = itertools.count(1)


class ThreadRecorder(Recorder):
    """A :class:`Recorder` that also notes which thread made each call, so a test can tell the
    calls it made itself (``run_callbacks``) from monitor updates delivered meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: List[int] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        with self._changed:
            self.threads.append(threading.get_ident())
        super().__call__(*args, **kwargs)

    def calls_from_this_thread(self) -> List[Dict[str, Any]]:
        """The keyword arguments of the calls made by the calling thread."""
        me = threading.get_ident()
        with self._changed:
            return [call.kwargs for ident, call in zip(self.threads, self.calls) if ident == me]


def wait_until(predicate: Callable[[], Any], timeout: float = DEADLINE,
               interval: float = POLL_INTERVAL) -> bool:
    """Return True as soon as ``predicate()`` is true, False once ``timeout`` seconds passed.

    For conditions with no event to wait on (a PV's cached value, ``put_complete``); a callback
    is better waited for with :meth:`Recorder.wait_for`.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if predicate():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bool(predicate())
        pause.wait(min(interval, remaining))


def missing_pv(tag: str = "x") -> str:
    """A PV name that no server of the session serves, different at each call."""
    return f"{MISSING_PV}:{tag}{next(_missing_counter)}"


@pytest.fixture
def make_pv():
    """``make_pv(name, **kwargs)`` makes a :class:`epics.PV`; all are disconnected at teardown."""
    made: List[pvmod.PV] = []

    def factory(pvname: str, **kwargs: Any) -> pvmod.PV:
        thispv = pvmod.PV(pvname, **kwargs)
        made.append(thispv)
        return thispv

    try:
        yield factory
    finally:
        for thispv in reversed(made):
            thispv.disconnect()


def connected_pv(factory: Callable[..., pvmod.PV], pvname: str, **kwargs: Any) -> pvmod.PV:
    """``factory(pvname, **kwargs)``, failing the test unless it connects within DEADLINE."""
    thispv = factory(pvname, **kwargs)
    assert thispv.wait_for_connection(timeout=DEADLINE), f"{pvname} did not connect"
    return thispv
