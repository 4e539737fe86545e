"""Status pages from the configured templates, and their live values as server-sent events.

Runs on the event loop thread. The event stream reads the live values' change table (see
:class:`epics.archiver.live.LiveValues`) every ``PUSH_INTERVAL`` seconds and sends what changed,
so a PV updating at 100 Hz costs the browser at most a few messages a second.
"""
from __future__ import annotations

import asyncio
import json
import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .app import render

PUSH_INTERVAL = 0.25
KEEPALIVE = 15.0
#: An event stream ends after this long; the browser's EventSource reconnects by itself.
STREAM_LIFETIME = 3600.0


async def index(request: Request) -> Response:
    return render(request, "index.html")


async def page(request: Request) -> Response:
    state = request.app.state.web
    found = state.page(request.path_params["name"])
    if found is None:
        raise HTTPException(404, "no such status page")
    values = {pv: state.live.get(pv) for pv in found.pv_names()}
    return render(request, "page.html", page=found, values=values)


def _event(values) -> str:
    return "data: " + json.dumps([value.as_dict() for value in values]) + "\n\n"


async def events(request: Request) -> Response:
    state = request.app.state.web
    found = state.page(request.query_params.get("page", ""))
    if found is None:
        raise HTTPException(404, "no such status page")
    names = found.pv_names()

    async def stream():
        seq, values = state.live.changes(-1, names)
        yield "retry: 2000\n" + _event(values)
        started = last_sent = time.monotonic()
        while time.monotonic() - started < STREAM_LIFETIME:
            await asyncio.sleep(PUSH_INTERVAL)
            if await request.is_disconnected():
                return
            seq, values = state.live.changes(seq, names)
            if values:
                yield _event(values)
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent > KEEPALIVE:
                yield ": keepalive\n\n"
                last_sent = time.monotonic()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


ROUTES = [Route("/", index), Route("/page/{name}", page), Route("/events", events)]
