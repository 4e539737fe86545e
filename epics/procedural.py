"""The procedural interface: ``caget``, ``caput``, ``cainfo``, ``camonitor``, ``caget_many`` and
``caput_many``.

PyEpics 3.5's functions, names, arguments and return values. PV objects made here are cached
(``get_pv``), so repeated calls reuse one connection; ``caget_many`` and ``caput_many`` work on
many PVs at once: all channels are created first and connect in parallel, then all requests go
out together.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from . import ca, dbr
from ._errors import CANotConnectedError, CATimeoutError
from .pv import PV, fmt_time, get_pv

__all__ = ["caget", "caput", "cainfo", "camonitor", "camonitor_clear", "caget_many",
           "caput_many", "NO_ALARM", "MINOR_ALARM", "MAJOR_ALARM", "INVALID_ALARM"]

NO_ALARM, MINOR_ALARM, MAJOR_ALARM, INVALID_ALARM = 0, 1, 2, 3

#: pvname -> PV with a camonitor callback (PyEpics's name).
_PVmonitors_: Dict[str, PV] = {}
_CAMONITOR_INDEX = -999


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def caget(pvname: str, as_string: bool = False, count: Optional[int] = None,
          as_numpy: bool = True, use_monitor: bool = True, timeout: float = 5.0,
          connection_timeout: float = 5.0, raise_on_error: Optional[bool] = None) -> Any:
    """Read a PV's value.

    Parameters
    ----------
    pvname : str
        The PV name.
    as_string : bool
        Return the text form (enum state name, value formatted with the PV's precision, CHAR
        waveform as str).
    count : int, optional
        Most elements of an array to return.
    as_numpy : bool
        Arrays as numpy arrays (True) or lists.
    use_monitor : bool
        Use the value the PV's monitor last delivered (True) or ask the server now.
    timeout : float
        Most seconds for the read (after connecting).
    connection_timeout : float
        Most seconds to wait for the connection.
    raise_on_error : bool, optional
        Raise :class:`CATimeoutError` instead of returning None when the PV does not connect or
        the read times out (not in PyEpics); None follows ``ca.RAISE_ON_ERROR`` (False unless
        set).

    Returns
    -------
    object
        The value, or None if the PV did not connect or the read timed out (as PyEpics).
    """
    start = time.monotonic()
    ca._check_pvname(pvname, raise_on_error)
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True)
    value = None
    if thispv.connected:
        if as_string:
            thispv.get_ctrlvars()
        remaining = max(0.001, timeout - (time.monotonic() - start))
        value = thispv.get(count=count, timeout=remaining, use_monitor=use_monitor,
                           as_string=as_string, as_numpy=as_numpy)
    if value is None and ca.raising(raise_on_error):
        what = "connect" if not thispv.connected else "answer"
        raise CATimeoutError(f"caget: PV {pvname!r} did not {what} in time", pvname=pvname,
                             function="caget")
    return value


def caput(pvname: str, value: Any, wait: bool = False, timeout: float = 60.0,
          connection_timeout: float = 5.0, raise_on_error: Optional[bool] = None
          ) -> Optional[int]:
    """Write a value to a PV (optionally waiting for processing to complete).

    Returns 1 on success, -1 if ``wait=True`` timed out, None if the PV does not connect within
    ``connection_timeout`` (PyEpics's conventions; the failure is logged). With
    ``raise_on_error=True`` (or ``ca.RAISE_ON_ERROR``) a PV that does not connect raises
    :class:`CANotConnectedError` instead. Bad values raise the errors of :meth:`PV.put`.
    """
    ca._check_pvname(pvname, raise_on_error)
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True)
    if not thispv.connected:
        message = f"caput: PV {pvname!r} did not connect within {connection_timeout} s"
        if ca.raising(raise_on_error):
            raise CANotConnectedError(message, pvname=pvname, function="caput")
        ca.log.warning("%s", message)
        return None
    # the keyword only when given: PV subclasses (ophyd's) keep PyEpics's put() signature
    options = {} if raise_on_error is None else {"raise_on_error": raise_on_error}
    return thispv.put(value, wait=wait, timeout=timeout, **options)


def cainfo(pvname: str, print_out: bool = True, timeout: float = 5.0,
           connection_timeout: float = 5.0) -> Optional[str]:
    """Describe a PV: value, type, units, limits, host, access, alarm state, timestamp.

    Prints the description (``print_out=True``) or returns it. None if it does not connect.
    """
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True)
    if not thispv.connected:
        return None
    thispv.get(timeout=timeout)
    thispv.get_ctrlvars(timeout=timeout)
    text = thispv.info
    if print_out:
        _write(text)
        return None
    return text


def camonitor_clear(pvname: str) -> None:
    """Stop the monitor :func:`camonitor` started on ``pvname``."""
    thispv = _PVmonitors_.pop(pvname, None)
    if thispv is not None:
        thispv.remove_callback(index=_CAMONITOR_INDEX)


def camonitor(pvname: str, writer: Optional[Callable[[str], Any]] = None,
              callback: Optional[Callable[..., Any]] = None,
              connection_timeout: float = 5.0, monitor_delta: Optional[float] = None) -> None:
    """Print a line ``NAME DATE TIME VALUE`` each time ``pvname`` changes, until
    :func:`camonitor_clear`.

    ``writer`` gets each line instead of stdout; ``callback`` replaces the printing altogether
    (it gets the PV callback keywords). ``monitor_delta``: least change worth a line.
    """
    if writer is None:
        writer = _write
    if callback is None:
        def callback(pvname: Optional[str] = None, value: Any = None,
                     char_value: Optional[str] = None, timestamp: Optional[float] = None,
                     **kws: Any) -> None:
            if char_value is None:
                char_value = repr(value)
            writer(f"{pvname:.32s} {fmt_time(timestamp)} {char_value}")
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True,
                    monitor_delta=monitor_delta)
    if thispv.connected:
        thispv.get()
        thispv.add_callback(callback, index=_CAMONITOR_INDEX, with_ctrlvars=True)
        _PVmonitors_[pvname] = thispv


def caget_many(pvlist: Iterable[str], as_string: bool = False, as_numpy: bool = True,
               count: Optional[int] = None, timeout: float = 1.0,
               connection_timeout: float = 5.0, conn_timeout: Optional[float] = None,
               raise_on_error: Optional[bool] = None) -> List[Any]:
    """Read many PVs at once: all connect in parallel, then all reads go out together.

    Returns the values in order, None for a PV that did not connect or answer (or raises
    :class:`CATimeoutError` naming them with ``raise_on_error=True``). PV objects are not
    cached. ``timeout`` bounds the wait for the reads, ``connection_timeout`` (alias
    ``conn_timeout``) the wait for all connections.
    """
    names = list(pvlist)
    if conn_timeout is not None:
        connection_timeout = conn_timeout
    for name in names:
        ca._check_pvname(name, raise_on_error)
    chids = [ca.create_channel(name, auto_cb=False, connect=False) for name in names]
    deadline = time.monotonic() + connection_timeout
    connected = []
    for chid in chids:
        connected.append(ca.connect_channel(chid, timeout=max(0.0, deadline - time.monotonic())))
    connected_chids = [ca._chid_int(chid) for chid, ok in zip(chids, connected) if ok]
    answers = iter(ca._get_many(connected_chids, count, as_numpy, as_string, timeout))
    results = []
    failed = []
    for name, is_connected in zip(names, connected):
        value = next(answers) if is_connected else None
        if value is None:
            failed.append(name)
        results.append(value)
    if failed and ca.raising(raise_on_error):
        raise CATimeoutError(f"caget_many: {len(failed)} PV(s) did not connect or answer in "
                             f"time: {failed[:10]}", pvname=failed[0], function="caget_many")
    return results


def caput_many(pvlist: Sequence[str], values: Sequence[Any],
               wait: Union[bool, str] = False, connection_timeout: float = 5.0,
               put_timeout: float = 60, raise_on_error: Optional[bool] = None
               ) -> List[Optional[int]]:
    """Write many PVs at once.

    ``wait='each'`` waits for each put to complete in turn; ``wait='all'`` sends them all and
    then waits until all have completed (``put_timeout`` in all). Returns, per PV, 1 for
    success, -1 for a failure or timeout, a PV that did not connect included (PyEpics's
    convention). ``raise_on_error=True`` (or ``ca.RAISE_ON_ERROR``) raises for a malformed PV
    name instead; a PV that does not connect still gives -1, since the other writes went out.
    """
    if len(pvlist) != len(values):
        raise ValueError("caput_many needs as many values as PV names "
                         f"({len(values)} values for {len(pvlist)} PVs)")
    for name in pvlist:
        ca._check_pvname(name, raise_on_error)
    pvs = [get_pv(name, auto_monitor=False, timeout=connection_timeout) for name in pvlist]
    deadline = time.monotonic() + connection_timeout
    for thispv in pvs:
        thispv.wait_for_connection(timeout=max(0.0, deadline - time.monotonic()))
    if wait != "all":
        results: List[Optional[int]] = []
        for thispv, value in zip(pvs, values):
            try:
                results.append(thispv.put(value, wait=(wait == "each"), timeout=put_timeout))
            except ca.ChannelAccessException as exc:
                ca.log.warning("caput_many: %s", exc)
                results.append(-1)
        return [r if r == 1 else -1 for r in results]
    # wait='all': send every put with a completion callback, then wait once for all of them
    completed = threading.Event()
    done: List[bool] = [False] * len(pvs)
    outstanding = [0]
    lock = threading.Lock()

    def on_complete(pvname: Optional[str] = None, data: Any = None, **kws: Any) -> None:
        with lock:
            done[data] = True
            outstanding[0] -= 1
            if outstanding[0] == 0:
                completed.set()

    sent = []
    for index, (thispv, value) in enumerate(zip(pvs, values)):
        try:
            with lock:
                outstanding[0] += 1
            status = thispv.put(value, callback=on_complete, callback_data=index,
                                use_complete=True)
            if status is None:   # not connected: nothing was sent, nothing will complete
                with lock:
                    outstanding[0] -= 1
            else:
                sent.append(index)
        except ca.ChannelAccessException as exc:
            ca.log.warning("caput_many: %s", exc)
            with lock:
                outstanding[0] -= 1
    with lock:
        if outstanding[0] == 0:
            completed.set()
    completed.wait(put_timeout)
    return [1 if done[i] else -1 for i in range(len(pvs))]
