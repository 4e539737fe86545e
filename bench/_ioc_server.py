"""Serve the benchmark database with softioc, in its own process (the bench's local starter).

Usage::

    python bench/_ioc_server.py --db FILE [--macros P=x:]

The harness prefers the project's test-IOC kit (``epics.testing.ioc.SoftIoc``); this starter is
the fallback for when the kit cannot be imported (for example while ``epics`` itself is broken
during development), so the C and PyEpics columns can always be measured. It imports nothing from
``epics``.

Protocol with the parent (bench/ioc.py): EPICS's own output goes to stderr; stdout carries one
line, ``READY``, once ``iocInit`` succeeded; the IOC serves until stdin closes or SIGTERM/SIGINT
arrives, then exits within a few seconds (a watchdog forces it).

Threads: main waits for the stop request; a daemon thread reads stdin to notice end of file;
EPICS runs its own threads.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

READY_LINE = "READY"
EXIT_DEADLINE = 5.0
_MAX_STDIN_READS = 100_000


def _dispatch(func, func_args=(), completion=None, completion_args=()):
    """softioc wants a dispatcher; only its Python-device records use it, and we have none."""
    func(*func_args)
    if completion is not None:
        completion(*completion_args)


def _watch_stdin(stop: threading.Event) -> None:
    try:
        for _ in range(_MAX_STDIN_READS):  # each read blocks until data or EOF
            if not os.read(sys.stdin.fileno(), 4096):
                break
    except (OSError, ValueError):
        pass
    stop.set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--macros", default="")
    args = parser.parse_args()

    sys.stdout.flush()
    ready_fd = os.dup(1)
    os.dup2(2, 1)  # EPICS prints to fd 1; keep it off the READY channel

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        from softioc import softioc
        softioc.dbLoadDatabase(os.path.abspath(args.db), None, args.macros or None)
        softioc.iocInit(dispatcher=_dispatch, enable_pva=False)
    except Exception as exc:
        sys.stderr.write(f"bench IOC failed to start: {type(exc).__name__}: {exc}\n")
        return 2
    os.write(ready_fd, (READY_LINE + "\n").encode())
    os.close(ready_fd)
    threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
    stop.wait()
    timer = threading.Timer(EXIT_DEADLINE, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    return 0


if __name__ == "__main__":
    status = main()
    sys.stderr.flush()
    if status != 0:
        os._exit(status)
    sys.exit(0)
