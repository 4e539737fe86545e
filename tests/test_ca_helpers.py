"""Helpers shared by the ``epics.ca`` test modules (``tests/test_ca_*.py``); no tests here.

* :class:`Recorder`: a callback that records its calls, so a test can wait (with a deadline) for
  the calls it expects instead of sleeping.
* :func:`run_python`: run a short script in a fresh interpreter with the test session's CA
  environment, for what would end CA in this process (finalize, settings read at start-up).
* :func:`restored`: put records back to the values they had, so tests that write do not leak
  state into tests that read the database's initial values.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from epics import ca

#: Seconds any single wait of the suite may take before the test fails: generous, since the
#: machine is small and shared; a passing test never waits this long.
DEADLINE = 10.0
#: Seconds a subprocess (interpreter start, numpy import, CA start-up) may take in all.
SUBPROCESS_DEADLINE = 60.0
#: The repository root, so that a subprocess imports this checkout's ``epics``.
REPO_ROOT = Path(__file__).resolve().parents[1]
#: A PV name that no server of the session serves.
MISSING_PV = "tst-no-such-ioc:missing"


class Call(NamedTuple):
    """One recorded call: positional and keyword arguments."""

    args: Tuple[Any, ...]
    kwargs: Dict[str, Any]


class Recorder:
    """A callable that records every call it receives, from any thread.

    >>> rec = Recorder()
    >>> ca.create_subscription(chid, callback=rec)
    >>> assert rec.wait_for(lambda calls: len(calls) >= 2)
    """

    def __init__(self, action: Optional[Callable[..., Any]] = None) -> None:
        self.calls: List[Call] = []
        self._changed = threading.Condition()
        self._action = action

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        try:
            if self._action is not None:   # first, so that a waiter sees what it did
                self._action(*args, **kwargs)
        finally:
            with self._changed:
                self.calls.append(Call(args, kwargs))
                self._changed.notify_all()

    def wait_for(self, predicate: Optional[Callable[[List[Call]], bool]] = None,
                 timeout: float = DEADLINE) -> bool:
        """Wait until ``predicate(calls)`` holds (default: at least one call); False after
        ``timeout`` seconds."""
        if predicate is None:
            predicate = bool
        with self._changed:
            return self._changed.wait_for(lambda: predicate(list(self.calls)), timeout)

    def wait_count(self, count: int, timeout: float = DEADLINE) -> bool:
        """Wait until at least ``count`` calls have arrived."""
        return self.wait_for(lambda calls: len(calls) >= count, timeout)

    def wait_value(self, value: Any, key: str = "value", timeout: float = DEADLINE) -> bool:
        """Wait for a call whose keyword ``key`` equals ``value``."""
        return self.wait_for(lambda calls: any(c.kwargs.get(key) == value for c in calls),
                             timeout)

    @property
    def kwargs(self) -> List[Dict[str, Any]]:
        with self._changed:
            return [call.kwargs for call in self.calls]

    @property
    def values(self) -> List[Any]:
        """The ``value`` keyword of every call (monitor callbacks)."""
        return [kwargs.get("value") for kwargs in self.kwargs]

    def clear(self) -> None:
        with self._changed:
            self.calls.clear()


def connected_channel(pvname: str, timeout: float = DEADLINE) -> ca.chid_t:
    """create_channel + connect_channel, failing the test if the PV does not connect."""
    chid = ca.create_channel(pvname)
    assert ca.connect_channel(chid, timeout=timeout), f"{pvname} did not connect"
    return chid


def run_python(code: str, timeout: float = SUBPROCESS_DEADLINE,
               env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run ``code`` (dedented) in a fresh interpreter with this session's CA environment.

    Returns the completed process (text stdout/stderr); raises ``subprocess.TimeoutExpired``
    if it runs longer than ``timeout`` seconds, which makes a hang fail the test.
    """
    environment = dict(os.environ if env is None else env)
    path = [str(REPO_ROOT)] + ([environment["PYTHONPATH"]] if environment.get("PYTHONPATH")
                               else [])
    environment["PYTHONPATH"] = os.pathsep.join(path)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environment,
                          cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=timeout)


def last_line(result: subprocess.CompletedProcess) -> str:
    """The last line a subprocess printed, with its stderr in the failure message."""
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0 and lines, (
        f"subprocess failed (exit {result.returncode})\nstdout:\n{result.stdout}\n"
        f"stderr:\n{result.stderr}")
    return lines[-1]


@contextlib.contextmanager
def restored(*pvnames: str) -> Iterator[None]:
    """Put the given PVs back to their current values when the block ends (even on failure)."""
    saved = []
    for pvname in pvnames:
        chid = connected_channel(pvname)
        saved.append((chid, ca.get(chid, timeout=DEADLINE)))
    try:
        yield
    finally:
        for chid, value in saved:
            ca.put(chid, value, wait=True, timeout=DEADLINE)


def in_thread(function: Callable[..., Any], *args: Any, timeout: float = DEADLINE) -> Any:
    """Run ``function(*args)`` in a new plain ``threading.Thread``; return its result or raise
    its exception. The thread must finish within ``timeout`` seconds."""
    outcome: Dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # handed to the test thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"test-{getattr(function, '__name__', '')}")
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{function!r} did not finish within {timeout} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
