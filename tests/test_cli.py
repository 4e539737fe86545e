"""The command-line tools caget, caput, camonitor and cainfo (``epics.cli``), and ``python -m
epics TOOL``.

Each tool runs as a subprocess with the session's CA environment (the epics.testing plugin put it
in os.environ) against the records of tests/ioc.db; stdout, stderr and the exit status are checked
against EPICS base's formats. The values a test reads are first set by the test (through the
library, in this process) and put back afterwards. Every subprocess has a time limit; camonitor
runs bounded (--count, --duration) or is stopped with SIGINT.
"""
from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from typing import List, Optional

import pytest

import epics
from epics.cli import _common, camonitor
from epics.testing import unique_prefix
from test_ca_helpers import DEADLINE, REPO_ROOT, SUBPROCESS_DEADLINE, restored

#: A connection timeout for PVs meant not to connect (keeps those runs short).
SHORT = "0.5"
#: ``-w`` for runs that must succeed: generous, the machine is small and shared.
LONG = "10"
#: base's timestamp column: local date and time with microseconds.
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"

_missing = iter(range(1, 10 ** 6))


def missing(ioc) -> str:
    """A fresh PV name that nothing serves (never the name of a channel made before)."""
    return f"{ioc.prefix}no:such:pv{next(_missing)}"


def tool_command(tool: str, *args: str, via_main: bool = False) -> List[str]:
    if via_main:
        return [sys.executable, "-m", "epics", tool, *args]
    return [sys.executable, "-m", f"epics.cli.{tool}", *args]


def environment() -> dict:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def run(tool: str, *args: str, via_main: bool = False) -> subprocess.CompletedProcess:
    """Run a tool to its end (at most SUBPROCESS_DEADLINE seconds)."""
    return subprocess.run(tool_command(tool, *args, via_main=via_main), env=environment(),
                          cwd=str(REPO_ROOT), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=SUBPROCESS_DEADLINE)


def ok(result: subprocess.CompletedProcess) -> str:
    """The stdout of a run that must have succeeded (its stderr in the failure message)."""
    assert result.returncode == 0, (f"exit {result.returncode}\nstdout:\n{result.stdout}\n"
                                    f"stderr:\n{result.stderr}")
    return result.stdout


def padded(name: str) -> str:
    """The name column of base's output: 30 wide, then the separator."""
    return f"{name:<30s} "


@pytest.fixture
def values(ioc):
    """``values(record=value, ...)``: write values (waiting for completion) and return the full
    PV names; every record is put back at teardown."""
    saved = []

    def write(**records):
        names = {}
        for record, value in records.items():
            name = ioc.pv(record.replace("__", ":"))
            holder = restored(name)
            holder.__enter__()
            saved.append(holder)
            assert epics.caput(name, value, wait=True, timeout=DEADLINE) == 1
            names[record] = name
        return names

    yield write
    for holder in reversed(saved):
        holder.__exit__(None, None, None)


class LineReader:
    """Read a running process's stdout line by line, with a deadline per line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(process.stdout,), daemon=True)
        self.thread.start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout: float = DEADLINE * 3) -> Optional[str]:
        return self.lines.get(timeout=timeout)

    def until(self, predicate, limit: int = 200, timeout: float = DEADLINE * 3) -> str:
        """The first line (of at most ``limit``) for which ``predicate`` holds."""
        for _ in range(limit):
            line = self.next(timeout)
            assert line is not None, "the tool's output ended early"
            if predicate(line):
                return line
        raise AssertionError(f"no matching line in {limit} lines")


@pytest.fixture
def popen():
    """Start tools in the background, their stdout read by a :class:`LineReader`
    (``process.reader``); each is killed at teardown if still running, and its pipes closed."""
    started: List[subprocess.Popen] = []

    def start(tool: str, *args: str) -> subprocess.Popen:
        process = subprocess.Popen(tool_command(tool, *args), env=environment(),
                                   cwd=str(REPO_ROOT), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        started.append(process)
        process.reader = LineReader(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            pass
        process.reader.thread.join(DEADLINE)   # ends at EOF, once the process is gone
        process.stdout.close()
        process.stderr.close()


# ---- caget ---------------------------------------------------------------------------------------

def test_caget_prints_name_and_value(values):
    names = values(ao=2.5, longout=-7, stringout="two words")
    result = run("caget", "-w", LONG, names["ao"], names["longout"], names["stringout"])
    assert ok(result) == (f"{padded(names['ao'])}2.5\n{padded(names['longout'])}-7\n"
                          f"{padded(names['stringout'])}two words\n")
    assert result.stderr == ""


def test_caget_terse_prints_values_only(values):
    names = values(ao=2.5, wf__double=[1.5, 2.5, 3.5])
    assert ok(run("caget", "-t", "-w", LONG, names["ao"], names["wf__double"])) == \
        "2.5\n3 1.5 2.5 3.5\n"


def test_caget_prints_arrays_as_name_count_values(values):
    names = values(wf__double=[1.5, 2.5, 3.5, 4.5, 5.5], wf__string=["alpha", "beta"])
    stdout = ok(run("caget", "-w", LONG, names["wf__double"], names["wf__string"]))
    assert stdout == (f"{names['wf__double']} 5 1.5 2.5 3.5 4.5 5.5\n"
                      f"{names['wf__string']} 2 alpha beta\n")


def test_caget_count_option_limits_the_elements(values):
    names = values(wf__double=[1.5, 2.5, 3.5, 4.5, 5.5])
    assert ok(run("caget", "-w", LONG, "-#", "2", names["wf__double"])) == \
        f"{names['wf__double']} 2 1.5 2.5\n"


def test_caget_char_arrays_as_numbers_or_as_a_string(values):
    names = values(wf__char="hello")
    name = names["wf__char"]
    assert ok(run("caget", "-w", LONG, name)) == f"{name} 6 104 101 108 108 111 0\n"
    assert ok(run("caget", "-S", "-w", LONG, name)) == f"{name} hello\n"


def test_caget_enums_as_strings_or_numbers(values):
    name = values(mbbo=1)["mbbo"]
    assert ok(run("caget", "-w", LONG, name)) == f"{padded(name)}On\n"
    assert ok(run("caget", "-n", "-w", LONG, name)) == f"{padded(name)}1\n"


def test_caget_wide_prints_timestamp_and_alarm(values):
    names = values(ao=70.0, longout=5)
    stdout = ok(run("caget", "-a", "-w", LONG, names["ao"], names["longout"]))
    lines = stdout.splitlines()
    assert re.fullmatch(re.escape(padded(names["ao"])) + STAMP + " 70 HIGH MINOR", lines[0])
    # no alarm: status and severity are left empty (two separators, as base prints them)
    assert re.fullmatch(re.escape(padded(names["longout"])) + STAMP + " 5  ", lines[1])


def test_caget_field_separator(values):
    names = values(wf__double=[1.5, 2.5], ao=2.5)
    stdout = ok(run("caget", "-F", ",", "-w", LONG, names["wf__double"], names["ao"]))
    assert stdout == f"{names['wf__double']},2,1.5,2.5\n{names['ao']},2.5\n"


@pytest.mark.parametrize("options, expected", [
    (["-e", "2"], "2.50e+00"),
    (["-f", "3"], "2.500"),
    (["-g", "2"], "2.5"),
    (["-f3", "-e1"], "2.5e+00"),   # the last format given wins
    (["-s"], "2.500"),             # the server formats with the record's PREC (3)
    (["-lx"], "0x3"),              # rounded half away from zero
])
def test_caget_floating_point_formats(values, options, expected):
    name = values(ao=2.5)["ao"]
    assert ok(run("caget", "-t", "-w", LONG, *options, name)) == expected + "\n"


@pytest.mark.parametrize("option, expected", [
    ("-0x", "0x2A"), ("-0o", "0o52"), ("-0b", "0b101010"),
])
def test_caget_integer_formats(values, option, expected):
    name = values(longout=42)["longout"]
    assert ok(run("caget", "-t", "-w", LONG, option, name)) == expected + "\n"


def test_caget_dbr_type_ctrl_double_prints_the_metadata(values):
    name = values(ao=2.5)["ao"]
    stdout = ok(run("caget", "-w", LONG, "-d", "DBR_CTRL_DOUBLE", name))
    assert stdout.splitlines() == [
        name,
        "    Native data type: DBF_DOUBLE",
        "    Request type:     DBR_CTRL_DOUBLE",
        "    Element count:    1",
        "    Value:            2.5",
        "    Status:           NO_ALARM",
        "    Severity:         NO_ALARM",
        "    Units:            mm",
        "    Precision:        3",
        "    Lo disp limit:    -100",
        "    Hi disp limit:    100",
        "    Lo alarm limit:   -80",
        "    Lo warn limit:    -60",
        "    Hi warn limit:    60",
        "    Hi alarm limit:   80",
        "    Lo ctrl limit:    -90",
        "    Hi ctrl limit:    90",
    ]


@pytest.mark.parametrize("spelling", ["DBR_TIME_DOUBLE", "time_double", "20"])
def test_caget_dbr_type_by_name_or_number(values, spelling):
    name = values(ao=2.5)["ao"]
    lines = ok(run("caget", "-w", LONG, "-d", spelling, name)).splitlines()
    assert lines[2] == "    Request type:     DBR_TIME_DOUBLE"
    assert lines[4] == "    Value:            2.5"
    assert re.fullmatch(r"    Timestamp:        " + STAMP, lines[-1])


def test_caget_dbr_type_ctrl_enum_lists_the_states(values):
    name = values(mbbo=2)["mbbo"]
    lines = ok(run("caget", "-w", LONG, "-d", "CTRL_ENUM", name)).splitlines()
    assert "    Value:            Standby (2)" in lines
    assert lines[-6:] == ["    Enums:            ( 5)",
                          "                      [ 0] Off",
                          "                      [ 1] On",
                          "                      [ 2] Standby",
                          "                      [ 3] Fault",
                          "                      [ 4] Unknown"]


def test_caget_invalid_dbr_type_is_ignored_with_a_warning(values):
    name = values(ao=2.5)["ao"]
    result = run("caget", "-w", LONG, "-d", "DBR_NONSENSE", name)
    assert ok(result) == f"{padded(name)}2.5\n"
    assert "Requested dbr type out of range or invalid - ignored." in result.stderr


def test_caget_callback_option_gives_the_same_output(values):
    name = values(ao=2.5)["ao"]
    assert ok(run("caget", "-c", "-w", LONG, name)) == f"{padded(name)}2.5\n"


def test_caget_of_a_missing_pv_fails_naming_it(ioc):
    name = missing(ioc)
    result = run("caget", "-w", SHORT, name)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"Channel connect timed out: '{name}' not found.\n"


def test_caget_with_one_missing_pv_among_others_prints_nothing(ioc):
    name = missing(ioc)
    result = run("caget", "-w", SHORT, ioc.pv("ao"), name)
    assert result.returncode == 1
    assert result.stdout == ""   # as base: all PVs or none
    assert result.stderr == f"Channel connect timed out: '{name}' not found.\n"


def test_caget_usage_errors_exit_1():
    result = run("caget")
    assert result.returncode == 1
    assert "caget -h" in result.stderr
    result = run("caget", "-w", "soon", "x")
    assert result.returncode == 1 and "-w" in result.stderr


def test_caget_help_exits_0():
    result = run("caget", "-h")
    assert ok(result).startswith("usage: caget [options] <PV name> ...")
    assert "-d type" in result.stdout and "-0x" in result.stdout


def test_python_dash_m_epics_runs_the_tools(values):
    name = values(ao=2.5)["ao"]
    assert ok(run("caget", "-t", "-w", LONG, name, via_main=True)) == "2.5\n"
    result = subprocess.run([sys.executable, "-m", "epics"], env=environment(),
                            cwd=str(REPO_ROOT), capture_output=True, text=True,
                            timeout=SUBPROCESS_DEADLINE)
    assert result.returncode == 1
    assert "caget" in result.stdout and "camonitor" in result.stdout
    result = run("nosuchtool", via_main=True)
    assert result.returncode == 1 and "unknown tool 'nosuchtool'" in result.stderr


# ---- caput ---------------------------------------------------------------------------------------

def test_caput_prints_old_and_new_value(values):
    name = values(ao=1.5)["ao"]
    result = run("caput", "-w", LONG, name, "2.25")
    assert ok(result) == f"Old : {padded(name)}1.5\nNew : {padded(name)}2.25\n"
    assert result.stderr == ""
    assert epics.caget(name, use_monitor=False) == 2.25


def test_caput_terse_prints_the_new_value_only(values):
    name = values(longout=1)["longout"]
    assert ok(run("caput", "-t", "-w", LONG, name, "0x10")) == "16\n"
    assert epics.caget(name, use_monitor=False) == 16


def test_caput_long_mode_prints_timestamps(values):
    name = values(ao=1.5)["ao"]
    lines = ok(run("caput", "-l", "-w", LONG, name, "70")).splitlines()
    assert re.fullmatch("Old : " + re.escape(padded(name)) + STAMP + " 1.5  ", lines[0])
    assert re.fullmatch("New : " + re.escape(padded(name)) + STAMP + " 70 HIGH MINOR", lines[1])


def test_caput_joins_the_words_of_a_string(values):
    name = values(stringout="x")["stringout"]
    assert ok(run("caput", "-t", "-w", LONG, name, "hello", "big", "world")) == \
        "hello big world\n"
    assert epics.caget(name, use_monitor=False) == "hello big world"


def test_caput_negative_numbers(values):
    name = values(longout=1)["longout"]
    assert ok(run("caput", "-t", "-w", LONG, name, "-5")) == "-5\n"
    assert ok(run("caput", "-t", "-w", LONG, "--", name, "-1e2")) == "-100\n"


def test_caput_wait_for_completion(values):
    names = values(slow=0.0, slow__done=0.0)
    result = run("caput", "-c", "-w", LONG, names["slow"], "3.5")
    assert ok(result).endswith(f"New : {padded(names['slow'])}3.5\n")
    # put completion means the record's processing (0.5 s delay, then the copy) has finished
    assert epics.caget(names["slow__done"], use_monitor=False) == 3.5


def test_caput_wait_for_completion_times_out(values):
    name = values(slow=0.0)["slow"]
    result = run("caput", "-c", "-w", "0.1", name, "4.5")
    assert result.returncode == 1
    assert f"Write operation timed out: '{name}'" in result.stderr


def test_caput_array(values):
    name = values(wf__double=[1.0])["wf__double"]
    result = run("caput", "-a", "-w", LONG, name, "3", "7", "8.5", "9")
    assert ok(result) == f"Old : {name} 1 1\nNew : {name} 3 7 8.5 9\n"
    assert list(epics.caget(name, use_monitor=False)) == [7, 8.5, 9]


def test_caput_array_of_strings(values):
    name = values(wf__string=["alpha"])["wf__string"]
    assert ok(run("caput", "-a", "-t", "-w", LONG, name, "2", "one", "two")) == "2 one two\n"


def test_caput_array_with_too_few_values_fails(values):
    name = values(wf__double=[1.0])["wf__double"]
    result = run("caput", "-a", "-w", LONG, name, "3", "7", "8")
    assert result.returncode == 1
    assert "3 array value(s) announced but 2 given" in result.stderr
    assert list(epics.caget(name, use_monitor=False)) == [1.0]


def test_caput_enum_by_name_or_by_number(values):
    name = values(mbbo=0)["mbbo"]
    assert ok(run("caput", "-t", "-w", LONG, name, "Standby")) == "Standby\n"
    assert ok(run("caput", "-t", "-w", LONG, name, "1")) == "On\n"
    assert ok(run("caput", "-t", "-n", "-w", LONG, name, "3")) == "Fault\n"
    assert epics.caget(name, use_monitor=False) == 3


def test_caput_enum_string_option_refuses_numbers(values):
    name = values(mbbo=0)["mbbo"]
    result = run("caput", "-s", "-w", LONG, name, "2")
    assert result.returncode == 1
    assert f"Enum string value '2' invalid for '{name}'." in result.stderr
    assert epics.caget(name, use_monitor=False) == 0


def test_caput_unknown_enum_state_fails(values):
    name = values(mbbo=0)["mbbo"]
    result = run("caput", "-w", LONG, name, "Sideways")
    assert result.returncode == 1
    assert "Sideways" in result.stderr and name in result.stderr


def test_caput_as_string_lets_the_server_convert(values):
    name = values(ao=1.5)["ao"]
    assert ok(run("caput", "-s", "-t", "-w", LONG, name, "3.125")) == "3.125\n"


def test_caput_string_to_char_array(values):
    name = values(wf__char="hello")["wf__char"]
    assert ok(run("caput", "-S", "-w", LONG, name, "hi there")) == \
        f"Old : {name} hello\nNew : {name} hi there\n"
    assert epics.caget(name, as_string=True, use_monitor=False) == "hi there"


def test_caput_too_long_string_fails_naming_the_pv(values):
    name = values(stringout="short")["stringout"]
    result = run("caput", "-w", LONG, name, "x" * 50)
    assert result.returncode == 1
    assert result.stdout == f"Old : {padded(name)}short\n"   # no "New :"
    assert f"Error occurred writing data to '{name}'" in result.stderr
    assert "39 bytes" in result.stderr
    assert epics.caget(name, use_monitor=False) == "short"


def test_caput_bad_number_fails(values):
    name = values(longout=1)["longout"]
    result = run("caput", "-w", LONG, name, "twelve")
    assert result.returncode == 1
    assert name in result.stderr and "not a number" in result.stderr


def test_caput_to_a_missing_pv_fails_naming_it(ioc):
    name = missing(ioc)
    result = run("caput", "-w", SHORT, name, "1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"Channel connect timed out: '{name}' not found.\n"


def test_caput_via_python_dash_m_epics(values):
    name = values(ao=1.5)["ao"]
    assert ok(run("caput", "-t", "-w", LONG, name, "4", via_main=True)) == "4\n"


READ_ONLY_DB = 'record(ao, "$(P)ro") {\n    field(ASG, "RO")\n    field(VAL, "1.5")\n}\n'
READ_ONLY_ACF = "ASG(DEFAULT) {\n    RULE(1, READ)\n    RULE(1, WRITE)\n}\n" \
                "ASG(RO) {\n    RULE(1, READ)\n}\n"


def test_caput_without_write_access_fails_and_cainfo_shows_the_access(softioc_factory):
    prefix = unique_prefix()
    softioc_factory(READ_ONLY_DB, macros={"P": prefix}, asg=READ_ONLY_ACF)
    name = prefix + "ro"
    result = run("caput", "-w", LONG, name, "2")
    assert result.returncode == 1
    assert f"Error occurred writing data to '{name}': Write access denied" in result.stderr
    assert "    Access:           read, no write\n" in ok(run("cainfo", "-w", LONG, name))


# ---- camonitor -----------------------------------------------------------------------------------

MONITOR_LINE = re.compile(r"(?P<name>\S+) +(?P<stamp>" + STAMP + r") (?P<value>\S+)(?P<rest>.*)")


def test_camonitor_count_prints_that_many_updates(ioc):
    name = ioc.pv("counter")
    result = run("camonitor", "--count", "3", "-w", LONG, name)
    lines = ok(result).splitlines()
    assert len(lines) == 3
    matches = [MONITOR_LINE.fullmatch(line) for line in lines]
    assert all(m and m["name"] == name and m["rest"] == "  " for m in matches), lines
    numbers = [float(m["value"]) for m in matches]
    assert numbers == sorted(numbers) or 0 in numbers   # counting up (it may wrap)
    assert lines[0].startswith(padded(name))


def test_camonitor_duration_ends_with_status_0(values):
    name = values(ao=2.5)["ao"]
    lines = ok(run("camonitor", "--duration", "1", "-w", LONG, name)).splitlines()
    assert len(lines) == 1   # ao does not change by itself: its first value only
    assert MONITOR_LINE.fullmatch(lines[0])["value"] == "2.5"


def test_camonitor_sigint_exits_cleanly_with_status_0(ioc, popen):
    process = popen("camonitor", "-w", LONG, ioc.pv("counter"))
    reader = process.reader
    first = reader.next()
    assert first is not None and first.startswith(ioc.pv("counter")), first
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=SUBPROCESS_DEADLINE) == 0
    assert "Traceback" not in process.stderr.read()


def test_camonitor_prints_each_change_with_alarm_state(values, popen):
    name = values(ao=1.5)["ao"]
    process = popen("camonitor", "-w", LONG, "--count", "2", name)
    reader = process.reader
    assert MONITOR_LINE.fullmatch(reader.next().rstrip("\n"))["value"] == "1.5"
    epics.caput(name, 70.0, wait=True, timeout=DEADLINE)
    line = reader.next().rstrip("\n")
    assert MONITOR_LINE.fullmatch(line)["value"] == "70", line
    assert line.endswith(" 70 HIGH MINOR")
    assert process.wait(timeout=SUBPROCESS_DEADLINE) == 0


def test_camonitor_value_mask_skips_alarm_only_updates(values, popen):
    # with -m a (alarm only) a value change that keeps the alarm state sends nothing, and one
    # that changes it sends an update
    name = values(ao=1.5)["ao"]
    process = popen("camonitor", "-m", "a", "-w", LONG, "--count", "2", name)
    reader = process.reader
    assert MONITOR_LINE.fullmatch(reader.next().rstrip("\n"))["value"] == "1.5"
    epics.caput(name, 2.5, wait=True, timeout=DEADLINE)    # no alarm change: not reported
    epics.caput(name, 70.0, wait=True, timeout=DEADLINE)   # HIGH MINOR: reported
    line = reader.next().rstrip("\n")
    assert line.endswith(" 70 HIGH MINOR"), line
    assert process.wait(timeout=SUBPROCESS_DEADLINE) == 0


def test_camonitor_invalid_mask_warns_and_uses_the_default(values):
    name = values(ao=2.5)["ao"]
    result = run("camonitor", "-m", "vz", "--count", "1", "-w", LONG, name)
    assert MONITOR_LINE.fullmatch(ok(result).rstrip("\n"))["value"] == "2.5"
    assert "Invalid argument 'vz' for option '-m' - ignored." in result.stderr


def test_camonitor_formats(values):
    names = values(wf__char="hello", mbbo=1, wf__double=[1.5, 2.5, 3.5], ao=2.5)
    # no timestamps, char array as string
    assert ok(run("camonitor", "-tn", "-S", "--count", "1", "-w", LONG, names["wf__char"])) \
        == f"{padded(names['wf__char'])}hello  \n"
    assert ok(run("camonitor", "-tn", "-n", "--count", "1", "-w", LONG, names["mbbo"])) \
        == f"{padded(names['mbbo'])}1  \n"
    assert ok(run("camonitor", "-tn", "-#", "2", "-F", ",", "-f", "2", "--count", "1", "-w",
                  LONG, names["wf__double"])) == f"{names['wf__double']},2,1.50,2.50,,\n"
    # server and client timestamps, the client's in parentheses
    line = ok(run("camonitor", "-tsc", "--count", "1", "-w", LONG, names["ao"])).rstrip("\n")
    assert re.fullmatch(re.escape(padded(names["ao"])) + STAMP + r" \(" + STAMP + r"\) 2.5  ",
                        line), line


def test_camonitor_missing_pv_is_reported_and_gives_status_1(ioc):
    name = missing(ioc)
    result = run("camonitor", "-w", SHORT, "--duration", "1.5", name)
    assert result.returncode == 1
    assert result.stdout == f"{padded(name)}*** Not connected (PV not found)\n"
    assert f"Channel connect timed out: '{name}' not found." in result.stderr


def test_camonitor_reports_a_disconnection(softioc_factory, popen):
    prefix = unique_prefix()
    server = softioc_factory('record(ao, "$(P)x") {\n    field(VAL, "3")\n}\n',
                             macros={"P": prefix})
    name = prefix + "x"
    process = popen("camonitor", "-w", LONG, name)
    reader = process.reader
    assert MONITOR_LINE.fullmatch(reader.next().rstrip("\n"))["value"] == "3"
    server.stop()
    line = reader.until(lambda text: "disconnected" in text)
    assert re.fullmatch(re.escape(padded(name)) + STAMP + r" \*\*\* disconnected\n", line)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=SUBPROCESS_DEADLINE) == 0


# ---- cainfo --------------------------------------------------------------------------------------

def test_cainfo_prints_base_format(ioc):
    names = [ioc.pv("ao"), ioc.pv("wf:char"), ioc.pv("mbbo")]
    stdout = ok(run("cainfo", "-w", LONG, *names))
    host = r"\S+:" + str(ioc.port)
    expected = ""
    for name, native, count in zip(names, ("DOUBLE", "CHAR", "ENUM"), (1, 128, 1)):
        expected += (re.escape(f"{name}\n    State:            connected\n    Host:             ")
                     + host + re.escape(f"\n    Access:           read, write\n"
                                        f"    Native data type: DBF_{native}\n"
                                        f"    Request type:     DBR_{native}\n"
                                        f"    Element count:    {count}\n"))
    assert re.fullmatch(expected, stdout), stdout


def test_cainfo_of_a_missing_pv(ioc):
    name = missing(ioc)
    result = run("cainfo", "-w", SHORT, name, via_main=True)
    assert result.returncode == 1
    assert result.stdout == (f"{name}\n"
                             "    State:            never connected\n"
                             "    Host:             <disconnected>\n"
                             "    Access:           no read, no write\n"
                             "    Native data type: TYPENOTCONN\n"
                             "    Request type:     DBR_invalid\n"
                             "    Element count:    0\n")
    assert result.stderr == f"Channel connect timed out: '{name}' not found.\n"


# ---- the shared helpers, in this process ---------------------------------------------------------

@pytest.mark.parametrize("text, code", [
    ("DBR_TIME_DOUBLE", 20), ("time_double", 20), ("20", 20), ("DBR_CTRL_INT", 29),
    ("CLASS_NAME", 38), ("DBR_PUT_ACKT", None), ("39", None), ("-1", None), ("bogus", None),
])
def test_parse_dbr_type(text, code):
    assert _common.parse_dbr_type(text) == code


def test_dbr_and_dbf_names():
    assert _common.dbr_text(15) == "DBR_TIME_SHORT"
    assert _common.dbr_text(99) == "DBR_invalid"
    assert _common.dbf_text(-1) == "TYPENOTCONN"
    assert _common.dbf_text(6) == "DBF_DOUBLE"


def test_escape_is_base_style():
    assert _common.escape("plain text") == "plain text"
    assert _common.escape('tab\there "q" \\ \x01') == 'tab\\there \\"q\\" \\\\ \\x01'


def test_format_delta():
    assert _common.format_delta(1.5) == "00:00:01.500000"
    assert _common.format_delta(90061.25) == "1 d 01:01:01.250000"


def test_value_format_elements():
    fmt = _common.ValueFormat(argparse.Namespace(int_base="x"))
    assert fmt.element(-1, 5) == "0xFFFFFFFF"
    assert fmt.element(-1, 1) == "0xFFFF"
    assert fmt.element(255, 4) == "0xFF"
    assert _common.ValueFormat(argparse.Namespace()).element(float("nan"), 6) == "nan"
    fmt = _common.ValueFormat(argparse.Namespace(float_as_int="b"))
    assert fmt.element(-2.5, 6) == "0b11111111111111111111111111111101"   # -3


def test_mask_letters():
    assert camonitor.parse_mask("v") == epics.dbr.DBE_VALUE
    assert camonitor.parse_mask("valp") == 15


def test_name_tables_match_libca_and_libcom():
    # the tools print these names; libca and libCom export the tables base's tools use
    import ctypes
    from epics import _libca
    libca = ctypes.CDLL(_libca.find_libca())
    libcom = ctypes.CDLL(_libca.find_libcom())
    dbr_names = (ctypes.c_char_p * 39).in_dll(libca, "dbr_text")
    assert [_common.dbr_text(code) for code in range(39)] == \
        [name.decode() for name in dbr_names]
    dbf_names = (ctypes.c_char_p * 8).in_dll(libca, "dbf_text")
    assert [_common.dbf_text(native) for native in range(-1, 7)] == \
        [name.decode() for name in dbf_names]
    status = (ctypes.c_char_p * len(_common.ALARM_STATUS)).in_dll(
        libcom, "epicsAlarmConditionStrings")
    assert _common.ALARM_STATUS == tuple(name.decode() for name in status)
    severity = (ctypes.c_char_p * 4).in_dll(libcom, "epicsAlarmSeverityStrings")
    assert _common.ALARM_SEVERITY == tuple(name.decode() for name in severity)
