"""The benchmark IOC: its database, and starting/stopping it on a free loopback port.

The database has

* ``N`` counter records ``{prefix}c00000`` .. : ``calc`` records with ``SCAN ".1 second"`` and
  ``CALC "VAL+1"``, so every scan changes the value and posts a monitor; 10,000 of them make about
  100,000 events/s. Because each adds exactly 1 per scan, a client can tell how many updates the
  IOC produced in a window (last value minus first value) and so what fraction it was delivered;
* ``{prefix}warm``: one more counter, outside the measured set, for warming up;
* ``{prefix}wf``: a ``waveform`` of 1,048,576 DOUBLEs (8 MB). A waveform starts empty, so the
  harness fills it once (``bench/c/ca_waveform --fill``) before anyone reads it.

The IOC runs softioc in its own process. The project's test-IOC kit
(``epics.testing.ioc.SoftIoc``) is used when it imports; otherwise :class:`LocalIoc` runs
``bench/_ioc_server.py``, which needs nothing from ``epics``. Either way the IOC listens on
127.0.0.1 only, on a free port, and is stopped on exit, also on error.
"""
from __future__ import annotations

import logging
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

log = logging.getLogger("epics.bench")

HERE = Path(__file__).resolve().parent
#: Elements of the big waveform: 8 MB of DOUBLE.
WAVEFORM_ELEMENTS = 1_048_576
#: Scan period of the counter records (seconds) and so events/s per record.
SCAN = ".1 second"
RATE_PER_RECORD = 10.0
#: Large enough for one 8 MB array plus its header, client and server side.
MAX_ARRAY_BYTES = str(16 * 1024 * 1024 + 4096)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def counter_name(prefix: str, i: int) -> str:
    """The name of the i-th counter record (the C programs use the same pattern)."""
    return f"{prefix}c{i:05d}"


def busy_name(prefix: str, i: int) -> str:
    """The name of the i-th busy record: updating like a counter, read by no client."""
    return f"{prefix}busy{i:05d}"


def write_db(path: Path, prefix: str, n: int, first: int = 0, extras: bool = True,
             busy: range = range(0)) -> Path:
    """Write the benchmark database to ``path``: counter records ``first`` .. ``first + n - 1``,
    the busy records numbered ``busy`` (load for the IOC's scan threads, as in a real IOC where
    the PVs a client reads are a few of many) and, with ``extras``, the warm-up counter and the
    waveform (a run with several IOCs gives each a share of the counters and of the busy
    records, and the extras to the first)."""
    lines = []
    for i in range(first, first + n):
        lines.append(f'record(calc, "{counter_name(prefix, i)}") {{\n'
                     f'  field(SCAN, "{SCAN}")\n  field(CALC, "VAL+1")\n}}\n')
    for i in busy:
        lines.append(f'record(calc, "{busy_name(prefix, i)}") {{\n'
                     f'  field(SCAN, "{SCAN}")\n  field(CALC, "VAL+1")\n}}\n')
    if extras:
        # a counter outside the measured set, for warming up before a memory baseline
        lines.append(f'record(calc, "{prefix}warm") {{\n'
                     f'  field(SCAN, "{SCAN}")\n  field(CALC, "VAL+1")\n}}\n')
        lines.append(f'record(waveform, "{prefix}wf") {{\n  field(FTVL, "DOUBLE")\n'
                     f'  field(NELM, "{WAVEFORM_ELEMENTS}")\n}}\n')
    path.write_text("".join(lines))
    return path


def client_env_of(servers) -> Dict[str, str]:
    """The CA client environment for started IOCs: the first one's, with every server's
    127.0.0.1:port in EPICS_CA_ADDR_LIST when there are several."""
    env = servers[0].client_env()
    if len(servers) > 1:
        env["EPICS_CA_ADDR_LIST"] = " ".join(f"127.0.0.1:{server.port}" for server in servers)
    return env


def _port_is_free(port: int) -> bool:
    """True if ``port`` can be bound on 127.0.0.1 for both TCP and UDP."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            sock.close()
    return True


def free_port(exclude: tuple = ()) -> int:
    """A port free on 127.0.0.1 for TCP and UDP (CA uses both), not in ``exclude``."""
    for _ in range(200):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        if port not in exclude and _port_is_free(port):
            return port
    raise RuntimeError("no free loopback port found in 200 tries")


def client_env_for(port: int, repeater_port: int) -> Dict[str, str]:
    """The CA client environment for an IOC on 127.0.0.1:``port``."""
    return {
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_SERVER_PORT": str(port),
        "EPICS_CA_REPEATER_PORT": str(repeater_port),
        "EPICS_CA_MAX_ARRAY_BYTES": MAX_ARRAY_BYTES,
    }


class LocalIoc:
    """Run ``bench/_ioc_server.py`` as a subprocess serving ``db`` (the kit's fallback)."""

    starter = "bench/_ioc_server.py"

    def __init__(self, db: Path, python: str = sys.executable) -> None:
        self.db = Path(db)
        self.python = python
        self.port = 0
        self.repeater_port = 0
        self._proc: Optional[subprocess.Popen] = None
        self._log = None

    def client_env(self) -> Dict[str, str]:
        return client_env_for(self.port, self.repeater_port)

    def start(self) -> "LocalIoc":
        self.port = free_port()
        self.repeater_port = free_port(exclude=(self.port,))
        env = dict(os.environ)
        env.update(self.client_env())
        env.update({
            "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
            "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
            "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
            "EPICS_CAS_SERVER_PORT": str(self.port),
        })
        self._log = open(self.db.with_suffix(".ioc.log"), "wb")
        self._proc = subprocess.Popen(
            [self.python, str(HERE / "_ioc_server.py"), "--db", str(self.db)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while time.monotonic() < deadline:  # bounded: one select per line, each with a timeout
            ready, _, _ = select.select([self._proc.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            line = self._proc.stdout.readline()
            if not line or line.strip() == b"READY":
                break
        if line.strip() != b"READY":
            self.stop()
            raise RuntimeError(f"bench IOC did not start; see {self.db.with_suffix('.ioc.log')}")
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.stdin.close()  # asks the IOC to exit
                proc.wait(timeout=STOP_TIMEOUT)
            except (subprocess.TimeoutExpired, OSError):
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
            finally:
                proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "LocalIoc":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class KitIoc:
    """Adapter over the project's ``epics.testing.ioc.SoftIoc`` (same interface as LocalIoc)."""

    starter = "epics.testing.ioc.SoftIoc"

    def __init__(self, db: Path) -> None:
        # may raise: the caller falls back to LocalIoc
        from epics.testing.ioc import CaRepeater, SoftIoc, free_port
        repeater_port = free_port()
        self._ioc = SoftIoc(db, repeater_port=repeater_port)
        # our own repeater on the run's port, started before anything uses CA and stopped with
        # the IOC (else the first CA context, the IOC's own, starts one that outlives the run)
        self._repeater = CaRepeater(repeater_port)
        self.port = 0

    def start(self) -> "KitIoc":
        try:
            self._repeater.start()
        except Exception as exc:
            log.warning("no CA repeater for the benchmark: %s", exc)
        self._ioc.start()
        self.port = self._ioc.port
        return self

    def client_env(self) -> Dict[str, str]:
        env = {k: str(v) for k, v in dict(self._ioc.client_env()).items()}
        env.setdefault("EPICS_CA_MAX_ARRAY_BYTES", MAX_ARRAY_BYTES)
        return env

    def stop(self) -> None:
        self._ioc.stop()
        self._repeater.stop()

    def __enter__(self) -> "KitIoc":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def make_ioc(db: Path, prefer_kit: bool = True):
    """Return an unstarted IOC for ``db``: the project's kit if it imports, else LocalIoc.

    The IOC inherits this process's environment, so EPICS_CA_MAX_ARRAY_BYTES is set here first
    (the server needs it to send the 8 MB waveform).
    """
    os.environ.setdefault("EPICS_CA_MAX_ARRAY_BYTES", MAX_ARRAY_BYTES)
    if prefer_kit:
        repo = str(HERE.parent)
        if repo not in sys.path:  # the kit lives in this repo's epics/testing
            sys.path.insert(0, repo)
        try:
            return KitIoc(db)
        except Exception as exc:  # ImportError, or epics itself broken mid-development
            log.info("test-IOC kit unavailable (%s: %s); using %s", type(exc).__name__, exc,
                     LocalIoc.starter)
    return LocalIoc(db)
