"""The Struck SIS3820 multichannel scaler (synApps mca SIS38XX database) as a Device.

As in PyEpics 3.5::

    >>> sis = Struck('XXX:SIS1:', scaler='XXX:scaler1')
    >>> sis.InternalMode()
    >>> sis.setDwell(0.01)
    >>> sis.start()                   # EraseStart: erase and acquire
    >>> sis.readmca(nmca=2)           # time bins of channel 2 so far
    >>> sis.saveMCAdata('scan.dat')   # all channels as columns

The driver PVs are ``<prefix><Name>`` (``EraseStart``, ``Dwell``...); channel ``n`` is the mca
record ``<prefix>mca<n>``.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ..device import Device
from ..utils import IOENCODING  # noqa: F401 (importable from here, as in PyEpics)
from .mca import MCA
from .scaler import Scaler

__all__ = ["Struck", "HEADER"]

log = logging.getLogger("epics.devices.struck")

#: The head of the files :meth:`Struck.saveMCAdata` writes (PyEpics's name and %-fields: the
#: prefix, the rows, the columns, the channels' addresses and names, each joined by ' | ').
HEADER = """# Struck MCA data: %s
# Nchannels, Nmca = %i, %i
# Time in microseconds
#----------------------
# %s
# %s
"""


class Struck(Device):
    """A SIS3820 multichannel scaler.

    Parameters
    ----------
    prefix : str
        The PV prefix, e.g. 'XXX:SIS1:' (a final ':' is added if missing).
    scaler : str, optional
        The scaler record that runs beside it (its channel names label the saved data).
    nchan : int
        Number of channels (mca records).
    clockrate : float
        Frequency of the reference clock counted by channel 1, in MHz: the first column of
        :meth:`saveMCAdata` is divided by it to give microseconds.
    """

    attrs = ("ChannelAdvance", "Prescale", "EraseStart", "EraseAll", "StartAll", "StopAll",
             "PresetReal", "ElapsedReal", "Dwell", "Acquiring", "NuseAll", "CurrentChannel",
             "CountOnStart", "SoftwareChannelAdvance", "Channel1Source", "ReadAll", "DoReadAll",
             "Model", "Firmware")
    #: Other driver PVs of the SIS38XX database, created on first use.
    _known_fields = frozenset(("InitialChannelAdvance", "MaxChannels", "AcquireMode", "InputMode",
                               "OutputMode", "OutputPolarity", "LNEOutputStretcherEnable",
                               "LNEOutputDelay", "LNEOutputWidth", "UserLED", "MUXOutput"))
    _nonpvs = ("_prefix", "_pvs", "_delim", "_nchan", "clockrate", "scaler", "mcas")

    def __init__(self, prefix: str, scaler: Optional[str] = None, nchan: int = 8,
                 clockrate: float = 50.0) -> None:
        if not prefix.endswith(":"):
            prefix = f"{prefix}:"
        self._nchan = nchan
        self.clockrate = clockrate
        self.scaler: Optional[Scaler] = Scaler(scaler, nchan=nchan) if scaler is not None \
            else None
        self.mcas: List[MCA] = [MCA(prefix, mca=i + 1, nrois=2) for i in range(nchan)]
        super().__init__(prefix, delim="", attrs=self.attrs, mutable=False)

    # --- modes ------------------------------------------------------------------------------------

    def ExternalMode(self, countonstart: Optional[int] = 0,  # noqa: N802 (PyEpics's names)
                     initialadvance: Optional[int] = None, realtime: Optional[float] = 0,
                     prescale: Optional[int] = 1) -> Optional[int]:
        """Advance bins on external pulses (ChannelAdvance = External).

        ``countonstart`` sets CountOnStart, ``initialadvance`` InitialChannelAdvance,
        ``realtime`` PresetReal and ``prescale`` Prescale (None leaves a setting alone). The
        scaler, if any, goes to one-shot mode. Returns the status of the ChannelAdvance put.
        """
        status = self.put("ChannelAdvance", 1)
        if self.scaler is not None:
            self.scaler.OneShotMode()
        if realtime is not None:
            self.put("PresetReal", realtime)
        if prescale is not None:
            self.put("Prescale", prescale)
        if countonstart is not None:
            self.put("CountOnStart", countonstart)
        if initialadvance is not None:
            self.put("InitialChannelAdvance", initialadvance)
        return status

    def InternalMode(self, prescale: Optional[int] = None) -> Optional[int]:  # noqa: N802
        """Advance bins every Dwell seconds (ChannelAdvance = Internal)."""
        status = self.put("ChannelAdvance", 0)
        if self.scaler is not None:
            self.scaler.OneShotMode()
        if prescale is not None:
            self.put("Prescale", prescale)
        return status

    def AutoCountMode(self) -> None:  # noqa: N802
        """Put the scaler, if any, in auto-count mode."""
        if self.scaler is not None:
            self.scaler.AutoCountMode()

    def setPresetReal(self, val: float) -> Optional[int]:  # noqa: N802
        """Stop acquiring after ``val`` seconds (0: no limit)."""
        return self.put("PresetReal", val)

    def setDwell(self, val: float) -> Optional[int]:  # noqa: N802
        """Seconds per time bin in internal mode."""
        return self.put("Dwell", val)

    # --- acquisition ------------------------------------------------------------------------------

    def start(self) -> Optional[int]:
        """Erase and start acquiring (EraseStart); the scaler, if any, goes to one-shot mode."""
        if self.scaler is not None:
            self.scaler.OneShotMode()
        return self.put("EraseStart", 1)

    def stop(self) -> Optional[int]:
        """Stop acquiring (StopAll)."""
        return self.put("StopAll", 1)

    def erase(self) -> Optional[int]:
        """Erase the data (EraseAll)."""
        return self.put("EraseAll", 1)

    # --- data -------------------------------------------------------------------------------------

    def mcaNread(self, nmca: int = 1) -> Any:  # noqa: N802
        """Bins filled so far in channel ``nmca`` (its NORD)."""
        return self.get("mca%i.NORD" % nmca)

    def readmca(self, nmca: int = 1, count: Optional[int] = None) -> Any:
        """The bins of channel ``nmca`` (at most ``count``), read from the server."""
        return self.PV("mca%i" % nmca).get(count=count, use_monitor=False)

    def read_all_mcas(self) -> List[Any]:
        """The bins of every channel."""
        return [self.readmca(nmca=i + 1) for i in range(self._nchan)]

    def saveMCAdata(self, fname: str = "Struck.dat",  # noqa: N802
                    mcas: Optional[Sequence[int]] = None, ignore_prefix: Optional[str] = None,
                    npts: Optional[int] = None) -> Tuple[int, int]:
        """Write the channels' bins to a text file, one column per channel (the first, the
        clock, in microseconds); channels with no name and no counts are left out.

        ``mcas`` selects channels (1-based; default all), ``npts`` caps the rows.
        ``ignore_prefix`` is accepted for PyEpics compatibility and unused. Returns
        ``(number of columns, number of rows)``.
        """
        channels = list(mcas) if mcas is not None else list(range(1, self._nchan + 1))
        columns, names, addrs = [], [], []
        rows = npts if npts is not None else None
        for nmca in channels:
            name, addr = f"MCA{nmca}", f"{self._prefix}mca{nmca}"
            if self.scaler is not None:
                label = self.scaler.get("NM%i" % nmca)
                if label is not None:
                    name = label.replace(" ", "_")
                    addr = f"{self.scaler._record}.S{nmca}"
            data = self.readmca(nmca=nmca)
            data = np.atleast_1d(np.asarray(data if data is not None else [], dtype=float))
            rows = len(data) if rows is None else min(rows, len(data))
            if name or data.sum() > 0:
                names.append(name)
                addrs.append(addr)
                columns.append(data)
        rows = rows or 0
        table = np.array([column[:rows] for column in columns]).transpose() if columns else \
            np.zeros((0, 0))
        if table.size:
            table[:, 0] = table[:, 0] / self.clockrate
        ncols = len(columns)
        with open(fname, "w", encoding="utf-8") as out:
            out.write(HEADER % (self._prefix, rows, ncols, " | ".join(addrs), " | ".join(names)))
            row_format = "%9i " * ncols + "\n"
            for row in table:
                out.write(row_format % tuple(row))
        return ncols, rows
