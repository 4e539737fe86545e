"""Mark Rivers' ``epicsPV`` class as a :class:`epics.PV`: PyEpics's ``epics.compat.epicsPV``.

    >>> pv = epicsPV('XXX:m1.VAL')      # waits for the connection
    >>> pv.setMonitor()
    >>> pv.putWait(1.5)                  # put and wait for processing to complete
    >>> pv.checkMonitor()                # True: a value arrived since the last check
    >>> pv.getControl()['units']

Callbacks run on the library's dispatcher thread; the rest in the caller's thread.
"""
from __future__ import annotations

from typing import Any, Optional

from ..pv import PV

__all__ = ["epicsPV"]


class epicsPV(PV):  # noqa: N801 (the class's historic name)
    """A PV with the methods of Mark Rivers' epicsPV.

    Parameters
    ----------
    pvname : str, optional
        The PV name.
    wait : bool
        Wait (up to the connection timeout) for the PV to connect.

    Notes
    -----
    PyEpics 3.5's class cannot be made (its constructor names an undefined ``PV``); this one
    works as its documentation says.
    """

    def __init__(self, pvname: Optional[str] = None, wait: bool = True) -> None:
        super().__init__(pvname)
        self.monitorState = False
        if pvname is not None and wait:
            self.connect()

    def _getCallback(self, pvname: Optional[str] = None, value: Any = None,  # noqa: N802
                     **kw: Any) -> None:
        self.monitorState = True

    def setMonitor(self) -> None:  # noqa: N802 (the class's names)
        """Note each value change from now on (see :meth:`checkMonitor`)."""
        self.monitorState = False
        self.add_callback(callback=self._getCallback)

    def clearMonitor(self) -> None:  # noqa: N802
        """Forget a change noted since the last check."""
        self.monitorState = False

    def checkMonitor(self) -> bool:  # noqa: N802
        """Whether a value arrived since the last check (and reset the flag)."""
        changed, self.monitorState = self.monitorState, False
        return changed

    def getControl(self) -> Optional[dict]:  # noqa: N802
        """The control information: limits, units, precision, alarm state..."""
        return self.get_ctrlvars()

    def array_get(self, count: Optional[int] = None) -> Any:
        """The value (``count`` elements of an array)."""
        return self.getw(count=count)

    def getw(self, count: Optional[int] = None) -> Any:
        """The value (``count`` elements of an array)."""
        return self.get(count=count)

    def getValue(self) -> Any:  # noqa: N802
        """The most recent value."""
        return self.get()

    def putw(self, value: Any, wait: bool = False) -> None:
        """Write a value (and wait for processing with ``wait``)."""
        self.put(value, wait=wait)

    def putWait(self, value: Any) -> None:  # noqa: N802
        """Write a value and wait for the processing to complete."""
        self.put(value, wait=True)
