"""A real PostgreSQL server for the archiver's tests, started and stopped by them.

The server binaries come from the ``pgserver`` wheel (a test dependency, so ``pip install
'.[test]'`` brings them), else from Debian's ``postgresql`` package, which is installed with
apt-get when neither is there (as root; CI runs as root on a fresh machine). PostgreSQL refuses
to run as root, so as root the server runs as the ``postgres`` user (or ``nobody``). It listens
on a free loopback port, trusts local connections, and lives in a temporary folder removed at
:meth:`LocalPostgres.close`.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional

from epics.testing import free_port

TIMEOUT = 120


def _bindir() -> Optional[Path]:
    try:
        import pgserver
    except ImportError:
        pgserver = None
    if pgserver is not None:
        candidate = Path(pgserver.__file__).parent / "pginstall" / "bin"
        if (candidate / "pg_ctl").exists():
            return candidate
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are; installs Debian's postgresql when there are none."""
    found = _bindir()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, timeout=600, env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True,
                       timeout=900, env=env, stdout=subprocess.DEVNULL)
        found = _bindir()
    if found is None:
        raise RuntimeError("no PostgreSQL server binaries: pip install pgserver, or "
                           "apt-get install postgresql")
    return found


def _reachable_by_others(folder: Path) -> bool:
    """Whether a user other than the owner may enter ``folder`` and each folder above it."""
    return all(os.stat(part).st_mode & stat.S_IXOTH for part in [folder, *folder.parents])


def _copy_install(bindir: Path, to: Path) -> Path:
    """Copy the pgserver wheel's install (``<site>/pgserver/pginstall``) and the libraries its
    binaries find through their rpath (``<site>/pgserver.libs``) to ``to``, keeping the layout;
    returns the copy's bin folder.

    For a pgserver wheel in a venv under a 0700 folder (a clone in ``mktemp -d``): the server's
    user could not run the binaries there, so it runs this copy in its own folder."""
    site = bindir.parents[2]
    for part in (bindir.parent.relative_to(site), Path("pgserver.libs")):
        if (site / part).exists():
            shutil.copytree(site / part, to / part, symlinks=True)
    return to / bindir.relative_to(site)


class LocalPostgres:
    """A PostgreSQL server in a temporary folder; :attr:`url` for psycopg."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="epics-archiver-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user: Optional[str] = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    entry = pwd.getpwnam(name)
                except KeyError:
                    continue
                self.user = name
                os.chown(self.folder, entry.pw_uid, entry.pw_gid)
                break
        if self.user is not None and not _reachable_by_others(self.bindir):
            self.bindir = _copy_install(self.bindir, self.folder / "pg")
        self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
                   "archiver", "-E", "UTF8", "--no-sync"])
        self.url = f"postgresql://archiver@127.0.0.1:{self.port}/postgres"
        self.start()

    def _run(self, argv: List[str]) -> None:
        result = subprocess.run(argv, user=self.user, cwd=self.folder, timeout=TIMEOUT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout}")

    def start(self) -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                   str(self.folder / "server.log"), "-w", "-t", str(TIMEOUT), "-o",
                   f"-p {self.port} -h 127.0.0.1 -k {self.folder} -F", "start"])

    def stop(self) -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                   "-t", str(TIMEOUT), "stop"])

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def close(self) -> None:
        try:
            if self.running():
                self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
