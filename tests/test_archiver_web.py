"""The archiver's web front end through HTTP (Starlette's test client), on archived data and a
real IOC: status pages, history JSON decimated to buckets, CSV, the Archiver Appliance's
getData.json, validation of every query parameter, logins (hashed passwords, CSRF, cookie
flags), alert rules defined from the pages, and security headers. The browser side is in
test_archiver_browser.py.
"""
from __future__ import annotations

import re
import time
import warnings
from urllib.parse import quote

import pytest

from epics.archiver import Sample, load_config, open_storage
from epics.archiver.passwords import hash_password
from epics.testing import SoftIoc, unique_prefix
from archiver_helpers import ARCHIVER_DB, wait_until, write_config

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)   # starlette prefers httpx2
    from starlette.testclient import TestClient

from epics.archiver.web import create_app

PASSWORD = "correct horse battery staple"
SECOND = 10**9


def page_config(prefix: str) -> str:
    return f"""
[web]
secret = "test-secret"
[web.users]
operator = "{hash_password(PASSWORD, iterations=1000)}"

[[page]]
name = "main"
title = "Beamline status"
[[page.section]]
title = "Sample"
pvs = [["Temperature", "{prefix}temp"], ["Mode", "{prefix}mode"]]
[[page.section]]
title = "Other"
pvs = [["Absent", "{prefix}absent"]]
"""


@pytest.fixture(scope="module")
def web(epics_port_pool, tmp_path_factory):
    """The web application on its own IOC and a database holding a day of 1 Hz data."""
    prefix = unique_prefix("web")
    folder = tmp_path_factory.mktemp("web")
    config = load_config(write_config(folder / "w.toml", f"sqlite:///{folder / 'w.db'}",
                                      [], page_config(prefix)))
    now = time.time_ns()
    with open_storage(config.storage_url) as storage:
        storage.write([Sample("S:day", now - i * SECOND, float(i % 1000), None, i % 4, 0)
                       for i in range(86_400)])
        storage.write([Sample("S:gappy", now - 20 * SECOND, 1.0),
                       Sample("S:gappy", now - 10 * SECOND, None, None, 3, -1),
                       Sample("S:gappy", now - 5 * SECOND, 2.0)])
    port = epics_port_pool.take()
    try:
        with SoftIoc(ARCHIVER_DB, macros={"P": prefix}, port=port,
                     repeater_port=epics_port_pool.repeater_port):
            with TestClient(create_app(config), base_url="https://testserver") as client:
                client.prefix = prefix
                yield client
    finally:
        epics_port_pool.release(port)


def test_status_page_shows_labels_values_and_disconnected_pvs(web):
    prefix = web.prefix
    wait_until(lambda: web.app.state.web.live.get(prefix + "mode").connected, what="live")
    page = web.get("/page/main").text
    assert "Beamline status" in page and "Temperature" in page
    assert re.search(rf'data-pv="{prefix}mode"[^>]*>Off', page)   # an enum as its string
    assert re.search(rf'disconnected"\s+data-pv="{prefix}absent"', page)
    assert f'href="/plot?pv={quote(prefix + "temp")}"' in page
    assert web.get("/page/nothing").status_code == 404


def test_history_is_decimated_and_gaps_are_kept(web):
    reply = web.get("/api/history", params={"pv": "S:day", "from": "-1d", "buckets": "500"})
    series = reply.json()["series"][0]
    assert series["mode"] == "minmax" and 490 <= len(series["t"]) <= 501
    assert min(series["min"]) == 0.0 and max(series["max"]) == 999.0
    raw = web.get("/api/history", params={"pv": "S:gappy", "from": "-1m"}).json()["series"][0]
    assert raw["mode"] == "raw" and raw["gap"] == [False, True, False]


def test_appliance_retrieval_api_has_the_same_shape(web):
    now = time.time()
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))   # noqa: E731
    reply = web.get("/retrieval/data/getData.json",
                    params={"pv": "S:gappy", "from": iso(now - 60), "to": iso(now + 60)})
    [answer] = reply.json()
    assert answer["meta"]["name"] == "S:gappy"
    events = answer["data"]
    assert [e["val"] for e in events] == [1.0, 2.0]   # a gap is no event ...
    assert set(events[0]) == {"secs", "nanos", "val", "severity", "status"}
    assert "cnxlostepsecs" in events[1]["fields"]     # ... but marks the next one


def test_csv_download(web):
    reply = web.get("/api/history.csv", params={"pv": "S:gappy", "from": "-1m"})
    lines = reply.text.strip().splitlines()
    assert lines[0] == "pv,time,posix_seconds,value,severity,status"
    assert [line.split(",")[3] for line in lines[1:]] == ["1.0", "", "2.0"]
    assert reply.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize("params, message", [
    ({"pv": "S:x y"}, "no spaces"),
    ({"pv": "S:day", "from": "yesterday"}, "ISO 8601"),
    ({"pv": "S:day", "buckets": "many"}, "whole number"),
    ({"pv": "S:day", "buckets": "99999999"}, "between"),
    ({"pv": ["a", "b", "c", "d", "e"]}, "at most 4"),
    ({"pv": "S:day", "from": "now", "to": "-1d"}, "after"),
    ({}, "at least one"),
])
def test_bad_query_parameters_are_refused_with_a_reason(web, params, message):
    reply = web.get("/api/history", params=params)
    assert reply.status_code == 400 and message in reply.text


def login(client, password=PASSWORD):
    page = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": "operator", "password": password,
                                       "csrf": token, "next": "/alerts"},
                       follow_redirects=False)


def csrf_of(client, path="/alerts"):
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def test_alerts_need_a_login_and_a_csrf_token(web):
    form = {"pv": "S:day", "comparison": ">", "trip_point": "5", "delay": "30",
            "recipients": "ops@example.org", "label": "hot"}
    assert "Log in</a> to add" in web.get("/alerts").text
    web.cookies.clear()                 # start logged out, whatever ran before
    assert web.post("/alerts", data=dict(form, csrf=csrf_of(web, "/login"))).status_code == 403
    assert login(web, "wrong").status_code == 401
    reply = login(web)
    assert reply.status_code == 303 and reply.headers["location"] == "/alerts"
    cookie = reply.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert web.post("/alerts", data=form).status_code == 403            # no CSRF token
    assert web.post("/alerts", data=dict(form, csrf="forged")).status_code == 403
    bad = web.post("/alerts", data=dict(form, comparison="~", csrf=csrf_of(web)))
    assert bad.status_code == 400 and "comparison" in bad.text
    added = web.post("/alerts", data=dict(form, csrf=csrf_of(web)), follow_redirects=False)
    assert added.status_code == 303
    [rule] = web.app.state.web.storage().alerts()
    assert (rule.pv, rule.trip_point, rule.created_by) == ("S:day", 5.0, "operator")
    web.post(f"/alerts/{rule.id}/delete", data={"csrf": csrf_of(web)})
    assert web.app.state.web.storage().alerts() == []


def test_security_headers_and_no_page_writes_a_pv(web):
    reply = web.get("/")
    assert reply.headers["content-security-policy"].startswith("default-src 'self'")
    assert reply.headers["x-content-type-options"] == "nosniff"
    posts = sorted(route.path for route in web.app.routes
                   if "POST" in (getattr(route, "methods", None) or ()))
    assert posts == ["/alerts", "/alerts/{alert_id:int}/delete", "/login", "/logout"]
    assert web.get("/static/plot.js").status_code == 200
    assert "cdn" not in web.get("/plot").text.lower()
