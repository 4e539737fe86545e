"""Every public name of every PyEpics 3.5.10 module exists in ours, name by name.

PyEpics's names are read from its source distribution (downloaded once at test time, never
committed: see pyepics_sdist.py) with ``ast``, by the rule explained in pyepics_names.py; ours
are looked up on the imported modules. The test prints, per module, what is missing.

Three lists hold what is not compared, each entry with its reason:

* ``MODULES_LEFT_OUT``: PyEpics modules that are no API to match (GUI toolkits, binaries, code
  kept in a string);
* ``NAMES_LEFT_OUT``: names deliberately not provided;
* ``NAMES_FROM_OTHER_BRANCHES``: names another branch of this session adds (epics.utils and
  the epics.ca helpers of the ``compat`` branch). The lead empties it when merging; a listed
  name that exists fails the test, so the list cannot go stale.
"""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Dict, Set

import pytest

import epics
from pyepics_names import module_names, public_names
from pyepics_sdist import SdistUnavailable, pyepics_source

#: PyEpics modules not compared, and why.
MODULES_LEFT_OUT = {
    "epics.wx": "wxPython widgets; this project's GUI layer is its own flavour (epics.qt)",
    "epics.qt": "a Qt PV probe application of PyEpics; the GUI layer is epics.qt's own",
    "epics.clibs": "PyEpics's bundled libca binaries; ours loads libca from epicscorelibs",
    "epics.compat.CaChannel": "its code is a string that never runs (and it imports epics.wx)",
    "epics.compat.ca_util": "its code is a string that never runs",
}

#: Names deliberately not provided, and why.
NAMES_LEFT_OUT = {
    "epics.autosave.save_restore": (
        {"comment", "file_include", "file_name", "float_number", "ignored_comma",
         "ignored_quote", "integer", "line", "macro", "macros", "minus", "number", "point",
         "pv_assignment", "pv_name", "pv_value", "req_file", "req_line", "sav_file",
         "sav_line"},
        "the pyparsing grammar of PyEpics's parser, no API: our parser needs no pyparsing"),
}

#: Names that other branches of this session provide (empty this at merge).
NAMES_FROM_OTHER_BRANCHES: Dict[str, Set[str]] = {}


@pytest.fixture(scope="module")
def pyepics_epics() -> Path:
    """PyEpics's ``epics/`` folder (its sdist, downloaded once)."""
    try:
        return pyepics_source() / "epics"
    except SdistUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def compared_modules(root: Path):
    return [name for name in module_names(root)
            if not any(name == left or name.startswith(left + ".") for left in MODULES_LEFT_OUT)]


def missing_names(root: Path) -> Dict[str, Set[str]]:
    """``{module: PyEpics names ours lacks}``, a whole missing module as ``{'<module>'}``."""
    missing: Dict[str, Set[str]] = {}
    for module in compared_modules(root):
        names = public_names(root, module)
        try:
            ours = importlib.import_module(module)
        except ImportError:
            missing[module] = {"<module>"}
            continue
        absent = {name for name in names if not hasattr(ours, name)}
        if absent:
            missing[module] = absent
    return missing


def test_ours_is_the_epics_imported():
    assert Path(epics.__file__).resolve().parent == \
        Path(__file__).resolve().parents[2] / "epics"


def test_every_public_name_of_pyepics_is_ours(pyepics_epics, capsys):
    missing = missing_names(pyepics_epics)
    unexplained = {}
    for module, names in sorted(missing.items()):
        allowed = set(NAMES_LEFT_OUT.get(module, (set(), ""))[0])
        allowed |= NAMES_FROM_OTHER_BRANCHES.get(module, set())
        if module in NAMES_FROM_OTHER_BRANCHES and "<module>" in names:
            allowed.add("<module>")
        left = names - allowed
        if left:
            unexplained[module] = sorted(left)
    with capsys.disabled():
        print(f"\nPyEpics 3.5.10 names, {len(compared_modules(pyepics_epics))} modules compared:")
        for module, names in sorted(missing.items()):
            print(f"  {module}: missing {sorted(names)}")
    assert not unexplained, f"PyEpics names missing here: {unexplained}"


def test_the_lists_of_gaps_are_not_stale(pyepics_epics):
    """A name listed as missing that exists (or that PyEpics does not have) is an error: the
    lists must say exactly what is missing."""
    missing = missing_names(pyepics_epics)
    stale = {}
    for listing in (NAMES_FROM_OTHER_BRANCHES,
                    {module: names for module, (names, _) in NAMES_LEFT_OUT.items()}):
        for module, names in listing.items():
            present = set(names) - missing.get(module, set())
            if module in missing and "<module>" in missing[module]:
                present = set()
            if present:
                stale[module] = sorted(present)
    assert not stale, f"listed as missing but present (remove them from the lists): {stale}"
    for module in MODULES_LEFT_OUT:
        assert module in module_names(pyepics_epics) or any(
            name.startswith(module + ".") for name in module_names(pyepics_epics)), module


def test_dir_of_epics_lists_the_lazily_imported_names():
    """Tab completion (IPython, the REPL) offers CAProcess and CAPool, which load on first use;
    listing them imports nothing."""
    code = ("import sys, epics; names = dir(epics); "
            "print('CAProcess' in names, 'CAPool' in names, 'multiproc' in names, "
            "'epics.multiproc' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True).stdout.split()
    assert output == ["True", "True", "True", "False"]
    assert epics.CAPool is importlib.import_module("epics.multiproc").CAPool


def test_the_rule_for_public_names(tmp_path):
    """What counts as a module's public name (see pyepics_names.py), on a made-up package."""
    package = tmp_path / "epics"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import time\nfrom . import sub\nfrom .tools import helper, CONSTANT\n"
        "from numpy import array\nVALUE = 1\n_hidden = 2\n")
    (package / "tools.py").write_text(
        "from os import path\nCONSTANT = 3\ndef helper(): pass\nclass Thing: pass\n"
        "try:\n    import fast\n    SPEED = 1\nexcept ImportError:\n    SPEED = 0\n"
        "if __name__ == '__main__':\n    demo = 1\n")
    (package / "sub" / "__init__.py").write_text("from ..tools import *\nfrom .. import VALUE\n")
    (package / "listed.py").write_text("__all__ = ['only']\nonly = other = 1\n")
    assert public_names(package, "epics") == {"helper", "CONSTANT", "VALUE"}
    assert public_names(package, "epics.tools") == {"CONSTANT", "helper", "Thing", "SPEED"}
    assert public_names(package, "epics.sub") == {"CONSTANT", "helper", "Thing", "SPEED",
                                                  "VALUE"}
    assert public_names(package, "epics.listed") == {"only"}
