"""Block Kit messages for alerts: the first alert, its summary and its recovery.

Every builder is a pure function of its arguments, so tests compare messages
without Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from waterfall.alerts.checks import Finding

TEST_NOTE = (
    ":test_tube: *TEST ALERT* sent by `waterfall alerts test` against artificial "
    "thresholds, to check that Slack and the messages work. No action needed."
)


@dataclass(frozen=True)
class RuleText:
    """A rule's title, measured quantity, runbook anchor and recommended action."""

    title: str
    measure: str
    anchor: str
    action: str


RULE_TEXTS = {
    "cost": RuleText(
        "Vendor spend above forecast",
        "vendor spend",
        "cost-alert",
        "Find the vendor whose spend grew in the breakdown, check for retries or "
        "a waterfall order change, and roll back the rollout if the treatment "
        "config is the cause.",
    ),
    "vendor_errors": RuleText(
        "Vendor error rate high",
        "error rate",
        "vendor-error-alert",
        "Check the vendor's status page and the breaker (`waterfall breaker "
        "status`); contact the vendor, and deactivate it if the errors persist.",
    ),
    "latency": RuleText(
        "Search latency above baseline",
        "p95 search latency",
        "latency-alert",
        "Find the slow vendor in the per-vendor latencies (`waterfall metrics`), "
        "and lower its timeout or move it down the waterfall.",
    ),
    "breaker": RuleText(
        "Circuit breaker open for a first-position vendor",
        "breaker state",
        "breaker-alert",
        "Every search of these configs now starts at position 2. Check the "
        "vendor's health; once it recovers the breaker closes after its probes, "
        "or run `waterfall breaker reset VENDOR --reason TEXT`.",
    ),
    "data_quality": RuleText(
        "Contact accuracy below threshold",
        "contact accuracy",
        "data-quality-alert",
        "Compare the vendors' bounce rates in `waterfall metrics`, and roll back "
        "if the treatment config returns the invalid contacts.",
    ),
}


def runbook_link(runbook_url: str, rule: str) -> str:
    """Build the link to the rule's section of the runbook."""
    return f"{runbook_url.split('#', 1)[0]}#{RULE_TEXTS[rule].anchor}"


def alert_blocks(
    finding: Finding,
    severity: str,
    on_call: str,
    runbook_url: str,
    test: bool = False,
) -> list[dict[str, Any]]:
    """Build the first message of an alert; critical ones mention on-call."""
    text = RULE_TEXTS[finding.rule]
    prefix = "[TEST] " if test else ""
    header = f"{prefix}[{severity.upper()}] {text.title}: {finding.subject}"
    facts = (
        f"*{text.measure.capitalize()}* crossed its threshold "
        f"({finding.limit}).\n"
        f"*Measured:* {finding.measured}\n"
        f"*Window:* {finding.window}\n"
        f"*Configs:* {_names(finding.configs)}   *Vendors:* {_names(finding.vendors)}"
    )
    action = (
        f"*Recommended action:* {text.action}\n"
        f"<{runbook_link(runbook_url, finding.rule)}|Runbook: {text.title}>"
    )
    blocks = [_header(header), _section(facts), _section(action)]
    if test:
        blocks.insert(1, _section(TEST_NOTE))
    if severity == "critical":
        # In a test the target is shown in code format, which Slack does not
        # turn into a mention, so nobody is paged.
        page = (
            f"On-call target, not paged in a test: `{on_call}`"
            if test
            else (f":rotating_light: Paging on-call: {on_call}")
        )
        blocks.append(_section(page))
    return blocks


def summary_text(finding: Finding, occurrences: int, fired_at: datetime) -> str:
    """Build the one-line reminder of an alert that keeps firing."""
    title = RULE_TEXTS[finding.rule].title
    return (
        f":repeat: Still firing: {title}: {finding.subject}. {occurrences} checks "
        f"fired since {fired_at:%Y-%m-%d %H:%M} UTC; latest {finding.measured} "
        f"(threshold {finding.limit})."
    )


def recovery_blocks(
    finding: Finding, occurrences: int, fired_at: datetime, runbook_url: str
) -> list[dict[str, Any]]:
    """Build the message saying an alert cleared."""
    text = RULE_TEXTS[finding.rule]
    facts = (
        f":white_check_mark: *{text.measure.capitalize()}* is back within its "
        f"threshold ({finding.limit}).\n"
        f"*Measured:* {finding.measured}\n"
        f"*Window:* {finding.window}\n"
        f"*Fired:* {fired_at:%Y-%m-%d %H:%M} UTC, {occurrences} checks fired\n"
        f"<{runbook_link(runbook_url, finding.rule)}|Runbook: {text.title}>"
    )
    return [_header(f"Resolved: {text.title}: {finding.subject}"), _section(facts)]


def text_blocks(text: str) -> list[dict[str, Any]]:
    """Wrap one line of text as a message."""
    return [_section(text)]


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "none"


def _header(text: str) -> dict[str, Any]:
    # Slack caps header text at 150 characters.
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _section(text: str) -> dict[str, Any]:
    # Slack caps section text at 3,000 characters.
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
