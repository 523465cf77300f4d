"""The `waterfall breaker` commands: show and reset vendors' circuit breakers."""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from typing import Any

import click
from tabulate import tabulate

from waterfall.breaker.breaker import CircuitBreaker, VendorStatus
from waterfall.breaker.factory import build_breaker
from waterfall.errors import InvalidRequestError, NotFoundError
from waterfall.runtime import Runtime, command_runtime
from waterfall.store import repository as repo

IN_PROCESS_NOTE = (
    "WATERFALL_REDIS_URL is unset, so breaker state lives inside each search "
    "process and this command cannot see it; the last stored transitions are shown"
)


@click.group()
def breaker() -> None:
    """Per-vendor circuit breakers."""


@breaker.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def breaker_status(as_json: bool) -> None:
    """Show every vendor's state, error rate, calls in window and next probe."""
    runtime = command_runtime()
    with runtime.store.session() as session:
        vendors = repo.vendor_names(session)
        last = {v: _last_transition(session, v) for v in vendors}
    shared = runtime.settings.redis_url is not None
    statuses = _statuses(runtime, vendors) if shared else {}
    rows = [_row(vendor, statuses, last[vendor]) for vendor in vendors]
    if as_json:
        click.echo(json.dumps({"shared_state": shared, "vendors": rows}, indent=2))
        return
    if not shared:
        click.echo(f"note: {IN_PROCESS_NOTE}", err=True)
    click.echo(tabulate([_table_row(row) for row in rows], headers=_HEADERS))


@breaker.command("reset")
@click.argument("vendor")
@click.option(
    "--reason", required=True, help="Why the vendor is healthy again; stored."
)
@click.option(
    "--actor",
    default=getpass.getuser,
    show_default="current user",
    help="Who resets it; stored with the transition.",
)
def breaker_reset(vendor: str, reason: str, actor: str) -> None:
    """Close VENDOR's breaker by hand and clear its 402 and 429 holds."""
    runtime = command_runtime()
    with runtime.store.session() as session:
        vendors = repo.vendor_names(session)
    if vendor not in vendors:
        known = ", ".join(vendors) or "none"
        raise NotFoundError("vendor", vendor, f"known vendors: {known}")
    if runtime.settings.redis_url is None:
        raise InvalidRequestError(
            "breaker state is in-process (WATERFALL_REDIS_URL is unset), so no "
            "command can reset it: restart the search process to clear it, or "
            "set WATERFALL_REDIS_URL to share breaker state"
        )
    transition = _command_breaker(runtime).reset(vendor, actor, reason)
    click.echo(
        f"breaker of '{vendor}': {transition.from_state.value} -> "
        f"{transition.to_state.value}, reset by {actor}"
    )


def _command_breaker(runtime: Runtime) -> CircuitBreaker:
    # No fallback: with Redis unreachable, a local empty state would be a
    # wrong result, so the command fails with the store's error instead.
    return build_breaker(runtime, fallback=False)


def _statuses(runtime: Runtime, vendors: list[str]) -> dict[str, VendorStatus]:
    statuses = _command_breaker(runtime).status(vendors)
    return {status.vendor: status for status in statuses}


def _last_transition(session: Any, vendor: str) -> dict[str, Any] | None:
    rows = repo.breaker_transitions(session, vendor, limit=1)
    if not rows:
        return None
    row = rows[0]
    return {
        "from_state": row.from_state,
        "to_state": row.to_state,
        "reason": row.reason,
        "changed_at": row.changed_at.isoformat(),
    }


def _row(
    vendor: str, statuses: dict[str, VendorStatus], last: dict[str, Any] | None
) -> dict[str, Any]:
    status = statuses.get(vendor)
    return {
        "vendor": vendor,
        "state": None if status is None else status.state.value,
        "error_rate": None if status is None else status.error_rate,
        "calls_in_window": None if status is None else status.calls_in_window,
        "errors_in_window": None if status is None else status.errors_in_window,
        "next_probe_in_s": None if status is None else status.next_probe_in_s,
        "rate_limit_ends_in_s": None if status is None else status.hold_ends_in_s,
        "last_transition": last,
    }


_HEADERS = ["vendor", "state", "error rate", "calls", "next probe", "last change"]


def _table_row(row: dict[str, Any]) -> list[str]:
    rate = row["error_rate"]
    wait = row["next_probe_in_s"]
    if wait is None:
        wait = row["rate_limit_ends_in_s"]
    last = row["last_transition"]
    change = "-"
    if last is not None:
        moment = datetime.fromisoformat(last["changed_at"])
        change = f"{moment:%Y-%m-%d %H:%M} -> {last['to_state']}: {last['reason']}"
    return [
        row["vendor"],
        row["state"] or "unknown",
        "-" if rate is None else f"{rate:.1%}",
        "-" if row["calls_in_window"] is None else str(row["calls_in_window"]),
        "-" if wait is None else f"in {wait:.0f} s",
        change,
    ]
