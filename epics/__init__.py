"""epics: EPICS Channel Access for Python, a drop-in replacement for PyEpics.

Three levels, as in PyEpics:

* the procedural interface: :func:`caget`, :func:`caput`, :func:`cainfo`, :func:`camonitor`,
  :func:`caget_many`, :func:`caput_many`;
* :class:`PV` objects (and :func:`get_pv`), with monitors and callbacks;
* :mod:`epics.ca` and :mod:`epics.dbr`, libca wrapped one-to-one.

Importing this package loads nothing and starts nothing: libca is loaded and the CA context is
made on the first CA call.
"""
from . import alarm, ca, dbr, device, motor, pv
from ._version import __version__
from .ca import poll
from .procedural import (INVALID_ALARM, MAJOR_ALARM, MINOR_ALARM, NO_ALARM, caget, caget_many,
                         cainfo, camonitor, camonitor_clear, caput, caput_many)
from .alarm import Alarm
from .device import Device
from .motor import Motor
from .pv import PV, get_pv

__all__ = ["__version__", "ca", "dbr", "pv", "alarm", "device", "motor", "Alarm", "Device",
           "Motor", "poll", "PV", "get_pv", "caget", "caput", "cainfo",
           "camonitor", "camonitor_clear", "caget_many", "caput_many", "CAProcess", "CAPool",
           "NO_ALARM", "MINOR_ALARM", "MAJOR_ALARM", "INVALID_ALARM"]


def __getattr__(name: str):
    """``epics.CAProcess`` and ``epics.CAPool`` import multiprocessing only when first used."""
    if name in ("CAProcess", "CAPool", "multiproc"):
        import importlib
        multiproc = importlib.import_module(".multiproc", __name__)
        return multiproc if name == "multiproc" else getattr(multiproc, name)
    raise AttributeError(f"module 'epics' has no attribute {name!r}")


def __dir__():
    """The package's names including the lazy ones above, so tab completion offers them."""
    return sorted(set(globals()) | {"CAProcess", "CAPool", "multiproc"})
