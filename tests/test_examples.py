"""The examples (``examples/*.py``, the PyEpics class's exercises) and the demo (``python -m
epics.sim.demo``), run as a user runs them.

Each example runs in a subprocess against a simulated beamline that this module starts
(`epics.sim.Simulator`, training IOC only, on free loopback ports). The child's environment is
this process's without its ``EPICS_CA_*`` variables, plus the simulator's ``client_env()``; the
repeater port is the session's (the ``epics.testing`` plugin runs a repeater there), so no child
libca spawns a repeater of its own. Durations are a few seconds. The checks are on the exit
status and the key lines of the output, and on what the output must satisfy whatever the timing
(a watcher prints alternating states, open times lie within the interval, a sum is the mean
times the size); nothing asserts how long anything took.

The demo starts its own simulator and repeater: it is run to the end, and interrupted with
SIGINT, and every process it says it started must be gone afterwards.

Every subprocess has a timeout; a demo left running by a failed test is stopped with SIGTERM
(which it handles like Ctrl-C), then killed.
"""
from __future__ import annotations

import importlib.util
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

pytest.importorskip("softioc")

from epics.sim import Simulator  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SCRIPTS = ("data_logger1.py", "data_logger2.py", "shutter_watcher1.py", "shutter_watcher2.py",
           "create_device.py", "waveforms.py")
PREFIXES = 3
RATE = 5.0                  # fast: walks step ~5 times a second, shutters toggle every ~1.2 s
RUN_TIMEOUT = 120.0         # one example (generous: the machine is small and shared)
DEMO_TIMEOUT = 240.0        # the whole demo
DEMO_LINE_TIMEOUT = 120.0   # for the demo to reach a given line
STOP_TIMEOUT = 60.0         # for an interrupted demo to finish stopping
GONE_TIMEOUT = 20.0         # for a stopped process to disappear
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def clean_env() -> Dict[str, str]:
    """This process's environment without EPICS_CA_* / EPICS_CAS_*, with the repo importable."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("EPICS_CA_", "EPICS_CAS_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def assert_gone(pids: List[int]) -> None:
    """Every pid disappears within GONE_TIMEOUT (checked every 0.1 s)."""
    deadline = time.monotonic() + GONE_TIMEOUT
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if not pid_gone(pid)]
        if alive:
            time.sleep(0.1)
    assert not alive, f"processes still running after the demo: {alive}"


@pytest.fixture(scope="module")
def beamline(epics_port_pool):
    """The training IOC with id01..id03, fast, on free ports; stopped after the module."""
    sim = Simulator(prefixes=PREFIXES, rate=RATE, records=False,
                    repeater_port=epics_port_pool.repeater_port)
    with sim:
        yield sim


@pytest.fixture
def run_example(beamline, tmp_path):
    """``run_example('data_logger1.py', '--duration', '3')`` -> the CompletedProcess."""
    env = clean_env()
    env.update(beamline.client_env())

    def run(script: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env,
                              cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT)
        assert proc.returncode == expect, (
            f"{script} {' '.join(args)}: exit status {proc.returncode}, expected {expect}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    return run


# ---- the examples --------------------------------------------------------------------------------

def test_data_logger1_prints_a_row_per_period(run_example):
    out = run_example("data_logger1.py", "--prefix", "id02", "--duration", "3",
                      "--period", "1").stdout
    lines = out.splitlines()
    assert lines[0].startswith("Data Logger #1: id02:dval1..3 and ival1..3")
    assert lines[1].split() == ["time", "dval1", "dval2", "dval3", "ival1", "ival2", "ival3"]
    assert lines[2].split() == ["mm", "keV", "mA", "counts", "Hz"]     # units (ival3 has none)
    row = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}(\s+-?\d+\.\d+){3}(\s+-?\d+){3}$")
    rows = [line for line in lines if row.match(line)]
    assert len(rows) == 3, out
    assert all(len(r.split()[1].split(".")[1]) == 4 for r in rows), "dval1 has PREC 4"
    assert lines[-1].startswith("Data Logger #1: 3 rows")


def test_data_logger2_prints_all_six_on_each_change(run_example):
    out = run_example("data_logger2.py", "--prefix", "id01", "--duration", "3").stdout
    lines = out.splitlines()
    assert lines[0].startswith("Data Logger #2: id01:dval1..3 and ival1..3 on every change")
    row = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}(\s+-?\d+(\.\d+)?\*?){6}(\s+\(first values\))?$")
    rows = [line for line in lines[2:-1] if row.match(line)]
    assert rows and rows[0].endswith("(first values)"), out
    assert "*" not in rows[0]
    changes = rows[1:]
    assert changes, out
    # Exactly one value is marked as the one that changed.
    assert all(line.count("*") == 1 for line in changes), out
    summary = re.match(r"Data Logger #2: (\d+) changes in", lines[-1])
    assert summary and int(summary.group(1)) == len(changes)


def test_shutter_watcher1_prints_openings_and_closings(run_example):
    out = run_example("shutter_watcher1.py", "--count", "3", "--duration", "6").stdout
    lines = out.splitlines()
    assert lines[0] == "Shutter Watcher #1: 3 shutters for 6 s"
    initial = re.match(r"initial states: (\d) open \(([\w ]+)\), (\d) closed", lines[1])
    assert initial, out
    assert int(initial.group(1)) + int(initial.group(3)) == 3
    opened = set() if initial.group(2) == "none" else set(initial.group(2).split())
    state = {f"id0{i}:shutter": f"id0{i}" in opened for i in (1, 2, 3)}
    change = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}  (id0[123]:shutter)\s+(Open|Closed)$")
    changes = [change.match(line) for line in lines[2:-1]]
    assert changes and all(changes), out
    # Only changes are printed: each shutter's lines alternate, starting from its initial state.
    for match in changes:
        name, is_open = match.group(1), match.group(2) == "Open"
        assert state[name] != is_open, f"{name} printed twice as {match.group(2)}:\n{out}"
        state[name] = is_open
    assert lines[-1].startswith(f"Shutter Watcher #1: {len(changes)} openings and closings")


def test_shutter_watcher2_prints_the_open_time_table(run_example):
    # id04 does not exist on this beamline: it is reported and left out of the table.
    out = run_example("shutter_watcher2.py", "--count", "4", "--interval", "5",
                      "--timeout", "3").stdout
    assert "not connected (ignored): id04:shutter" in out
    assert "Shutter Watcher #2: measuring 3 shutters for 5 s" in out
    length = float(re.search(r"Open time of each shutter during ([\d.]+) s:", out).group(1))
    rows = re.findall(r"^(id0\d:shutter)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", out, re.MULTILINE)
    assert [r[0] for r in rows] == ["id01:shutter", "id02:shutter", "id03:shutter"], out
    for name, seconds, percent, openings in rows:
        assert 0.0 <= float(seconds) <= length + 0.01, out
        assert 0.0 <= float(percent) <= 100.0, out
    assert re.search(r"^mean\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, re.MULTILINE), out


def test_shutter_watcher2_open_timer_counts_within_the_interval():
    spec = importlib.util.spec_from_file_location("shutter_watcher2",
                                                  EXAMPLES / "shutter_watcher2.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    timer = module.OpenTimer(["a", "b", "c"])
    timer.update("a", 1, 5.0)           # open before the interval: counts from its start
    timer.update("b", 0, 5.0)
    timer.begin(10.0)
    timer.update("b", 1, 12.0)          # an opening
    timer.update("a", 0, 13.0)
    timer.update("b", 0, 14.5)
    timer.update("c", 1, 15.0)          # its first report: open, but not an opening
    timer.update("b", 1, 16.0)          # still open at the end
    timer.end(20.0)
    assert timer.open_time == pytest.approx({"a": 3.0, "b": 2.5 + 4.0, "c": 5.0})
    assert timer.openings == {"a": 0, "b": 2, "c": 0}
    assert timer.length == 10.0
    table = timer.table()
    assert table[1].split() == ["a", "3.00", "30.0", "0"]
    assert table[-1].split()[0] == "mean"


def test_create_device_reads_writes_and_restores(run_example):
    out = run_example("create_device.py", "--prefix", "id03", "--duration", "2").stdout
    assert "Create a Device: <TrainingSet 'id03:', 9 attributes>" in out
    for attr in ("dval1", "dval2", "dval3", "ival1", "ival2", "ival3", "mbbo1", "string1",
                 "filename"):
        assert re.search(rf"^  dev\.{attr}\s+= ", out, re.MULTILINE), f"{attr} not read:\n{out}"
    assert re.search(r"^  dev\.filename\s+= '/data/2014/Oct/epics_training/id03/", out,
                     re.MULTILINE), out
    assert re.search(r"^      read back: 'set by create_device\.py ", out, re.MULTILINE)
    assert "      read back: 'Counting'" in out
    assert re.search(r"^      read back: '/data/id03/create_device_example_\d+_\d+\.dat'$", out,
                     re.MULTILINE), out
    assert re.search(r"^  \d+ updates of id03:dval1", out, re.MULTILINE), out
    assert ("Put back string1, mbbo1 and filename: ['id03 sample: LaB6 std', 'Idle', "
            "'/data/2014/Oct/epics_training/id03/xafs_scan_LaB6_calibration_sample_id03_0001.xdi']"
            in out)


def _stats(out: str) -> Dict[str, List[str]]:
    """The statistics rows of waveforms.py, by PV name."""
    return {m.group(1): m.group(2).split()
            for m in re.finditer(r"^(id0\d:\w+)\s+(.*)$", out, re.MULTILINE)}


def test_waveforms_statistics_and_plot(run_example, tmp_path):
    png = tmp_path / "plot.png"
    out = run_example("waveforms.py", "--prefix", "id01", "--png", str(png)).stdout
    assert out.startswith("Working with waveforms: id01:dwave, iwave and image, 1 reading")
    stats = _stats(out)
    shapes = {"id01:dwave": ("(256,)", "float64", 256), "id01:iwave": ("(256,)", "int32", 256),
              "id01:image": ("(256, 256)", "uint8", 65536)}
    for name, (shape, dtype, size) in shapes.items():
        assert name in stats, out
        fields = stats[name]
        shape_words = shape.split()
        assert fields[:len(shape_words)] == shape_words and fields[len(shape_words)] == dtype
        mean, total, std, low, high = map(float, fields[len(shape_words) + 1:])
        assert total == pytest.approx(mean * size, rel=1e-4, abs=0.02), (name, out)
        assert std >= 0.0 and low <= mean <= high
    assert re.search(r"^image: spot centre at row [\d.]+, column [\d.]+$", out, re.MULTILINE)
    if HAVE_MATPLOTLIB:
        assert f"plot saved: {png}" in out
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "plot skipped: matplotlib is not installed" in out
        assert not png.exists()


def test_waveforms_reads_repeatedly_without_plot(run_example, tmp_path):
    out = run_example("waveforms.py", "--prefix", "id02", "--duration", "2", "--period", "1",
                      "--no-plot").stdout
    assert "3 readings" in out.splitlines()[0]
    assert len(re.findall(r"^reading \d at ", out, re.MULTILINE)) == 3
    assert "plot" not in out
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("script, args", [
    ("data_logger1.py", ["--prefix", "id99"]),
    ("data_logger2.py", ["--prefix", "id99"]),
    ("shutter_watcher1.py", ["--prefixes", "id98,id99"]),
    ("shutter_watcher2.py", ["--prefixes", "id98,id99"]),
    ("create_device.py", ["--prefix", "id99"]),
    ("waveforms.py", ["--prefix", "id99", "--no-plot"]),
])
def test_examples_say_which_pvs_do_not_connect(run_example, script, args):
    proc = run_example(script, *args, "--timeout", "1", expect=1)
    assert "id99:" in proc.stderr
    assert "python -m epics.sim" in proc.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_help(script):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--help"], env=clean_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:")
    assert "--timeout" in proc.stdout


def test_every_example_is_documented():
    page = (REPO / "docs" / "examples.rst").read_text(encoding="utf-8")
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == sorted(SCRIPTS)
    for script in scripts:
        assert f"examples/{script}" in page, f"docs/examples.rst does not describe {script}"


# ---- the demo ------------------------------------------------------------------------------------

def _started_pids(out: str) -> List[int]:
    """The pids the demo's 'stopped:' line names."""
    line = next((line for line in out.splitlines() if line.startswith("stopped:")), "")
    return [int(pid) for pid in re.findall(r"\(pid (\d+)\)", line)]


def _demo_command(tmp_path: Path) -> List[str]:
    return [sys.executable, "-m", "epics.sim.demo", "--seconds", "1",
            "--png", str(tmp_path / "demo.png")]


def test_demo_runs_and_stops_everything(tmp_path):
    proc = subprocess.run(_demo_command(tmp_path), env=clean_env(), cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=DEMO_TIMEOUT)
    out = proc.stdout
    assert proc.returncode == 0, f"--- stdout\n{out}\n--- stderr\n{proc.stderr}"
    for number in range(10):
        assert f"\n== {number}. " in out, f"step {number} missing:\n{out}"
    assert ">>> caput('id01:string1', 'Hello from the epicsca demo', wait=True)\n1\n" in out
    assert ">>> caget('id01:string1', use_monitor=False)\n'Hello from the epicsca demo'\n" in out
    assert re.search(r"^id01:dval1 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{5} -?\d+\.\d{4}$", out,
                     re.MULTILINE), "no camonitor line"
    assert re.search(r"^    callback: id01:ival1 = -?\d+$", out, re.MULTILINE)
    assert ">>> dev.get('mbbo1', as_string=True, use_monitor=False)\n'Counting'\n" in out
    if importlib.util.find_spec("caproto") is not None:
        assert "DONE_OK: the motor stopped at the target" in out
    assert re.search(r"^id03:shutter\s+[\d.]+\s+[\d.]+\s+\d+$", out, re.MULTILINE)
    assert re.search(r"^    ndarray uint8 \(65536,\): mean ", out, re.MULTILINE)
    if HAVE_MATPLOTLIB:
        assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in out
    assert re.search(r"^stopped: Channel Access in this process, CA repeater \(pid \d+\), "
                     r"training IOC \(pid \d+\)", out, re.MULTILINE), out
    assert re.search(r"^demo done in \d+ s$", out, re.MULTILINE)
    assert_gone(_started_pids(out))


class _Lines:
    """A child's stdout, read by a thread, so that waiting for a line has a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.seen: List[str] = []
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in iter(stream.readline, ""):      # ends at EOF
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, prefix: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                return False
            if line is None:
                return False
            self.seen.append(line)
            if line.startswith(prefix):
                return True

    def rest(self, timeout: float) -> str:
        """Everything up to EOF (or the deadline)."""
        self.wait_for("\0never", timeout)
        return "\n".join(self.seen)


def test_demo_interrupted_stops_everything(tmp_path):
    proc = subprocess.Popen(_demo_command(tmp_path), env=clean_env(), cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = _Lines(proc)
    try:
        reached = lines.wait_for("== 2. camonitor", DEMO_LINE_TIMEOUT)
        assert reached, "the demo did not reach camonitor:\n" + "\n".join(lines.seen)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=STOP_TIMEOUT)
        out = lines.rest(GONE_TIMEOUT)
        assert code == 130, out
        assert "interrupted: stopping everything the demo started" in out
        pids = _started_pids(out)
        assert len(pids) >= 2, out          # at least the training IOC and the repeater
        assert_gone(pids)
    finally:
        if proc.poll() is None:
            proc.terminate()                # the demo stops what it started on SIGTERM too
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=GONE_TIMEOUT)
        proc.stdout.close()
