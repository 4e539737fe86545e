"""The archiver's web front end (Starlette): status pages, live values, history plots, alerts
and the Archiver Appliance retrieval API. It only calls the public API of
:mod:`epics.archiver` (storage, retrieval, live values, alert rules) and never writes a PV.
Needs the ``archiver`` extra.
"""
from __future__ import annotations

from .app import WebState, create_app

__all__ = ["WebState", "create_app"]
