"""What the epics.qt tests share: the offscreen platform, screenshots, waits.

Screenshots go to a temporary folder, or to ``$EPICS_QT_GALLERY`` when set (the docs gallery is
refreshed with ``EPICS_QT_GALLERY=docs/_static/gallery python -m pytest tests/test_qt_*.py``).
"""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # before Qt is imported

import subprocess   # noqa: E402
import sys   # noqa: E402
from pathlib import Path   # noqa: E402

import pytest   # noqa: E402

#: Milliseconds any wait for a GUI update may take (generous: the machine is shared).
WAIT_MS = 15000

GALLERY_ENV = "EPICS_QT_GALLERY"


@pytest.fixture(scope="session")
def gallery(tmp_path_factory) -> Path:
    """Where screenshots are written."""
    folder = os.environ.get(GALLERY_ENV)
    path = Path(folder) if folder else tmp_path_factory.mktemp("gallery")
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot(widget, gallery: Path, name: str) -> Path:
    """Save ``widget`` as ``<gallery>/<name>.png`` and return the path (checked non-empty)."""
    path = gallery / f"{name}.png"
    assert widget.grab().save(str(path)), f"could not write {path}"
    assert path.stat().st_size > 100
    return path


def run_app_unattended(module: str, args, shot: Path) -> None:
    """Run ``python -m <module> ARGS --quit-after 2 --screenshot SHOT`` offscreen; check that it
    exits cleanly and wrote the screenshot."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", module, *args, "--quit-after", "2",
                           "--screenshot", str(shot)], env=env, capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 0, done.stderr
    assert shot.stat().st_size > 1000
