"""Run one EPICS soft IOC (pythonSoftIOC) in this process, for tests.

Usage::

    python -m epics.testing._softioc_main --db FILE [--macros P=x:,Q=y] [--asg FILE]

Why a separate process: the IOC is a genuine EPICS base IOC (``softioc`` links the same libCom and
libca as our client), and two Channel Access users in one process interfere with each other. So
:class:`epics.testing.ioc.SoftIoc` starts this module as a subprocess and talks to it only over the
network, through stdin (closing it asks us to stop) and through signals.

Protocol with the parent:

* everything EPICS prints (the ``iocInit`` banner, errors) goes to stderr; stdout carries exactly
  one line, ``READY``, printed after ``iocInit`` succeeded;
* the IOC then serves until stdin reaches end of file or SIGTERM/SIGINT arrives, and exits with
  status 0 within :data:`EXIT_DEADLINE` seconds (a watchdog forces the exit if EPICS's exit
  handlers hang);
* a failure before READY exits with status 2 and a message on stderr.

Access security: ``--asg FILE`` names an access security file (``.acf``); the ``--macros`` are
also applied to it (``asSetSubstitutions``), so an ``INPA("$(P)asg:write")`` in the file points at
this IOC's own records. The rules can then be changed at run time by writing those records; see
:data:`epics.testing.ioc.GUARDED_ACF`.

Threads: the main thread waits for the stop request; one daemon thread reads stdin to notice end of
file; EPICS runs its own threads.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
from typing import List, Optional

from epics.testing._guard import wait_for_stdin_eof

#: The line printed on stdout once the IOC serves.
READY_LINE = "READY"
#: Seconds allowed for a clean shutdown before the process exits anyway.
EXIT_DEADLINE = 5.0


class _Dispatcher:
    """A dispatcher for softioc that runs callbacks at once.

    softioc calls its dispatcher only for records made with ``softioc.builder``; the databases we
    load use plain EPICS device support, so this is never exercised in practice, but ``iocInit``
    requires one and this avoids pulling in cothread or an asyncio loop.
    """

    def __call__(self, func, func_args=(), completion=None, completion_args=()):
        func(*func_args)
        if completion is not None:
            completion(*completion_args)


def _parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m epics.testing._softioc_main",
                                     description="Serve an EPICS database until stdin closes.")
    parser.add_argument("--db", required=True, action="append",
                        help="database file to load (may be repeated)")
    parser.add_argument("--macros", default="",
                        help="macro substitutions, e.g. 'P=tst:,N=3' (applied to every file)")
    parser.add_argument("--asg", default=None, help="access security file (.acf)")
    parser.add_argument("--no-stdin-watch", action="store_true",
                        help="do not stop when stdin closes (for running by hand)")
    return parser.parse_args(argv)


def _redirect_stdout_to_stderr() -> int:
    """Point fd 1 at stderr and return a private duplicate of the original stdout.

    EPICS writes its banner and messages to fd 1 with C stdio; keeping those off our stdout makes
    the READY line the only thing the parent has to read there.
    """
    sys.stdout.flush()
    ready_fd = os.dup(1)
    os.dup2(2, 1)
    return ready_fd


def _set_access_security(asg: str, macros: str) -> None:
    """Tell dbCore which access security file to read at ``iocInit`` (and with which macros)."""
    from epicscorelibs.ioc import dbCore

    set_filename = dbCore.asSetFilename  # int asSetFilename(const char *acf)
    set_filename.argtypes = (ctypes.c_char_p,)
    set_filename.restype = ctypes.c_int
    set_subs = dbCore.asSetSubstitutions  # int asSetSubstitutions(const char *substitutions)
    set_subs.argtypes = (ctypes.c_char_p,)
    set_subs.restype = ctypes.c_int
    if set_filename(os.path.abspath(asg).encode()) != 0:
        raise RuntimeError(f"asSetFilename({asg!r}) failed")
    if macros and set_subs(macros.encode()) != 0:
        raise RuntimeError(f"asSetSubstitutions({macros!r}) failed")


def _start_ioc(args: argparse.Namespace) -> None:
    """Load the databases and start the IOC; raises on any failure."""
    for path in args.db:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"database file {path!r} does not exist")
    if args.asg is not None and not os.path.isfile(args.asg):
        raise FileNotFoundError(f"access security file {args.asg!r} does not exist")

    # Importing softioc loads base.dbd and registers record and device support.
    from softioc import softioc

    for path in args.db:
        softioc.dbLoadDatabase(os.path.abspath(path), None, args.macros or None)
    if args.asg is not None:
        _set_access_security(args.asg, args.macros)
    # No PV Access server: it would bind its own fixed ports, which tests must not share.
    softioc.iocInit(dispatcher=_Dispatcher(), enable_pva=False)


def _watch_stdin(stop: threading.Event) -> None:
    """Set ``stop`` when stdin reaches end of file (the parent closed it or died)."""
    wait_for_stdin_eof()
    stop.set()


def _exit_watchdog() -> None:
    """Leave the process even if an EPICS exit handler blocks."""
    timer = threading.Timer(EXIT_DEADLINE, lambda: os._exit(0))
    timer.daemon = True
    timer.start()


def main(argv: Optional[List[str]] = None) -> int:
    """Run the IOC until asked to stop; return the exit status."""
    args = _parse_args(argv)
    ready_fd = _redirect_stdout_to_stderr()

    stop = threading.Event()

    def on_signal(signum, frame):
        # Ignore repeats, which Python's shutdown would otherwise turn into a death by signal; the
        # exit watchdog bounds the shutdown anyway.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        _start_ioc(args)
    except Exception as exc:
        sys.stderr.write(f"softioc failed to start: {type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        return 2

    os.write(ready_fd, (READY_LINE + "\n").encode())
    os.close(ready_fd)

    if not args.no_stdin_watch:
        threading.Thread(target=_watch_stdin, args=(stop,), name="stdin-watch",
                         daemon=True).start()
    stop.wait()
    _exit_watchdog()
    return 0


if __name__ == "__main__":
    status = main()
    sys.stderr.flush()
    if status != 0:
        os._exit(status)  # skip EPICS exit handlers of a half-started IOC
    sys.exit(0)  # runs softioc's atexit hooks (epicsExitCallAtExits): a clean IOC shutdown
