"""The alert pages: everyone may read the rules and the log; adding or removing a rule needs a
login and the form's CSRF token. Runs on the event loop thread; storage on worker threads.
"""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..alerts import validate_rule
from ..retrieval import check_pv_name
from ..storage import AlertRule
from .app import render
from .auth import checked_form, current_user

logger = logging.getLogger("epics.archiver.web")


async def alerts(request: Request) -> Response:
    state = request.app.state.web
    rules = await state.call(lambda storage: storage.alerts())
    log = await state.call(lambda storage: storage.alert_log(50))
    return render(request, "alerts.html", rules=rules, log=log, error=None)


def _rule_from(form, user: str) -> AlertRule:
    try:
        trip = float(form.get("trip_point", ""))
        delay = float(form.get("delay", "60") or 60)
    except ValueError:
        raise ValueError("trip point and delay must be numbers") from None
    recipients = tuple(a.strip() for a in str(form.get("recipients", "")).split(",")
                       if a.strip())
    webhook = str(form.get("webhook", "")).strip() or None
    return validate_rule(AlertRule(check_pv_name(str(form.get("pv", "")).strip()),
                                   str(form.get("comparison", "")), trip, delay, recipients,
                                   webhook, str(form.get("label", ""))[:200], None, user))


async def add_alert(request: Request) -> Response:
    form = await checked_form(request)
    state = request.app.state.web
    try:
        rule = _rule_from(form, current_user(request))
    except ValueError as exc:
        rules = await state.call(lambda storage: storage.alerts())
        log = await state.call(lambda storage: storage.alert_log(50))
        return render(request, "alerts.html", status_code=400, rules=rules, log=log,
                      error=str(exc))
    alert_id = await state.call(lambda storage: storage.add_alert(rule))
    logger.info("%s added alert %d on %s", current_user(request), alert_id, rule.pv)
    return RedirectResponse("/alerts", status_code=303)


async def delete_alert(request: Request) -> Response:
    await checked_form(request)
    alert_id = int(request.path_params["alert_id"])
    state = request.app.state.web
    await state.call(lambda storage: storage.delete_alert(alert_id))
    logger.info("%s removed alert %d", current_user(request), alert_id)
    return RedirectResponse("/alerts", status_code=303)


ROUTES = [Route("/alerts", alerts), Route("/alerts", add_alert, methods=["POST"]),
          Route("/alerts/{alert_id:int}/delete", delete_alert, methods=["POST"])]
