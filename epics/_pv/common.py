"""What the parts of the PV object share: the setup lock, value kinds, running user callbacks.

Runs on whichever thread calls it (the dispatcher for monitor and connection events, user
threads for gets and puts).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

from .. import dbr

log = logging.getLogger("epics.pv")
callback_log = logging.getLogger("epics.callbacks")

# Serialises connection setups (the dispatcher's and a waiting thread's); one lock for all PVs
# rather than one each, since there may be tens of thousands of PVs and setups are short.
SETUP_LOCK = threading.RLock()

ACCESS_NAMES = ("no access", "read-only", "write-only", "read/write")
# How a value turns into char_value, decided once per connection.
UNKNOWN, FLOAT, ENUM, STRING, CHAR, ARRAY, OTHER = range(7)
TIME_KEYS = ("status", "severity", "timestamp", "posixseconds", "nanoseconds")


def fmt_time(tstamp: Optional[float] = None) -> str:
    """'2014-10-21 09:02:09.94155': a POSIX time (default now) as camonitor prints it."""
    if tstamp is None:
        tstamp = time.time()
    seconds, fraction = divmod(tstamp, 1)
    hundred_thousandths = round(1.e5 * fraction)
    if hundred_thousandths >= 100000:
        seconds, hundred_thousandths = seconds + 1, 0
    return "%s.%5.5i" % (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)),
                         hundred_thousandths)


def value_kind(native: int, nelm: int) -> int:
    """Which char_value formatting a channel of this native type and size needs."""
    if native == dbr.STRING:
        return STRING
    if native == dbr.CHAR:
        return CHAR if nelm > 1 else OTHER
    if nelm > 1:
        return ARRAY
    if native in (dbr.FLOAT, dbr.DOUBLE):
        return FLOAT
    if native == dbr.ENUM:
        return ENUM
    return OTHER


def shape_array(value: Any, count: Optional[int], as_numpy: bool) -> Any:
    """An array value as numpy or list, cut to ``count`` elements."""
    if not hasattr(value, "__len__") or isinstance(value, str):
        value = [value]
    import numpy
    if as_numpy and not isinstance(value, numpy.ndarray):
        value = numpy.asarray(value)
    elif not as_numpy and isinstance(value, numpy.ndarray):
        value = value.tolist()
    if count is not None and count < len(value):
        value = value[:count]
    return value
