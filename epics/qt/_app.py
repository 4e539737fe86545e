"""Run an epics.qt application window: the command line every app shares.

``--screenshot PATH`` saves the window after ``--quit-after`` seconds and quits, so an app can be
run unattended (the tests and the docs gallery use it).

Threads: the main thread, which becomes the GUI thread.
"""
from __future__ import annotations

import argparse
import gc
import logging
import sys
from typing import Callable, Optional, Sequence

from qtpy.QtCore import QCoreApplication, QEvent, QTimer
from qtpy.QtWidgets import QApplication, QWidget

__all__ = ["app_parser", "run_app"]


def app_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every app takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quit-after", type=float, default=None, metavar="SECONDS",
                        help="quit after this many seconds (unattended runs)")
    parser.add_argument("--screenshot", default=None, metavar="PATH",
                        help="save a PNG of the window when quitting (with --quit-after)")
    parser.add_argument("--verbose", action="store_true", help="log at INFO level")
    return parser


def run_app(make_window: Callable[[argparse.Namespace], QWidget], args: argparse.Namespace,
            argv: Optional[Sequence[str]] = None) -> int:
    """Make the QApplication and the window, run the event loop; returns the exit status."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    window = make_window(args)
    window.show()
    # what the window is made of lives as long as the app: moved out of the collector's sight,
    # its full collections stop walking it (30-40 ms pauses of the GUI with 1,000 widgets,
    # bench/QT.md)
    gc.freeze()
    if args.quit_after is not None:
        def finish() -> None:
            if args.screenshot:
                window.grab().save(args.screenshot)
            window.close()
            app.quit()
        QTimer.singleShot(int(args.quit_after * 1000), finish)
    status = app.exec()
    # delete the window while Qt still runs: left to interpreter shutdown, pyqtgraph's items
    # and the QApplication can go in the wrong order (a crash at exit)
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return int(status or 0)
