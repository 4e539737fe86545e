"""The instruments server PVs of the training IOC (``sim:inst:command`` ...).

Plain soft records (no Python device support), laid out as :mod:`epics.instruments.layout`
says; a program running ``python -m epics.instruments FILE serve sim:inst:`` carries out the
requests written to them. A ``calcout`` sets ``busy`` to 1 when ``command`` is written with a
request, while the put is processed, so a client never sees a stale ``busy = 0``.

Threads: the training IOC's main thread, before ``iocInit``.
"""
from __future__ import annotations

from epics.instruments import layout

__all__ = ["build_instrument_pvs"]


def build_instrument_pvs(builder, device: str = "sim", prefix: str = "inst:") -> None:
    """Create the records ``<device>:<prefix><pv>`` with softioc's ``builder``."""
    builder.SetDeviceName(device)
    records = builder.records
    records.stringout(prefix + layout.INSTRUMENT, DESC="Instrument to act on")
    records.stringout(prefix + layout.POSITION, DESC="Position to go to or save")
    states = dict(zip(("ZRST", "ONST", "TWST", "THST"), layout.STATUSES))
    records.mbbo(prefix + layout.STATUS, DESC="Instruments server status", **states)
    records.waveform(prefix + layout.MESSAGE, FTVL="CHAR", NELM=layout.MESSAGE_LENGTH,
                     DESC="Instruments server message")
    busy = records.bo(prefix + layout.BUSY, ZNAM="Done", ONAM="Busy",
                      DESC="Instruments server busy")
    mark_busy = records.calcout(prefix + "busy:set", CALC="A>0", OOPT="When Non-zero",
                                INPA=f"{device}:{prefix}{layout.COMMAND} NPP",
                                OUT=builder.PP(busy), DESC="busy = 1 on a request")
    commands = dict(zip(("ZRST", "ONST", "TWST"), layout.COMMANDS))
    records.mbbo(prefix + layout.COMMAND, DESC="Instruments server request",
                 FLNK=mark_busy, **commands)
