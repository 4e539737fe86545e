"""caproto's own motor simulation (``caproto.ioc_examples.fake_motor_record``), served by our server.

Why serve someone else's motor: it is a motor record server that behaves differently from an IOC,
and clients must cope with it. A put to VAL completes at once (before the motion has started), and
DMOV drops to 0 only at the simulation's next tick, up to 1/``tick_rate_hz`` s (100 ms) later; it
keeps no limit switches, does not tweak (TWF/TWR do nothing) and does not refuse targets outside
the soft limits (LLM/HLM are only written once). ``Motor.move(wait=True)`` is tested against it.

Command line (beside the simulated records, or alone)::

    python -m epics.sim.records.server --port 5064 --fake-motors sim:fm1,sim:fm2

:func:`fake_motor_pvdb` builds the caproto PV database of such motors; caproto starts their
simulation tasks itself (they are pvproperty startup hooks) when the server runs.

Threads: the simulation runs as tasks of the caproto server's asyncio loop.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

from caproto import ChannelData

__all__ = ["fake_motor_pvdb", "FAKE_MOTOR_DEFAULTS"]

#: Settings of every served fake motor: speed (EGU/s), user soft limits, ticks per second.
FAKE_MOTOR_DEFAULTS = {
    "velocity": 5.0,
    "precision": 3,
    "user_limits": (-100.0, 100.0),
    "tick_rate_hz": 10.0,
}


def fake_motor_pvdb(names: Sequence[str], velocity: float = FAKE_MOTOR_DEFAULTS["velocity"],
                    user_limits: Tuple[float, float] = FAKE_MOTOR_DEFAULTS["user_limits"],
                    tick_rate_hz: float = FAKE_MOTOR_DEFAULTS["tick_rate_hz"],
                    ) -> Dict[str, ChannelData]:
    """The caproto PV database of one caproto fake motor per name (``name``, ``name.VAL``,
    ``name.DMOV``...).

    Raises
    ------
    ValueError
        if two names would serve the same PV.
    """
    pvdb: Dict[str, ChannelData] = {}
    if not names:
        return pvdb
    from caproto.ioc_examples.fake_motor_record import FakeMotor   # caproto's, not ours
    for name in names:
        group = FakeMotor(prefix=name, velocity=velocity,
                          precision=FAKE_MOTOR_DEFAULTS["precision"], user_limits=user_limits,
                          tick_rate_hz=tick_rate_hz)
        for pvname, channel in group.pvdb.items():
            if pvname in pvdb:
                raise ValueError(f"PV {pvname!r} would be served twice")
            pvdb[pvname] = channel
    return pvdb
