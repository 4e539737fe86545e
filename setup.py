"""Packaging of epicsca (import name ``epics``): a PyEpics-compatible Channel Access client."""
import re
from pathlib import Path

from setuptools import Extension, find_packages, setup

HERE = Path(__file__).resolve().parent


def read_version() -> str:
    """The version from epics/_version.py, read as text (importing epics at build time is wrong)."""
    text = (HERE / "epics" / "_version.py").read_text()
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    if match is None:
        raise RuntimeError("no __version__ in epics/_version.py")
    return match.group(1)


# The monitor-event buffer (epics/_evbuf.c): plain C, loaded with ctypes, no Python or EPICS
# headers needed. Optional: without a C compiler the install still succeeds and monitors use a
# slower pure-Python path (epics.ca.event_buffer_in_use() says which is in use).
EVENT_BUFFER = Extension("epics._evbuf", sources=["epics/_evbuf.c"],
                         depends=["epics/_helper.h"], optional=True)
# The ring arrays of batch monitor sets (epics/_batchbuf.c, docs/batch.rst): optional in the same
# way; without it epics.batch.MonitorSet uses its slower pure-Python path.
BATCH_BUFFER = Extension("epics._batchbuf", sources=["epics/_batchbuf.c"],
                         depends=["epics/_helper.h"], optional=True)

# epics.qt: widgets and apps; qtpy picks PySide6 unless QT_API names PyQt5/PyQt6.
# PySide6 6.12.0 drops a reference to True at every signal emit() (a crash after a few
# thousand emits on Python < 3.12; tests/test_qt_widgets.py checks it).
QT = ["qtpy", "PySide6-Essentials>=6.5,!=6.12.0", "pyqtgraph"]
# epics.archiver: storage (psycopg for PostgreSQL; SQLite is built in) and the web front end.
ARCHIVER = ["psycopg[binary]>=3.1", "starlette", "uvicorn", "jinja2", "itsdangerous",
            "python-multipart", "tomli; python_version < '3.11'"]

setup(
    name="epicsca",
    ext_modules=[EVENT_BUFFER, BATCH_BUFFER],
    version=read_version(),
    description="EPICS Channel Access client for Python: a drop-in PyEpics replacement on libca",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    author="the epicsca developers",
    python_requires=">=3.9",
    packages=find_packages(include=["epics", "epics.*"]),
    package_data={
        "epics.sim": ["*.db"],
        "epics.testing": ["*"],
        "epics.archiver.web": ["static/*", "templates/*"],
    },
    install_requires=[
        "numpy",
        "epicscorelibs",
    ],
    extras_require={
        # pytest-timeout: a hang inside libca (a deadlock between a C callback and Python) would
        # otherwise block the whole run; see README.md.
        # ophyd: the tests drive ophyd's EpicsSignal/EpicsMotor through this package, since
        # ophyd (bluesky's device layer) is a main user of `epics`. sphinx: the docs are built
        # with warnings as errors by the test suite. See README.md.
        # Each application's test dependencies come from its own extra (below), so that the test
        # extra cannot drift from what users install. qt: see "qt". archiver: psycopg
        # (PostgreSQL), httpx (requests to the web front end), aiosmtpd (a local SMTP server),
        # selenium (headless Chromium), pgserver (PostgreSQL server binaries); docs/archiver.rst.
        # bluesky, ophyd-async[ca] (aioca): dependents run in one process with epics
        # (tests/test_bluesky_scan.py, tests/test_ophyd_async.py). pydm is NOT here: it requires
        # pyepics, which would install PyEpics over epics/; tests/test_dependents.py installs it
        # in a venv of its own through shim/pyepics, the documented way. psutil: PyEpics's own
        # test suite (tests/compat) measures memory with it.
        "test": ["pytest", "pytest-timeout", "softioc", "caproto", "ophyd", "sphinx",
                 "bluesky", "ophyd-async[ca]", "pytest-asyncio", "psutil",
                 # epics.stepscan: an independent SPEC file reader
                 "silx"]
                + QT + ["pytest-qt"]
                + ARCHIVER + ["httpx", "aiosmtpd", "selenium", "pgserver"],
        "sim": ["softioc", "caproto"],
        "plot": ["matplotlib"],
        "qt": QT,
        # epics.stepscan: the scan server's PostgreSQL storage (SQLite needs nothing)
        "scan": ["psycopg[binary]"],
        "docs": ["sphinx"],
        "archiver": ARCHIVER,
        # epics.aio needs nothing beyond the standard library's asyncio
        "aio": [],
    },
    entry_points={
        "console_scripts": [
            "caRepeater = epics.cli.carepeater:main",
            "caget = epics.cli.caget:main",
            "caput = epics.cli.caput:main",
            "camonitor = epics.cli.camonitor:main",
            "cainfo = epics.cli.cainfo:main",
            "epics-sim = epics.sim.__main__:main",
            "epics-pvprobe = epics.qt.pvprobe:main",
            "epics-motor-panel = epics.qt.motor_panel:main",
            "epics-stripchart = epics.qt.stripchart:main",
            "epics-imageview = epics.qt.imageview:main",
        ],
        "pytest11": [
            "epics_testing = epics.testing.plugin",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: BSD License",
        "Operating System :: POSIX :: Linux",
        "Topic :: Scientific/Engineering",
    ],
)
