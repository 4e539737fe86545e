"""PyEpics 3.5.10's own test suite, run against ``epics`` (ours): the drop-in promise, checked.

What the job does, as PyEpics's ``tests/run_tests.sh`` does it, but hermetic:

1. takes the ``tests/`` folder of PyEpics's sdist (:mod:`pyepics_sdist` downloads it once into a
   user cache; no network to the index fails the job with pip's message, it never skips) and
   copies it into a temporary folder, so the cache stays clean;
2. serves its ``Setup/pydebug.db`` (prefix ``PyTest:``) and ``Setup/pyclearcache.db`` (prefix
   ``PyTestClearCache:``) from one real IOC (softioc) on a free loopback port;
3. runs its ``Setup/simulator.py`` with our ``epics`` (it writes the records the tests watch);
4. runs each PyEpics test file in its own ``python -m pytest`` process with the IOC's client
   environment (libca reads ``EPICS_CA_*`` once per process, so each run finds only our IOC),
   each bounded in time, and reads the outcome of every test from its JUnit XML report;
5. prints a table (file, passed, failed, errors) and fails unless every test that passes on
   PyEpics 3.5.10 (:data:`PASSING_ON_PYEPICS`) passes here too.

``test_ca_clearcache.py::test_subscribe`` runs ``python`` from ``PATH``; on PyEpics's own CI that
``python`` has no ``epics`` and the test fails. Here the subprocesses get this interpreter's folder
first on ``PATH``, as an activated venv has it, so the test runs for real and must pass.

Runs in the pytest process; the IOC's and the simulator's output are read by daemon threads.
"""
from __future__ import annotations

import collections
import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from epics.testing import SoftIoc
from pyepics_sdist import SdistUnavailable, pyepics_source

#: The records' prefixes, as PyEpics's ``Setup/st.cmd`` loads the two databases.
DATABASES = {"pydebug.db": "PyTest:", "pyclearcache.db": "PyTestClearCache:"}
#: What the simulator prints once it has written every record's first value.
SIMULATOR_READY = "Data initialized"
SIMULATOR_START_TIMEOUT = 60.0
#: Bounds for one test file's pytest process: per test (pytest-timeout) and for the whole file.
TEST_TIMEOUT = 120
FILE_TIMEOUT = 240.0
#: PyEpics asks for this much (``Setup/start_ioc.sh``): the 64k-element double waveforms.
MAX_ARRAY_BYTES = "20100300"

#: Every test of PyEpics 3.5.10's suite that passes on PyEpics 3.5.10 itself (102 of its 103; the
#: 103rd, ``test_ca_clearcache.py::test_subscribe``, fails there only for want of an ``epics`` on
#: the ``python`` it starts, and is listed because it passes here, see the module docstring).
PASSING_ON_PYEPICS: Dict[str, List[str]] = {
    "test_aodevice.py": ["test_aodevice"],
    "test_ca_clearcache.py": ["test_use_monitor", "test_subscribe"],
    "test_ca_subscribe.py": ["test_subscribe"],
    "test_ca_typeconversion.py": ["test1", "test2", "test3", "test4"],
    "test_ca_unittests.py": [
        "test_CreateChid", "test_GetNonExistentPV", "test_CreateChid_CheckTypeCount",
        "test_CreateChidWithConn", "test_dbrName", "test_Connect1", "test_Connected",
        "test_DoubleVal", "test_UnConnected", "test_putwait", "test_promote_type", "test_ProcPut",
        "test_subscription_double", "test_subscription_custom", "test_subscription_str",
        "test_subscription_long_array", "test_subscription_double_array",
        "test_subscription_string_array", "test_subscription_char_array", "test_Values",
        "test_type_converions_1", "test_type_converions_2", "test_Array0", "test_xArray1",
        "test_xArray2", "test_xArray3"],
    "test_camonitor_func.py": ["test_pv1", "test_pv2"],
    "test_cathread.py": ["test_initcontext", "test_decorator", "test_cathread"],
    "test_multiprocessing.py": ["test_mpprocess"],
    "test_pv_callback.py": ["test_pv_callback"],
    "test_pv_disconnect.py": [
        "test_connect_disconnect", "test_reconnect", "test_with_two_PVs",
        "test_with_PV_and_getPV", "test_with_getPV", "test_with_caget", "test_with_caget_nomonitor",
        "test_with_camonitor", "test_memleak_disconnect"],
    "test_pv_initcallbacks.py": ["test_initial_callbacks", "test_multiple_callbacks"],
    "test_pv_typeconversion.py": ["test_v1", "test_v2", "test_v3", "test_v4", "test_v5",
                                  "test_v6"],
    "test_pv_unittests.py": [
        "test_CreatePV", "test_CreatedWithConn", "test_caget", "test_caget_many",
        "test_caput_many_wait_all", "test_caput_many_wait_each", "test_caput_many_no_wait",
        "test_get1", "test_get_with_metadata", "test_get_string_waveform", "test_putcomplete",
        "test_putwait", "test_get_callback", "test_put_string_waveform",
        "test_put_string_waveform_single_element", "test_put_string_waveform_mixed_types",
        "test_put_string_waveform_empty_list", "test_put_string_waveform_zero_length_strings",
        "test_string_waveform_lengths", "test_subarrays", "test_subarray_zerolen",
        "test_waveform_get_with_count_arg", "test_waveform_callback_with_count_arg",
        "test_emptyish_char_waveform_no_monitor", "test_emptyish_char_waveform_monitor",
        "testEnumPut", "test_DoubleVal", "test_type_converions_2", "test_waveform_get_1elem",
        "test_subarray_1elem",
        "test_multithreaded_get[CAThread-1]", "test_multithreaded_get[CAThread-10]",
        "test_multithreaded_get[CAThread-200]", "test_multithreaded_get[Thread-1]",
        "test_multithreaded_get[Thread-10]", "test_multithreaded_get[Thread-200]",
        "test_multithreaded_put_complete[1]", "test_multithreaded_put_complete[10]",
        "test_multithreaded_put_complete[100]", "test_force_connect"],
    "test_pvsubarray.py": ["test_subarray"],
    "test_threading.py": ["test_basic_thread", "test_basic_cathread", "test_attach_context",
                          "test_pv_from_main"],
}

Outcome = Dict[str, str]   # test name -> "passed" | "failed" | "error" | "skipped"


@pytest.fixture(scope="module")
def suite_folder(tmp_path_factory) -> Path:
    """A private copy of PyEpics's ``tests/`` folder, with a pytest.ini of its own."""
    try:
        source = pyepics_source()
    except SdistUnavailable as exc:
        pytest.fail(f"the PyEpics compatibility job needs PyEpics's sdist: {exc}", pytrace=False)
    folder = tmp_path_factory.mktemp("pyepics") / "tests"
    shutil.copytree(source / "tests", folder)
    # Its own ini: pytest must not climb to a parent's configuration (ours enables the
    # epics_testing plugin, which would rewrite the CA environment of the run).
    (folder / "pytest.ini").write_text(f"[pytest]\ntimeout = {TEST_TIMEOUT}\n"
                                       "timeout_method = thread\n")
    return folder


@pytest.fixture(scope="module")
def pyepics_ioc(suite_folder, epics_port_pool) -> Iterator[SoftIoc]:
    """PyEpics's two test databases, served by one softioc under their usual prefixes."""
    setup = suite_folder / "Setup"
    records = [(setup / name).read_text().replace("$(P)", prefix)
               for name, prefix in DATABASES.items()]
    port = epics_port_pool.take()
    ioc = SoftIoc(records, port=port, repeater_port=epics_port_pool.repeater_port)
    ioc.extra_env["EPICS_CA_MAX_ARRAY_BYTES"] = MAX_ARRAY_BYTES
    try:
        yield ioc.start()
    finally:
        ioc.stop()
        epics_port_pool.release(port)


@pytest.fixture(scope="module")
def client_env(pyepics_ioc) -> Dict[str, str]:
    """The environment of every client process: only our IOC, and this venv's python first."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("EPICS_CA_", "EPICS_CAS_"))}
    env.update(pyepics_ioc.client_env())
    env["EPICS_CA_MAX_ARRAY_BYTES"] = MAX_ARRAY_BYTES
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    return env


class _Simulator:
    """PyEpics's ``Setup/simulator.py`` run with our ``epics``, behind epicsca's stdin guard (so
    it ends with this process, whatever happens to it)."""

    def __init__(self, setup: Path, env: Dict[str, str]) -> None:
        self.output: collections.deque = collections.deque(maxlen=200)
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "epics.testing._guard", "--", sys.executable, "simulator.py"],
            cwd=setup, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._read, name="pyepics-simulator-output", daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.output.append(line)
            if SIMULATOR_READY in line:
                self._ready.set()
        self._ready.set()   # end of output: wake the waiter, which checks the process

    def wait_ready(self, timeout: float) -> None:
        self._ready.wait(timeout)
        if self.proc.poll() is not None or not any(SIMULATOR_READY in line
                                                   for line in self.output):
            output = "\n".join(self.output)
            raise AssertionError(f"PyEpics's simulator.py did not initialise its records within "
                                 f"{timeout:g} s (exit status {self.proc.poll()}):\n{output}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()   # the guard ends the simulator on end of file
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def simulator(suite_folder, client_env) -> Iterator[_Simulator]:
    sim = _Simulator(suite_folder / "Setup", client_env)
    try:
        sim.wait_ready(SIMULATOR_START_TIMEOUT)
        time.sleep(0.5)   # run_tests.sh gives it 2 s; it then writes every 0.1 s
        yield sim
    finally:
        sim.stop()


def _outcomes(report: Path) -> Outcome:
    """Test name -> outcome, from a JUnit XML report."""
    outcomes: Outcome = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = ("error" if "error" in kinds else "failed" if "failure" in kinds
                   else "skipped" if "skipped" in kinds else "passed")
        if outcomes.get(case.get("name"), "passed") != "passed":
            continue   # a name reported twice (a teardown error): keep the worse outcome
        outcomes[case.get("name")] = outcome
    return outcomes


def _run_file(folder: Path, name: str, env: Dict[str, str]) -> Tuple[Outcome, str, float]:
    """Run one PyEpics test file in its own pytest process; its outcomes, output and seconds."""
    report = folder / f".{name}.junit.xml"
    command = [sys.executable, "-m", "pytest", name, "-q", "-p", "no:cacheprovider",
               f"--junitxml={report}", "-o", "junit_family=xunit1"]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                              timeout=FILE_TIMEOUT, stdin=subprocess.DEVNULL)
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        output = f"killed after {FILE_TIMEOUT:g} s\n{exc.stdout or ''}{exc.stderr or ''}"
    seconds = time.monotonic() - started
    outcomes = _outcomes(report) if report.is_file() else {}
    return outcomes, output, seconds


def _table(rows: List[Tuple[str, Outcome, float]]) -> str:
    lines = [f"{'file':<28} {'passed':>6} {'failed':>6} {'errors':>6} {'seconds':>8}"]
    totals = collections.Counter()
    for name, outcomes, seconds in rows:
        counts = collections.Counter(outcomes.values())
        missing = len(PASSING_ON_PYEPICS[name]) - len(outcomes)
        errors = counts["error"] + max(missing, 0)   # a file that did not run counts as errors
        totals.update(passed=counts["passed"], failed=counts["failed"], errors=errors)
        lines.append(f"{name:<28} {counts['passed']:>6} {counts['failed']:>6} {errors:>6} "
                     f"{seconds:>8.1f}")
    lines.append(f"{'total':<28} {totals['passed']:>6} {totals['failed']:>6} "
                 f"{totals['errors']:>6}")
    return "\n".join(lines)


def _show(config, text: str) -> None:
    """Write ``text`` to the terminal, past pytest's output capture (the table is the job's
    report, wanted also when the test passes)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with (capture.global_and_fixture_disabled() if capture is not None
          else contextlib.nullcontext()):
        reporter.write_line("")
        for line in text.splitlines():
            reporter.write_line(line)


def test_pyepics_suite_passes_on_epics(suite_folder, client_env, simulator, request):
    rows = []
    problems = []
    for name, expected in PASSING_ON_PYEPICS.items():
        outcomes, output, seconds = _run_file(suite_folder, name, client_env)
        rows.append((name, outcomes, seconds))
        not_passing = [test for test in expected if outcomes.get(test) != "passed"]
        if not_passing:
            problems.append(f"--- {name}: {', '.join(not_passing)} did not pass ---\n"
                            f"{output[-6000:]}")
    table = _table(rows)
    _show(request.config, "PyEpics 3.5.10's test suite on epicsca:\n" + table)
    expected_total = sum(len(tests) for tests in PASSING_ON_PYEPICS.values())
    assert not problems, (f"tests that pass on PyEpics 3.5.10 fail on epicsca "
                          f"({expected_total} expected to pass):\n{table}\n" + "\n".join(problems))
