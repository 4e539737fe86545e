"""Save and restore sets of PVs with synApps autosave's files, over Channel Access.

As in PyEpics 3.5::

    >>> from epics.autosave import save_pvs, restore_pvs, AutoSaver
    >>> save_pvs('beamline.req', 'beamline.sav')
    >>> restore_pvs('beamline.sav')

Request files (``.req``: PV names, ``file other.req P=XXX:`` includes with macros) and save
files (``.sav``) are those of synApps' autosave module; see :mod:`epics.autosave.save_restore`.
Unlike PyEpics this needs no pyparsing. Runs in the caller's thread.
"""
from __future__ import annotations

from . import save_restore
from ._request import RequestFileError, read_request_file
from ._savefile import SaveFileError, read_save_file
from .save_restore import AutoSaver, restore_pvs, save_pvs

__all__ = ["AutoSaver", "save_pvs", "restore_pvs", "read_request_file", "read_save_file",
           "RequestFileError", "SaveFileError", "save_restore"]
