"""Real Channel Access servers for tests: start IOCs in subprocesses on free loopback ports.

Use :class:`SoftIoc` for an EPICS database served by a genuine EPICS IOC, :class:`SubprocessIoc`
for any other server command (the caproto simulators of :mod:`epics.sim`), and the pytest plugin
:mod:`epics.testing.plugin` for fixtures that start and stop them. See :mod:`epics.testing.ioc`.

Importing this package starts nothing and does not load libca.
"""
from __future__ import annotations

from .ioc import (GUARDED_ACF, CaRepeater, IocError, PortPool, SoftIoc, SubprocessIoc, client_environment,
                  free_port, restore_environment, server_environment, udp_port_bound,
                  unique_prefix)

__all__ = ["GUARDED_ACF", "CaRepeater", "IocError", "PortPool", "SoftIoc", "SubprocessIoc",
           "client_environment", "free_port", "restore_environment", "server_environment",
           "udp_port_bound", "unique_prefix"]
