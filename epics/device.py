"""Device: a collection of PVs that share a prefix, read and written as attributes.

PyEpics 3.5's ``Device``, with the same constructor, methods and state-file format::

    >>> dev = Device('XX:m1', delim='.', attrs=('VAL', 'RBV', 'DESC'))
    >>> dev.VAL = 0.25            # the same as dev.put('VAL', 0.25)
    >>> dev.RBV                   # the same as dev.get('RBV')
    >>> dev.get('DESC', as_string=True)

One deliberate difference: reading an attribute the device does not know raises
:class:`AttributeError` at once, naming the device and the attribute, instead of opening a channel
for it and waiting for it to connect (PyEpics did that for every typo, and for every attribute
that IPython, ``hasattr`` or ``copy`` probe). A device knows the attributes given as ``attrs`` or
``aliases``, those a subclass declares as fields, and every attribute used explicitly through
:meth:`Device.PV`, :meth:`Device.get`, :meth:`Device.put` or :meth:`Device.add_pv`. Assigning to an
unknown attribute of a mutable device still adds that PV and writes it, as PyEpics does.

Threads: a Device holds no thread of its own. Its PVs deliver monitor updates and user callbacks on
the library's dispatcher thread (see ``epics._dispatch``). :func:`wait_for_condition` is what the
higher layers (:class:`epics.motor.Motor`, the scaler) use to wait for a record to finish an
activity: it waits on an event set by those monitor callbacks, and it also works when called from
a callback on the dispatcher thread, where it reads the PVs again at short intervals instead.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence

from . import _dispatch, ca
from .ca import poll  # noqa: F401 (PyEpics's epics.device offers it too)
from .pv import PV, get_pv
from .utils import IOENCODING  # noqa: F401 (PyEpics's epics.device offers it too)

__all__ = ["Device", "pv_property", "wait_for_condition"]

log = logging.getLogger("epics.device")

#: Seconds between reads of the PVs when :func:`wait_for_condition` runs on the dispatcher
#: thread (no monitor update can arrive there while it waits).
DISPATCHER_RECHECK_PERIOD = 0.05
#: Most rounds :func:`wait_for_condition` makes before it gives up, whatever its deadline: each
#: round waits for a monitor update, so a wait normally takes a handful.
MAX_WAIT_ROUNDS = 100000
#: Most seconds to wait, once the server has said an activity ended, for the monitor updates it
#: posted before to arrive (see :class:`_MonitorTrail`).
CATCH_UP_TIMEOUT = 5.0

_INTEGER_TYPES = ("int", "short", "long", "enum")
_FLOAT_TYPES = ("double", "float")


def wait_for_condition(pvs: Sequence[PV], condition: Callable[[], bool],
                       timeout: float) -> bool:
    """Wait until ``condition()`` holds, re-checking it whenever one of ``pvs`` changes.

    ``condition`` should read what it needs from the server (``pv.get(use_monitor=False)``), so
    that a monitor update still queued behind the caller cannot make it answer from stale data.
    It is called at once, and then after each monitor update of ``pvs`` (on the dispatcher thread
    itself, where no update can arrive while this waits, every
    :data:`DISPATCHER_RECHECK_PERIOD` seconds instead).

    Parameters
    ----------
    pvs : sequence of PV
        The PVs whose changes may make the condition true.
    condition : callable
        ``condition() -> bool``.
    timeout : float
        Most seconds to wait.

    Returns
    -------
    bool
        Whether the condition held before the timeout.
    """
    deadline = time.monotonic() + max(timeout, 0.0)
    changed = threading.Event()

    def on_change(**kws: Any) -> None:
        changed.set()

    indices = [(pv, pv.add_callback(on_change, with_ctrlvars=False)) for pv in pvs]
    try:
        in_dispatcher = _dispatch.in_dispatcher()
        for _ in range(MAX_WAIT_ROUNDS):
            changed.clear()
            if condition():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if in_dispatcher:
                changed.wait(min(remaining, DISPATCHER_RECHECK_PERIOD))
            else:
                ca._wait(changed, remaining)   # pumps libca when callbacks are not preemptive
        return False
    finally:
        for pv, index in indices:
            pv.remove_callback(index)


class _MonitorTrail:
    """The values one PV's monitor delivers from now on, to wait until the client's cached values
    have caught up with what a read from the server said.

    A read (or a put completion) can answer before monitor updates the server posted earlier have
    arrived (caproto sends updates from a queue of their own; an IOC's event task may send a put
    completion first), so "the server says DMOV is 1" does not yet mean the cached RBV is final.
    But a server sends a client's monitor updates in the order it posted them, and a motor record
    posts its final readback before DMOV = 1: once the DMOV monitor itself has delivered 1, the
    cached readbacks are final too.

    Use as a context manager around the operation (it adds a callback, and removes it on exit).
    """

    def __init__(self, thispv: PV) -> None:
        self.pv = thispv
        self.values: List[Any] = []
        self._changed = threading.Event()
        self._index: Optional[int] = None

    def _on_update(self, value: Any = None, **kws: Any) -> None:
        self.values.append(value)
        self._changed.set()

    def __enter__(self) -> "_MonitorTrail":
        self._index = self.pv.add_callback(self._on_update, with_ctrlvars=False)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._index is not None:
            self.pv.remove_callback(self._index)
            self._index = None

    def wait_until(self, predicate: Callable[[List[Any]], bool], timeout: float) -> bool:
        """Wait until ``predicate(values delivered so far)`` holds; False after ``timeout``
        seconds, or at once on the dispatcher thread (where no update can arrive meanwhile)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        in_dispatcher = _dispatch.in_dispatcher()
        for _ in range(MAX_WAIT_ROUNDS):
            self._changed.clear()
            if predicate(list(self.values)):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or in_dispatcher:
                return False
            ca._wait(self._changed, remaining)
        return False


class Device:
    """A collection of PVs sharing a prefix, read and written as attributes.

    Each attribute ``ATTR`` is the PV ``prefix + delim + ATTR``::

        >>> dev = Device('XX:m1', delim='.', attrs=('VAL', 'DESC'), aliases={'drive': 'VAL'})
        >>> dev.VAL = 1              # caput('XX:m1.VAL', 1)
        >>> dev.drive                # caget('XX:m1.VAL')
        >>> dev.put('VAL', 2, wait=True)
        >>> dev.PV('VAL')            # the underlying PV object

    With an empty prefix a Device is a container of arbitrary PVs: ``dev.PV('XX:m1.VAL')``.
    Subclasses add methods (see :mod:`epics.devices`) and may list the fields of their record in
    ``_known_fields``: those are created on first use rather than at construction.

    Parameters
    ----------
    prefix : str
        The common start of the PV names.
    attrs : sequence of str, optional
        Attributes whose PVs are created now (they connect in the background).
    nonpvs : sequence of str, optional
        Names that are plain Python attributes of the object, not PVs.
    delim : str
        Put between the prefix and an attribute ('.' for the fields of one record).
    timeout : float, optional
        Connection timeout of the PVs the device creates (default that of :func:`get_pv`).
    mutable : bool
        Whether assigning to an unknown attribute adds that PV and writes it (True, as PyEpics),
        or raises AttributeError at once (False).
    aliases : dict, optional
        ``{'readback': 'RBV'}``: friendlier names for attributes; their PVs are created now.
    with_poll : bool
        Let CA process events once the PVs are created (PyEpics compatibility).

    Notes
    -----
    Follows PyEpics 3.5, except that reading an unknown attribute raises AttributeError at once
    (see the module documentation), and ``remove_callbacks(attr)`` without an index removes all
    the callbacks of that attribute.
    """

    _prefix: str = ""
    _delim: str = ""
    _init: bool = False
    _mutable: bool = True
    #: Field names a subclass knows: created on first use, so no channel is opened for those
    #: the code never touches, and reading one is not a typo.
    _known_fields: FrozenSet[str] = frozenset()
    #: Names that are always plain attributes (subclasses extend it).
    _nonpvs: Sequence[str] = ("_prefix", "_pvs", "_delim", "_init", "_aliases", "_mutable",
                              "_nonpvs", "_timeout", "_known", "_device_callbacks")

    def __init__(self, prefix: str = "", attrs: Optional[Iterable[str]] = None,
                 nonpvs: Optional[Iterable[str]] = None, delim: str = "",
                 timeout: Optional[float] = None, mutable: bool = True,
                 aliases: Optional[Mapping[str, str]] = None, with_poll: bool = True) -> None:
        nonpv_names = list(type(self)._nonpvs)
        for name in Device._nonpvs:
            if name not in nonpv_names:
                nonpv_names.append(name)
        for name in nonpvs or ():
            if name not in nonpv_names:
                nonpv_names.append(name)
        self._nonpvs = tuple(nonpv_names)
        self._delim = delim
        self._prefix = (prefix or "") + delim
        self._timeout = timeout
        self._mutable = mutable
        self._aliases: Dict[str, str] = dict(aliases or {})
        self._pvs: Dict[str, PV] = {}
        self._known = set(self._known_fields)
        self._device_callbacks: Dict[str, List[int]] = {}
        created = False
        for attr in attrs or ():
            self.PV(attr, connect=False)
            created = True
        for attr in self._aliases.values():
            if attr not in self._pvs:
                self.PV(attr, connect=False)
                created = True
        if with_poll and created:
            ca.poll()
        self._init = True

    # --- PVs --------------------------------------------------------------------------------------

    def _resolve(self, attr: str) -> str:
        return self._aliases.get(attr, attr)

    def _pvname(self, attr: str) -> str:
        return f"{self._prefix}{attr}"

    def PV(self, attr: str, connect: bool = True, **kw: Any) -> PV:  # noqa: N802 (PyEpics name)
        """The PV of an attribute (or alias), created if needed.

        Parameters
        ----------
        attr : str
            The attribute: the PV name is ``prefix + delim + attr``.
        connect : bool
            Wait (up to the PV's connection timeout) for it to connect.
        **kw
            Passed to :func:`epics.get_pv` when the PV is created (``timeout``, ``form``...).

        Returns
        -------
        PV
            The PV, connected or not.
        """
        attr = self._resolve(attr)
        thispv = self._pvs.get(attr)
        if thispv is None:
            if self._timeout is not None:
                kw.setdefault("timeout", self._timeout)
            thispv = get_pv(self._pvname(attr), **kw)
            self._pvs[attr] = thispv
        if connect and not thispv.connected:
            thispv.wait_for_connection()
        return thispv

    def add_pv(self, pvname: str, attr: Optional[str] = None, **kw: Any) -> PV:
        """Add a PV whose name does not follow ``prefix + delim + attr``.

        ``dev.add_pv('XXX_status.VAL', attr='status')`` makes ``dev.status`` read that PV.
        Without ``attr`` the full PV name is the attribute. Returns the PV.
        """
        if attr is None:
            attr = pvname
        if self._timeout is not None:
            kw.setdefault("timeout", self._timeout)
        self._pvs[attr] = get_pv(pvname, **kw)
        return self._pvs[attr]

    # --- reading and writing ----------------------------------------------------------------------

    def get(self, attr: str, as_string: bool = False, count: Optional[int] = None,
            timeout: Optional[float] = None, use_monitor: bool = True) -> Any:
        """The value of an attribute (None if its PV does not connect).

        ``as_string=True`` gives the text form (enum state name, formatted number).
        ``use_monitor=False`` asks the server instead of returning the monitor's latest value
        (not in PyEpics): right after a write, the update it causes may still be on its way.
        """
        return self.PV(attr).get(as_string=as_string, count=count, timeout=timeout,
                                 use_monitor=use_monitor)

    def put(self, attr: str, value: Any, wait: bool = False, use_complete: bool = False,
            timeout: float = 10, raise_on_error: Optional[bool] = None) -> Optional[int]:
        """Write an attribute's PV.

        Parameters
        ----------
        attr : str
            The attribute (or alias).
        value : object
            The value.
        wait : bool
            Block until the record has finished processing (at most ``timeout`` seconds).
        use_complete : bool
            Don't block; the PV's ``put_complete`` tells when processing has finished.
        timeout : float
            Most seconds to wait with ``wait=True``.
        raise_on_error : bool, optional
            Raise typed exceptions (``CANotConnectedError``...) instead of PyEpics's return
            values; None follows ``ca.RAISE_ON_ERROR``.

        Returns
        -------
        int or None
            1 on success, -1 if ``wait=True`` timed out, None (as PyEpics) when the PV does
            not connect.
        """
        return self.PV(attr).put(value, wait=wait, use_complete=use_complete, timeout=timeout,
                                 raise_on_error=raise_on_error)

    # --- state ------------------------------------------------------------------------------------

    def save_state(self) -> Dict[str, Any]:
        """``{attr: value}`` for every PV of the device (CHAR waveforms as text, None for a PV
        that is not connected)."""
        state: Dict[str, Any] = {}
        for attr, thispv in list(self._pvs.items()):
            value = thispv.get()
            if value is not None and thispv.type == "char" and (thispv.count or 1) > 1:
                value = thispv.get(as_string=True)
            state[attr] = value
        return state

    def get_all(self) -> Dict[str, Any]:
        """The same as :meth:`save_state`."""
        return self.save_state()

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Write back values from :meth:`save_state` (or :meth:`read_state`) to the PVs that are
        part of the device and writable; None values are skipped."""
        for attr, value in state.items():
            thispv = self._pvs.get(attr)
            if thispv is None or value is None:
                continue
            if thispv.wait_for_connection() and thispv.write_access:
                thispv.put(value)

    def _storable(self, thispv: PV) -> bool:
        """Whether write_state writes this PV: writable, and a scalar or a CHAR waveform."""
        return (thispv.connected and bool(thispv.write_access)
                and ((thispv.count or 0) == 1 or thispv.type == "char"))

    def write_state(self, fname: str, state: Optional[Mapping[str, Any]] = None) -> None:
        """Write a state (default: the current one) to a text file, one ``attr value`` per line.

        Only writable scalars and CHAR waveforms are written (what :meth:`read_state` can restore).
        The format is PyEpics's, so files are interchangeable.
        """
        if state is None:
            state = self.save_state()
        header = ",".join((type(self).__name__, f"prefix='{self._prefix}'",
                           f"time={time.ctime()}"))
        lines = [f"#Device Saved State for {header}"]
        for attr in sorted(state):
            thispv = self._pvs.get(attr)
            if thispv is not None and self._storable(thispv):
                lines.append(f"{attr} {state[attr]}")
        lines.append("")
        with open(fname, "w", encoding="utf-8") as out:
            out.write("\n".join(lines))

    def read_state(self, fname: str, restore: bool = False) -> Dict[str, Any]:
        """Read a file written by :meth:`write_state` into a state dict (values converted to the
        PVs' types); with ``restore=True`` also write it back to the PVs. Lines for attributes
        the device does not have are ignored."""
        state: Dict[str, Any] = {}
        with open(fname, "r", encoding="utf-8") as inp:
            lines = inp.read().splitlines()
        for line in lines:
            if not line or line.startswith("#"):
                continue
            attr, _, text = line.partition(" ")
            thispv = self._pvs.get(attr)
            if thispv is None:
                continue
            thispv.wait_for_connection()
            value: Any = text
            try:
                if thispv.type in _FLOAT_TYPES:
                    value = float(text)
                elif thispv.type in _INTEGER_TYPES:
                    value = int(text)
            except ValueError:
                log.warning("read_state(%r): cannot read %r as a %s for %s", fname, text,
                            thispv.type, attr)
                continue
            state[attr] = value
        if restore:
            self.restore_state(state)
        return state

    # --- callbacks --------------------------------------------------------------------------------

    def add_callback(self, attr: str, callback: Callable[..., Any], **kws: Any) -> int:
        """Run ``callback(pvname=..., value=..., **kws)`` when the attribute changes; returns the
        callback's index on the attribute's PV."""
        thispv = self.PV(attr)
        thispv.get()
        index = thispv.add_callback(callback, **kws)
        self._device_callbacks.setdefault(self._resolve(attr), []).append(index)
        return index

    def remove_callbacks(self, attr: str, index: Optional[int] = None) -> None:
        """Remove the callback ``index`` of an attribute; without an index, every callback added
        to that attribute through this device."""
        name = self._resolve(attr)
        thispv = self.PV(attr, connect=False)
        mine = self._device_callbacks.get(name, [])
        if index is None:
            for own in mine:
                thispv.remove_callback(own)
            mine.clear()
            return
        thispv.remove_callback(index)
        if index in mine:
            mine.remove(index)

    def close(self) -> None:
        """Remove the callbacks added through this device and forget its PVs (idempotent).

        The PVs themselves stay in the :func:`get_pv` cache, which other code may share.
        """
        for name, indices in list(self._device_callbacks.items()):
            thispv = self._pvs.get(name)
            if thispv is not None:
                for index in indices:
                    thispv.remove_callback(index)
        self._device_callbacks.clear()
        self._pvs.clear()

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- attributes -------------------------------------------------------------------------------

    def _knows(self, attr: str) -> bool:
        return attr in self._pvs or attr in self._known

    def _describe(self) -> str:
        prefix = self._prefix
        if self._delim and prefix.endswith(self._delim):
            prefix = prefix[:-len(self._delim)]
        return f"{type(self).__name__} {prefix!r}"

    def _no_attribute(self, attr: str) -> AttributeError:
        return AttributeError(
            f"{self._describe()} has no attribute {attr!r} (not one of its PVs; "
            f"use .PV({attr!r}) or .get({attr!r}) to add the PV {self._pvname(attr)!r})")

    def __getattr__(self, attr: str) -> Any:
        # Only called when ordinary lookup fails. Never opens a channel for an unknown name.
        if attr.startswith("__") or "_pvs" not in self.__dict__:
            raise AttributeError(attr)
        name = self._aliases.get(attr, attr)
        if self._knows(name) or attr in self._aliases:
            return self.get(name)
        if attr.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")
        raise self._no_attribute(attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        instance = self.__dict__
        if "_pvs" not in instance or attr in self._nonpvs:
            object.__setattr__(self, attr, value)
            return
        if isinstance(getattr(type(self), attr, None), property):
            object.__setattr__(self, attr, value)
            return
        name = self._aliases.get(attr, attr)
        if attr in self._aliases or self._knows(name):
            self.put(name, value)
        elif attr in instance or not self._init or attr.startswith("_"):
            object.__setattr__(self, attr, value)
        elif self._mutable:
            thispv = self.PV(name)
            if not thispv.connected:
                self._pvs.pop(name, None)
                raise AttributeError(
                    f"{self._describe()} has no attribute {attr!r}: the PV "
                    f"{self._pvname(name)!r} does not connect")
            thispv.put(value)
        else:
            raise self._no_attribute(attr)

    def __dir__(self) -> List[str]:
        names = set(super().__dir__())
        names.update(self._aliases, self._pvs, self._known)
        return sorted(names)

    def __repr__(self) -> str:
        prefix = self._prefix
        if prefix.endswith("."):
            prefix = prefix[:-1]
        return f"<{type(self).__name__} '{prefix}', {len(self._pvs)} attributes>"

    @staticmethod
    def pv_property(attr: str, as_string: bool = False, wait: bool = False,
                    timeout: float = 10.0) -> property:
        """A class-level property that reads and writes an attribute's PV (see
        :func:`pv_property`)."""
        return pv_property(attr, as_string=as_string, wait=wait, timeout=timeout)


def pv_property(attr: str, as_string: bool = False, wait: bool = False,
                timeout: float = 10.0) -> property:
    """A property for Device subclasses that reads ``attr`` with ``get`` and writes it with
    ``put``::

        class Shutter(Device):
            state = pv_property('STATE', as_string=True)
    """
    def getter(self: Device) -> Any:
        return self.get(attr, as_string=as_string)

    def setter(self: Device, value: Any) -> None:
        self.put(attr, value, wait=wait, timeout=timeout)

    return property(getter, setter, None, f"The {attr} PV of the device.")

