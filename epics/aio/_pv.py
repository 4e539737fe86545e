"""A PyEpics-flavoured PV for asyncio: ``async with PV(name) as pv``, ``await pv.get()``,
``await pv.put(value, wait=True)``, ``async for value in pv.monitor()``.

Runs on the event loop's thread; it is a thin layer over the same channels and requests as the
aioca functions (one libca channel per PV name, shared with the synchronous ``epics.PV``).
Failures raise :class:`~epics.aio.CANothing` (falsy, ``.errorcode``) rather than returning None
as the synchronous PV does: a coroutine has no reason to hide them.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from .. import ca, dbr
from ._channels import AioChannel, channel_cache
from ._constants import (DBR_CHAR_STR, DBR_ENUM_STR, DEFAULT_TIMEOUT, FORMAT_CTRL, FORMAT_RAW,
                         FORMAT_TIME)
from ._monitor import PVMonitor
from ._requests import await_one, start_connect, start_get, start_put

__all__ = ["PV"]

_FORMATS = {"native": FORMAT_RAW, "time": FORMAT_TIME, "ctrl": FORMAT_CTRL}
# attributes of an augmented CTRL/TIME value, under PyEpics's metadata names
_METADATA_NAMES = {"status": "status", "severity": "severity", "timestamp": "timestamp",
                   "units": "units", "precision": "precision", "enums": "enum_strs",
                   "upper_disp_limit": "upper_disp_limit", "lower_disp_limit": "lower_disp_limit",
                   "upper_alarm_limit": "upper_alarm_limit",
                   "lower_alarm_limit": "lower_alarm_limit",
                   "upper_warning_limit": "upper_warning_limit",
                   "lower_warning_limit": "lower_warning_limit",
                   "upper_ctrl_limit": "upper_ctrl_limit", "lower_ctrl_limit": "lower_ctrl_limit"}


def _metadata(value: Any) -> Dict[str, Any]:
    attributes = getattr(value, "__dict__", {})
    found = {pyepics: attributes[aio] for aio, pyepics in _METADATA_NAMES.items()
             if aio in attributes}
    if "enum_strs" in found:
        found["enum_strs"] = tuple(found["enum_strs"])
    return found


class PV:
    """One PV for coroutines, with PyEpics's names.

    Parameters
    ----------
    pvname : str
        The PV name.
    form : str
        'time' (default), 'ctrl' or 'native': the metadata :meth:`get_with_metadata` and
        :meth:`monitor` bring, as in ``epics.PV``.
    timeout : float
        Default seconds for connecting, reading and writing.
    """

    def __init__(self, pvname: str, form: str = "time", timeout: float = DEFAULT_TIMEOUT) -> None:
        if form not in _FORMATS:
            raise ValueError(f"PV {pvname!r}: form must be 'time', 'ctrl' or 'native', "
                             f"not {form!r}")
        self.pvname = pvname
        self.form = form
        self.timeout = timeout
        self._channel: AioChannel = channel_cache().get(pvname)
        self._monitors: List[PVMonitor] = []

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<aio.PV {self.pvname!r} {state}>"

    # --- state ----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._channel.connected and not self._channel.closed

    @property
    def chid(self) -> int:
        return self._channel.chid

    @property
    def count(self) -> Optional[int]:
        """Element count of the channel (None until connected)."""
        return self._channel.element_count() if self.connected else None

    @property
    def ftype(self) -> Optional[int]:
        """Native DBR type of the channel (None until connected)."""
        return self._channel.field_type() if self.connected else None

    @property
    def host(self) -> Optional[str]:
        return ca.host_name(self.chid) if self.connected else None

    @property
    def read_access(self) -> bool:
        return self.connected and bool(ca.read_access(self.chid))

    @property
    def write_access(self) -> bool:
        return self.connected and bool(ca.write_access(self.chid))

    # --- connection ----------------------------------------------------------------------------
    async def wait_for_connection(self, timeout: Optional[float] = None) -> bool:
        """Wait until connected; False if not within ``timeout`` (default: the PV's)."""
        result = await await_one(start_connect(self._channel), self.pvname,
                                 self.timeout if timeout is None else timeout, throw=False)
        return bool(result)

    async def __aenter__(self) -> "PV":
        await await_one(start_connect(self._channel), self.pvname, self.timeout, throw=True)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close this PV's monitors (the channel stays cached for the loop, as aioca's do)."""
        for monitor in self._monitors:
            monitor.close()
        self._monitors.clear()

    disconnect = close

    # --- reading and writing -------------------------------------------------------------------
    async def get(self, count: Optional[int] = None, as_string: bool = False,
                  timeout: Optional[float] = None) -> Any:
        """The value (an augmented value: it carries ``.timestamp``, ``.severity``...).

        ``count`` limits the elements of an array; ``as_string`` gives enum state names and
        char arrays as text, and other values as ``str``. Raises CANothing on failure."""
        datatype = None
        if as_string and self.connected:
            ftype = self.ftype
            if ftype == dbr.ENUM:
                datatype = DBR_ENUM_STR
            elif ftype == dbr.CHAR and (self.count or 1) > 1:
                datatype = DBR_CHAR_STR
        value = await await_one(start_get(self._channel, datatype, FORMAT_TIME, count or 0),
                                self.pvname, self.timeout if timeout is None else timeout, True)
        return str(value) if as_string and datatype is None else value

    async def get_with_metadata(self, count: Optional[int] = None, form: Optional[str] = None,
                                timeout: Optional[float] = None) -> Dict[str, Any]:
        """``{'value': ..., 'status': ..., 'severity': ..., 'timestamp': ..., ...}`` (PyEpics's
        keys; the CTRL fields too with ``form='ctrl'``)."""
        value = await await_one(start_get(self._channel, None, _FORMATS[form or self.form],
                                          count or 0),
                                self.pvname, self.timeout if timeout is None else timeout, True)
        found = _metadata(value)
        found["value"] = value
        return found

    async def get_ctrlvars(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The CTRL metadata: units, precision, limits, enum_strs, status, severity."""
        value = await await_one(start_get(self._channel, None, FORMAT_CTRL, 1), self.pvname,
                                self.timeout if timeout is None else timeout, True)
        return _metadata(value)

    async def get_timevars(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The TIME metadata: status, severity, timestamp."""
        value = await await_one(start_get(self._channel, None, FORMAT_TIME, 1), self.pvname,
                                self.timeout if timeout is None else timeout, True)
        return _metadata(value)

    async def put(self, value: Any, wait: bool = False, timeout: Optional[float] = None) -> None:
        """Write ``value``; with ``wait`` return once the server has finished processing.
        Raises CANothing on failure or timeout."""
        await await_one(start_put(self._channel, value, None, wait), self.pvname,
                        self.timeout if timeout is None else timeout, True)

    def monitor(self, maxsize: int = 1000, latest_only: bool = False,
                events: Optional[int] = None) -> PVMonitor:
        """``async for value in pv.monitor():`` the updates, through a queue of ``maxsize``
        (the oldest dropped when the consumer is behind; ``latest_only`` keeps just the
        latest). Close it (``async with``, :meth:`PVMonitor.close`) or close the PV."""
        monitor = PVMonitor(self.pvname, maxsize=maxsize, latest_only=latest_only,
                            format=_FORMATS[self.form], events=events)
        self._monitors = [m for m in self._monitors if not m.closed] + [monitor]
        return monitor
