"""The synApps scaler record as a Device, with the calc records of synApps' scaler databases.

As in PyEpics 3.5 (and the slides, whose spellings are accepted too)::

    >>> s1 = Scaler('XXX:scaler1')
    >>> s1.setCalc(2, '(B-2000*A/10000000.0)')
    >>> s1.enableCalcs()              # or EnableCalcs()
    >>> s1.OneShotMode()
    >>> s1.Count(t=5.0, wait=True)    # or Count(ctime=5.0, ...)
    >>> s1.getNames()
    >>> s1.Read(use_calcs=True)       # or Read(use_calc=True)

Channel ``i`` is ``NMi`` (name) and ``Si`` (counts); the calcs are the records
``<scaler>_calc<i>`` (expression in ``.CALC``, result in ``.VAL``), enabled by
``<scaler>_calcEnable``.
"""
from __future__ import annotations

import logging
import time
from typing import Any, List, Optional

from ..ca import poll  # noqa: F401 (importable from here, as in PyEpics)
from ..device import CATCH_UP_TIMEOUT, Device, _MonitorTrail, wait_for_condition

__all__ = ["Scaler"]

log = logging.getLogger("epics.devices.scaler")

#: Seconds ``Count(wait=True)`` allows beyond the count time (TP) and delay (DLY) by default.
COUNT_WAIT_MARGIN = 30.0
#: Seconds a read made to check the end of a count may take.
READ_TIMEOUT = 5.0


class Scaler(Device):
    """A scaler record with ``nchan`` channels.

    Parameters
    ----------
    prefix : str
        The scaler record name, e.g. 'XXX:scaler1'.
    nchan : int
        Number of channels used (NM1..NMn, S1..Sn, and the calcs 1..n).
    """

    attrs = ("CNT", "CONT", "TP", "T", "VAL")
    attr_kws = {"calc_enable": "%s_calcEnable.VAL"}
    chan_attrs = ("NM%i", "S%i")
    calc_attrs = {"calc%i": "%s_calc%i.VAL", "expr%i": "%s_calc%i.CALC"}
    #: Other scaler record fields: readable as attributes, created on first use.
    _known_fields = frozenset(
        ["DLY", "DLY1", "TP1", "RATE", "RAT1", "FREQ", "PREC", "EGU", "DESC", "NCH", "CARD", "SS",
         "US", "DTYP", "VERS", "COUT", "COUTP", "NAME", "RTYP", "STAT", "SEVR"]
        + [f"{kind}{i}" for kind in ("G", "PR", "D", "NM", "S") for i in range(1, 33)])
    _nonpvs = ("_prefix", "_pvs", "_delim", "_nchan", "_chans", "_record")

    def __init__(self, prefix: str, nchan: int = 8) -> None:
        if prefix.endswith("."):
            prefix = prefix[:-1]
        self._nchan = nchan
        self._chans = range(1, nchan + 1)
        self._record = prefix
        attrs = list(self.attrs)
        for i in self._chans:
            attrs.extend(pattern % i for pattern in self.chan_attrs)
        super().__init__(prefix, delim=".", attrs=attrs)
        for attr, pattern in self.attr_kws.items():
            self.add_pv(pattern % prefix, attr=attr)
        for i in self._chans:
            for attr, pattern in self.calc_attrs.items():
                self.add_pv(pattern % (prefix, i), attr=attr % i)
        self._mutable = False

    # --- modes and count time ---------------------------------------------------------------------

    def AutoCountMode(self) -> None:  # noqa: N802 (PyEpics's names)
        """Count continuously between commanded counts (CONT = AutoCount)."""
        self.put("CONT", 1)

    def OneShotMode(self) -> None:  # noqa: N802
        """Count only when told (CONT = OneShot)."""
        self.put("CONT", 0)

    def CountTime(self, ctime: float) -> None:  # noqa: N802
        """Set the count time in seconds (TP)."""
        self.put("TP", ctime)

    # --- counting ---------------------------------------------------------------------------------

    def Count(self, ctime: Optional[float] = None, wait: bool = False,  # noqa: N802
              t: Optional[float] = None, timeout: Optional[float] = None) -> bool:
        """Start a count (CNT = 1), optionally setting the count time first.

        Parameters
        ----------
        ctime : float, optional
            Count time in seconds (``t`` is accepted as another name for it, the slides'
            spelling).
        wait : bool
            Return once the count has ended: the put has completed and CNT is back to 0 (and
            the cached counts are final).
        timeout : float, optional
            Most seconds to wait (default: the count time plus DLY plus
            :data:`COUNT_WAIT_MARGIN`).

        Returns
        -------
        bool
            True, or with ``wait=True`` whether the count ended within the timeout (PyEpics
            returned None).
        """
        if ctime is None:
            ctime = t
        if ctime is not None:
            self.CountTime(ctime)
        if not wait:
            self.put("CNT", 1)
            return True
        if timeout is None:
            count_time = ctime if ctime is not None else (self.get("TP") or 0.0)
            timeout = count_time + (self.get("DLY") or 0.0) + COUNT_WAIT_MARGIN
        start = time.monotonic()
        cnt = self.PV("CNT")
        with _MonitorTrail(cnt) as trail:
            status = self.put("CNT", 1, wait=True, timeout=timeout)
            remaining = max(timeout - (time.monotonic() - start), 0.0)
            ended = status == 1 and wait_for_condition(
                [cnt], lambda: cnt.get(use_monitor=False, timeout=READ_TIMEOUT) == 0, remaining)
            if ended:
                # the counts are posted before CNT = 0: once the monitor has delivered it, the
                # cached counts (Read()) are final
                trail.wait_until(lambda values: 1 in values and values[-1] == 0,
                                 CATCH_UP_TIMEOUT)
        if not ended:
            log.warning("%s: the count did not end within %.1f s", self._record, timeout)
        return ended

    # --- calcs ------------------------------------------------------------------------------------

    def EnableCalcs(self) -> None:  # noqa: N802
        """Let the calc records process (``<scaler>_calcEnable`` = ENABLE)."""
        self.put("calc_enable", 1)

    #: The slides' spelling.
    enableCalcs = EnableCalcs

    def setCalc(self, i: int, calc: str) -> None:  # noqa: N802
        """Set the expression of calc ``i`` (letters A, B... are channels 1, 2...)."""
        self.put("expr%i" % i, calc)

    # --- reading ----------------------------------------------------------------------------------

    def getNames(self) -> List[Any]:  # noqa: N802
        """The channel names (NM1..NMn)."""
        return [self.get("NM%i" % i) for i in self._chans]

    def Read(self, use_calc: bool = False, use_calcs: Optional[bool] = None  # noqa: N802
             ) -> List[Any]:
        """The counts S1..Sn, or with ``use_calc=True`` (alias ``use_calcs``, the slides'
        spelling) the results of the calcs 1..n."""
        if use_calcs is not None:
            use_calc = use_calcs
        pattern = "calc%i" if use_calc else "S%i"
        return [self.get(pattern % i) for i in self._chans]
