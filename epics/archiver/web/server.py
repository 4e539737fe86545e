"""``python -m epics.archiver web``: serve the application with uvicorn.

Binds to the configured host, 127.0.0.1 unless the configuration or ``--host`` says otherwise.
Runs on the main thread (uvicorn's event loop).
"""
from __future__ import annotations

import logging
from typing import Optional

import uvicorn

from ..config import ArchiverConfig
from .app import create_app

logger = logging.getLogger("epics.archiver.web")
SHUTDOWN_GRACE = 2


def serve(config: ArchiverConfig, host: Optional[str] = None, port: Optional[int] = None) -> int:
    """Run the web server until SIGINT/SIGTERM; returns the exit status."""
    host = host or config.web.host
    port = config.web.port if port is None else port
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("the web server listens on %s: reachable from other hosts", host)
    # Open event streams never end by themselves: on SIGTERM give them SHUTDOWN_GRACE s.
    uvicorn.run(create_app(config), host=host, port=port, log_level="info",
                proxy_headers=False, timeout_graceful_shutdown=SHUTDOWN_GRACE)
    return 0
