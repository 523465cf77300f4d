"""Ingest contact feedback (bounces, invalid phones), quarantining bad rows.

A feedback row is a JSON object {"execution_id", "channel", "status",
"observed_at"}: channel "email" with status "delivered" or "bounced", or
channel "phone" with "valid" or "invalid". A row that cannot be used is put
in quarantine with its reason and its original text, and the other rows
proceed. Feedback already stored for the same execution and channel is a
duplicate when it agrees and quarantined when it contradicts, so ingesting
a file twice is harmless.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from waterfall.clock import as_utc
from waterfall.logging import get_logger
from waterfall.store import Store
from waterfall.store.models import ContactOutcome, SearchExecution

log = get_logger("outcomes")

STATUSES = {"email": {"delivered", "bounced"}, "phone": {"valid", "invalid"}}
FIELDS = ("execution_id", "channel", "status", "observed_at")
MAX_ID_CHARS = 36  # the width of search_executions.id
# Sending systems' clocks may run a little ahead of ours.
FUTURE_TOLERANCE = timedelta(days=1)
_CHUNK = 500  # ids per IN (...) query


@dataclass(frozen=True)
class Row:
    """One input row: where it came from, its raw text and its parsed value."""

    number: int
    text: str
    value: Any = None
    problem: str | None = None


@dataclass
class IngestReport:
    """Counts of one ingestion, and every rejected row with its reason."""

    accepted: int = 0
    duplicates: int = 0
    quarantined: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row: Row, reason: str) -> None:
        """Quarantine a row with its reason and its original text."""
        self.quarantined.append({"row": row.number, "reason": reason, "text": row.text})


def ingest_records(store: Store, records: Iterable[Any], now: datetime) -> IngestReport:
    """Store valid feedback records given as Python objects (see module docs)."""
    rows = (Row(n, _as_text(r), r) for n, r in enumerate(records, start=1))
    return ingest_rows(store, rows, now)


def ingest_rows(store: Store, rows: Iterable[Row], now: datetime) -> IngestReport:
    """Validate rows, store the good ones and quarantine the rest."""
    report = IngestReport()
    valid = []
    for row in rows:
        problem = row.problem or _problem(row.value, now)
        if problem:
            report.reject(row, problem)
        else:
            valid.append(row)
    for start in range(0, len(valid), _CHUNK):
        _insert_known(store, valid[start : start + _CHUNK], now, report)
    log.info(
        "outcomes.ingested",
        accepted=report.accepted,
        duplicates=report.duplicates,
        quarantined=len(report.quarantined),
    )
    return report


def _problem(record: Any, now: datetime) -> str | None:
    if not isinstance(record, dict):
        return f"row is a JSON {type(record).__name__}, not an object with {FIELDS}"
    for key in FIELDS:
        value = record.get(key)
        if not isinstance(value, str) or not value:
            return f"field '{key}' is missing or not a non-empty string"
        if not _is_utf8(value):
            return f"field '{key}' is not valid UTF-8 text"
    if len(record["execution_id"]) > MAX_ID_CHARS:
        return f"execution_id is longer than {MAX_ID_CHARS} characters"
    channel, status = record["channel"], record["status"]
    if channel not in STATUSES:
        return f"channel {channel!r} is invalid: use 'email' or 'phone'"
    if status not in STATUSES[channel]:
        allowed = " or ".join(sorted(STATUSES[channel]))
        return f"status {status!r} is invalid for {channel}: use {allowed}"
    return _time_problem(record["observed_at"], now)


def _time_problem(text: str, now: datetime) -> str | None:
    try:
        observed = as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return f"observed_at {text!r} is not an ISO 8601 timestamp"
    if observed > now + FUTURE_TOLERANCE:
        return f"observed_at {text} is in the future: check the sender's clock"
    return None


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _insert_known(
    store: Store, rows: list[Row], now: datetime, report: IngestReport
) -> None:
    ids = {row.value["execution_id"] for row in rows}
    with store.session() as session:
        started = _started_at(session, ids)
        stored = _stored_statuses(session, ids)
        for row in rows:
            reason = _store_one(session, row.value, started, stored, now, report)
            if reason:
                report.reject(row, reason)


def _store_one(
    session: Any,
    record: dict[str, Any],
    started: dict[str, datetime],
    stored: dict[tuple[str, str], str],
    now: datetime,
    report: IngestReport,
) -> str | None:
    key = (record["execution_id"], record["channel"])
    observed = as_utc(datetime.fromisoformat(record["observed_at"]))
    if key[0] not in started:
        return "execution_id not found in the store"
    if observed < started[key[0]]:
        return f"observed_at {record['observed_at']} is before the search ran"
    if key in stored:
        if stored[key] != record["status"]:
            return f"contradicts the stored {record['channel']} status '{stored[key]}'"
        report.duplicates += 1
        return None
    stored[key] = record["status"]
    session.add(
        ContactOutcome(
            execution_id=key[0],
            channel=key[1],
            status=record["status"],
            observed_at=observed,
            ingested_at=now,
        )
    )
    report.accepted += 1
    return None


def _started_at(session: Any, ids: set[str]) -> dict[str, datetime]:
    query = select(SearchExecution.id, SearchExecution.started_at).where(
        SearchExecution.id.in_(list(ids))
    )
    return {row[0]: row[1] for row in session.execute(query)}


def _stored_statuses(session: Any, ids: set[str]) -> dict[tuple[str, str], str]:
    query = select(
        ContactOutcome.execution_id, ContactOutcome.channel, ContactOutcome.status
    ).where(ContactOutcome.execution_id.in_(list(ids)))
    return {(row[0], row[1]): row[2] for row in session.execute(query)}


def read_jsonl(path: Path) -> Iterator[Row]:
    """Yield one Row per non-blank line, numbered as in the file.

    A line that is not UTF-8 or not JSON becomes a Row carrying its problem,
    so that it is quarantined with its text instead of stopping the file.
    """
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            yield from _parse_line(number, raw)


def _parse_line(number: int, raw: bytes) -> Iterator[Row]:
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff").strip()
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="backslashreplace").strip()
        yield Row(number, text, problem="line is not UTF-8 text")
        return
    if not text:
        return
    try:
        yield Row(number, text, json.loads(text))
    except (json.JSONDecodeError, RecursionError) as exc:
        yield Row(number, text, problem=f"invalid JSON: {exc}")


def ingest_file(
    store: Store, path: Path, now: datetime, quarantine_path: Path | None = None
) -> IngestReport:
    """Ingest a JSON-lines feedback file; rejected rows go to quarantine_path.

    The quarantine file is opened before anything is stored, so a bad
    quarantine path fails the command without storing half of the file.
    """
    if quarantine_path is None:
        return ingest_rows(store, read_jsonl(path), now)
    quarantine_path.parent.mkdir(parents=True, exist_ok=True)
    with quarantine_path.open("w", encoding="utf-8") as quarantine:
        report = ingest_rows(store, read_jsonl(path), now)
        for rejected in report.quarantined:
            quarantine.write(json.dumps(rejected, ensure_ascii=False) + "\n")
    return report


def _as_text(record: Any) -> str:
    try:
        return json.dumps(record, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(record)
