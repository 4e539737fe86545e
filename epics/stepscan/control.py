"""Pause, resume and abort of a running scan, and Ctrl-C (SIGINT) handling.

A pause or abort takes effect at the next safe point (between points; an abort also ends the
waits for motion and detectors at once). While a scan runs in the main thread, the first
Ctrl-C asks for a pause and a second one for an abort; at the pause, when a prompt is given
(an interactive terminal), it asks whether to resume or abort.

Threads: ``pause``, ``resume`` and ``abort`` may be called from any thread (a GUI, the scan
server's watcher, a signal handler); ``checkpoint`` and ``check`` run on the scan thread.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Callable, Optional

from .errors import ScanAborted

__all__ = ['ScanControl', 'terminal_prompt', 'MAX_PAUSE']

logger = logging.getLogger('epics.stepscan')

#: Longest a scan stays paused (s) before it is aborted (no loop runs forever).
MAX_PAUSE = 12 * 3600.0


def terminal_prompt() -> str:
    """Ask on the terminal; 'resume' or 'abort' (Ctrl-C or end of input: abort)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for _ in range(20):
            answer = input('Scan paused: [r]esume or [a]bort? ').strip().lower()
            if answer in ('r', 'resume', 'c', 'continue', ''):
                return 'resume'
            if answer in ('a', 'abort', 'q', 'quit'):
                return 'abort'
        return 'abort'
    except (KeyboardInterrupt, EOFError):
        return 'abort'
    finally:
        signal.signal(signal.SIGINT, previous)


class ScanControl:
    """The pause/abort requests of one scan, and the SIGINT handler that makes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pause = threading.Event()
        self._resume = threading.Event()
        self._abort = threading.Event()
        self.abort_reason = ''
        self.paused = False
        self.prompt: Optional[Callable[[], str]] = None
        self.on_pause: Optional[Callable[[bool], None]] = None
        self._previous_handler = None

    # -- requests (any thread) -------------------------------------------------
    def pause(self) -> None:
        """Pause at the next safe point."""
        self._resume.clear()
        self._pause.set()

    def resume(self) -> None:
        """Go on after a pause."""
        self._pause.clear()
        self._resume.set()

    def abort(self, reason: str = 'aborted by request') -> None:
        """End the scan as soon as possible (motors stop, the file stays valid)."""
        with self._lock:
            if not self._abort.is_set():
                self.abort_reason = reason
        self._abort.set()
        self._resume.set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    def reset(self) -> None:
        self._pause.clear()
        self._resume.clear()
        self._abort.clear()
        self.abort_reason = ''
        self.paused = False

    # -- scan thread -------------------------------------------------------------
    def check(self) -> None:
        """Raise :class:`ScanAborted` if an abort was asked for (called inside waits)."""
        if self._abort.is_set():
            raise ScanAborted(f'scan {self.abort_reason}')

    def checkpoint(self) -> bool:
        """At a safe point: wait out a pause (or raise on an abort). True if it paused."""
        self.check()
        if not self._pause.is_set():
            return False
        self.paused = True
        logger.warning('scan paused')
        if self.on_pause is not None:
            self.on_pause(True)
        try:
            if self.prompt is not None:
                if self.prompt() == 'abort':
                    self.abort('aborted at the pause prompt')
                else:
                    self.resume()
            if not self._resume.wait(MAX_PAUSE):
                self.abort(f'aborted after {MAX_PAUSE:g} s paused')
            self.check()
        finally:
            self.paused = False
            if self.on_pause is not None:
                self.on_pause(False)
        logger.warning('scan resumed')
        return True

    # -- Ctrl-C --------------------------------------------------------------------
    def _on_sigint(self, signum, frame) -> None:
        if self._pause.is_set() or self.paused:
            self.abort('aborted by Ctrl-C')
            sys.stderr.write('\nCtrl-C again: aborting the scan\n')
        else:
            self.pause()
            sys.stderr.write('\nCtrl-C: the scan pauses after this point (Ctrl-C again to '
                             'abort)\n')

    def install_sigint(self) -> None:
        """Make Ctrl-C pause (then abort) while the scan runs; only in the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def restore_sigint(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None
