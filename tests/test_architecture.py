"""The package's layers import one way only: a lower layer never imports a higher one.

Read from the source with ``ast`` (nothing is imported), so a violation fails here with the module
and the import that broke the rule, before it becomes an import cycle or a hidden dependency.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "epics"

# Bottom to top. A module may import modules of its own rank or lower ranks only.
LAYERS = [
    ["_version", "version", "_errors", "utils", "_libca"],  # leaves, and finding libca
    ["_cadef"],                                  # the C prototype table
    ["dbr"],                                     # DBR types, structs, conversion
    ["_context"],                                # the CA context, threads, fork
    ["_dispatch", "_batchring"],                 # C callbacks in, user callbacks out
    ["ca", "multiproc"],                         # the one-to-one libca surface
    ["_pv"],                                     # the parts of the PV object
    ["pv", "batch"],                             # PV objects, batch monitor sets
    ["procedural"],                              # caget, caput, ...
    ["alarm", "device", "autosave", "compat"],
    ["motor"],
    ["devices"],
    ["aio"],                                     # flavours: only the public layers below
    ["qt", "archiver", "instruments", "stepscan"],  # applications: public names below
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# Beside the chain: they may use any layer, and no layer may use them.
BESIDE = {"cli", "sim", "testing", "__main__", "which"}


def _module_of(path: Path) -> str:
    """'ca' for epics/ca.py, 'devices' for anything in epics/devices/, ..."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_modules(path: Path) -> set:
    """Top-level epics modules imported by the file (relative or absolute imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    depth_of_file = len(path.relative_to(PACKAGE).parts) - 1
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:   # relative: resolve against the package root
                if node.level - 1 < depth_of_file:   # inside a subpackage, e.g. from .mca
                    continue
                target = (node.module or "").split(".")[0]
                if target:
                    found.add(target)
                else:
                    found.update(alias.name.split(".")[0] for alias in node.names)
            elif node.module and node.module.split(".")[0] == "epics":
                parts = node.module.split(".")
                if len(parts) > 1:
                    found.add(parts[1])
                else:
                    found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "epics" and len(parts) > 1:
                    found.add(parts[1])
    return found


def _package_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", [p for p in _package_files() if _module_of(p) in RANK],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layer_imports_only_its_own_rank_or_lower(path):
    module = _module_of(path)
    for imported in _imported_modules(path):
        assert imported not in BESIDE, f"{path.name} imports {imported}, which sits beside the layers"
        if imported in RANK:
            assert RANK[imported] <= RANK[module], (
                f"{path.relative_to(PACKAGE)} ({module}, layer {RANK[module]}) imports "
                f"{imported} (layer {RANK[imported]}): imports must go down")


# Applications on top of the library: each uses only public modules and public names of the
# layers below (no ``epics._x`` module, no ``_name``), so the library can change inside.
APPLICATIONS = {"aio", "qt", "archiver", "instruments", "stepscan"}


def _absolute_module(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``from ... import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = ["epics", *path.relative_to(PACKAGE).parts[:-1]]
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private(name: str) -> bool:
    """'_x' is private; a dunder such as '__version__' is public."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_uses(path: Path) -> list:
    """Private modules or names of the library (outside the file's own application) it imports."""
    own = f"epics.{_module_of(path)}"
    tree = ast.parse(path.read_text(), filename=str(path))
    found, library_names = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = _absolute_module(path, node)
            if module.split(".")[0] != "epics" or module == own or module.startswith(own + "."):
                continue
            if any(_private(part) for part in module.split(".")):
                found.append(module)
            found += [f"{module}.{a.name}" for a in node.names if _private(a.name)]
            library_names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("epics.")
                      and any(_private(part) for part in a.name.split(".")[1:])]
    # 'ca._channel_of(...)': a private attribute of a library module or class it imported
    found += [f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in library_names and _private(node.attr)]
    return found


@pytest.mark.parametrize("path", [p for p in _package_files() if _module_of(p) in APPLICATIONS],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_applications_use_only_public_names_of_the_library(path):
    assert _private_uses(path) == [], f"{path.relative_to(PACKAGE)} uses private names"


def test_every_module_has_a_place():
    """A new module must be given a layer here (or be declared beside them)."""
    modules = {_module_of(p) for p in _package_files()} - {"__init__"}
    assert modules <= set(RANK) | BESIDE, f"modules without a layer: {modules - set(RANK) - BESIDE}"


def test_importing_epics_loads_no_library_and_starts_no_thread():
    """Importing the package does nothing: libca is loaded and threads start on first use."""
    code = ("import threading, epics, epics._libca as l, epics._context as c;"
            "print(l._libca is None, c.library() is None, threading.active_count())")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True).stdout.split()
    assert output == ["True", "True", "1"]

