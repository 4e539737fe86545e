"""History: the plot page, its JSON and CSV, the PV list, and the Archiver Appliance's
``/retrieval/data/getData.json``. Every query parameter is checked (PV names, times, counts)
before it reaches the storage, which binds them as SQL parameters.

Runs on the event loop thread; the queries on worker threads.
"""
from __future__ import annotations

import time
from typing import List

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..retrieval import (MAX_PLOT_PVS, appliance_json, check_pv_name, csv_lines, parse_time,
                         plot_data)
from .app import render

DAY_NS = 86_400 * 10**9


def _pvs(request: Request, most: int = MAX_PLOT_PVS) -> List[str]:
    names = [check_pv_name(n) for n in request.query_params.getlist("pv") if n.strip()]
    if not names:
        raise ValueError("give at least one pv=NAME")
    if len(names) > most:
        raise ValueError(f"at most {most} PVs at once")
    return list(dict.fromkeys(names))


def _range(request: Request, default_span: int = DAY_NS):
    end = parse_time(request.query_params.get("to"), default=time.time_ns())
    start = parse_time(request.query_params.get("from"), default=end - default_span)
    if end <= start:
        raise ValueError("'to' must come after 'from'")
    return start, end


def _int(request: Request, key: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(key)
    if text is None:
        return default
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"{key}={text[:20]!r} is not a whole number") from None
    if not low <= number <= high:
        raise ValueError(f"{key} must be between {low} and {high}")
    return number


async def plot(request: Request) -> Response:
    names = [n for n in request.query_params.getlist("pv") if n.strip()][:MAX_PLOT_PVS]
    for name in names:
        check_pv_name(name)
    state = request.app.state.web
    related = [pv for name in names for pv in state.related(name) if pv not in names]
    return render(request, "plot.html", pvs=names, related=list(dict.fromkeys(related)))


async def api_history(request: Request) -> Response:
    names = _pvs(request)
    start, end = _range(request)
    buckets = _int(request, "buckets", 1000, 10, 5000)
    state = request.app.state.web
    series = [await state.call(plot_data, name, start, end, buckets) for name in names]
    return JSONResponse({"from": start / 1e9, "to": end / 1e9, "series": series})


async def api_csv(request: Request) -> Response:
    names = _pvs(request)
    start, end = _range(request)
    state = request.app.state.web
    lines = await state.call(lambda storage: list(csv_lines(storage, names, start, end)))
    return StreamingResponse(iter(lines), media_type="text/csv", headers={
        "Content-Disposition": 'attachment; filename="archive.csv"'})


async def api_pvs(request: Request) -> Response:
    pattern = request.query_params.get("q", "")[:100]
    state = request.app.state.web
    return JSONResponse(await state.call(lambda storage: storage.pv_names(pattern)[:1000]))


async def get_data_json(request: Request) -> Response:
    """The Archiver Appliance's retrieval call: pv, from, to (ISO 8601), default the past hour
    as there."""
    names = _pvs(request, most=1)
    start, end = _range(request, default_span=3600 * 10**9)
    state = request.app.state.web
    return JSONResponse(await state.call(appliance_json, names[0], start, end))


ROUTES = [Route("/plot", plot), Route("/api/history", api_history),
          Route("/api/history.csv", api_csv), Route("/api/pvs", api_pvs),
          Route("/retrieval/data/getData.json", get_data_json)]
