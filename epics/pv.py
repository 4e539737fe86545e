"""The PV object: one Process Variable, connected, monitored and cached for you.

PyEpics 3.5's ``PV`` and ``get_pv``, with the same attributes, methods and callback keywords.
Underneath (see ``ca`` and ``_dispatch``): connection, access-rights and monitor callbacks arrive on
the dispatcher thread; a PV's setup after connecting is idempotent and is also done inline by a
thread that waits for the connection, so waiting never depends on the dispatcher being free (a
callback may create PVs and read them). ``char_value`` is computed only when a callback or an
attribute asks for it.
"""
from __future__ import annotations

import logging
import threading
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple, Union


from . import ca
from ._pv.attributes import PVAttributes
from ._pv.common import UNKNOWN, fmt_time, shape_array
from ._pv.connection import PVConnection
from ._pv.monitor import PVMonitor
from ._pv.writer import PVWriter

__all__ = ["PV", "get_pv", "clear_pvcache", "fmt_time", "default_pv_class"]

log = logging.getLogger("epics.pv")

#: (pvname, form, context) -> PV: the cache behind get_pv, caget and friends (PyEpics's name).
_PVcache_: Dict[Tuple[str, str, Optional[int]], "PV"] = {}
_PVcache_lock = threading.RLock()


def get_pv(pvname: str, form: str = "time", connect: bool = False,
           context: Optional[int] = None, timeout: float = 5.0,
           connection_callback: Optional[Callable] = None,
           access_callback: Optional[Callable] = None, callback: Optional[Callable] = None,
           verbose: bool = False, count: Optional[int] = None,
           auto_monitor: Union[None, bool, int] = None,
           monitor_delta: Optional[float] = None) -> "PV":
    """Return the cached PV for ``(pvname, form)`` in this context, creating it if needed.

    Parameters are those of :class:`PV`; ``connect=True`` waits up to ``timeout`` for the
    connection. Callbacks given for an existing PV are added to it (and run at once if it is
    connected, as PyEpics does).
    """
    if form not in ("native", "time", "ctrl"):
        form = "time"
    if context is not None:
        import warnings
        warnings.warn("the context argument of get_pv() is deprecated and ignored",
                      DeprecationWarning, stacklevel=2)
    context = ca.current_context()
    if isinstance(pvname, PV):
        pvname = pvname.pvname
    key = (pvname, form, context)
    with _PVcache_lock:
        thispv = _PVcache_.get(key)
        is_new = thispv is None
        if is_new:
            thispv = default_pv_class(pvname, form=form, callback=callback,
                                      connection_callback=connection_callback,
                                      access_callback=access_callback,
                                      connection_timeout=timeout, count=count,
                                      verbose=verbose, auto_monitor=auto_monitor,
                                      monitor_delta=monitor_delta)
            _PVcache_[key] = thispv
    if not is_new:
        if connection_callback is not None:
            if thispv.connected:
                connection_callback(pvname=thispv.pvname, conn=True, pv=thispv)
            thispv.connection_callbacks.append(connection_callback)
        if access_callback is not None:
            if thispv.connected:
                access_callback(thispv.read_access, thispv.write_access, pv=thispv)
            thispv.access_callbacks.append(access_callback)
        if callback is not None:
            index = thispv.add_callback(callback)
            thispv.run_callback(index)
        if auto_monitor and not thispv.auto_monitor:
            thispv.auto_monitor = auto_monitor
    if connect and not thispv.wait_for_connection(timeout=timeout):
        log.info("cannot connect to %s", pvname)
    return thispv


def clear_pvcache() -> None:
    """Disconnect and forget every PV made by :func:`get_pv` (``ca.clear_cache`` calls this)."""
    global _PVcache_
    with _PVcache_lock:
        cached = list(_PVcache_.values())
        _PVcache_.clear()
    for thispv in cached:
        try:
            thispv.disconnect()
        except Exception:
            log.debug("disconnecting %r failed", thispv, exc_info=True)


ca.register_clear_cache(clear_pvcache)


class PV(PVConnection, PVMonitor, PVWriter, PVAttributes):
    """An EPICS Process Variable.

    >>> p = PV('XXX:m1.VAL')     # connects in the background
    >>> p.get()                  # the latest value (from the monitor)
    >>> p.put(2.0, wait=True)    # write and wait for processing to finish
    >>> p.value = 3.0            # the same as p.put(3.0)

    Parameters
    ----------
    pvname : str
        The PV name.
    callback : callable or list of callables, optional
        Called on each value change with keyword arguments (pvname, value, char_value, count,
        ftype, type, status, severity, timestamp, precision, units, enum_strs, limits...,
        cb_info). Use ``**kws`` to accept them all.
    form : {'time', 'ctrl', 'native'}
        Which DBR variant the monitor and gets use: 'time' adds status, severity and timestamp,
        'ctrl' adds units, precision, limits and enum strings to every update.
    verbose : bool
        Log each change at INFO level (logger ``epics.pv``).
    auto_monitor : None, bool or int
        None: monitor unless the array has at least ``ca.AUTOMONITOR_MAXLENGTH`` elements;
        True/False: always/never; an int: monitor with that DBE mask.
    count : int, optional
        Most elements to read and monitor.
    connection_callback : callable, optional
        Called as ``connection_callback(pvname=..., conn=..., pv=...)`` on each connection change.
    connection_timeout : float, optional
        Seconds to wait for the connection (default ``ca.DEFAULT_CONNECTION_TIMEOUT``).
    access_callback : callable, optional
        Called as ``access_callback(read_access, write_access, pv=...)`` when rights change.
    monitor_delta : float, optional
        Least change that should produce a monitor event (sets the record's MDEL, or filters
        here if MDEL cannot be written).
    """

    _fmtsca = "<PV '%(pvname)s', count=%(count)i, type=%(type)s, access=%(access)s>"
    _fmtarr = "<PV '%(pvname)s', count=%(count)i/%(nelm)i, type=%(type)s, access=%(access)s>"
    _fields = ("pvname", "value", "char_value", "status", "ftype", "chid", "host", "count",
               "access", "write_access", "read_access", "severity", "timestamp",
               "posixseconds", "nanoseconds", "precision", "units", "enum_strs",
               "monitor_delta", "upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
               "lower_alarm_limit", "lower_warning_limit", "upper_warning_limit",
               "upper_ctrl_limit", "lower_ctrl_limit")

    def __init__(self, pvname: str, callback: Union[None, Callable, List[Callable]] = None,
                 form: str = "time", verbose: bool = False,
                 auto_monitor: Union[None, bool, int] = None, count: Optional[int] = None,
                 connection_callback: Optional[Callable] = None,
                 connection_timeout: Optional[float] = None,
                 access_callback: Optional[Callable] = None,
                 monitor_delta: Optional[float] = None) -> None:
        pvname = ca.check_pvname(pvname).strip()
        self.pvname = pvname
        self.form = form.lower() if form else "time"
        self.verbose = verbose
        self._auto_monitor = auto_monitor
        self.ftype: Optional[int] = None
        self.connected = False
        self.connection_timeout = (ca.DEFAULT_CONNECTION_TIMEOUT if connection_timeout is None
                                   else connection_timeout)
        self._user_max_count = count
        self._args = self._blank_args(count, monitor_delta)
        self._char_stale = True
        self._kind = UNKNOWN
        self._is_array = False
        self._stale_after_put = False
        self._monitor_delta_local = False
        self._monitor_last_value: Any = None
        self.connection_callbacks: List[Callable] = (
            [connection_callback] if connection_callback is not None else [])
        self.access_callbacks: List[Callable] = (
            [access_callback] if access_callback is not None else [])
        self.callbacks: Dict[int, Tuple[Callable, Optional[dict]]] = {}
        if isinstance(callback, (tuple, list)):
            for index, function in enumerate(callback):
                if callable(function):
                    self.callbacks[index] = (function, None)
        elif callable(callback):
            self.callbacks[0] = (callback, None)
        self._put_complete: Optional[bool] = None
        self._monref: Optional[ca.MonitorSubscription] = None
        self._monref_mask: Optional[int] = None
        self._conn_started = False
        self._setup_epoch = -1
        self._announced_epoch = -1     # the connection the connection callbacks were told of
        self._released = False
        self.context = ca.current_context()
        self._chid: Optional[int] = None
        self._channel: Optional[ca.Channel] = None
        self._acquire_channel()

    def get(self, count: Optional[int] = None, as_string: bool = False, as_numpy: bool = True,
            timeout: Optional[float] = None, with_ctrlvars: bool = False,
            use_monitor: bool = True) -> Any:
        """The current value (the monitor's latest unless ``use_monitor=False``).

        Returns None if the PV does not connect within its connection timeout or the read
        times out. ``as_string`` gives the text form (enum state name, formatted number, CHAR
        waveform as str); ``count`` limits array length; ``as_numpy=False`` gives lists.
        Raises :class:`ChannelAccessGetFailure` if the server refuses the read.
        """
        data = self.get_with_metadata(count=count, as_string=as_string, as_numpy=as_numpy,
                                      timeout=timeout, with_ctrlvars=with_ctrlvars,
                                      use_monitor=use_monitor)
        return data["value"] if data is not None else None

    def get_with_metadata(self, count: Optional[int] = None, as_string: bool = False,
                          as_numpy: bool = True, timeout: Optional[float] = None,
                          with_ctrlvars: bool = False, form: Optional[str] = None,
                          use_monitor: bool = True, as_namespace: bool = False
                          ) -> Union[None, dict, SimpleNamespace]:
        """The value and its metadata as a dict (or a namespace with ``as_namespace``).

        ``form`` ('time', 'ctrl', 'native') asks for other metadata than the PV's own form;
        ``with_ctrlvars`` adds the CTRL metadata. Returns None if not connected or timed out.
        """
        if not self.wait_for_connection(timeout=timeout):
            return None
        if form is None:
            form, ftype = self.form, self.ftype
        else:
            ftype = ca.promote_type(self._chid, use_ctrl=form == "ctrl", use_time=form == "time")
        if with_ctrlvars and self._args.get("units") is None and form != "ctrl":
            self.get_ctrlvars()
        value = self._args["value"]
        cached_length = len(value) if hasattr(value, "__len__") and \
            not isinstance(value, str) else 1
        if (not use_monitor or not self._auto_monitor or self._monref is None
                or self._stale_after_put or ftype != self.ftype or value is None
                or (count is not None and count > cached_length)):
            if count is None and self._user_max_count:
                count = self._user_max_count
            # numpy from ca always (its as_numpy=False gives ctypes arrays, as PyEpics's does);
            # the list a PV returns with as_numpy=False is made below
            metadata = ca.get_with_metadata(self._chid, ftype=ftype, count=count,
                                            timeout=timeout, as_numpy=True)
            if metadata is None:
                return None
            if ftype == self.ftype or form == "ctrl":
                self._args.update(metadata)
                self._char_stale = True
                self._stale_after_put = False
            if with_ctrlvars and form != "ctrl":
                metadata = {**self._args, **metadata}
            value = metadata["value"]
        else:
            metadata = self._args.copy()
        metadata.pop("cb_info", None)   # in the PV's data, but set only while a callback runs
        if as_string:
            metadata["value"] = self._format_char_value(value, call_ca=True)
        elif self._args["nelm"] > 1 and value is not None:
            metadata["value"] = shape_array(value, count, as_numpy)
        if as_namespace:
            return SimpleNamespace(**metadata)
        return metadata

    def get_ctrlvars(self, timeout: float = 5, warn: bool = True) -> Optional[dict]:
        """Read the CTRL metadata (units, precision, limits, enum_strs) into the PV."""
        if not self.wait_for_connection():
            return None
        metadata = ca.get_ctrlvars(self._chid, timeout=timeout, warn=warn)
        if metadata is not None:
            self._args.update(metadata)
            self._char_stale = True
        self.force_read_access_rights()
        return metadata

    def get_timevars(self, timeout: float = 5, warn: bool = True) -> Optional[dict]:
        """Read the TIME metadata (status, severity, timestamp) into the PV."""
        if not self.wait_for_connection():
            return None
        metadata = ca.get_timevars(self._chid, timeout=timeout, warn=warn)
        if metadata is not None:
            self._args.update(metadata)
        return metadata

    # --- writing --------------------------------------------------------------------------------

    def __repr__(self) -> str:
        if not self.connected:
            return f"<PV '{self.pvname}': not connected>"
        return (self._fmtsca if (self._args["nelm"] or 1) <= 1 else self._fmtarr) % self._args

    def __eq__(self, other: Any) -> bool:
        try:
            return self._chid is not None and self._chid == ca.chid_int(other.chid)
        except (AttributeError, ca.ChannelAccessException):
            return False

    __hash__ = object.__hash__

    def disconnect(self, deepclean: bool = True) -> None:
        """Release the PV: callbacks and monitor cleared, removed from the get_pv cache, and the
        channel itself cleared once no other PV object uses it."""
        if not self._release():
            return
        with _PVcache_lock:
            for key, cached in list(_PVcache_.items()):
                if cached is self:
                    del _PVcache_[key]


#: The class get_pv makes (ophyd replaces it with its own subclass).
default_pv_class = PV
