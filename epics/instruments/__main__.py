"""``python -m epics.instruments``: see :mod:`epics.instruments.cli`.

Threads: the main thread.
"""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
