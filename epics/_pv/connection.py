"""The PV's connection: its share of the channel, setup once per connection, waiting,
reconnecting and releasing.

Connection and access-rights events arrive on the dispatcher thread (through the
:class:`epics.ca.ChannelListener` methods); a thread that waits for the connection does the same
setup inline, under :data:`SETUP_LOCK`, so waiting never depends on the dispatcher being free.
"""
from __future__ import annotations

import sys
from typing import Any, Dict, Optional

from .. import ca, dbr
from .common import ACCESS_NAMES, SETUP_LOCK, log, value_kind


class PVConnection:
    """Mixin of :class:`epics.PV`: the connection part (the state is set up in PV.__init__)."""

    def _acquire_channel(self) -> None:
        """Take the channel of this PV's name (shared with every other user of the name), at
        creation and when a disconnected PV is connected again."""
        ca.attach(self.pvname, self)   # sets _channel and _chid (channel_attached)
        if self._channel.conn:   # a shared channel, already connected: tell the callbacks now
            self._on_connect(conn=True)

    def _revive(self) -> None:
        """Undo :meth:`disconnect` for :meth:`reconnect` and :meth:`force_connect`, which
        connect a disconnected PV again in PyEpics: a channel again, callbacks added since kept
        (the PV stays out of the :func:`get_pv` cache, as in PyEpics)."""
        with SETUP_LOCK:
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
        with SETUP_LOCK:
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
            self._kind = value_kind(native, nelm)
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
        self._chid = None if value is None else ca.chid_int(value)

    def _on_connect(self, pvname: Optional[str] = None, chid: Any = None,
                    conn: bool = True) -> None:
        """Connection callback (dispatcher thread)."""
        if self._released or self._channel is None:   # __init__ finishes the setup itself
            return
        if conn:
            if not self._setup_connection():
                return
            with SETUP_LOCK:   # the callbacks run once per connection, whoever gets here first
                epoch = self._channel.connect_count
                if self._announced_epoch == epoch:
                    return
                self._announced_epoch = epoch
        else:
            self.connected = False
        for callback in list(self.connection_callbacks):
            if callable(callback):
                ca.call_user(callback, pvname=self.pvname, conn=conn, pv=self)
        if not conn and self.verbose:
            log.info("PV %r disconnected", self.pvname)

    def _read_access_rights(self) -> None:
        chid = self._channel.chid_int
        read, write = ca.read_access(chid) == 1, ca.write_access(chid) == 1
        self._args.update(read_access=read, write_access=write,
                          access=ACCESS_NAMES[read + 2 * write])

    def force_read_access_rights(self) -> None:
        """Read the access rights from libca now rather than from the last event."""
        if self._chid is not None:
            self._read_access_rights()

    def _on_access_rights_event(self, read_access: bool, write_access: bool) -> None:
        if self._released or self._channel is None:
            return
        self._args.update(read_access=read_access, write_access=write_access,
                          access=ACCESS_NAMES[read_access + 2 * write_access])
        for callback in list(self.access_callbacks):
            if callable(callback):
                ca.call_user(callback, read_access, write_access, pv=self)

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

    # --- the channel's events (ca.ChannelListener) ------------------------------------------------

    def channel_attached(self, channel: ca.Channel) -> None:
        self._channel = channel
        self._chid = self._args["chid"] = channel.chid_int

    def channel_connection_changed(self, conn: bool) -> None:
        self._on_connect(conn=conn)

    def channel_access_changed(self, read_access: bool, write_access: bool) -> None:
        self._on_access_rights_event(read_access, write_access)

    # --- the end --------------------------------------------------------------------------------

    def _release(self) -> bool:
        """Leave the channel: callbacks and monitor cleared; False if already released."""
        with SETUP_LOCK:   # not while a connection setup of this PV is running
            if self._released:
                return False
            self._released = True
            self.connected = False
        channel = self._channel
        self._clear_auto_monitor_subscription()
        self.clear_callbacks(True, True)
        ca.detach(channel, self)
        self._args = self._blank_args(None, None)
        return True

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

