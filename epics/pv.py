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
import math
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from numpy import integer as numpy_integer

from . import ca, dbr
from ._errors import CANotConnectedError, CAValueError

__all__ = ["PV", "get_pv", "clear_pvcache", "fmt_time", "default_pv_class"]

log = logging.getLogger("epics.pv")
callback_log = logging.getLogger("epics.callbacks")

#: (pvname, form, context) -> PV: the cache behind get_pv, caget and friends (PyEpics's name).
_PVcache_: Dict[Tuple[str, str, Optional[int]], "PV"] = {}
_PVcache_lock = threading.RLock()
# Serialises connection setups (the dispatcher's and a waiting thread's); one lock for all PVs
# rather than one each, since there may be tens of thousands of PVs and setups are short.
_SETUP_LOCK = threading.RLock()

_ACCESS_NAMES = ("no access", "read-only", "write-only", "read/write")
# How a value turns into char_value, decided once per connection.
_UNKNOWN, _FLOAT, _ENUM, _STRING, _CHAR, _ARRAY, _OTHER = range(7)
_TIME_KEYS = ("status", "severity", "timestamp", "posixseconds", "nanoseconds")


def fmt_time(tstamp: Optional[float] = None) -> str:
    """'2014-10-21 09:02:09.94155': a POSIX time (default now) as camonitor prints it."""
    if tstamp is None:
        tstamp = time.time()
    seconds, fraction = divmod(tstamp, 1)
    hundred_thousandths = round(1.e5 * fraction)
    if hundred_thousandths >= 100000:
        seconds, hundred_thousandths = seconds + 1, 0
    return "%s.%5.5i" % (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)),
                         hundred_thousandths)


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


class PV:
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
        pvname = ca._check_pvname(pvname).strip()
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
        self._kind = _UNKNOWN
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
        self._monref: Optional[ca._Subscription] = None
        self._monref_mask: Optional[int] = None
        self._conn_started = False
        self._setup_epoch = -1
        self._announced_epoch = -1     # the connection the connection callbacks were told of
        self._released = False
        self.context = ca.current_context()
        self._chid: Optional[int] = None
        self._channel: Optional[ca._Channel] = None
        self._acquire_channel()

    def _acquire_channel(self) -> None:
        """Take the channel of this PV's name (shared with every other user of the name), at
        creation and when a disconnected PV is connected again."""
        chid = ca._chid_int(ca.create_channel(self.pvname))
        self._chid = self._args["chid"] = chid
        # the channel record first: listening on a connected channel brings its access rights
        # at once, on the dispatcher thread, and the handler needs the record
        self._channel = ca._channel(chid)[1]
        ca._listen(chid, self)
        self._channel.pv_users += 1
        if self._channel.conn:   # a shared channel, already connected: tell the callbacks now
            self._on_connect(conn=True)

    def _revive(self) -> None:
        """Undo :meth:`disconnect` for :meth:`reconnect` and :meth:`force_connect`, which
        connect a disconnected PV again in PyEpics: a channel again, callbacks added since kept
        (the PV stays out of the :func:`get_pv` cache, as in PyEpics)."""
        with _SETUP_LOCK:
            if not self._released:
                return
            self._released = False
            self._setup_epoch = -1
            self._announced_epoch = -1
        self._args = self._blank_args(self._user_max_count, self._args.get("monitor_delta"))
        self._acquire_channel()

    # --- connection -----------------------------------------------------------------------------

    def _setup_connection(self) -> bool:
        """Read what a connection tells (count, type, host, access) and start the monitor.

        Idempotent per connection: called by the connection callback and by threads that wait
        for the connection, whichever comes first.
        """
        channel = self._channel
        with _SETUP_LOCK:
            if self._released:
                return False
            epoch = channel.connect_count
            if self._setup_epoch == epoch and self.connected:
                return True
            if not channel.conn or self._chid is None:
                return False
            chid = channel.chid_int
            nelm = ca.element_count(chid)
            native = ca.field_type(chid)
            if native < 0:   # disconnected again meanwhile
                return False
            self.ftype = ca.promote_fieldtype(native, use_ctrl=self.form == "ctrl",
                                              use_time=self.form == "time")
            args = self._args
            args["nelm"] = nelm
            args["count"] = min(nelm, self._user_max_count or nelm)
            # shared strings: 10,000 PVs of one IOC need one copy of each, not 10,000
            args["host"] = sys.intern(ca.host_name(chid))
            args["ftype"] = self.ftype
            args["type"] = sys.intern(dbr.Name(native).lower())
            args["typefull"] = sys.intern(dbr.Name(self.ftype).lower())
            self._kind = _value_kind(native, nelm)
            self._is_array = nelm > 1
            self._read_access_rights()
            self._setup_epoch = epoch
            self.connected = True
            self._check_auto_monitor()
            return True

    @property
    def chid(self) -> Optional[ca.chid_t]:
        """The channel ID (None once released), for the ``ca`` functions."""
        return None if self._chid is None else ca.chid_t(self._chid)

    @chid.setter
    def chid(self, value: Any) -> None:
        self._chid = None if value is None else ca._chid_int(value)

    def _on_connect(self, pvname: Optional[str] = None, chid: Any = None,
                    conn: bool = True) -> None:
        """Connection callback (dispatcher thread)."""
        if self._released or self._channel is None:   # __init__ finishes the setup itself
            return
        if conn:
            if not self._setup_connection():
                return
            with _SETUP_LOCK:   # the callbacks run once per connection, whoever gets here first
                epoch = self._channel.connect_count
                if self._announced_epoch == epoch:
                    return
                self._announced_epoch = epoch
        else:
            self.connected = False
        for callback in list(self.connection_callbacks):
            if callable(callback):
                _run_user(callback, pvname=self.pvname, conn=conn, pv=self)
        if not conn and self.verbose:
            log.info("PV %r disconnected", self.pvname)

    def _read_access_rights(self) -> None:
        chid = self._channel.chid_int
        read, write = ca.read_access(chid) == 1, ca.write_access(chid) == 1
        self._args.update(read_access=read, write_access=write,
                          access=_ACCESS_NAMES[read + 2 * write])

    def force_read_access_rights(self) -> None:
        """Read the access rights from libca now rather than from the last event."""
        if self._chid is not None:
            self._read_access_rights()

    def _on_access_rights_event(self, read_access: bool, write_access: bool) -> None:
        if self._released or self._channel is None:
            return
        self._args.update(read_access=read_access, write_access=write_access,
                          access=_ACCESS_NAMES[read_access + 2 * write_access])
        for callback in list(self.access_callbacks):
            if callable(callback):
                _run_user(callback, read_access, write_access, pv=self)

    def wait_for_connection(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` (default ``connection_timeout``) for the connection; returns
        whether the PV is connected."""
        if self.connected and self._channel.conn:
            return True
        return self.connect(timeout=timeout)

    def connect(self, timeout: Optional[float] = None) -> bool:
        """Make sure the PV is connected, waiting up to ``timeout``; returns whether it is."""
        self._conn_started = True
        if self._chid is None or self._released:   # disconnect()ed: reconnect() revives it
            return False
        if not self._channel.conn:
            ca.connect_channel(self._chid, timeout=self.connection_timeout if timeout is None
                               else timeout)
        if self._channel.conn and self._setup_connection() and \
                self._announced_epoch != self._channel.connect_count:
            # As in PyEpics, a PV is reported connected only after its connection callbacks
            # ran: if the dispatcher has not run them yet, they run here (once per connection)
            self._on_connect(conn=True)
        return self.connected and self._channel.conn and self.ftype is not None

    def force_connect(self, pvname: Optional[str] = None, chid: Any = None, conn: bool = True,
                      **kws: Any) -> None:
        """Run the connection handling now (PyEpics compatibility); a PV released by
        :meth:`disconnect` takes a channel again and connects in the background."""
        if self._released:
            self._revive()
            return
        self._setup_epoch = -1
        self._announced_epoch = -1
        self._on_connect(pvname=pvname, chid=chid, conn=conn)

    def reconnect(self) -> bool:
        """Drop the monitor and connect again (also after :meth:`disconnect`, as in PyEpics);
        returns whether the PV is connected."""
        self._revive()
        self._clear_auto_monitor_subscription()
        self.connected = False
        self._conn_started = False
        self._setup_epoch = -1
        return self.wait_for_connection()

    def poll(self, evt: float = 1.e-4, iot: float = 1.0) -> None:
        """Let CA work for a moment (``ca.poll``)."""
        ca.poll(evt=evt, iot=iot)

    # --- monitors -------------------------------------------------------------------------------

    @property
    def auto_monitor(self) -> Union[None, bool, int]:
        """None (monitor small PVs), True/False, or the DBE mask of the monitor."""
        return self._auto_monitor

    @auto_monitor.setter
    def auto_monitor(self, value: Union[None, bool, int]) -> None:
        self._auto_monitor = value
        self._check_auto_monitor()

    @property
    def auto_monitor_mask(self) -> Optional[int]:
        """The DBE mask of the running monitor (None when not monitored)."""
        return self._monref_mask

    def clear_auto_monitor(self) -> None:
        """Stop monitoring."""
        self.auto_monitor = False

    def _clear_auto_monitor_subscription(self) -> None:
        subscription, self._monref, self._monref_mask = self._monref, None, None
        if subscription is not None:
            try:
                ca.unsubscribe(subscription)
            except Exception:   # the channel or CA is already gone
                log.debug("clearing the monitor of %r failed", self.pvname, exc_info=True)

    def _check_auto_monitor(self) -> None:
        if not self.connected or self._chid is None:
            return
        count = self._args["count"]
        if count is None:
            return
        if self._auto_monitor is None:
            self._auto_monitor = count < ca.AUTOMONITOR_MAXLENGTH
        if not self._auto_monitor:
            self._clear_auto_monitor_subscription()
            return
        mask = (ca.DEFAULT_SUBSCRIPTION_MASK if self._auto_monitor is True
                else int(self._auto_monitor))
        if self._monref is not None:
            if self._monref_mask == mask:
                return
            self._clear_auto_monitor_subscription()
        self._apply_monitor_delta()
        self._monref_mask = mask
        self._monref = ca.subscribe(self._channel.chid_int, self.ftype, self._on_monitor,
                                    mask=mask, count=self._user_max_count or 0)

    def _apply_monitor_delta(self) -> None:
        delta = self._args.get("monitor_delta")
        if delta is None or self._args["count"] != 1 or \
                dbr.native_type(self.ftype) not in (dbr.FLOAT, dbr.DOUBLE):
            return
        mdel = ca.create_channel(self.pvname.split(".", 1)[0] + ".MDEL")
        written = False
        if ca.connect_channel(mdel, timeout=self.connection_timeout) and ca.write_access(mdel):
            written = ca.put(mdel, float(delta), wait=True, timeout=1.0) == 1
        self._monitor_delta_local = not written

    def _on_monitor(self, value: Any, metadata: dict) -> None:
        """A monitor update (dispatcher thread): store it, then run the user callbacks."""
        args = self._args
        if self._monitor_delta_local:
            last = self._monitor_last_value
            try:
                if last is not None and abs(value - last) < args["monitor_delta"]:
                    return
            except TypeError:
                pass
            self._monitor_last_value = value
        if metadata:
            args.update(metadata)
        else:
            args["timestamp"] = time.time()
        args["value"] = value
        self._stale_after_put = False
        if self._is_array and not isinstance(value, str):   # arrays: count is the length
            args["count"] = len(value) if hasattr(value, "__len__") else 1
        callbacks = self.callbacks
        if len(callbacks) == 1:   # the common case, inlined: this runs for every update
            args["char_value"] = self._format_char_value(value, False)
            self._char_stale = False
            for index, (function, extra) in callbacks.items():
                if extra:
                    keywords = {**args, **extra, "cb_info": (index, self)}
                else:
                    # no copy: a callee's **kwargs is a new dict anyway, so it cannot change
                    # args; cb_info is put in only for the call
                    keywords = args
                    args["cb_info"] = (index, self)
                try:
                    function(**keywords)
                except Exception:
                    callback_log.exception("callback %s of PV %r raised (the other callbacks "
                                           "still run)", getattr(function, "__qualname__",
                                                                 function), self.pvname)
                finally:
                    args["cb_info"] = None
                break
        elif callbacks:
            self._char_stale = True
            self.run_callbacks()
        else:
            self._char_stale = True
        if self.verbose:
            log.info("%s: %s (%s)", self.pvname, self._char_value_now(False),
                     fmt_time(args["timestamp"]))

    # --- callbacks ------------------------------------------------------------------------------

    def run_callbacks(self) -> None:
        """Run every user callback with the current data (in index order)."""
        callbacks = self.callbacks
        if not callbacks:
            return
        keywords = self._args.copy()
        keywords["char_value"] = self._char_value_now(False)
        if len(callbacks) == 1:
            for index, (function, extra) in list(callbacks.items()):
                if extra:
                    keywords.update(extra)
                keywords["cb_info"] = (index, self)
                self._call(function, keywords)
            return
        for index in sorted(callbacks):
            entry = callbacks.get(index)
            if entry is not None:
                function, extra = entry
                one = {**keywords, **extra} if extra else keywords.copy()
                one["cb_info"] = (index, self)
                self._call(function, one)

    def _call(self, function: Callable, keywords: dict) -> None:
        try:
            function(**keywords)
        except Exception:
            callback_log.exception("callback %s of PV %r raised (the other callbacks still run)",
                                   getattr(function, "__qualname__", function), self.pvname)

    def run_callback(self, index: int) -> None:
        """Run the user callback of ``index`` with the current data."""
        entry = self.callbacks.get(index)
        if entry is None:
            return
        function, extra = entry
        keywords = self._args.copy()
        keywords["char_value"] = self._char_value_now(False)
        if extra:
            keywords.update(extra)
        keywords["cb_info"] = (index, self)
        if callable(function):
            _run_user(function, **keywords)

    def add_callback(self, callback: Optional[Callable] = None, index: Optional[int] = None,
                     run_now: bool = False, with_ctrlvars: bool = True, **kw: Any) -> int:
        """Add a value-change callback; returns its index (for :meth:`remove_callback`).

        Extra keywords are passed to the callback each time. ``with_ctrlvars`` reads the
        CTRL metadata now (units, precision...) so the callback gets them; ``run_now`` runs
        the callback once at once with the current value.
        """
        if with_ctrlvars and self.connected:   # first, so the callback's first char_value
            self.get_ctrlvars()                 # already has the precision and state names
        if callable(callback):
            if index is None:
                index = 1 + max(self.callbacks) if self.callbacks else 1
            self.callbacks[index] = (callback, kw or None)
        if run_now:
            self.get(as_string=True)
            if self.connected:
                self.run_callback(index)
        return index

    def remove_callback(self, index: Optional[int] = None) -> None:
        """Remove the callback of ``index``."""
        self.callbacks.pop(index, None)

    def clear_callbacks(self, with_access_callback: bool = False,
                        with_connect_callback: bool = False) -> None:
        """Remove every value callback (and optionally access and connection callbacks)."""
        self.callbacks.clear()
        if with_access_callback:
            self.access_callbacks = []
        if with_connect_callback:
            self.connection_callbacks = []

    # --- reading --------------------------------------------------------------------------------

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
            metadata["value"] = _shape_array(value, count, as_numpy)
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

    def put(self, value: Any, wait: bool = False, timeout: float = 30.0,
            use_complete: bool = False, callback: Optional[Callable] = None,
            callback_data: Any = None, raise_on_error: Optional[bool] = None) -> Optional[int]:
        """Write a value; optionally wait for processing to complete or get called back.

        Parameters
        ----------
        value : object
            Number, str, sequence or array; an enum PV also takes a state name.
        wait : bool
            Block until the server has finished processing (or ``timeout`` seconds).
        timeout : float
            Most seconds to wait with ``wait=True``.
        use_complete : bool
            Don't block, but track completion in :attr:`put_complete`.
        callback : callable, optional
            ``callback(pvname=..., data=callback_data)`` when processing has completed.
        raise_on_error : bool, optional
            Raise :class:`CANotConnectedError` rather than return None when the PV does not
            connect, :class:`CAValueError` for an enum index the PV has no state for or an empty
            sequence, and :class:`CASeverityException` for a write the server completes with a
            failure (``wait=True``); by default, as in PyEpics, the index goes to the server as
            it is, the sequence fills the array, and the failure is logged.
            None: ``ca.RAISE_ON_ERROR``.

        Returns
        -------
        int or None
            1 on success, -1 if ``wait=True`` timed out, None if the PV did not connect within
            its connection timeout (as PyEpics; the failure is also logged).

        Raises
        ------
        CAValueError, CATypeError, CAAccessDenied
            for a value the PV cannot take, or a PV that may not be written.
        """
        if not self.wait_for_connection():
            message = (f"cannot put to {self.pvname!r}: not connected (waited "
                       f"{self.connection_timeout} s)")
            if ca.raising(raise_on_error):
                raise CANotConnectedError(message, pvname=self.pvname, function="put")
            log.warning("%s", message)
            return None
        if dbr.native_type(self.ftype) == dbr.ENUM:
            if isinstance(value, str):
                value = self._enum_index(value)
            elif (isinstance(value, (int, numpy_integer)) and not isinstance(value, bool)
                  and ca.raising(raise_on_error)):
                self._check_enum_index(int(value))
        complete_callback = None
        if use_complete or callback is not None:
            def complete_callback(pvname: Optional[str] = None, **kws: Any) -> None:
                self._put_complete = True
                if callback is not None:
                    callback(pvname=pvname, **kws)
        self._put_complete = False if use_complete else None
        status = ca.put(self._chid, value, wait=wait, timeout=timeout, callback=complete_callback,
                        callback_data=callback_data, raise_on_error=raise_on_error)
        if wait and status == 1:
            # The server has processed the write, but its monitor update may still be on the
            # way: until it arrives, get() reads from the server rather than the old value.
            self._stale_after_put = True
        return status

    def _enum_index(self, value: str) -> Union[int, str]:
        """The index of an enum state name (the name itself if the server should map it)."""
        strings = self._args.get("enum_strs")
        if strings is None:
            strings = (self.get_ctrlvars() or {}).get("enum_strs")
        if strings and value in strings:
            return list(strings).index(value)
        stripped = value.strip()
        if stripped.isdigit() and strings and int(stripped) < len(strings):
            return int(stripped)
        raise CAValueError(f"{value!r} is not a state of enum PV {self.pvname!r}; its states "
                           f"are {list(strings or ())}", pvname=self.pvname, function="put")

    def _check_enum_index(self, index: int) -> None:
        """An enum index must name one of the PV's states."""
        strings = self._args.get("enum_strs")
        if strings is None:
            strings = (self.get_ctrlvars() or {}).get("enum_strs")
        if strings and not 0 <= index < len(strings):
            raise CAValueError(f"{index} is not a state index of enum PV {self.pvname!r}; its "
                               f"states are {list(strings)} (0..{len(strings) - 1})",
                               pvname=self.pvname, function="put")

    @property
    def put_complete(self) -> Optional[bool]:
        """True once the last ``put(use_complete=True)`` has completed (None if none)."""
        return self._put_complete

    # --- text -----------------------------------------------------------------------------------

    def _char_value_now(self, call_ca: bool) -> str:
        if self._char_stale:
            self._args["char_value"] = self._format_char_value(self._args["value"], call_ca)
            self._char_stale = False
        return self._args["char_value"]

    def _format_char_value(self, value: Any, call_ca: bool = True) -> str:
        """The text form of a value, as PyEpics writes it (precision, enum names...)."""
        if value is None:
            return "None"
        kind = self._kind
        if kind == _FLOAT:
            precision = self._args["precision"]
            if precision is None and call_ca:
                self.get_ctrlvars()
                precision = self._args["precision"]
            try:
                if precision is None:
                    return str(value)
                if value and 4 < abs(int(math.log10(abs(value)))):   # 0 prints as 0.00
                    return "%.*g" % (precision, value)
                return "%.*f" % (precision, value)
            except (ValueError, TypeError, ArithmeticError, OverflowError):
                return str(value)
        if kind == _ENUM:
            if call_ca and not self._args["enum_strs"]:
                self.get_ctrlvars()
            try:
                return self._args["enum_strs"][value]
            except (TypeError, KeyError, IndexError):
                return str(value)
        if kind == _STRING:
            return value if isinstance(value, str) else " ".join(map(str, value))
        if kind == _CHAR and ((self._args["count"] or 1) < ca.AUTOMONITOR_MAXLENGTH or call_ca):
            return dbr.char_array_to_str(value if hasattr(value, "__len__") else [value])
        if kind == _ARRAY or (kind == _CHAR) or (hasattr(value, "__len__")
                                                  and not isinstance(value, str)):
            length = len(value) if hasattr(value, "__len__") else 1
            return f"<array size={length}, type={self._args['typefull']}>"
        return repr(value)

    # --- attributes -----------------------------------------------------------------------------

    def _getarg(self, arg: str) -> Any:
        """An attribute from the PV's data, reading it from the server if not yet known."""
        if self._args["value"] is None:
            self.get()
        if self._args.get(arg) is None:
            if arg in _TIME_KEYS:
                self.get_timevars(timeout=1, warn=False)
            else:
                self.get_ctrlvars(timeout=1, warn=False)
        return self._args.get(arg, None)

    @property
    def value(self) -> Any:
        """The current value; assigning to it puts (``pv.value = 2`` is ``pv.put(2)``)."""
        return self._getarg("value")

    @value.setter
    def value(self, value: Any) -> None:
        self.put(value)

    @property
    def char_value(self) -> str:
        """The value as text: formatted with the PV's precision, enum state names, CHAR
        waveforms as strings."""
        value = self._getarg("value")
        if self._char_stale or self._args["char_value"] is None:
            self._args["char_value"] = self._format_char_value(value, call_ca=True)
            self._char_stale = False
        return self._args["char_value"]

    @property
    def status(self) -> Optional[int]:
        return self._getarg("status")

    @property
    def char_status(self) -> str:
        return dbr.AlarmStatus(self.status).name

    @property
    def severity(self) -> Optional[int]:
        return self._getarg("severity")

    @property
    def char_severity(self) -> str:
        return dbr.AlarmSeverity(self.severity).name

    @property
    def type(self) -> str:
        """The native type name: 'double', 'enum', 'string', 'char'..."""
        return self._args["type"]

    @property
    def typefull(self) -> str:
        """The type name of the PV's form: 'time_double', 'ctrl_enum'..."""
        return self._args["typefull"]

    @property
    def host(self) -> Optional[str]:
        return self._getarg("host")

    @property
    def count(self) -> Optional[int]:
        """Number of elements (the current length for arrays; see :attr:`nelm`)."""
        if self._args["count"] is not None:
            return self._args["count"]
        return self._getarg("count")

    @property
    def nelm(self) -> int:
        """Number of elements the channel can hold (an array's NELM)."""
        if self._chid is None:
            return -1
        return ca.element_count(self._chid)

    @property
    def read_access(self) -> Optional[bool]:
        return self._getarg("read_access")

    @property
    def write_access(self) -> Optional[bool]:
        return self._getarg("write_access")

    @property
    def access(self) -> Optional[str]:
        return self._getarg("access")

    @property
    def monitor_delta(self) -> Optional[float]:
        return self._args.get("monitor_delta")

    @property
    def timestamp(self) -> Optional[float]:
        return self._getarg("timestamp")

    @property
    def posixseconds(self) -> Optional[int]:
        return self._getarg("posixseconds")

    @property
    def nanoseconds(self) -> Optional[int]:
        return self._getarg("nanoseconds")

    @property
    def precision(self) -> Optional[int]:
        return self._getarg("precision")

    @property
    def units(self) -> Optional[str]:
        return self._getarg("units")

    @property
    def enum_strs(self) -> Optional[Tuple[str, ...]]:
        return self._getarg("enum_strs")

    @property
    def upper_disp_limit(self) -> Any:
        return self._getarg("upper_disp_limit")

    @property
    def lower_disp_limit(self) -> Any:
        return self._getarg("lower_disp_limit")

    @property
    def upper_alarm_limit(self) -> Any:
        return self._getarg("upper_alarm_limit")

    @property
    def lower_alarm_limit(self) -> Any:
        return self._getarg("lower_alarm_limit")

    @property
    def lower_warning_limit(self) -> Any:
        return self._getarg("lower_warning_limit")

    @property
    def upper_warning_limit(self) -> Any:
        return self._getarg("upper_warning_limit")

    @property
    def upper_ctrl_limit(self) -> Any:
        return self._getarg("upper_ctrl_limit")

    @property
    def lower_ctrl_limit(self) -> Any:
        return self._getarg("lower_ctrl_limit")

    @property
    def info(self) -> Optional[str]:
        """A paragraph describing the PV (what :func:`epics.cainfo` prints)."""
        return self._getinfo()

    def _getinfo(self) -> Optional[str]:
        if not self.wait_for_connection():
            return None
        self.get_ctrlvars()
        if self._args["value"] is None:
            self.get()
        args = self._args
        form = self.form if self.form in ("time", "ctrl") else "native"
        lines = [f"== {self.pvname} ({form}_{args['type']}) =="]
        value = args["value"]
        if (args["count"] or 1) == 1:
            lines.append(f"value = {value}")
        else:
            shown = ", ".join(str(v) for v in list(value[:5])) if value is not None else ""
            more = ", ..." if value is not None and len(value) > 5 else ""
            lines.append(f"value = array [{shown}{more}]")
        lines.append(f"char_value = '{self.char_value}'")
        for key in ("count", "nelm", "type", "units", "precision", "host", "access",
                    "status", "severity"):
            if args.get(key) is not None:
                lines.append(f"{key} = {args[key]}")
        if args.get("enum_strs") and dbr.native_type(self.ftype) == dbr.ENUM:
            lines.append("enum strings:")
            lines.extend(f"    {i} = {name}" for i, name in enumerate(args["enum_strs"]))
        if args.get("timestamp") is not None:
            lines.append(f"timestamp = {args['timestamp']:.3f} "
                         f"({fmt_time(args['timestamp'])})")
        for key in ("upper_ctrl_limit", "lower_ctrl_limit", "upper_disp_limit",
                    "lower_disp_limit", "upper_alarm_limit", "lower_alarm_limit",
                    "upper_warning_limit", "lower_warning_limit"):
            if args.get(key) is not None:
                lines.append(f"{key} = {args[key]}")
        if self._monref is not None:
            lines.append(f"PV is internally monitored, with {len(self.callbacks)} "
                         f"user-defined callbacks:")
            for index in sorted(self.callbacks):
                function = self.callbacks[index][0]
                code = getattr(function, "__code__", None)
                lines.append(f"    {getattr(function, '__name__', repr(function))} in file "
                             f"'{getattr(code, 'co_filename', '?')}'")
        else:
            lines.append("PV is NOT internally monitored")
        lines.append("=====")
        return "\n".join(lines)

    def __repr__(self) -> str:
        if not self.connected:
            return f"<PV '{self.pvname}': not connected>"
        return (self._fmtsca if (self._args["nelm"] or 1) <= 1 else self._fmtarr) % self._args

    def __eq__(self, other: Any) -> bool:
        try:
            return self._chid is not None and self._chid == ca._chid_int(other.chid)
        except (AttributeError, ca.ChannelAccessException):
            return False

    __hash__ = object.__hash__

    # --- the end --------------------------------------------------------------------------------

    def disconnect(self, deepclean: bool = True) -> None:
        """Release the PV: callbacks and monitor cleared, removed from the get_pv cache, and the
        channel itself cleared once no other PV object uses it."""
        with _SETUP_LOCK:   # not while a connection setup of this PV is running
            if self._released:
                return
            self._released = True
            self.connected = False
        with _PVcache_lock:
            for key, cached in list(_PVcache_.items()):
                if cached is self:
                    del _PVcache_[key]
        channel = self._channel
        ca._unlisten(channel, self)
        self._clear_auto_monitor_subscription()
        self.clear_callbacks(True, True)
        channel.pv_users -= 1
        if channel.pv_users <= 0 and self._chid is not None and \
                ca._chid_cache.get(channel.chid_int) is channel:
            try:
                ca.clear_channel(channel.chid_int)
            except ca.ChannelAccessException:
                log.debug("clearing the channel of %r failed", self.pvname, exc_info=True)
        self._args = self._blank_args(None, None)

    def _blank_args(self, count: Optional[int], monitor_delta: Optional[float]
                    ) -> Dict[str, Any]:
        """The PV's data before a connection: every field there, mostly None."""
        args: Dict[str, Any] = dict.fromkeys(self._fields)
        # cb_info is set only while a callback runs, but the key stays: a dict that has a key
        # added and removed at every update grows to twice its size (deleted slots pile up)
        args.update(pvname=self.pvname, count=count, nelm=-1, type="unknown",
                    typefull="unknown", access="unknown", monitor_delta=monitor_delta,
                    cb_info=None)
        return args


def _value_kind(native: int, nelm: int) -> int:
    """Which char_value formatting a channel of this native type and size needs."""
    if native == dbr.STRING:
        return _STRING
    if native == dbr.CHAR:
        return _CHAR if nelm > 1 else _OTHER
    if nelm > 1:
        return _ARRAY
    if native in (dbr.FLOAT, dbr.DOUBLE):
        return _FLOAT
    if native == dbr.ENUM:
        return _ENUM
    return _OTHER


def _run_user(function: Callable, *args: Any, **kwargs: Any) -> None:
    try:
        function(*args, **kwargs)
    except Exception:
        callback_log.exception("user callback %s raised",
                               getattr(function, "__qualname__", function))


def _shape_array(value: Any, count: Optional[int], as_numpy: bool) -> Any:
    """An array value as numpy or list, cut to ``count`` elements."""
    if not hasattr(value, "__len__") or isinstance(value, str):
        value = [value]
    import numpy
    if as_numpy and not isinstance(value, numpy.ndarray):
        value = numpy.asarray(value)
    elif not as_numpy and isinstance(value, numpy.ndarray):
        value = value.tolist()
    if count is not None and count < len(value):
        value = value[:count]
    return value


#: The class get_pv makes (ophyd replaces it with its own subclass).
default_pv_class = PV
