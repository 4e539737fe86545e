"""What one monitor event costs in the PyEpics-style path, part by part (no IOC needed).

Usage::

    python bench/cost_parts.py

Times, in-process with ``timeit`` (best of 5), the Python steps every monitor update of a PV with
one callback goes through: unpacking a DBR_TIME_DOUBLE from the event buffer, merging its
metadata into the PV's data, and calling a PyEpics-style callback with that data as keyword
arguments. bench/README.md ("Where the time and memory go") puts these beside the measured total.
Runs on the main thread only; each timing is bounded (200,000 calls, 5 repetitions).
"""
import ctypes
import time  # noqa: F401 (timed below)
import timeit

from epics import dbr
from epics.pv import PV

N = 200000
buf = bytearray(ctypes.sizeof(dbr.Map[dbr.TIME_DOUBLE]))
reader = dbr.make_buffer_reader(dbr.TIME_DOUBLE, 1)
value, meta = reader(buf, 0)
# the PV's data as it is after a connection: its fields and the four it adds
args = dict.fromkeys(PV._fields)
args.update(type="time_double", typefull="time_double", nelm=1, cb_info=None, precision=3)


def cb(pvname=None, value=None, **kw):
    """The usual PyEpics callback: two named arguments, the rest in **kw."""


def per_call_us(statement: str) -> float:
    """Microseconds per execution of ``statement`` (best of 5 rounds of N)."""
    return min(timeit.repeat(statement, number=N, repeat=5, globals=globals())) / N * 1e6


def main() -> None:
    for title, statement in [("unpack one TIME_DOUBLE event", "reader(buf, 0)"),
                             ("merge its metadata (args.update)", "args.update(meta)"),
                             (f"callback(**args), {len(args)} keys", "cb(**args)"),
                             ("callback(value=...), 1 key", "cb(value=1.0)"),
                             ("time.time()", "time.time()")]:
        print(f"{title:34} {per_call_us(statement):.3f} us")


if __name__ == "__main__":
    main()
