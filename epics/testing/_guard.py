"""Run a server command and end it when our stdin closes: ``python -m epics.testing._guard CMD...``.

:class:`epics.testing.ioc.SubprocessIoc` starts servers that know nothing of tests (caproto IOCs, a
CA repeater). If the test process dies without a chance to stop them (SIGKILL, a crash), they would
run on forever. This guard sits between: the test process holds the write end of our stdin, so when
it dies, for any reason, we read end of file and stop the server.

* the server is our child, in our process group (the test process signals the whole group, so
  SIGSTOP/SIGCONT/SIGKILL reach both of us); its stdin is /dev/null, its stdout and stderr are ours;
* SIGTERM or SIGINT to us, or end of file on stdin: we send SIGTERM to the server, SIGKILL after
  :data:`KILL_AFTER` seconds;
* we exit with the server's status once it ended.

Threads: the main thread waits for the server; a daemon thread reads stdin.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import List, Optional

#: Seconds the server has to exit after SIGTERM before it is killed.
KILL_AFTER = 5.0
#: The parent never writes to stdin; after this many reads we treat it as end of file anyway.
_MAX_STDIN_READS = 100_000


def _end(proc: subprocess.Popen) -> None:
    """SIGTERM the server now, SIGKILL it after KILL_AFTER seconds if it is still there."""
    if proc.poll() is not None:
        return
    try:
        proc.terminate()
    except ProcessLookupError:
        return
    timer = threading.Timer(KILL_AFTER, lambda: proc.poll() is None and proc.kill())
    timer.daemon = True
    timer.start()


def wait_for_stdin_eof() -> None:
    """Return when stdin reaches end of file (the parent closed it or died), when it cannot be
    read, or after :data:`_MAX_STDIN_READS` reads of data the parent should not have sent.
    Shared with :mod:`epics.testing._softioc_main`, which watches its stdin the same way."""
    try:
        fd = sys.stdin.fileno()
        for _ in range(_MAX_STDIN_READS):  # each read blocks until data or EOF: no spinning
            if not os.read(fd, 4096):
                break
    except (OSError, ValueError):
        pass


def _watch_stdin(proc: subprocess.Popen) -> None:
    wait_for_stdin_eof()
    _end(proc)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command in ``argv`` under guard; return its exit status."""
    command = sys.argv[1:] if argv is None else argv
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        sys.stderr.write("usage: python -m epics.testing._guard CMD [ARGS...]\n")
        return 2
    started: List[subprocess.Popen] = []
    requested = threading.Event()

    def on_signal(signum, frame):
        # Ignore repeats, which Python's shutdown would otherwise turn into a death by signal.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        requested.set()
        for proc in started:
            _end(proc)

    # Handlers first, so a stop request that comes while the server starts is not lost.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    started.append(proc)
    if requested.is_set():
        _end(proc)
    threading.Thread(target=_watch_stdin, args=(proc,), name="stdin-watch", daemon=True).start()
    status = proc.wait()  # returns once the server ended; signals are handled meanwhile
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
