"""``caRepeater``: the Channel Access repeater, as a console script.

libca expects a program named ``caRepeater`` on ``PATH``: the first client on a host starts it,
and it then fans the servers' beacons (and other UDP traffic sent to ``EPICS_CA_REPEATER_PORT``)
out to every client on the host, which is how clients notice a restarted IOC quickly. This script
runs libca's own repeater, ``caRepeaterThread``, so no EPICS base install is needed.

It serves until killed; SIGINT and SIGTERM end it with status 0. If another repeater already holds
the port, libca's repeater returns at once and so does this script (status 0, as libca's own
caRepeater behaves, since one repeater per host is all that is needed).

Threads: libca's repeater loop runs in a daemon thread (it blocks in C, where Python signal
handlers could not run); the main thread waits for a signal or for that loop to end.
"""
from __future__ import annotations

import signal
import sys
import threading
from typing import List, Optional

__all__ = ["main"]


def _serve(lib, finished: threading.Event) -> None:
    """Run libca's repeater loop; note when it returns (the port was taken)."""
    try:
        lib.caRepeaterThread(None)  # void caRepeaterThread(void *pDummy): serves forever
    finally:
        finished.set()


def main(argv: Optional[List[str]] = None) -> int:
    """Run the CA repeater until SIGINT/SIGTERM; return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print("usage: caRepeater\n\nRun the EPICS Channel Access repeater on "
              "EPICS_CA_REPEATER_PORT (default 5065) until killed.")
        return 0

    from epics._cadef import load  # libca with its prototypes, caRepeaterThread included

    try:
        lib = load()
    except OSError as exc:  # LibcaNotFound is an OSError
        print(f"caRepeater: {exc}", file=sys.stderr)
        return 1

    finished = threading.Event()

    def on_signal(signum, frame):
        # Ignore repeats: Python restores the default action during interpreter shutdown, and a
        # second SIGTERM then (a process group signalled twice) would end us with that signal.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        finished.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    threading.Thread(target=_serve, args=(lib, finished), name="caRepeater",
                     daemon=True).start()
    finished.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
