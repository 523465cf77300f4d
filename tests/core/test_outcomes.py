"""Feedback ingestion: bad rows quarantined, good rows stored, repeats ignored."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from tests.core.test_recorder import make_records
from waterfall.outcomes import ingest_file
from waterfall.recorder import ExecutionRecorder
from waterfall.store import Store
from waterfall.store.models import ContactOutcome


async def stored_execution_ids(store: Store, clock, count: int) -> list[str]:
    recorder = ExecutionRecorder(store)
    records = await make_records(clock, count)
    for record in records:
        recorder.submit(record)
    recorder.close()
    return [record.id for record in records]


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text(
        "".join(
            (row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows
        )
    )
    return path


class TestIngest:
    async def test_bad_rows_are_quarantined_and_the_rest_stored(
        self, store: Store, clock, tmp_path: Path
    ) -> None:
        ids = await stored_execution_ids(store, clock, 2)
        at = clock.now().isoformat()
        feedback = write_jsonl(
            tmp_path / "feedback.jsonl",
            [
                {
                    "execution_id": ids[0],
                    "channel": "email",
                    "status": "bounced",
                    "observed_at": at,
                },
                {
                    "execution_id": ids[1],
                    "channel": "phone",
                    "status": "valid",
                    "observed_at": at,
                },
                {
                    "execution_id": ids[1],
                    "channel": "fax",
                    "status": "valid",
                    "observed_at": at,
                },
                {
                    "execution_id": "unknown",
                    "channel": "email",
                    "status": "delivered",
                    "observed_at": at,
                },
                {
                    "execution_id": ids[0],
                    "channel": "email",
                    "status": "maybe",
                    "observed_at": at,
                },
                "{not json",
            ],
        )
        quarantine = tmp_path / "quarantine.jsonl"
        report = ingest_file(store, feedback, clock.now(), quarantine)
        reasons = [
            json.loads(line)["reason"] for line in quarantine.read_text().splitlines()
        ]
        assert report.accepted == 2
        assert len(report.quarantined) == 4
        assert any("channel 'fax' is invalid" in r for r in reasons)
        assert any("not found" in r for r in reasons)
        assert any("invalid JSON" in r for r in reasons)

    async def test_ingesting_twice_counts_duplicates(
        self, store: Store, clock, tmp_path: Path
    ) -> None:
        ids = await stored_execution_ids(store, clock, 1)
        row = {
            "execution_id": ids[0],
            "channel": "email",
            "status": "delivered",
            "observed_at": clock.now().isoformat(),
        }
        feedback = write_jsonl(tmp_path / "f.jsonl", [row])
        ingest_file(store, feedback, clock.now())
        again = ingest_file(store, feedback, clock.now())
        with store.session() as session:
            stored = session.scalars(select(ContactOutcome)).all()
        assert again.duplicates == 1
        assert len(stored) == 1

    def test_command_reports_counts(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.setenv("WATERFALL_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
        CliRunner().invoke(__import__("waterfall.cli").cli.main, ["init"])
        feedback = write_jsonl(tmp_path / "f.jsonl", [{"channel": "email"}])
        result = CliRunner().invoke(
            __import__("waterfall.cli").cli.main, ["outcomes", "ingest", str(feedback)]
        )
        assert result.exit_code == 0, result.output
        assert "quarantined 1" in result.output

    def test_quarantine_onto_the_input_is_refused(
        self, tmp_path: Path, monkeypatch
    ) -> None:
        monkeypatch.setenv("WATERFALL_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
        feedback = write_jsonl(tmp_path / "f.jsonl", [{"channel": "email"}])
        before = feedback.read_text()
        result = CliRunner().invoke(
            __import__("waterfall.cli").cli.main,
            ["outcomes", "ingest", str(feedback), "--quarantine", str(feedback)],
        )
        assert "is the input file itself" in str(result.exception)
        assert feedback.read_text() == before


class TestHostileFeedback:
    async def test_bad_types_do_not_stop_good_rows(
        self, store: Store, clock, tmp_path: Path
    ) -> None:
        ids = await stored_execution_ids(store, clock, 1)
        at = clock.now().isoformat()
        good = {
            "execution_id": ids[0],
            "channel": "email",
            "status": "delivered",
            "observed_at": at,
        }
        feedback = write_jsonl(
            tmp_path / "f.jsonl",
            [
                {
                    "execution_id": [ids[0]],
                    "channel": "email",
                    "status": "bounced",
                    "observed_at": at,
                },
                {
                    "execution_id": ids[0],
                    "channel": {"x": 1},
                    "status": "valid",
                    "observed_at": at,
                },
                {
                    "execution_id": ids[0],
                    "channel": "phone",
                    "status": "valid",
                    "observed_at": "9999-12-31T23:59:59-14:00",
                },
                '"just a string"',
                good,
            ],
        )
        report = ingest_file(store, feedback, clock.now(), tmp_path / "q.jsonl")
        assert report.accepted == 1
        assert len(report.quarantined) == 4

    async def test_quarantine_keeps_line_text_and_number(
        self, store: Store, clock, tmp_path: Path
    ) -> None:
        feedback = tmp_path / "f.jsonl"
        feedback.write_bytes(b"\n\n{not json\n\xff\xfe garbage\n")
        report = ingest_file(store, feedback, clock.now(), tmp_path / "q.jsonl")
        rows = {row["row"]: row for row in report.quarantined}
        assert rows[3]["text"] == "{not json"
        assert rows[3]["reason"].startswith("invalid JSON")
        assert rows[4]["reason"] == "line is not UTF-8 text"

    async def test_contradicting_feedback_is_quarantined(
        self, store: Store, clock, tmp_path: Path
    ) -> None:
        ids = await stored_execution_ids(store, clock, 1)
        at = clock.now().isoformat()
        rows = [
            {"execution_id": ids[0], "channel": "email", "status": s, "observed_at": at}
            for s in ("bounced", "delivered")
        ]
        report = ingest_file(
            store, write_jsonl(tmp_path / "f.jsonl", rows), clock.now()
        )
        assert report.accepted == 1
        assert (
            "contradicts the stored email status 'bounced'"
            in report.quarantined[0]["reason"]
        )

    async def test_feedback_from_the_future_is_quarantined(
        self, store: Store, clock, tmp_path: Path
    ) -> None:
        ids = await stored_execution_ids(store, clock, 1)
        later = clock.now().replace(year=2030).isoformat()
        row = {
            "execution_id": ids[0],
            "channel": "email",
            "status": "bounced",
            "observed_at": later,
        }
        report = ingest_file(
            store, write_jsonl(tmp_path / "f.jsonl", [row]), clock.now()
        )
        assert report.accepted == 0
        assert "in the future" in report.quarantined[0]["reason"]
