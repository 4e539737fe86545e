"""epics.aio: Channel Access for asyncio, with aioca 2.1's API, on epics's own libca context.

Code written for aioca runs by changing ``import aioca`` into ``import epics.aio as aioca``
(differences: docs/aio.rst). It uses the same context, channels and callback thread as the
synchronous API, so a process may mix both and a PV used by both is one channel. Next to the
aioca functions there is a PyEpics-flavoured :class:`PV` for ``async with``/``async for``.

Threads: everything public runs on the calling event loop's thread; libca's answers reach it
from epics.ca's dispatcher thread through a per-loop bridge (``_loop``). Several loops in
several threads may use it at once.
"""
from ._catools import (CAInfo, ChannelInfo, caget, cainfo, caput, connect, get_channel_infos,
                       purge_channel_caches, run)
from ._constants import (DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE, DBR_CHAR, DBR_CHAR_BYTES,
                         DBR_CHAR_STR, DBR_CHAR_UNICODE, DBR_CLASS_NAME, DBR_DOUBLE, DBR_ENUM,
                         DBR_ENUM_STR, DBR_FLOAT, DBR_LONG, DBR_PUT_ACKS, DBR_PUT_ACKT,
                         DBR_SHORT, DBR_STRING, DBR_STSACK_STRING, FORMAT_CTRL, FORMAT_RAW,
                         FORMAT_TIME, ca_extra_fields)
from ._monitor import PVMonitor
from ._pv import PV
from ._subscription import Subscription, camonitor
from ._values import CANothing
from .. import __version__

__all__ = [
    "Subscription", "caput", "caget", "camonitor", "connect", "cainfo", "CAInfo", "CANothing",
    "ChannelInfo", "get_channel_infos", "purge_channel_caches", "run", "__version__",
    "DBE_VALUE", "DBE_LOG", "DBE_ALARM", "DBE_PROPERTY",
    "DBR_STRING", "DBR_SHORT", "DBR_FLOAT", "DBR_ENUM", "DBR_CHAR", "DBR_LONG", "DBR_DOUBLE",
    "DBR_CHAR_STR", "DBR_CHAR_UNICODE", "DBR_ENUM_STR", "DBR_CHAR_BYTES", "DBR_PUT_ACKT",
    "DBR_PUT_ACKS", "DBR_STSACK_STRING", "DBR_CLASS_NAME",
    "FORMAT_RAW", "FORMAT_TIME", "FORMAT_CTRL", "ca_extra_fields",
    # the PyEpics-flavoured part
    "PV", "PVMonitor",
]
