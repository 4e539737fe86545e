"""Alerts on archived values: a PV, a comparison, a trip point and a delay; e-mail and webhook.

Like :class:`epics.Alarm`, a rule alerts when its condition becomes true, and not again within
``delay`` seconds, so a value bouncing around the trip point alerts once. Threads:

* :meth:`AlertMonitor.observe` and :meth:`AlertMonitor.reload` run on the engine's writer thread
  (each batch of samples, and every ``alert_poll`` seconds to pick up rules added from the web
  pages and to write the alert log);
* :class:`Notifier` delivers on its own thread (``epics-archiver-alerts``): SMTP and HTTP never
  hold up archiving. Deliveries are rate-limited (``max_per_hour`` in all) and each one, sent,
  failed or suppressed, is logged (logger ``epics.archiver.alerts`` and the alert log table).
"""
from __future__ import annotations

import collections
import json
import logging
import operator
import queue
import smtplib
import threading
import time
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Callable, Deque, Dict, List, Optional, Tuple

from .config import SmtpSettings
from .storage import AlertRule, Sample, Storage

__all__ = ["AlertMonitor", "Notifier", "COMPARISONS", "validate_rule"]

logger = logging.getLogger("epics.archiver.alerts")

COMPARISONS: Dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne}
#: Deliveries waiting at most; past that an alert is logged as dropped.
QUEUE_BOUND = 1000


def validate_rule(rule: AlertRule) -> AlertRule:
    """The rule if it can be used; ValueError naming the PV and what is wrong otherwise."""
    if not rule.pv or any(c.isspace() for c in rule.pv):
        raise ValueError(f"alert: {rule.pv!r} is not a PV name")
    if rule.comparison not in COMPARISONS:
        raise ValueError(f"alert on {rule.pv}: comparison {rule.comparison!r} is not one of "
                         f"{' '.join(COMPARISONS)}")
    if not rule.delay >= 0:
        raise ValueError(f"alert on {rule.pv}: delay {rule.delay} must be >= 0 s")
    for address in rule.recipients:
        if "@" not in address or any(c.isspace() or c in ",;<>" for c in address):
            raise ValueError(f"alert on {rule.pv}: {address!r} is not an e-mail address")
    if rule.webhook and not rule.webhook.startswith(("http://", "https://")):
        raise ValueError(f"alert on {rule.pv}: webhook {rule.webhook!r} must be http(s)://")
    return rule


def describe(rule: AlertRule, sample: Sample) -> str:
    value = sample.value if sample.value is not None else sample.text
    return (f"{rule.label or rule.pv}: {rule.pv} = {value} {rule.comparison} {rule.trip_point} "
            f"at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(sample.t))}")


class Notifier:
    """Delivers alerts by e-mail (through ``smtp``) and webhook, on its own thread."""

    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp
        self._queue: "queue.Queue[Optional[Tuple[AlertRule, Sample]]]" = queue.Queue(QUEUE_BOUND)
        self._sent: Deque[float] = collections.deque()
        self.log: "queue.Queue[Tuple[Optional[int], int, str]]" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="epics-archiver-alerts",
                                        daemon=True)
        self._thread.start()

    def send(self, rule: AlertRule, sample: Sample) -> None:
        """Queue a delivery (never blocks)."""
        try:
            self._queue.put_nowait((rule, sample))
        except queue.Full:
            self._note(rule, f"dropped (delivery queue full): {describe(rule, sample)}")

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (within ``timeout``) and stop the thread. Idempotent."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _note(self, rule: Optional[AlertRule], message: str) -> None:
        logger.warning("alert %s", message)
        self.log.put((rule.id if rule else None, time.time_ns(), message))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            rule, sample = item
            text = describe(rule, sample)
            now = time.monotonic()
            while self._sent and now - self._sent[0] > 3600:
                self._sent.popleft()
            if len(self._sent) >= self.smtp.max_per_hour:
                self._note(rule, f"not sent (rate limit {self.smtp.max_per_hour}/h): {text}")
                continue
            self._sent.append(now)
            if rule.recipients:
                self._mail(rule, text)
            if rule.webhook:
                self._post(rule, sample, text)

    def _mail(self, rule: AlertRule, text: str) -> None:
        if not self.smtp.host:
            self._note(rule, f"not mailed (no [smtp] host configured): {text}")
            return
        message = EmailMessage()
        message["Subject"] = f"EPICS alert: {rule.label or rule.pv}"
        message["From"] = self.smtp.sender
        message["To"] = ", ".join(rule.recipients)
        message.set_content(text + "\n")
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout) as smtp:
                if self.smtp.starttls:
                    smtp.starttls()
                if self.smtp.username:
                    smtp.login(self.smtp.username, self.smtp.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            self._note(rule, f"mail to {message['To']} failed ({exc}): {text}")
            return
        self._note(rule, f"mailed to {message['To']}: {text}")

    def _post(self, rule: AlertRule, sample: Sample, text: str) -> None:
        body = json.dumps({"pv": rule.pv, "value": sample.value if sample.value is not None
                           else sample.text, "comparison": rule.comparison,
                           "trip_point": rule.trip_point, "time": sample.t,
                           "message": text}).encode()
        request = urllib.request.Request(rule.webhook, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.smtp.timeout) as reply:
                status = reply.status
        except OSError as exc:
            self._note(rule, f"webhook {rule.webhook} failed ({exc}): {text}")
            return
        self._note(rule, f"webhook {rule.webhook} answered {status}: {text}")


@dataclass
class _RuleState:
    rule: AlertRule
    active: bool = False
    last_alert: float = float("-inf")


class AlertMonitor:
    """Evaluates the rules on each batch; give it to the engine as observer and housekeeping:
    ``Engine(..., observer=monitor.observe, housekeeping=monitor.reload)``."""

    def __init__(self, notifier: Notifier, rules: Optional[List[AlertRule]] = None) -> None:
        self.notifier = notifier
        self._by_pv: Dict[str, List[_RuleState]] = {}
        self._set_rules(rules or [])

    def _set_rules(self, rules: List[AlertRule]) -> None:
        old = {state.rule.id: state for states in self._by_pv.values() for state in states}
        by_pv: Dict[str, List[_RuleState]] = {}
        for rule in rules:
            state = old.get(rule.id)
            if state is None or state.rule != rule:
                state = _RuleState(rule)
            by_pv.setdefault(rule.pv, []).append(state)
        self._by_pv = by_pv

    def reload(self, storage: Storage) -> None:
        """Write the delivery log to storage and read the rules again."""
        while True:
            try:
                alert_id, t_ns, message = self.notifier.log.get_nowait()
            except queue.Empty:
                break
            storage.log_alert(alert_id, t_ns, message)
        self._set_rules(storage.alerts())

    def observe(self, batch: List[Sample]) -> None:
        """Check each sample against the rules on its PV."""
        now = time.monotonic()
        for sample in batch:
            states = self._by_pv.get(sample.pv)
            if not states or sample.value is None:
                continue
            for state in states:
                rule = state.rule
                holds = COMPARISONS[rule.comparison](sample.value, rule.trip_point)
                if holds and not state.active:
                    if now - state.last_alert >= rule.delay:
                        state.last_alert = now
                        self.notifier.send(rule, sample)
                state.active = holds
