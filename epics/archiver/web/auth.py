"""Logins and CSRF protection for the pages that change anything (alert rules).

Passwords are checked against the PBKDF2 hashes of ``[web.users]``; the session is Starlette's
signed cookie (HttpOnly, SameSite=Strict, Secure unless ``secure_cookies = false``). Every form
that changes something carries the session's CSRF token, compared in constant time. Runs on the
event loop thread; the password check (slow on purpose) on a worker thread.
"""
from __future__ import annotations

import functools
import hmac
import logging
import secrets
from typing import Optional

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..passwords import check_password, hash_password

logger = logging.getLogger("epics.archiver.web")



@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked against when the user name is unknown, so a wrong name takes as long as a
    wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def current_user(request: Request) -> Optional[str]:
    return request.session.get("user")


async def checked_form(request: Request, need_login: bool = True):
    """The posted form, after checking the CSRF token (and the login): 403 otherwise."""
    form = await request.form()
    expected = request.session.get("csrf", "")
    if not expected or not hmac.compare_digest(str(form.get("csrf", "")), expected):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page")
    if need_login and current_user(request) is None:
        raise HTTPException(403, "log in first")
    return form


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


async def login(request: Request) -> Response:
    from .app import render
    if request.method == "GET":
        return render(request, "login.html", next=_safe_next(request.query_params.get("next",
                                                                                     "/")))
    form = await checked_form(request, need_login=False)
    user = str(form.get("username", ""))[:100]
    password = str(form.get("password", ""))[:1000]
    users = request.app.state.web.config.web.users
    ok = await run_in_threadpool(check_password, password, users.get(user) or _dummy_hash())
    if not ok or user not in users:
        logger.warning("failed login for %r from %s", user, request.client.host
                       if request.client else "?")
        return render(request, "login.html", status_code=401, error="wrong user or password",
                      next=_safe_next(str(form.get("next", "/"))))
    request.session.clear()
    request.session["user"] = user
    csrf_token(request)
    logger.info("%s logged in", user)
    return RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)


async def logout(request: Request) -> Response:
    await checked_form(request, need_login=False)
    request.session.clear()
    return RedirectResponse("/", status_code=303)


ROUTES = [Route("/login", login, methods=["GET", "POST"]),
          Route("/logout", logout, methods=["POST"])]
