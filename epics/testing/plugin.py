"""pytest plugin: real IOCs for tests, on free loopback ports, set up before any CA context.

Installed with epicsca (entry point ``pytest11: epics_testing``) but idle until enabled, so it
never changes the environment of a test suite that did not ask for it. Enable it with

* the ini option ``epics_testing = true`` (``[tool.pytest.ini_options]`` in pyproject.toml), or
* the command-line flag ``--epics-testing``.

When enabled, at ``pytest_configure`` time (before any test module is imported, so before any CA
context exists) it

1. reserves a :class:`~epics.testing.ioc.PortPool` of ``epics_testing_ports`` ports (default 16)
   plus a CA repeater port,
2. writes the client environment for all of them into ``os.environ`` (``EPICS_CA_ADDR_LIST`` lists
   ``127.0.0.1:PORT`` for each port, ``EPICS_CA_AUTO_ADDR_LIST=NO``, the repeater port), since
   libca reads it only once, when its first context is made,
3. starts a CA repeater (``python -m epics.cli.carepeater``) on the repeater port, so that
   clients receive the beacons of restarted IOCs (best effort: a failure is only logged).

Fixtures:

``softioc_factory``
    function-scoped; ``softioc_factory(db, macros=None, asg=None, **kwargs)`` starts a
    :class:`~epics.testing.ioc.SoftIoc` on a port of the pool and returns it; every IOC it started
    is stopped at the test's teardown, whether the test passed or not.
``subprocess_ioc_factory``
    the same for :class:`~epics.testing.ioc.SubprocessIoc` (any server command, e.g. a caproto
    simulator): ``subprocess_ioc_factory(argv, ready="line", **kwargs)``.
``epics_port_pool``
    session-scoped; the :class:`~epics.testing.ioc.PortPool`, to start servers of one's own
    (session-scoped IOCs take a port with ``pool.take()``).
``pv_prefix``
    a fresh :func:`~epics.testing.ioc.unique_prefix` per test.

At the end of the session every server is stopped and the environment restored, also when the
session fails; an ``atexit`` hook repeats the stop in case pytest itself dies.
"""
from __future__ import annotations

import atexit
import logging
from typing import Callable, List, Optional, Tuple

import pytest

from .ioc import (CaRepeater, IocError, PortPool, SoftIoc, SubprocessIoc, restore_environment,
                  unique_prefix)

__all__ = ["EpicsTestSession", "get_session"]

logger = logging.getLogger("epics.testing")

INI_ENABLE = "epics_testing"
INI_PORTS = "epics_testing_ports"
DEFAULT_POOL_SIZE = 16

_STASH_KEY = pytest.StashKey["EpicsTestSession"]() if hasattr(pytest, "StashKey") else None
_sessions: List["EpicsTestSession"] = []


class EpicsTestSession:
    """The state of an enabled plugin: the port pool, the repeater and the environment it set."""

    def __init__(self, pool_size: int) -> None:
        self.pool = PortPool(pool_size)
        self._previous_env = self.pool.apply()
        self.repeater: Optional[SubprocessIoc] = None
        self._closed = False
        logger.debug("epics testing session: ports %s, repeater port %d", self.pool.ports,
                     self.pool.repeater_port)

    def start_repeater(self) -> None:
        """Run a CA repeater on the session's repeater port (best effort)."""
        repeater = CaRepeater(self.pool.repeater_port)
        try:
            repeater.start()
        except IocError as exc:
            logger.warning("no CA repeater for the test session (clients will not see beacons): "
                           "%s", exc)
            return
        self.repeater = repeater

    def close(self) -> None:
        """Stop the repeater and restore the environment (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.repeater is not None:
            self.repeater.stop()
        restore_environment(self._previous_env)


def _enabled(config: pytest.Config) -> bool:
    if config.getoption("epics_testing", default=False):
        return True
    try:
        value = config.getini(INI_ENABLE)
    except (ValueError, KeyError):
        return False
    return bool(value)


def get_session(config: pytest.Config) -> Optional[EpicsTestSession]:
    """Return the plugin's session state, or None when the plugin is not enabled."""
    if _STASH_KEY is not None:
        return config.stash.get(_STASH_KEY, None)
    return getattr(config, "_epics_testing_session", None)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("epics_testing", "epicsca test IOCs")
    group.addoption("--epics-testing", action="store_true", dest="epics_testing", default=False,
                    help="reserve loopback ports and set the EPICS_CA_* client environment "
                         "for test IOCs (same as the ini option epics_testing = true)")
    parser.addini(INI_ENABLE, type="bool", default=False,
                  help="enable the epicsca test IOC plugin (port pool, CA environment)")
    parser.addini(INI_PORTS, default=str(DEFAULT_POOL_SIZE),
                  help="number of loopback ports reserved for test IOCs running at once")


def pytest_configure(config: pytest.Config) -> None:
    if not _enabled(config) or get_session(config) is not None:
        return
    size = int(config.getini(INI_PORTS) or DEFAULT_POOL_SIZE)
    session = EpicsTestSession(size)
    _sessions.append(session)
    if _STASH_KEY is not None:
        config.stash[_STASH_KEY] = session
    else:
        config._epics_testing_session = session
    session.start_repeater()


def pytest_unconfigure(config: pytest.Config) -> None:
    session = get_session(config)
    if session is not None:
        session.close()


@atexit.register
def _close_sessions_at_exit() -> None:
    for session in _sessions:
        try:
            session.close()
        except Exception:
            logger.exception("closing the epics testing session at exit failed")


def _require_session(request: pytest.FixtureRequest) -> EpicsTestSession:
    session = get_session(request.config)
    if session is None:
        pytest.fail("the epics testing plugin is not enabled: add 'epics_testing = true' to the "
                    "pytest ini options, or run pytest with --epics-testing", pytrace=False)
    return session


@pytest.fixture(scope="session")
def epics_port_pool(request: pytest.FixtureRequest) -> PortPool:
    """The session's port pool (the client environment lists all its ports)."""
    return _require_session(request).pool


@pytest.fixture
def pv_prefix() -> str:
    """A random PV prefix for this test, e.g. ``'tst1a2b3c:'``."""
    return unique_prefix()


def _make_factory(pool: PortPool, build: Callable[..., SubprocessIoc]):
    """Return ``(factory, teardown)``: the factory starts servers on pool ports, the teardown
    stops every one of them and gives their ports back."""
    started: List[Tuple[SubprocessIoc, Optional[int]]] = []

    def factory(*args, **kwargs) -> SubprocessIoc:
        pool_port: Optional[int] = None
        if kwargs.get("port") is None:
            kwargs["port"] = pool_port = pool.take()
        kwargs.setdefault("repeater_port", pool.repeater_port)
        try:
            server = build(*args, **kwargs)
        except BaseException:
            if pool_port is not None:
                pool.release(pool_port)
            raise
        started.append((server, pool_port))
        return server.start()

    def teardown() -> None:
        errors: List[BaseException] = []
        for server, pool_port in reversed(started):
            try:
                server.stop()
            except BaseException as exc:  # stop every server even if one fails
                errors.append(exc)
            if pool_port is not None:
                pool.release(pool_port)
        started.clear()
        if errors:
            raise errors[0]

    return factory, teardown


@pytest.fixture
def softioc_factory(request: pytest.FixtureRequest):
    """Start :class:`~epics.testing.ioc.SoftIoc` servers; all are stopped at teardown.

    Call it as ``softioc_factory(db, macros=None, asg=None, **kwargs)``; ``db`` is a path or
    the records as a string. Returns the started (ready) IOC.
    """
    pool = _require_session(request).pool
    factory, teardown = _make_factory(pool, SoftIoc)
    try:
        yield factory
    finally:
        teardown()


@pytest.fixture
def subprocess_ioc_factory(request: pytest.FixtureRequest):
    """Start :class:`~epics.testing.ioc.SubprocessIoc` servers; all are stopped at teardown.

    Call it as ``subprocess_ioc_factory(argv, ready="line", **kwargs)``; ``{port}`` in ``argv``
    is replaced by the server's port.
    """
    pool = _require_session(request).pool
    factory, teardown = _make_factory(pool, SubprocessIoc)
    try:
        yield factory
    finally:
        teardown()
