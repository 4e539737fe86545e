"""``python -m epics.stepscan``: see `epics.stepscan.cli`.

Threads: the main thread.
"""
import sys

from .cli import main

sys.exit(main())
