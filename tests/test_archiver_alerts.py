"""Alerts of the archiver against a real IOC: e-mail through a local SMTP server (aiosmtpd,
started here), a webhook to a local HTTP server, a bouncing value alerting once within the
delay, the rate limit, and every delivery in the alert log.
"""
from __future__ import annotations

import http.server
import json
import threading

import pytest
from aiosmtpd.controller import Controller

from epics import caput
from epics.archiver import (AlertRule, Engine, EngineSettings, PvPolicy, SmtpSettings,
                            open_storage)
from epics.archiver.alerts import AlertMonitor, Notifier, validate_rule
from epics.testing import free_port
from archiver_helpers import ARCHIVER_DB, wait_until


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.fixture
def webhook():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield received, f"http://127.0.0.1:{server.server_port}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_rules_are_validated_with_the_pv_named():
    with pytest.raises(ValueError, match="S:t.*comparison"):
        validate_rule(AlertRule("S:t", "=>", 1.0))
    with pytest.raises(ValueError, match="e-mail"):
        validate_rule(AlertRule("S:t", ">", 1.0, recipients=("nobody",)))
    with pytest.raises(ValueError, match="webhook"):
        validate_rule(AlertRule("S:t", ">", 1.0, webhook="file:///etc/passwd"))


def test_a_bouncing_value_alerts_once_by_mail_and_webhook(softioc_factory, pv_prefix, tmp_path,
                                                         smtp, webhook):
    softioc_factory(ARCHIVER_DB, macros={"P": pv_prefix})
    inbox, port = smtp
    posted, hook_url = webhook
    temp = pv_prefix + "temp"
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    with open_storage(url) as storage:
        rule_id = storage.add_alert(AlertRule(temp, ">", 50.0, 60.0, ("ops@example.org",),
                                              hook_url, "sample too hot"))
    notifier = Notifier(SmtpSettings(host="127.0.0.1", port=port, timeout=5))
    monitor = AlertMonitor(notifier)
    engine = Engine([PvPolicy(temp)], open_storage(url),
                    EngineSettings(flush_interval=0.05, alert_poll=0.1),
                    observer=monitor.observe, housekeeping=monitor.reload).start()
    reader = open_storage(url)
    try:
        wait_until(lambda: engine.status().connected == 1, what="connected")
        wait_until(lambda: monitor._by_pv, what="rules loaded")
        for value in (60.0, 40.0, 61.0, 39.0, 62.0):   # bounces around 50 within the delay
            caput(temp, value, wait=True)
        wait_until(lambda: reader.count(temp) >= 6, what="all values archived")
        wait_until(lambda: inbox.messages and posted, what="mail and webhook")
        wait_until(lambda: len(reader.alert_log()) >= 2, what="deliveries logged")
    finally:
        engine.stop()
        notifier.close()
    [(recipients, content)] = inbox.messages
    assert recipients == ["ops@example.org"]
    assert "Subject: EPICS alert: sample too hot" in content and "= 60.0 > 50.0" in content
    assert [p["value"] for p in posted] == [60.0]
    log = [message for alert_id, _, message in reader.alert_log() if alert_id == rule_id]
    assert any(m.startswith("mailed to ops@example.org") for m in log)
    assert any(m.startswith(f"webhook {hook_url} answered 204") for m in log)
    reader.close()


def test_the_rate_limit_holds_deliveries_back_and_says_so(smtp):
    from epics.archiver import Sample
    inbox, port = smtp
    notifier = Notifier(SmtpSettings(host="127.0.0.1", port=port, max_per_hour=2, timeout=5))
    monitor = AlertMonitor(notifier, [AlertRule(f"S:pv{i}", ">", 0.0, 0.0, ("a@example.org",),
                                                None, "", i) for i in range(4)])
    monitor.observe([Sample(f"S:pv{i}", 10**18, 1.0) for i in range(4)])
    notifier.close()
    assert len(inbox.messages) == 2
    lines = []
    while not notifier.log.empty():
        lines.append(notifier.log.get()[2])
    assert sum("rate limit 2/h" in line for line in lines) == 2
