"""``python -m epics.which``: which implementation ``import epics`` gives, and whether PyEpics's
files are mixed into epicsca's.

Why it is needed: epicsca and PyEpics both install the package ``epics``. A dependent that
requires ``pyepics`` (pydm does) makes pip install PyEpics, whose files land in the same
``epics/`` folder and replace epicsca's; uninstalling PyEpics afterwards deletes files both
share. The supported way is the ``pyepics`` compatibility distribution of this repository
(``shim/pyepics``: no files, depends on epicsca; see docs/migrating.rst). This command tells::

    $ python -m epics.which
    import epics: epicsca 3.6.0 (/venv/lib/python3.11/site-packages/epics/__init__.py)
    pyepics: 3.5.10+epicsca, the epicsca compatibility distribution (no files of its own)
    OK: import epics is epicsca

It exits with 0 when ``import epics`` is epicsca with no PyEpics files in its folder, 1 when
PyEpics's files are mixed in (it lists them), PyEpics is what imports or the folder is broken,
and 2 when no ``epics`` package is found. It reads the installed distributions' file lists (importlib.metadata): a file
of the ``pyepics`` distribution that is a real file under ``epics/`` is a PyEpics file.

Threads: runs on the caller's thread; reads files only (no CA, no network). A command-line tool:
it prints.
"""
from __future__ import annotations

import argparse
import importlib.metadata as metadata
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

__all__ = ["Report", "inspect", "main", "SHIM_LABEL"]

#: The local version label of the compatibility distribution (shim/pyepics/pyproject.toml).
SHIM_LABEL = "epicsca"
#: A module only epicsca has: its presence beside ``epics/__init__.py`` marks an epicsca folder.
EPICSCA_MARKER = "_cadef.py"


@dataclass
class Report:
    """What ``import epics`` gives in this environment."""

    #: 'epicsca', 'pyepics', 'broken' (an ``epics`` folder without ``__init__.py``: an
    #: uninstall of pyepics deleted files both share), or 'none' (no epics package found).
    implementation: str
    #: ``epics/__init__.py`` as found on the import path, if any.
    location: Optional[Path] = None
    #: Version of the installed ``epicsca`` distribution, if any.
    epicsca_version: Optional[str] = None
    #: Version of the installed ``pyepics`` distribution, if any.
    pyepics_version: Optional[str] = None
    #: Files of the ``pyepics`` distribution present in the ``epics`` folder (relative paths,
    #: compiled ``__pycache__`` files left out).
    pyepics_files: List[str] = field(default_factory=list)
    #: Those of them that epicsca's distribution lists too: PyEpics replaced them.
    replaced_files: List[str] = field(default_factory=list)

    @property
    def pyepics_is_shim(self) -> bool:
        """Whether the installed ``pyepics`` is epicsca's compatibility distribution."""
        return self.pyepics_version is not None and \
            self.pyepics_version.partition("+")[2] == SHIM_LABEL

    @property
    def ok(self) -> bool:
        """epicsca imports, with no PyEpics file in its folder."""
        return self.implementation == "epicsca" and not self.pyepics_files


def _distribution(name: str) -> Optional[metadata.Distribution]:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def _package_files(dist: metadata.Distribution, folder: Path) -> List[str]:
    """The files of ``dist`` that are real files inside ``folder`` (the epics package)."""
    found = []
    for entry in dist.files or ():
        path = Path(dist.locate_file(entry))
        try:
            path.resolve().relative_to(folder.resolve())
        except ValueError:
            continue
        if "__pycache__" not in entry.parts and path.is_file() and not path.is_symlink():
            found.append(str(entry))
    return sorted(found)


def inspect() -> Report:
    """Find the ``epics`` package on the import path and tell whose files it holds."""
    spec = importlib.util.find_spec("epics")
    epicsca, pyepics = _distribution("epicsca"), _distribution("pyepics")
    report = Report(implementation="none",
                    epicsca_version=epicsca.version if epicsca else None,
                    pyepics_version=pyepics.version if pyepics else None)
    if spec is None:
        return report
    if spec.origin is None:          # a namespace package: folders without __init__.py
        report.implementation = "broken"
        folders = list(spec.submodule_search_locations or ())
        if folders:
            report.location = Path(folders[0]) / "__init__.py"
        return report
    init = Path(spec.origin)
    report.location = init
    if pyepics is not None:
        report.pyepics_files = _package_files(pyepics, init.parent)
        ours = {str(entry) for entry in (epicsca.files or ())} if epicsca else set()
        report.replaced_files = [name for name in report.pyepics_files if name in ours]
    init_is_pyepics = any(Path(name).name == "__init__.py" and Path(name).parent.name == "epics"
                          for name in report.pyepics_files)
    has_marker = (init.parent / EPICSCA_MARKER).is_file()
    report.implementation = "pyepics" if init_is_pyepics or not has_marker else "epicsca"
    return report


def _describe(report: Report) -> List[str]:
    lines = []
    if report.implementation == "none":
        return ["import epics: no 'epics' package on the import path "
                "(pip install epicsca)"]
    if report.implementation == "broken":
        lines.append(f"import epics: broken: {report.location} is missing (uninstalling "
                     "pyepics deletes the files it shares with epicsca)")
    elif report.implementation == "epicsca":
        lines.append(f"import epics: epicsca {report.epicsca_version or '?'} "
                     f"({report.location})")
    else:
        lines.append(f"import epics: pyepics {report.pyepics_version or '?'} "
                     f"({report.location})")
    if report.pyepics_version is None:
        lines.append("pyepics: not installed")
    elif report.pyepics_is_shim:
        lines.append(f"pyepics: {report.pyepics_version}, the epicsca compatibility "
                     "distribution (no files of its own)")
    else:
        lines.append(f"pyepics: PyEpics {report.pyepics_version} is installed")
    if report.pyepics_files:
        replaced = report.replaced_files
        others = [name for name in report.pyepics_files if name not in replaced]
        shown = (replaced + others)[:8]
        more = len(report.pyepics_files) - len(shown)
        lines.append(f"WARNING: {len(report.pyepics_files)} files of the pyepics distribution "
                     f"are in {report.location.parent if report.location else 'epics/'}, "
                     f"{len(replaced)} of them in place of epicsca's: epicsca's and PyEpics's "
                     "files are mixed")
        lines.extend(f"    {name}" for name in shown)
        if more:
            lines.append(f"    ... and {more} more")
    if report.ok:
        lines.append("OK: import epics is epicsca")
    else:
        lines.append("To repair: pip uninstall -y pyepics; reinstall epicsca "
                     "(pip install --force-reinstall --no-deps epicsca, or the way you "
                     "installed it); then pip install <epicsca checkout>/shim/pyepics "
                     "(see docs/migrating.rst)")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the report; the exit status says whether epicsca imports cleanly."""
    parser = argparse.ArgumentParser(
        prog="python -m epics.which",
        description="Say which implementation 'import epics' gives (epicsca or PyEpics) and "
                    "warn when PyEpics's files are mixed into epicsca's.")
    parser.parse_args(argv)
    report = inspect()
    sys.stdout.write("\n".join(_describe(report)) + "\n")
    if report.implementation == "none":
        return 2
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
