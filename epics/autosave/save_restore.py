"""Save PV values named by a request file to a save file, and put them back: autosave over CA.

As in PyEpics 3.5::

    >>> from epics.autosave import save_pvs, restore_pvs
    >>> save_pvs('beamline.req', 'beamline.sav')
    >>> restore_pvs('beamline.sav')               # True if every PV was restored

The files are synApps autosave's (see :mod:`._request` and :mod:`._savefile`): an IOC's
``.req`` files and the ``.sav`` files this writes can be used by either.

What each kind of PV is saved as:

* double and float scalars: ``%.14g`` and ``%.7g`` (autosave's formats, no precision lost);
* integers: the number; enums: the state name (the index when the state has no name);
* strings: the text (blanks at its start are not kept, as in synApps and PyEpics);
* long strings (a name ending in ``$``, e.g. ``XXX:calc.CALC$``): the text;
* arrays (waveforms, also of char): ``@array@ { "e1" "e2" ... }``, the elements the record holds.

Restoring converts each saved text to the PV's type before writing it; a value that does not fit
(``'abc'`` for a double) is reported with the PV's name and skipped, and the other PVs are still
restored. An array saved empty is left as it is (a put needs at least one element). Nothing is
printed: progress and failures go to the ``epics.autosave`` logger.

Threads: everything runs in the caller's thread; connections are waited for with one deadline
for all PVs, not one timeout each.
"""
from __future__ import annotations

import datetime
import logging
import time
from pathlib import Path
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .. import dbr
from ..pv import PV, get_pv
from ..utils import IOENCODING  # noqa: F401 (importable from here, as in PyEpics)
from ._request import read_request_file
from ._savefile import SavedValue, format_array, read_save_file, write_save_file

__all__ = ["AutoSaver", "save_pvs", "restore_pvs", "get_pv", "CONNECT_TIMEOUT"]

log = logging.getLogger("epics.autosave")

PathLike = Union[str, Path]

#: Seconds all the PVs of a save or a restore together may take to connect.
CONNECT_TIMEOUT = 5.0
#: Seconds a put with ``wait=True`` may take to complete, per PV.
PUT_TIMEOUT = 30.0

_FLOAT_FORMATS = {dbr.DOUBLE: "%.14g", dbr.FLOAT: "%.7g"}
_INTEGERS = (dbr.INT, dbr.LONG, dbr.CHAR)


def _wait_for_connections(pvs: Sequence[PV], timeout: float) -> None:
    """Wait until every PV is connected or ``timeout`` seconds have passed, for all of them."""
    deadline = time.monotonic() + timeout
    for thispv in pvs:
        remaining = deadline - time.monotonic()
        if thispv.connected or remaining <= 0:
            continue
        thispv.wait_for_connection(timeout=remaining)


def _is_long_string(thispv: PV) -> bool:
    return thispv.pvname.endswith("$") and dbr.native_type(thispv.ftype) == dbr.CHAR


def _number_text(native: int, value: Any) -> str:
    if native in _FLOAT_FORMATS:
        return _FLOAT_FORMATS[native] % float(value)
    return str(int(value))


def saved_text(thispv: PV) -> Optional[str]:
    """The text a save file holds for a connected PV's current value (None if it cannot be read).
    """
    native = dbr.native_type(thispv.ftype)
    if _is_long_string(thispv):
        return thispv.get(as_string=True)
    value = thispv.get()
    if value is None:
        return None
    if thispv.nelm > 1:
        elements = np.atleast_1d(value) if native != dbr.STRING else (
            [value] if isinstance(value, str) else list(value))
        if native == dbr.STRING:
            return format_array([str(element) for element in elements])
        return format_array([_number_text(native, element) for element in elements])
    if np.ndim(value):                      # a one-element waveform
        if np.size(value) == 0:
            return None                     # it holds nothing yet (NORD 0)
        value = np.ravel(value)[0]
    if native == dbr.ENUM:
        name = thispv.get(as_string=True)
        return name if name and name.strip() else str(int(value))
    if native == dbr.STRING:
        return value if isinstance(value, str) else str(value)
    return _number_text(native, value)


def _number(native: int, text: str) -> Union[int, float]:
    text = text.strip()
    if native in _FLOAT_FORMATS:
        return float(text)
    try:
        return int(text)
    except ValueError:
        return int(float(text))


def value_to_put(thispv: PV, saved: SavedValue) -> Any:
    """The saved text converted to what ``thispv`` takes.

    Raises
    ------
    ValueError
        when the text does not fit the PV's type (the message names the PV and the text).
    """
    native = dbr.native_type(thispv.ftype)
    value = saved.value
    try:
        if isinstance(value, list):
            if native == dbr.STRING:
                return list(value)
            dtype = float if native in _FLOAT_FORMATS else np.int64
            return np.array([_number(native, element) for element in value], dtype=dtype)
        if native == dbr.STRING or (native == dbr.CHAR and (thispv.nelm > 1
                                                           or _is_long_string(thispv))):
            return value                    # a char array takes text (PyEpics's save files)
        if native == dbr.ENUM:
            states = thispv.enum_strs or ()
            if value in states:
                return value
            return int(value.strip())
        return _number(native, value)
    except ValueError as exc:
        raise ValueError(f"cannot restore {thispv.pvname!r} ({thispv.type}) from the saved "
                         f"text {str(value)[:60]!r}: {exc}") from exc


class AutoSaver:
    """The PVs of a request file, saved on demand (PyEpics's class).

    >>> saver = AutoSaver('beamline.req')
    >>> saver.save('beamline.sav')
    >>> saver.save()                  # beamline_2026Dec04_210631.sav

    Parameters
    ----------
    request_file : str or Path, optional
        The request file; read now (see :meth:`read_request_file`).
    macros : dict, optional
        Macro values for the request file (not in PyEpics).
    """

    def __init__(self, request_file: Optional[PathLike] = None,
                 macros: Optional[Mapping[str, str]] = None) -> None:
        self.request_file = request_file
        self.macros = dict(macros or {})
        self.pvs: List[PV] = []
        if request_file is not None:
            self.read_request_file(request_file)

    def read_request_file(self, request_file: Optional[PathLike] = None) -> None:
        """(Re)read the request file and make (not wait for) a PV for each name in it."""
        if request_file is not None:
            self.request_file = request_file
        if self.request_file is None:
            raise ValueError("AutoSaver.read_request_file: no request file given")
        names = read_request_file(self.request_file, self.macros)
        self.pvs = [get_pv(name, connect=False) for name in names]

    def _default_save_file(self) -> str:
        stem = str(self.request_file)
        if stem.endswith(".req"):
            stem = stem[:-4]
        return f"{stem}_{datetime.datetime.now().strftime('%Y%b%d_%H%M%S')}.sav"

    def save(self, save_file: Optional[PathLike] = None, verbose: bool = False,
             timeout: float = CONNECT_TIMEOUT) -> str:
        """Write the PVs' current values to ``save_file`` and return its name.

        PVs that do not connect within ``timeout`` seconds (for all of them together) are
        written as not connected (commented out) and logged. Without ``save_file`` the name is
        the request file's with a time stamp, as in PyEpics.
        """
        target = str(save_file) if save_file is not None else self._default_save_file()
        _wait_for_connections(self.pvs, timeout)
        lines: List[Tuple[str, Optional[str]]] = []
        for thispv in self.pvs:
            text = saved_text(thispv) if thispv.connected else None
            if text is None:
                log.warning("autosave: %s not connected (or not readable): not saved",
                            thispv.pvname)
            elif verbose:
                log.info("PV %s = %s", thispv.pvname, text)
            lines.append((thispv.pvname, text))
        write_save_file(target, lines, comment=f"written by epics.autosave from "
                                                f"{self.request_file}")
        log.info("wrote %s (%d PVs)", target, len(lines))
        return target


def save_pvs(request_file: PathLike, save_file: PathLike, debug: bool = False,
             macros: Optional[Mapping[str, str]] = None,
             timeout: float = CONNECT_TIMEOUT) -> str:
    """Save the PVs a request file names to a save file (PyEpics's function).

    Parameters
    ----------
    request_file : str or Path
        The ``.req`` file (``file`` includes and macros are followed).
    save_file : str or Path
        The ``.sav`` file to write (replaced whole, never left half-written).
    debug : bool
        Log each PV's value (logger ``epics.autosave``, level INFO).
    macros : dict, optional
        Macro values for the request file (not in PyEpics).
    timeout : float
        Seconds all the PVs together may take to connect (not in PyEpics); those that do not
        are written commented out, as synApps does.

    Returns
    -------
    str
        The save file's name (PyEpics returned None).
    """
    return AutoSaver(request_file, macros=macros).save(save_file, verbose=debug,
                                                       timeout=timeout)


def _restore_one(thispv: PV, saved: SavedValue, wait: bool, debug: bool) -> bool:
    if not thispv.connected:
        log.warning("restore: cannot connect to %s", thispv.pvname)
        return False
    if not thispv.write_access:
        log.warning("restore: no write access to %s", thispv.pvname)
        return False
    try:
        value = value_to_put(thispv, saved)
    except ValueError as exc:
        log.error("restore: %s", exc)
        return False
    if isinstance(value, (list, np.ndarray)) and len(value) == 0:
        log.info("restore: %s was saved empty: left as it is", thispv.pvname)
        return True
    if debug:
        log.info("setting %s to %s", thispv.pvname, saved.value)
    try:
        status = thispv.put(value, wait=wait, timeout=PUT_TIMEOUT)
    except Exception as exc:    # a put the server rejects: report it, restore the others
        log.error("restore: error writing %r to %s: %s", saved.value, thispv.pvname, exc)
        return False
    if status is None or (wait and status != 1):
        log.error("restore: writing %s did not complete (status %s)", thispv.pvname, status)
        return False
    return True


def restore_pvs(filepath: PathLike, debug: bool = False, wait: bool = False,
                timeout: float = CONNECT_TIMEOUT) -> bool:
    """Put the values of a save file back into their PVs (PyEpics's function).

    Parameters
    ----------
    filepath : str or Path
        The ``.sav`` file (synApps' or PyEpics's form).
    debug : bool
        Log each PV as it is set (logger ``epics.autosave``, level INFO).
    wait : bool
        Wait for each put to complete (not in PyEpics, which never waits).
    timeout : float
        Seconds all the PVs together may take to connect.

    Returns
    -------
    bool
        True if every saved PV was restored; the failures are logged, each with its PV name.

    Raises
    ------
    SaveFileError
        when the file is incomplete (no ``<END>`` line) or unreadable; nothing is written then.
    """
    saved, _ = read_save_file(filepath)
    pvs = [get_pv(entry.pvname, connect=False) for entry in saved]
    _wait_for_connections(pvs, timeout)
    results = [_restore_one(thispv, entry, wait, debug) for thispv, entry in zip(pvs, saved)]
    return all(results)
