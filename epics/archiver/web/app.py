"""The Starlette application: routes, sessions, security headers, error pages.

Runs on the server's event loop thread (uvicorn); database calls go to Starlette's worker
threads (``run_in_threadpool``), each worker thread with its own storage connection.
"""
from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..config import ArchiverConfig, Page
from ..live import LiveValues
from ..storage import Storage, open_storage

__all__ = ["WebState", "create_app"]

logger = logging.getLogger("epics.archiver.web")
HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))

#: Sent with every answer: scripts and styles only from this server (no CDN, no inline code).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP answer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=list(message.get("headers", [])) + self.raw)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class WebState:
    """What the handlers share: the configuration, the live values, one storage per thread."""

    def __init__(self, config: ArchiverConfig, live: Optional[LiveValues] = None) -> None:
        self.config = config
        self.pages = {page.name: page for page in config.web.pages}
        names = sorted({pv for page in config.web.pages for pv in page.pv_names()})
        self.live = live if live is not None else LiveValues(names)
        self._local = threading.local()
        self._opened: list = []
        self._lock = threading.Lock()

    def storage(self) -> Storage:
        """This thread's storage connection (opened on first use)."""
        storage = getattr(self._local, "storage", None)
        if storage is None:
            storage = open_storage(self.config.storage_url)
            self._local.storage = storage
            with self._lock:
                self._opened.append(storage)
        return storage

    async def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(storage, *args)`` on a worker thread."""
        return await run_in_threadpool(lambda: function(self.storage(), *args))

    def related(self, pv: str) -> list:
        """PVs that share a status page section with ``pv``, for the plot's related list."""
        found = []
        for page in self.pages.values():
            for section in page.sections:
                names = [name for _, name in section.entries]
                if pv in names:
                    found.extend(n for n in names if n != pv and n not in found)
        return found

    def page(self, name: str) -> Optional[Page]:
        return self.pages.get(name)

    def close(self) -> None:
        self.live.close()
        with self._lock:
            opened, self._opened = self._opened, []
        for storage in opened:
            storage.close()


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    from .auth import csrf_token, current_user
    context.update(user=current_user(request), csrf=csrf_token(request),
                   pages=request.app.state.web.config.web.pages)
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"bad request: {exc}", status_code=400)


def create_app(config: ArchiverConfig, live: Optional[LiveValues] = None,
               start_live: bool = True) -> Starlette:
    """The web application for ``config``; ``live`` defaults to monitoring every PV of the
    status pages (started with the application, closed when it stops)."""
    from . import alert_pages, auth, history, status
    state = WebState(config, live)
    secret = config.web.secret
    if not secret:
        secret = secrets.token_urlsafe(32)
        logger.warning("no [web] secret configured: sessions end when the server restarts")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        if start_live:
            state.live.start()
        try:
            yield
        finally:
            state.close()

    routes = (status.ROUTES + history.ROUTES + auth.ROUTES + alert_pages.ROUTES +
              [Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")])
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(SecurityHeaders),
                                Middleware(SessionMiddleware, secret_key=secret,
                                           https_only=config.web.secure_cookies,
                                           same_site="strict", max_age=8 * 3600)],
                    exception_handlers={ValueError: _bad_request})
    app.state.web = state
    return app

