"""The list of recently used instruments files, for a start-up dialog or ``--recent``.

Kept as a small JSON list in ``$XDG_CONFIG_HOME/epicsca/instruments-recent.json`` (by default
``~/.config/epicsca/...``), or wherever :data:`RECENT_ENV` names (tests set it). Updates take an
advisory lock and replace the file atomically, so two programs updating it at once do not
corrupt it; an unreadable list is logged and treated as empty.

Threads: any.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from pathlib import Path
from typing import Iterator, List, Union

__all__ = ["MAX_RECENT", "RECENT_ENV", "forget_file", "recent_files", "recent_list_path",
           "remember_file"]

log = logging.getLogger("epics.instruments")

#: Environment variable naming the recent-files list (overrides the default place).
RECENT_ENV = "EPICS_INSTRUMENTS_RECENT"
#: Most files kept, newest first.
MAX_RECENT = 10


def recent_list_path() -> Path:
    """Where the list is kept."""
    override = os.environ.get(RECENT_ENV)
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "epicsca" / "instruments-recent.json"


def _read(path: Path) -> List[str]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("ignoring the recent instruments files list %s: %s", path, exc)
        return []
    if not isinstance(data, list):
        log.warning("ignoring the recent instruments files list %s: not a list", path)
        return []
    return [item for item in data if isinstance(item, str)]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _write(path: Path, files: List[str]) -> None:
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(files, indent=1))
    os.replace(temporary, path)


def recent_files() -> List[Path]:
    """The recently used files, newest first (files that no longer exist are left out)."""
    return [Path(name) for name in _read(recent_list_path()) if os.path.exists(name)]


def remember_file(file: Union[str, Path]) -> None:
    """Put ``file`` first in the list (best effort: a failure is only logged)."""
    name = str(Path(file).resolve())
    path = recent_list_path()
    try:
        with _locked(path):
            files = [name] + [item for item in _read(path) if item != name]
            _write(path, files[:MAX_RECENT])
    except OSError as exc:
        log.warning("could not update the recent instruments files list %s: %s", path, exc)


def forget_file(file: Union[str, Path]) -> None:
    """Remove ``file`` from the list."""
    name = str(Path(file).resolve())
    path = recent_list_path()
    try:
        with _locked(path):
            _write(path, [item for item in _read(path) if item != name])
    except OSError as exc:
        log.warning("could not update the recent instruments files list %s: %s", path, exc)
