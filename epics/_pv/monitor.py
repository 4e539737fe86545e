"""The PV's monitor and the fan-out of each update to the user callbacks.

Monitor updates and the callbacks they run are on the dispatcher thread; adding and removing
callbacks may happen on any thread (a dict of index -> callback, copied where iterated).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional, Union

from .. import ca, dbr
from .common import callback_log, fmt_time, log


class PVMonitor:
    """Mixin of :class:`epics.PV`: the automatic monitor and the value callbacks."""

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
            ca.call_user(function, **keywords)

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
