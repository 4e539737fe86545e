"""The synApps sscan record as a Device: PyEpics's ``Scan``.

    >>> scan = Scan('XXX:scan1')
    >>> scan.reset()
    >>> scan.add_positioner('XXX:m1.VAL', start=-1, stop=1)        # readback XXX:m1.RBV
    >>> scan.add_trigger('XXX:scaler1.CNT')
    >>> scan.add_detector('XXX:scaler1.S2')
    >>> scan.NPTS = 21
    >>> scan.run(wait=True)
    >>> scan.get('P1RA'), scan.get('D01DA')                        # positions and counts

Fields are ``<record>.<FIELD>``; friendlier names are kept as in PyEpics (``scan.npts``,
``scan.start``, ``scan.execute``...). Runs in the caller's thread.
"""
from __future__ import annotations

import threading
from typing import Any, List, Optional, Sequence

from ..ca import poll
from ..device import Device

__all__ = ["Scan", "ScanException", "NUM_POSITIONERS", "NUM_TRIGGERS", "NUM_DETECTORS",
           "Device", "poll"]

NUM_POSITIONERS = 4
NUM_TRIGGERS = 4
NUM_DETECTORS = 70

#: Seconds a configuration put may take to complete.
PUT_TIMEOUT = 10.0
_MODES = (("table", 1), ("fly", 2))


class ScanException(Exception):
    """A scan that cannot be set up: not an sscan record, no free positioner/trigger/detector.
    """

    def __init__(self, msg: str, *args: Any) -> None:
        super().__init__(msg, *args)
        self.msg = msg

    def __str__(self) -> str:
        return str(self.msg)


def _mode_code(mode: str) -> int:
    """'linear' -> 0, 'table' -> 1, 'fly' -> 2 (by the first letters)."""
    return next((code for start, code in _MODES if mode.lower().startswith(start)), 0)


class Scan(Device):
    """An sscan record.

    Raises
    ------
    ScanException
        when ``name`` is not an sscan record (its RTYP says otherwise, or it does not connect).
    """

    attrs = ("VAL", "SMSG", "CMND", "NPTS", "EXSC", "NAME", "PDLY", "PAUS", "CPT", "DDLY")
    pos_attrs = ("PV", "SP", "EP", "SI", "CP", "WD", "PA", "AR", "SM")
    trig_attrs = ("PV", "NV")
    _alias = {"device": "P1PV", "start": "P1SP", "end": "P1EP", "step": "P1SI",
              "table": "P1PA", "absrel": "P1AR", "mode": "P1SM", "npts": "NPTS",
              "execute": "EXSC", "trigger": "T1PV", "pause": "PAUS", "current_point": "CPT"}
    _nonpvs = ("_prefix", "_pvs", "_delim", "waitSemaphore", "attrs", "pos_attrs", "trig_attrs")

    def __init__(self, name: str, **kwargs: Any) -> None:
        attrs: List[str] = list(self.attrs)
        for i in range(1, NUM_POSITIONERS + 1):
            attrs += [f"P{i}{a}" for a in self.pos_attrs]
        for i in range(1, NUM_TRIGGERS + 1):
            attrs += [f"T{i}{a}" for a in self.trig_attrs]
        attrs += [f"D{i:02d}PV" for i in range(1, NUM_DETECTORS + 1)]
        self.waitSemaphore = threading.Semaphore(0)
        super().__init__(name, delim=".", attrs=attrs, **kwargs)
        for attr, field in Scan._alias.items():
            self.add_pv(f"{name}.{field}", attr)
        rectype = self.get("RTYP")
        if rectype != "sscan":
            raise ScanException(f"{name} is not an Epics Scan (its RTYP is {rectype!r})")
        self.put("SMSG", "")

    # --- running ----------------------------------------------------------------------------

    def run(self, wait: bool = False, timeout: float = 86400) -> Optional[int]:
        """Execute the scan; with ``wait``, return when it has ended (at most ``timeout`` s).

        Returns the put's status (1, or -1 if ``wait`` timed out; PyEpics returned None).
        """
        return self.put("EXSC", 1, wait=wait, timeout=timeout)

    def _onDone(self, **kwargs: Any) -> None:  # noqa: N802 (PyEpics's name)
        if kwargs.get("value") == 0:
            self.waitSemaphore.release()

    def after_scan(self, mode: Any) -> Optional[int]:
        """Where positioners go after the scan: 0/'STAY', 1/'START POS', 2/'PRIOR POS'..."""
        return self.put("PASM", mode, wait=True, timeout=PUT_TIMEOUT)

    def positioner_delay(self, pdelay: float) -> Optional[int]:
        """Seconds to wait after the positioners have moved, at each point."""
        return self.put("PDLY", pdelay, wait=True, timeout=PUT_TIMEOUT)

    def detector_delay(self, pdelay: float) -> Optional[int]:
        """Seconds to wait after the triggers, before the detectors are read."""
        return self.put("DDLY", pdelay, wait=True, timeout=PUT_TIMEOUT)

    # --- setting up -------------------------------------------------------------------------

    def _free_slot(self, fields: Sequence[str], what: str) -> int:
        """The first of ``fields`` (link fields) that names no PV; its index from 1."""
        for index, field in enumerate(fields, start=1):
            link = self.PV(field).get(use_monitor=False)   # just written ones must count
            if link is None or len(str(link).strip()) < 2:
                return index
        raise ScanException(f"{len(fields)} {what} already defined.")

    def _in_use(self, field: str) -> bool:
        link = self.PV(field).get(use_monitor=False)
        return link is None or len(str(link).strip()) > 0

    def reset(self) -> None:
        """Clear every positioner, trigger and detector, and NPTS (only the slots in use are
        written: a reset costs a read per slot, not ten writes)."""
        self.put("NPTS", 0)
        for i in range(1, NUM_TRIGGERS + 1):
            if self._in_use(f"T{i}PV"):
                self.clear_trigger(i)
        for i in range(1, NUM_POSITIONERS + 1):
            if self._in_use(f"P{i}PV") or self._in_use(f"R{i}PV"):
                self.clear_positioner(i)
        for i in range(1, NUM_DETECTORS + 1):
            if self._in_use(f"D{i:02d}PV"):
                self.clear_detector(i)
        poll(1.e-3, 1.0)

    def clear_detector(self, idet: int = 1) -> None:
        """Forget detector ``idet`` (1 to 70)."""
        self.put(f"D{idet:02d}PV", "", wait=True, timeout=PUT_TIMEOUT)

    def add_detector(self, detector: str) -> int:
        """Add a detector PV to the first free slot; returns its index (1 to 70)."""
        idet = self._free_slot([f"D{i:02d}PV" for i in range(1, NUM_DETECTORS + 1)],
                               "Detectors")
        self.put(f"D{idet:02d}PV", detector, wait=True, timeout=PUT_TIMEOUT)
        return idet

    def clear_trigger(self, itrig: int = 1) -> None:
        """Forget trigger ``itrig`` (1 to 4)."""
        self.put(f"T{itrig}PV", "", wait=True, timeout=PUT_TIMEOUT)

    def add_trigger(self, trigger: str, value: float = 1.0) -> int:
        """Add a trigger PV (written with ``value`` at each point); returns its index."""
        itrig = self._free_slot([f"T{i}PV" for i in range(1, NUM_TRIGGERS + 1)], "Triggers")
        self.put(f"T{itrig}PV", trigger, wait=True, timeout=PUT_TIMEOUT)
        self.put(f"T{itrig}CD", value, wait=True, timeout=PUT_TIMEOUT)
        return itrig

    def clear_positioner(self, ipos: int = 1) -> None:
        """Forget positioner ``ipos`` (1 to 4) and its read-back."""
        for attr in self.pos_attrs:
            empty: Any = "" if attr == "PV" else [0] if attr == "PA" else 0
            self.put(f"P{ipos}{attr}", empty, wait=True, timeout=PUT_TIMEOUT)
        self.put(f"R{ipos}PV", "", wait=True, timeout=PUT_TIMEOUT)

    def add_positioner(self, drive: str, readback: Optional[str] = None,
                       start: Optional[float] = None, stop: Optional[float] = None,
                       step: Optional[float] = None, center: Optional[float] = None,
                       width: Optional[float] = None, mode: str = "linear",
                       absolute: bool = True, array: Optional[Sequence[float]] = None) -> int:
        """Add a positioner in the first free slot; returns its index (1 to 4).

        ``readback`` defaults to ``<record>.RBV`` for a drive ``<record>.VAL``; ``mode`` is
        'linear', 'table' or 'fly'; ``array`` gives a table or fly scan's positions.
        """
        ipos = self._free_slot([f"P{i}PV" for i in range(1, NUM_POSITIONERS + 1)],
                               "Positioners")
        self.put(f"P{ipos}PV", drive, wait=True, timeout=PUT_TIMEOUT)
        if readback is None and drive.endswith(".VAL"):
            readback = drive[:-4] + ".RBV"
        self.set_positioner(ipos, readback=readback, start=start, stop=stop, step=step,
                            center=center, width=width, mode=mode, absolute=absolute,
                            array=array if _mode_code(mode) in (1, 2) else None)
        return ipos

    def set_positioner(self, ipos: int, drive: Optional[str] = None,
                       readback: Optional[str] = None, start: Optional[float] = None,
                       stop: Optional[float] = None, step: Optional[float] = None,
                       center: Optional[float] = None, width: Optional[float] = None,
                       mode: Optional[str] = None, absolute: Optional[bool] = None,
                       array: Optional[Sequence[float]] = None) -> None:
        """Change the settings given of positioner ``ipos``; the others stay as they are."""
        if ipos is None:
            raise ScanException("must give positioner index")
        settings = [("PV", drive), ("SP", start), ("EP", stop), ("SI", step), ("CP", center),
                    ("WD", width), ("PA", array)]
        if readback is not None:
            self.put(f"R{ipos}PV", readback, wait=True, timeout=PUT_TIMEOUT)
        if absolute is not None:
            settings.append(("AR", 0 if absolute else 1))
        if mode is not None:
            settings.append(("SM", _mode_code(mode)))
        for attr, value in settings:
            if value is not None:
                self.put(f"P{ipos}{attr}", value, wait=True, timeout=PUT_TIMEOUT)
