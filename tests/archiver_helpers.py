"""Helpers shared by the archiver's tests (``test_archiver_*.py``); no tests here.

* :data:`ARCHIVER_DB`: the records the archiver tests serve (a temperature with alarm limits,
  an enum, a string, a quiet value, and a counter that the IOC increments at 10 Hz);
* :func:`wait_until`: poll a condition with a deadline (the archiver writes in batches, so a
  test waits until a batch has landed);
* :func:`write_config`: a TOML configuration file for the archiver.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable, Tuple

ARCHIVER_DB = """
record(ao, "$(P)temp") {
    field(PREC, "2") field(EGU, "degC")
    field(HIGH, "50") field(HSV, "MINOR") field(HIHI, "80") field(HHSV, "MAJOR")
}
record(mbbo, "$(P)mode") {
    field(ZRST, "Off") field(ONST, "On") field(TWST, "Auto")
}
record(stringout, "$(P)msg") { field(VAL, "hello") }
record(ao, "$(P)quiet") { field(VAL, "7") }
record(calc, "$(P)count") {
    field(SCAN, ".1 second") field(INPA, "$(P)count") field(CALC, "A+1")
}
"""

#: Longest wait for anything in these tests (seconds).
DEADLINE = 20.0


def wait_until(condition: Callable[[], object], timeout: float = DEADLINE,
               interval: float = 0.05, what: str = "condition") -> object:
    """Return the first true value of ``condition()``; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s (last: {result!r})")
        time.sleep(interval)


def write_config(path: Path, storage_url: str, groups: Iterable[Tuple[str, Iterable[str], dict]],
                 extra: str = "") -> Path:
    """A TOML config with one [[group]] per (name, patterns, options) and ``extra`` appended."""
    lines = ["[storage]", f"url = {storage_url!r}", "", "[engine]", "flush_interval = 0.1",
             "retry_interval = 0.2", "alert_poll = 0.2", ""]
    for name, patterns, options in groups:
        lines += ["[[group]]", f"name = {name!r}",
                  "pvs = [" + ", ".join(repr(p) for p in patterns) + "]"]
        lines += [f"{key} = {value!r}" for key, value in options.items()]
        lines.append("")
    path.write_text("\n".join(lines) + "\n" + extra)
    return path
