"""Ingest contact feedback (bounces, invalid phones), quarantining bad rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from waterfall.clock import as_utc
from waterfall.logging import get_logger
from waterfall.store import Store
from waterfall.store.models import ContactOutcome, SearchExecution

log = get_logger("outcomes")

_STATUSES = {"email": {"delivered", "bounced"}, "phone": {"valid", "invalid"}}


@dataclass
class IngestReport:
    """Counts of one ingestion, and every rejected row with its reason."""

    accepted: int = 0
    duplicates: int = 0
    quarantined: list[dict[str, Any]] = field(default_factory=list)


def ingest_records(
    store: Store, records: Iterable[dict[str, Any]], now: datetime
) -> IngestReport:
    """Store valid feedback records; bad ones are quarantined, the rest proceed.

    A record is {"execution_id", "channel": email|phone, "status", "observed_at"}.
    Feedback already stored for the same execution and channel counts as a
    duplicate, so ingesting a file twice is harmless.
    """
    report = IngestReport()
    parsed = []
    for line_number, record in enumerate(records, start=1):
        problem = _problem(record)
        if problem:
            report.quarantined.append(
                {"row": line_number, "reason": problem, "record": record}
            )
        else:
            parsed.append((line_number, record))
    _insert_known(store, parsed, now, report)
    log.info(
        "outcomes.ingested",
        accepted=report.accepted,
        duplicates=report.duplicates,
        quarantined=len(report.quarantined),
    )
    return report


def _problem(record: Any) -> str | None:
    if isinstance(record, str):
        return record  # read_jsonl yields the parse error of an unreadable line
    if not isinstance(record, dict):
        return "row is not a JSON object"
    for key in ("execution_id", "channel", "status", "observed_at"):
        if not record.get(key):
            return f"missing field '{key}'"
    channel, status = record["channel"], record["status"]
    if channel not in _STATUSES:
        return f"channel {channel!r} is invalid: use 'email' or 'phone'"
    if status not in _STATUSES[channel]:
        allowed = " or ".join(sorted(_STATUSES[channel]))
        return f"status {status!r} is invalid for {channel}: use {allowed}"
    try:
        datetime.fromisoformat(record["observed_at"])
    except (TypeError, ValueError):
        return f"observed_at {record['observed_at']!r} is not an ISO 8601 timestamp"
    return None


def _insert_known(
    store: Store,
    parsed: list[tuple[int, dict[str, Any]]],
    now: datetime,
    report: IngestReport,
) -> None:
    ids = {record["execution_id"] for _, record in parsed}
    with store.session() as session:
        known = _existing_ids(session, ids)
        stored = _stored_pairs(session, ids)
        for line_number, record in parsed:
            key = (record["execution_id"], record["channel"])
            if record["execution_id"] not in known:
                report.quarantined.append(
                    {
                        "row": line_number,
                        "record": record,
                        "reason": "execution_id not found in the store",
                    }
                )
            elif key in stored:
                report.duplicates += 1
            else:
                stored.add(key)
                session.add(
                    ContactOutcome(
                        execution_id=record["execution_id"],
                        channel=record["channel"],
                        status=record["status"],
                        observed_at=as_utc(
                            datetime.fromisoformat(record["observed_at"])
                        ),
                        ingested_at=now,
                    )
                )
                report.accepted += 1


def _existing_ids(session: Any, ids: set[str]) -> set[str]:
    found: set[str] = set()
    chunk = list(ids)
    for start in range(0, len(chunk), 500):
        part = chunk[start : start + 500]
        found |= set(
            session.scalars(
                select(SearchExecution.id).where(SearchExecution.id.in_(part))
            )
        )
    return found


def _stored_pairs(session: Any, ids: set[str]) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    chunk = list(ids)
    for start in range(0, len(chunk), 500):
        part = chunk[start : start + 500]
        rows = session.execute(
            select(ContactOutcome.execution_id, ContactOutcome.channel).where(
                ContactOutcome.execution_id.in_(part)
            )
        )
        pairs |= {(row[0], row[1]) for row in rows}
    return pairs


def read_jsonl(path: Path) -> Iterable[Any]:
    """Yield one parsed row per line; an unparseable line yields its error text."""
    with path.open() as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"invalid JSON: {exc.msg}"


def ingest_file(
    store: Store, path: Path, now: datetime, quarantine_path: Path | None = None
) -> IngestReport:
    """Ingest a JSON-lines feedback file; rejected rows go to quarantine_path."""
    report = ingest_records(store, read_jsonl(path), now)
    if report.quarantined and quarantine_path is not None:
        quarantine_path.parent.mkdir(parents=True, exist_ok=True)
        with quarantine_path.open("a") as out:
            for row in report.quarantined:
                out.write(json.dumps(row, default=str) + "\n")
    return report
