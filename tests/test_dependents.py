"""Dependents that require ``pyepics`` install cleanly beside epicsca, and pydm runs on it.

pydm 1.29 declares ``pyepics>=3.2.7``; installed as is, pip puts PyEpics's files into epicsca's
``epics/`` folder. The documented way (docs/migrating.rst) installs epicsca's ``pyepics``
compatibility distribution (``shim/pyepics``: no files, depends on epicsca) first. Here, in a
fresh venv (no system site-packages) made once for the session:

- epicsca + shim + pydm, installed the documented way: ``import epics`` is epicsca, pip finds
  every requirement met, ``python -m epics.which`` says so;
- pydm's PyDMLabel and PyDMLineEdit (pytest-qt, offscreen) on a softioc PV show the value and
  units, write back, show the MAJOR alarm and the disconnected state when the IOC stops (the
  case itself is tests/pydm_widgets_case.py, run inside that venv; screenshots are saved);
- and in a second venv, what goes wrong without the shim: PyEpics's files mixed into epicsca's,
  which ``python -m epics.which`` reports (exit status 1), and the documented repair.

The venvs install from the package index through pip's cache. Without network to the index
these tests FAIL with a message that says so: they must not skip in CI.
"""
from __future__ import annotations

import os
import subprocess
import time
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIM = REPO / "shim" / "pyepics"
CASE = Path(__file__).resolve().parent / "pydm_widgets_case.py"
#: What the documented recipe installs for pydm, plus what its GUI case needs to run.
DEPENDENT = ["pydm==1.29.*"]
GUI_TEST_TOOLS = ["pytest", "pytest-qt", "pytest-timeout", "PySide6-Essentials"]
#: Seconds a pip install may take (downloads on a cold cache; PySide6 is large).
INSTALL_TIMEOUT = 900
#: Seconds the pydm case may take in all.
CASE_TIMEOUT = 180

PYDM_DB = """
record(ao, "$(P)pos") {
    field(VAL, "1.5")
    field(PINI, "YES")
    field(EGU, "mm")
    field(PREC, "2")
    field(HIHI, "8")
    field(HHSV, "MAJOR")
}
"""


def clean_env(**extra: str) -> dict:
    """This process's environment without what would make a venv's python see our files."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(extra)
    return env


def run(argv, cwd: Path, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(arg) for arg in argv], cwd=cwd, env=clean_env(**extra_env),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def make_venv(folder: Path) -> Path:
    """A fresh venv without system site-packages; returns its python."""
    venv.EnvBuilder(system_site_packages=False, with_pip=True, clear=True).create(folder)
    return folder / "bin" / "python"


def pip_install(python: Path, *requirements, cwd: Path) -> str:
    """pip install into the venv of ``python``; fails the test with pip's output (and the likely
    cause, a missing network to the index) when it does not succeed."""
    command = "pip install " + " ".join(map(str, requirements))
    why = ("These tests need the network to the package index (PyPI) or a warm pip cache; if "
           "the index is unreachable that is the cause, and the test must fail, not skip.")
    try:
        result = run([python, "-m", "pip", "install", "--disable-pip-version-check",
                      *requirements], cwd=cwd, timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else \
            (exc.output or "")
        pytest.fail(f"{command} did not finish within {INSTALL_TIMEOUT} s. {why}"
                    f"\n--- pip's output (end) ---\n{output[-4000:]}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"{command} failed. {why}\n--- pip's output (end) ---\n"
                    f"{result.stdout[-4000:]}", pytrace=False)
    return result.stdout


def which(python: Path, cwd: Path) -> subprocess.CompletedProcess:
    return run([python, "-m", "epics.which"], cwd=cwd)


@pytest.fixture(scope="session")
def dependents_venv(tmp_path_factory):
    """A venv with epicsca, the shim and pydm installed the documented way (one pip command
    naming the shim, docs/migrating.rst), plus pytest-qt and PySide6; yields its python."""
    folder = tmp_path_factory.mktemp("dependents")
    python = make_venv(folder / "venv")
    pip_install(python, REPO, SHIM, *DEPENDENT, *GUI_TEST_TOOLS, cwd=folder)
    yield python


def test_the_shim_keeps_epicsca_when_a_dependent_requires_pyepics(dependents_venv, tmp_path):
    python = dependents_venv
    result = run([python, "-c", "import epics, importlib.metadata as md; "
                  "print(epics.__version__, md.version('pyepics'), md.version('pydm'))"],
                 cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    ours = (REPO / "epics" / "_version.py").read_text().split('"')[1]
    assert result.stdout.split() == [ours, "3.5.10+epicsca", result.stdout.split()[2]]
    assert result.stdout.split()[2].startswith("1.29")
    # every requirement met (pydm's pyepics>=3.2.7 by the shim)
    check = run([python, "-m", "pip", "check"], cwd=tmp_path)
    assert check.returncode == 0, check.stdout
    # the shim has no files of its own: only its metadata
    files = run([python, "-c", "import importlib.metadata as md; "
                 "print('\\n'.join(str(f) for f in md.files('pyepics')))"], cwd=tmp_path)
    assert files.returncode == 0, files.stdout
    assert all(line.startswith("pyepics-3.5.10+epicsca.dist-info/")
               for line in files.stdout.split()), files.stdout
    report = which(python, tmp_path)
    assert report.returncode == 0, report.stdout
    assert "import epics: epicsca " + ours in report.stdout
    assert "the epicsca compatibility distribution" in report.stdout
    assert "WARNING" not in report.stdout


def test_pydm_label_and_line_edit_on_a_softioc_pv(dependents_venv, softioc_factory, pv_prefix,
                                                  tmp_path):
    ioc = softioc_factory(PYDM_DB, macros={"P": pv_prefix})
    handshake, screenshots = tmp_path / "handshake", tmp_path / "screenshots"
    handshake.mkdir()
    screenshots.mkdir()
    (tmp_path / "pytest.ini").write_text("[pytest]\ntimeout = 120\n")
    (tmp_path / CASE.name).write_text(CASE.read_text())
    env = clean_env(**ioc.client_env(), QT_QPA_PLATFORM="offscreen", QT_API="pyside6",
                    DEPENDENTS_PV=f"{pv_prefix}pos", DEPENDENTS_HANDSHAKE=str(handshake),
                    DEPENDENTS_SCREENSHOTS=str(screenshots))
    case = subprocess.Popen(
        [str(dependents_venv), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "no:epics_testing", CASE.name], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + CASE_TIMEOUT
        while case.poll() is None and time.monotonic() < deadline:
            if ioc.running and (handshake / "stop-ioc").exists():
                ioc.stop()                      # the case waits for "disconnected" now
            time.sleep(0.05)
        output = case.communicate(timeout=max(deadline - time.monotonic(), 1.0))[0]
    finally:
        if case.poll() is None:
            case.kill()
            case.wait(10)
    assert case.returncode == 0, output
    assert not ioc.running
    assert "2 passed" in output
    assert {path.name for path in screenshots.iterdir()} >= {
        "pydm-label-value.png", "pydm-label-major.png", "pydm-label-disconnected.png",
        "pydm-lineedit-disconnected.png"}


def test_which_reports_pyepics_files_mixed_in_and_the_repair_works(tmp_path):
    python = make_venv(tmp_path / "venv")
    pip_install(python, REPO, cwd=tmp_path)
    assert which(python, tmp_path).returncode == 0
    # what `pip install pydm` does without the shim: PyEpics over epicsca's folder
    pip_install(python, "pyepics==3.5.10", cwd=tmp_path)
    mixed = which(python, tmp_path)
    assert mixed.returncode == 1, mixed.stdout
    assert "import epics: pyepics 3.5.10" in mixed.stdout
    assert "WARNING" in mixed.stdout and "epics/ca.py" in mixed.stdout
    # the documented repair
    removed = run([python, "-m", "pip", "uninstall", "-y", "pyepics"], cwd=tmp_path)
    assert removed.returncode == 0, removed.stdout
    broken = which(python, tmp_path)      # the uninstall took files both distributions share
    assert broken.returncode != 0, broken.stdout
    pip_install(python, "--force-reinstall", "--no-deps", REPO, cwd=tmp_path)
    pip_install(python, "--no-deps", SHIM, cwd=tmp_path)
    repaired = which(python, tmp_path)
    assert repaired.returncode == 0, repaired.stdout
    assert "OK: import epics is epicsca" in repaired.stdout
