"""The procedural interface: caget, caput, cainfo, camonitor, camonitor_clear, caget_many,
caput_many, against the session IOC.

Printed formats are those of the PyEpics slides (shared/reference/pyepics-overview-slides.txt):
cainfo's ``== NAME (form_type) ==`` block of ``key = value`` lines, camonitor's
``NAME YYYY-MM-DD HH:MM:SS.fffff VALUE`` lines.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import List

import numpy
import pytest

import epics
from epics import (caget, caget_many, cainfo, camonitor, camonitor_clear, caput, caput_many,
                   get_pv)
from epics._errors import CANotConnectedError, CATimeoutError
from test_ca_helpers import SUBPROCESS_DEADLINE
from test_pv_helpers import DEADLINE, Recorder, missing_pv, restored, wait_until

#: camonitor's line: name, date, time with five decimals, value (slides).
CAMONITOR_LINE = r"(?P<name>\S+) (?P<date>\d{4}-\d\d-\d\d) (?P<time>\d\d:\d\d:\d\d\.\d{5}) " \
                 r"(?P<value>.*)"
#: Connection timeout for PVs meant not to connect.
MISSING_TIMEOUT = 1.0


# ---- caget ---------------------------------------------------------------------------------------

def test_caget_returns_the_value(ioc):
    name = ioc.pv("ao")
    with restored(name):
        assert caput(name, 12.5, wait=True) == 1
        assert caget(name, use_monitor=False) == 12.5
        assert wait_until(lambda: caget(name) == 12.5)


def test_caget_of_each_type(ioc):
    assert isinstance(caget(ioc.pv("longout")), int)
    assert isinstance(caget(ioc.pv("ai")), float)
    assert isinstance(caget(ioc.pv("stringout")), str)
    assert isinstance(caget(ioc.pv("mbbo")), int)
    assert isinstance(caget(ioc.pv("wf:double")), numpy.ndarray)


def test_caget_as_string(ioc):
    with restored(ioc.pv("ao"), ioc.pv("mbbo")):
        caput(ioc.pv("ao"), 2.0, wait=True)
        caput(ioc.pv("mbbo"), 1, wait=True)
        assert caget(ioc.pv("ao"), as_string=True, use_monitor=False) == "2.000"
        assert caget(ioc.pv("mbbo"), as_string=True, use_monitor=False) == "On"
    assert caget(ioc.pv("wf:char"), as_string=True) == "hello"


def test_caget_count_and_as_numpy(ioc):
    name = ioc.pv("wf:double")
    assert list(caget(name, count=2)) == [1.5, 2.5]
    value = caget(name, as_numpy=False)
    assert isinstance(value, list) and value == [1.5, 2.5, 3.5, 4.5, 5.5]


def test_caget_of_a_missing_pv_returns_none_after_the_connection_timeout():
    start = time.monotonic()
    assert caget(missing_pv("caget"), connection_timeout=MISSING_TIMEOUT) is None
    assert time.monotonic() - start < DEADLINE    # hang check only


def test_caget_raise_on_error_raises_CATimeoutError():
    name = missing_pv("caget_raise")
    with pytest.raises(CATimeoutError) as info:
        caget(name, connection_timeout=MISSING_TIMEOUT, raise_on_error=True)
    assert name in str(info.value)
    assert isinstance(info.value, TimeoutError)


def test_caget_raise_on_error_returns_the_value_when_connected(ioc):
    assert caget(ioc.pv("stringout.DESC"), raise_on_error=True) == "test string output"


def test_caget_reuses_one_cached_pv(ioc):
    name = ioc.pv("longin")
    caget(name)
    first = get_pv(name)
    caget(name)
    assert get_pv(name) is first


# ---- caput ---------------------------------------------------------------------------------------

def test_caput_returns_1_and_writes(ioc):
    name = ioc.pv("longout")
    with restored(name):
        assert caput(name, 321) == 1
        assert wait_until(lambda: caget(name, use_monitor=False) == 321)


def test_caput_wait_waits_for_completion(ioc):
    with restored(ioc.pv("slow"), ioc.pv("slow:done")):
        assert caput(ioc.pv("slow"), 9.25, wait=True, timeout=DEADLINE) == 1
        assert caget(ioc.pv("slow:done"), use_monitor=False) == 9.25


def test_caget_right_after_caput_wait_sees_the_new_value(ioc):
    """The put's completion can overtake its monitor update: caget must not return the old
    cached value in between."""
    name = ioc.pv("mbbo")
    with restored(name):
        stale = []
        for round_ in range(100):
            caput(name, round_ % 5, wait=True)
            value = caget(name)
            if value != round_ % 5:
                stale.append((round_ % 5, value))
        assert stale == []


def test_caput_wait_timeout_returns_minus_1(ioc):
    with restored(ioc.pv("slow"), ioc.pv("slow:done")):
        assert caput(ioc.pv("slow"), 9.75, wait=True, timeout=0.05) == -1
        assert wait_until(lambda: caget(ioc.pv("slow:done"), use_monitor=False) == 9.75)


def test_caput_enum_by_name(ioc):
    name = ioc.pv("bo")
    with restored(name):
        assert caput(name, "On", wait=True) == 1
        assert caget(name, use_monitor=False) == 1


def test_caput_to_a_missing_pv_returns_none_after_the_connection_timeout_as_pyepics(caplog):
    name = missing_pv("caput")
    start = time.monotonic()
    assert caput(name, 1.0, connection_timeout=MISSING_TIMEOUT) is None
    assert time.monotonic() - start >= MISSING_TIMEOUT * 0.9
    assert name in caplog.text            # the lost write is logged


def test_caput_to_a_missing_pv_with_raise_on_error_raises_CANotConnectedError():
    name = missing_pv("caput")
    with pytest.raises(CANotConnectedError) as info:
        caput(name, 1.0, connection_timeout=MISSING_TIMEOUT, raise_on_error=True)
    assert name in str(info.value)


def test_caput_and_caput_many_work_with_a_pv_class_keeping_pyepics_put_signature(ioc,
                                                                               monkeypatch):
    """ophyd replaces epics.pv.default_pv_class with a PV whose put() has PyEpics's arguments
    only: caput and caput_many must not hand it keywords PyEpics does not have."""
    class PyEpicsSignaturePV(epics.pv.PV):
        def put(self, value, wait=False, timeout=30.0, use_complete=False, callback=None,
                callback_data=None):
            return super().put(value, wait=wait, timeout=timeout, use_complete=use_complete,
                               callback=callback, callback_data=callback_data)

    name = ioc.pv("longout.DESC")
    monkeypatch.setattr(epics.pv, "default_pv_class", PyEpicsSignaturePV)
    try:
        with restored(name):
            assert caput(name, "via subclass", wait=True) == 1
            assert isinstance(epics.pv.get_pv(name), PyEpicsSignaturePV)
            assert caput_many([name], ["many via subclass"], wait="each") == [1]
            assert caget(name, use_monitor=False) == "many via subclass"
    finally:
        epics.pv.get_pv(name).disconnect()   # out of the cache, for the other tests


# ---- cainfo --------------------------------------------------------------------------------------

def test_cainfo_prints_the_slides_format(ioc, capsys):
    name = ioc.pv("ao")
    with restored(name):
        caput(name, 0.5, wait=True)
        assert wait_until(lambda: caget(name) == 0.5)
        capsys.readouterr()
        assert cainfo(name) is None
        out = capsys.readouterr().out
    lines = out.rstrip("\n").splitlines()
    assert re.fullmatch(rf"== {re.escape(name)} \((native|time|ctrl)_double\) ==", lines[0])
    fields = dict(line.split(" = ", 1) for line in lines[1:] if " = " in line)
    # every key of the slides, in the slides' order
    keys = [line.split(" = ", 1)[0] for line in lines[1:] if " = " in line]
    expected_order = ["value", "char_value", "count", "nelm", "type", "units", "precision",
                      "host", "access", "status", "severity", "timestamp", "upper_ctrl_limit",
                      "lower_ctrl_limit", "upper_disp_limit", "lower_disp_limit",
                      "upper_alarm_limit", "lower_alarm_limit", "upper_warning_limit",
                      "lower_warning_limit"]
    assert keys == expected_order
    assert fields["value"] == "0.5"
    assert fields["char_value"] == "'0.500'"
    assert fields["count"] == "1" and fields["nelm"] == "1"
    assert fields["type"] == "double"
    assert fields["units"] == "mm"
    assert fields["precision"] == "3"
    assert fields["host"].endswith(f":{ioc.port}")
    assert fields["access"] == "read/write"
    assert fields["status"] == "0" and fields["severity"] == "0"
    assert re.fullmatch(r"\d+\.\d{3} \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{5}\)",
                        fields["timestamp"])
    assert float(fields["upper_ctrl_limit"]) == 90.0
    assert float(fields["lower_ctrl_limit"]) == -90.0
    assert float(fields["upper_disp_limit"]) == 100.0
    assert float(fields["lower_warning_limit"]) == -60.0
    assert re.fullmatch(r"PV is internally monitored, with \d+ user-defined callbacks:",
                        lines[-2])
    assert lines[-1].startswith("=====")


def test_cainfo_print_out_false_returns_the_text(ioc, capsys):
    name = ioc.pv("mbbo")
    capsys.readouterr()
    text = cainfo(name, print_out=False)
    assert capsys.readouterr().out == ""
    assert text.splitlines()[0].startswith(f"== {name} (")
    assert "type = enum" in text.splitlines()
    for state in ("Off", "On", "Standby", "Fault", "Unknown"):
        assert state in text


def test_cainfo_of_a_missing_pv_returns_none(capsys):
    assert cainfo(missing_pv("cainfo"), connection_timeout=MISSING_TIMEOUT) is None
    assert capsys.readouterr().out == ""


# ---- camonitor -----------------------------------------------------------------------------------

def test_camonitor_prints_a_line_per_change_until_cleared(ioc, capsys):
    name = ioc.pv("fast")
    collected: List[str] = []

    def lines_so_far() -> List[str]:
        collected.extend(capsys.readouterr().out.splitlines())
        return collected

    camonitor(name)
    try:
        assert wait_until(lambda: len(lines_so_far()) >= 3)
    finally:
        camonitor_clear(name)
    for line in collected[:3]:
        match = re.fullmatch(CAMONITOR_LINE, line)
        assert match, line
        assert match["name"] == name
        assert re.fullmatch(r"\d+\.\d\d", match["value"]), line   # PREC 2 of the record


def test_camonitor_writer_and_clear(ioc):
    name = ioc.pv("counter")
    writer = Recorder()
    camonitor(name, writer=writer)
    assert writer.wait_count(2)
    line = writer.calls[-1].args[0]
    assert re.fullmatch(CAMONITOR_LINE, line)
    camonitor_clear(name)
    count_at_clear = len(writer.calls)
    # a callback added after the clear sees three more updates; the cleared one must not
    probe = Recorder()
    thispv = get_pv(name)
    index = thispv.add_callback(probe)
    try:
        assert probe.wait_count(3)
        assert len(writer.calls) <= count_at_clear + 1    # one may have been in flight
    finally:
        thispv.remove_callback(index)


def test_camonitor_callback_replaces_the_printing(ioc, capsys):
    name = ioc.pv("fast")
    rec = Recorder()
    capsys.readouterr()
    camonitor(name, callback=rec)
    try:
        assert rec.wait_count(2)
    finally:
        camonitor_clear(name)
    assert rec.kwargs[-1]["pvname"] == name
    assert "char_value" in rec.kwargs[-1]
    assert capsys.readouterr().out == ""


def test_camonitor_clear_of_an_unmonitored_name_is_harmless():
    camonitor_clear(missing_pv("never-monitored"))


# ---- caget_many ----------------------------------------------------------------------------------

def test_caget_many_keeps_order_and_gives_none_for_missing(ioc):
    names = [ioc.pv("longout"), missing_pv("many"), ioc.pv("stringout"), ioc.pv("wf:double")]
    values = caget_many(names, connection_timeout=MISSING_TIMEOUT)
    assert len(values) == 4
    assert values[0] == caget(ioc.pv("longout"), use_monitor=False)
    assert values[1] is None
    assert values[2] == caget(ioc.pv("stringout"), use_monitor=False)
    assert list(values[3]) == [1.5, 2.5, 3.5, 4.5, 5.5]


def test_caget_many_as_string(ioc):
    values = caget_many([ioc.pv("mbbo"), ioc.pv("wf:char")], as_string=True)
    assert values[0] in ("Off", "On", "Standby", "Fault", "Unknown")
    assert values[1] == "hello"


def test_caget_many_connects_in_parallel(ioc):
    # Three PVs that never connect: in parallel the call takes about one connection timeout,
    # one after the other it would take three. Hang check with a generous margin below 3x.
    connection_timeout = 3.0
    names = [missing_pv("par"), ioc.pv("ai"), missing_pv("par"), missing_pv("par")]
    start = time.monotonic()
    values = caget_many(names, connection_timeout=connection_timeout)
    elapsed = time.monotonic() - start
    assert values[0] is None and values[2] is None and values[3] is None
    assert isinstance(values[1], float)
    assert elapsed < 2.5 * connection_timeout, f"caget_many took {elapsed:.1f} s"


def test_caget_many_raise_on_error(ioc):
    name = missing_pv("many_raise")
    with pytest.raises(CATimeoutError) as info:
        caget_many([ioc.pv("ai"), name], connection_timeout=MISSING_TIMEOUT,
                   raise_on_error=True)
    assert name in str(info.value)


def test_caget_many_of_an_empty_list():
    assert caget_many([]) == []


# ---- caput_many ----------------------------------------------------------------------------------

def test_caput_many_wait_each(ioc):
    names = [ioc.pv("slow"), ioc.pv("longout")]
    with restored(ioc.pv("slow"), ioc.pv("slow:done"), ioc.pv("longout")):
        assert caput_many(names, [1.25, 66], wait="each", put_timeout=DEADLINE) == [1, 1]
        assert caget(ioc.pv("slow:done"), use_monitor=False) == 1.25
        assert caget(ioc.pv("longout"), use_monitor=False) == 66


def test_caput_many_wait_all(ioc):
    names = [ioc.pv("slow"), ioc.pv("ao")]
    with restored(ioc.pv("slow"), ioc.pv("slow:done"), ioc.pv("ao")):
        assert caput_many(names, [2.25, 3.5], wait="all", put_timeout=DEADLINE) == [1, 1]
        assert caget(ioc.pv("slow:done"), use_monitor=False) == 2.25
        assert caget(ioc.pv("ao"), use_monitor=False) == 3.5


def test_caput_many_without_wait(ioc):
    with restored(ioc.pv("longout")):
        assert caput_many([ioc.pv("longout")], [77]) == [1]
        assert wait_until(lambda: caget(ioc.pv("longout"), use_monitor=False) == 77)


def test_caput_many_reports_a_missing_pv_as_minus_1(ioc):
    with restored(ioc.pv("longout")):
        result = caput_many([ioc.pv("longout"), missing_pv("putmany")], [78, 1.0],
                            wait="each", connection_timeout=MISSING_TIMEOUT,
                            put_timeout=DEADLINE)
        assert result == [1, -1]


def test_caput_many_needs_as_many_values_as_names(ioc):
    with pytest.raises(ValueError):
        caput_many([ioc.pv("longout"), ioc.pv("ao")], [1])


# ---- the package namespace -----------------------------------------------------------------------

def test_alarm_severity_constants():
    assert (epics.NO_ALARM, epics.MINOR_ALARM, epics.MAJOR_ALARM, epics.INVALID_ALARM) == \
        (0, 1, 2, 3)


# ---- what a script loads -------------------------------------------------------------------------

def test_a_script_of_scalars_never_loads_numpy_and_its_first_array_does(ioc):
    # import epics is fast because numpy comes only with the first array: caget, caput and PV
    # reads of scalars (and their errors) do without it
    script = f"""
import sys
import epics
assert "numpy" not in sys.modules, "import epics loaded numpy"
value = epics.caget({ioc.pv("ao")!r})
assert epics.caput({ioc.pv("ao")!r}, value, wait=True) == 1
assert epics.PV({ioc.pv("longout")!r}).get() is not None
try:
    epics.caput({ioc.pv("longout")!r}, 2 ** 40, wait=True, raise_on_error=True)
except ValueError as error:
    assert "out of range" in str(error), error
else:
    raise AssertionError("an out-of-range put was not refused")
print("scalars", "numpy" in sys.modules)
array = epics.caget({ioc.pv("wf:short")!r})
print("array", type(array).__module__, "numpy" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=SUBPROCESS_DEADLINE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["scalars False", "array numpy True"]
