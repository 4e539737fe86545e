"""Simulated beamline IOCs for the examples, the exercises and the tests.

``python -m epics.sim`` (console script ``epics-sim``) serves, on loopback:

- the training IOC of the talk's exercises (softioc, `epics.sim.training`):
  ``id01:dval1``, ``id01:shutter``, ``id01:image`` ... and ``sim:ip1:PRES``,
  ``sim:ao1``, ``sim:ai1``, ``sim:bo1``, ``sim:bi1``;
- the record server (caproto, `epics.sim.records`): motors ``sim:m1`` ...
  ``sim:m4``, ``sim:scaler1``, ``sim:mca1``, ``sim:transform1``, ``sim:SIS1:``.

From Python, `Simulator` starts both as child processes on free ports and
gives the client environment::

    from epics.sim import Simulator
    with Simulator(prefixes=3) as sim:
        env = sim.client_env()

Importing this package starts nothing: it only needs the standard library.
"""
from __future__ import annotations

from .launcher import PortInUseError, SimPorts, Simulator, SimulatorError

__all__ = ['PortInUseError', 'SimPorts', 'Simulator', 'SimulatorError']
