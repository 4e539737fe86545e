"""The public names of PyEpics's modules, read from its source with ``ast`` (nothing of it runs).

Why read the source rather than import PyEpics: importing it needs what its modules import at the
top (pyparsing for ``epics.autosave``, wx and Qt for its GUI modules), it would put a second
package called ``epics`` into a Python process, and ``dir()`` of an imported module cannot tell a
name the module offers from one it merely imported for its own use (``time``, ``numpy``,
pyparsing's ``Literal``). The source says exactly what each module binds and where each imported
name comes from.

The rule, per module:

* if the module sets ``__all__`` to a literal list, that list is its public surface;
* otherwise every top-level binding whose name does not start with ``_``: ``def``, ``class``,
  assignments (also inside top-level ``if``/``try``/``with`` blocks), and names imported from
  *within* the ``epics`` package (``from .. import Device, poll`` in ``devices/scan.py`` makes
  ``epics.devices.scan.poll`` importable, and scripts do import such names);
* ``from x import *`` inside ``epics`` is expanded with the public names of ``x``;
* never counted: names imported from outside ``epics`` (the standard library, numpy, pyparsing),
  and submodules bound by an import (``from . import ca`` in a package ``__init__``: the submodule
  is compared as a module of its own).

Runs in the test process (no threads).
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Optional, Set


def module_names(epics_root: Path) -> List[str]:
    """Dotted names of every module under ``epics_root`` (the ``epics/`` folder), sorted."""
    names = []
    for path in sorted(epics_root.rglob("*.py")):
        relative = path.relative_to(epics_root.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _module_file(epics_root: Path, module: str) -> Optional[Path]:
    relative = Path(*module.split(".")[1:]) if "." in module else Path()
    candidate = epics_root / relative
    if candidate.with_suffix(".py").is_file() and module != "epics":
        return candidate.with_suffix(".py")
    if (candidate / "__init__.py").is_file():
        return candidate / "__init__.py"
    return None


def _resolve(module: str, is_package: bool, level: int, target: Optional[str]) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _literal_all(tree: ast.Module) -> Optional[List[str]]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                return [str(name) for name in ast.literal_eval(node.value)]
            except ValueError:
                return None
    return None


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == '__main__':``"""
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def _top_level_statements(body: List[ast.stmt]):
    """Statements at module level, looking inside if/try/with blocks (not functions/classes)."""
    for node in body:
        if _is_main_guard(node):
            continue                # what runs as a script is no part of the surface
        yield node
        if isinstance(node, (ast.If, ast.With)):
            yield from _top_level_statements(node.body)
            yield from _top_level_statements(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try):
            yield from _top_level_statements(node.body)
            for handler in node.handlers:
                yield from _top_level_statements(handler.body)
            yield from _top_level_statements(node.orelse)
            yield from _top_level_statements(node.finalbody)


def _targets(node: ast.AST):
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, (ast.Tuple, ast.List)):
        for element in node.elts:
            yield from _targets(element)


def public_names(epics_root: Path, module: str,
                 _seen: Optional[Set[str]] = None) -> Set[str]:
    """The public names of PyEpics module ``module`` (e.g. ``'epics.devices.scan'``)."""
    seen = _seen if _seen is not None else set()
    if module in seen:
        return set()
    seen.add(module)
    path = _module_file(epics_root, module)
    if path is None:
        raise LookupError(f"no module {module} under {epics_root}")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    declared = _literal_all(tree)
    if declared is not None:
        return set(declared)
    all_modules = set(module_names(epics_root))
    is_package = path.name == "__init__.py"
    names: Set[str] = set()
    for node in _top_level_statements(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(_targets(target))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target,
                                                                             ast.Name):
            if not isinstance(node, ast.AnnAssign) or node.value is not None:
                names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node.level, node.module)
            if source.split(".")[0] != "epics":
                continue            # the standard library, numpy, pyparsing...
            for alias in node.names:
                if alias.name == "*":
                    names.update(public_names(epics_root, source, seen))
                elif f"{source}.{alias.name}" not in all_modules:
                    names.add(alias.asname or alias.name)
    return {name for name in names if not name.startswith("_")}


def surface(epics_root: Path, modules: List[str]) -> Dict[str, Set[str]]:
    """``{module: public names}`` for the given PyEpics modules."""
    return {module: public_names(epics_root, module) for module in modules}
