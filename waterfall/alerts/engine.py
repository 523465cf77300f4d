"""The alert state machine, kept in the `alerts` table.

Per fingerprint (rule and subject):

- a finding that fires with no open alert opens one ("firing") and posts the
  alert, unless a maintenance window covers the moment: then it is stored
  as "suppressed" under that window and nothing is posted;
- a finding that fires again adds to the open alert's count, and posts a
  one-line summary in the alert's thread at most once per
  summary_interval_minutes (none inside a maintenance window);
- a finding that clears resolves the open alert and posts a recovery.
  Recoveries are posted inside maintenance windows too, because the alert
  they close was posted.

Slack failures never raise. An alert whose first post failed is posted in
full again on its next firing check outside a maintenance window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from waterfall.alerts import messages
from waterfall.alerts.checks import Finding
from waterfall.alerts.config import AlertConfig
from waterfall.logging import get_logger
from waterfall.slack.notifier import MessageRef, Notifier
from waterfall.store import Store
from waterfall.store import alert_repository as alert_repo
from waterfall.store.models import AlertEvent

log = get_logger("alerts")


@dataclass(frozen=True)
class Outcome:
    """The result of applying one finding: its fingerprint, action and value."""

    fingerprint: str
    action: str  # sent, summarised, repeated, recovered, suppressed, clear
    value: float


class AlertBook:
    """Applies findings to the stored alert state and posts what is due."""

    def __init__(
        self, store: Store, notifier: Notifier, config: AlertConfig, runbook_url: str
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.config = config
        self.runbook_url = runbook_url

    def apply_all(self, findings: list[Finding], now: datetime) -> list[Outcome]:
        """Apply each finding in order and return what each did."""
        return [self.apply(finding, now) for finding in findings]

    def apply(self, finding: Finding, now: datetime) -> Outcome:
        """Move the finding's alert one step through its state machine."""
        with self.store.session() as session:
            row = alert_repo.latest_alert(session, finding.fingerprint, "firing")
            if not finding.firing:
                action = "clear" if row is None else _resolve(row, finding, now)
                snapshot = None if row is None else _snapshot(row)
            else:
                action, snapshot = self._fire(session, row, finding, now)
        outcome = Outcome(finding.fingerprint, action, finding.value)
        self._notify(outcome, finding, snapshot)
        fields = {"fingerprint": finding.fingerprint, "value": finding.value}
        if action in ("clear", "repeated"):
            log.debug("alert.checked", action=action, **fields)
        else:
            log.info("alert.checked", action=action, **fields)
        return outcome

    def _fire(
        self, session: Any, row: AlertEvent | None, finding: Finding, now: datetime
    ) -> tuple[str, dict[str, Any]]:
        window = alert_repo.window_at(session, now)
        if row is None and window is not None:
            severity = self._severity(finding)
            return "suppressed", _suppress(session, finding, severity, now, window.id)
        if row is None:
            row = _open(session, finding, self._severity(finding), now)
            return "sent", _snapshot(row)
        _count(row, finding, now)
        if row.last_notified_at is None and window is None:
            return "sent", _snapshot(row)
        if row.last_notified_at is None:
            return "repeated", _snapshot(row)
        interval = timedelta(minutes=self.config.summary_interval_minutes)
        if window is None and now - row.last_notified_at >= interval:
            row.last_notified_at = now
            return "summarised", _snapshot(row)
        return "repeated", _snapshot(row)

    def _severity(self, finding: Finding) -> str:
        return self.config.rule(finding.rule).severity

    def _notify(
        self, outcome: Outcome, finding: Finding, row: dict[str, Any] | None
    ) -> None:
        if row is None or outcome.action in ("clear", "repeated", "suppressed"):
            return
        channel = self.config.rule(finding.rule).channel
        if outcome.action == "sent":
            self._send(finding, row, channel)
        elif outcome.action == "summarised":
            text = messages.summary_text(finding, row["occurrences"], row["fired_at"])
            if row["slack_ts"] is not None:
                ref = MessageRef(row["slack_channel"], row["slack_ts"])
                self.notifier.reply(ref, text)
            else:
                self.notifier.post(messages.text_blocks(text), channel)
        elif outcome.action == "recovered":
            blocks = messages.recovery_blocks(
                finding, row["occurrences"], row["fired_at"], self.runbook_url
            )
            self.notifier.post(blocks, channel)

    def _send(self, finding: Finding, row: dict[str, Any], channel: str) -> None:
        blocks = messages.alert_blocks(
            finding, self._severity(finding), self.config.on_call, self.runbook_url
        )
        ref = self.notifier.post(blocks, channel)
        if ref is None:
            return
        with self.store.session() as session:
            stored = session.get_one(AlertEvent, row["id"])
            stored.slack_channel, stored.slack_ts = ref.channel, ref.ts
            stored.last_notified_at = row["last_seen_at"]


def _open(session: Any, finding: Finding, severity: str, now: datetime) -> AlertEvent:
    row = AlertEvent(
        rule=finding.rule,
        severity=severity,
        fired_at=now,
        suppressed=False,
        details=_details(finding),
        fingerprint=finding.fingerprint,
        status="firing",
        occurrences=1,
        last_value=finding.value,
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _suppress(
    session: Any, finding: Finding, severity: str, now: datetime, window_id: int
) -> dict[str, Any]:
    row = alert_repo.latest_alert(
        session, finding.fingerprint, "suppressed", window_id=window_id
    )
    if row is None:
        row = _open(session, finding, severity, now)
        row.status = "suppressed"
        row.suppressed = True
        row.maintenance_window_id = window_id
    else:
        _count(row, finding, now)
    session.flush()
    return _snapshot(row)


def _count(row: AlertEvent, finding: Finding, now: datetime) -> None:
    row.occurrences += 1
    row.last_value = finding.value
    row.last_seen_at = now
    row.details = _details(finding)


def _resolve(row: AlertEvent, finding: Finding, now: datetime) -> str:
    row.status = "resolved"
    row.resolved_at = now
    row.last_value = finding.value
    row.last_seen_at = now
    return "recovered"


def _details(finding: Finding) -> dict[str, Any]:
    return {
        "subject": finding.subject,
        "measured": finding.measured,
        "threshold": finding.limit,
        "window": finding.window,
        "configs": list(finding.configs),
        "vendors": list(finding.vendors),
        **finding.details,
    }


def _snapshot(row: AlertEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "occurrences": row.occurrences,
        "fired_at": row.fired_at,
        "last_seen_at": row.last_seen_at,
        "slack_channel": row.slack_channel,
        "slack_ts": row.slack_ts,
    }
