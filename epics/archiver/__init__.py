"""epics.archiver: archive PVs into SQLite or PostgreSQL, serve their history and status pages.

The engine (:class:`Engine`) monitors PVs through the public ``epics.PV`` API and writes batches
through one storage interface (:mod:`epics.archiver.storage`); retrieval (:mod:`.retrieval`)
decimates in the database and speaks the EPICS Archiver Appliance's JSON; alerts
(:mod:`.alerts`) watch the archived values. The web front end (:mod:`epics.archiver.web`,
``python -m epics.archiver web``) only calls these; nothing here imports a web package.
Importing this package starts nothing.
"""
from __future__ import annotations

from .config import (ArchiverConfig, ConfigError, EngineSettings, Page, PvPolicy, Section,
                     SmtpSettings, WebSettings, load_config)
from .engine import Engine, EngineStatus, select_share
from .names import expand
from .storage import AlertRule, Bucket, PvInfo, Sample, Storage, StorageError, open_storage

__all__ = ["AlertRule", "ArchiverConfig", "Bucket", "ConfigError", "Engine", "EngineSettings",
           "EngineStatus", "Page", "PvInfo", "PvPolicy", "Sample", "Section", "SmtpSettings",
           "Storage", "StorageError", "WebSettings", "expand", "load_config", "open_storage",
           "select_share"]
