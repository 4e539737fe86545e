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
EVENT_BUFFER = Extension("epics._evbuf", sources=["epics/_evbuf.c"], optional=True)

setup(
    name="epicsca",
    ext_modules=[EVENT_BUFFER],
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
        "test": ["pytest", "pytest-timeout", "softioc", "caproto", "ophyd", "sphinx", "psutil"],
        "sim": ["softioc", "caproto"],
        "plot": ["matplotlib"],
        "docs": ["sphinx"],
    },
    entry_points={
        "console_scripts": [
            "caRepeater = epics.cli.carepeater:main",
            "caget = epics.cli.caget:main",
            "caput = epics.cli.caput:main",
            "camonitor = epics.cli.camonitor:main",
            "cainfo = epics.cli.cainfo:main",
            "epics-sim = epics.sim.__main__:main",
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
