"""The search event: one JSON line with the fixed fields and no PII."""

from __future__ import annotations

import io
import json

from tests.core.fakes import QUERY, ScriptedAdapter
from vendors.protocol import Outcome
from waterfall.bootstrap import init_store
from waterfall.logging import configure_logging
from waterfall.recorder import ExecutionRecorder
from waterfall.search import SearchService
from waterfall.settings import Settings
from waterfall.store import Store

FIELDS = {
    "config_name",
    "subject_id",
    "timestamp",
    "criteria",
    "positions_tried",
    "position_hit",
    "vendor_hit",
    "response_time_ms",
    "error_occurred",
    "error_type",
    "result_count",
    "route",
}
NAMES = ["Vendor_D", "Vendor_B", "Vendor_A", "Vendor_C", "Cognism", "Vendor_E"]


async def search_once(store: Store, clock, outcomes: dict[str, Outcome]) -> list[dict]:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    adapters = {
        n: ScriptedAdapter(n, outcomes.get(n, Outcome.MISS), clock.now()) for n in NAMES
    }
    recorder = ExecutionRecorder(store)
    service = SearchService(store, adapters, recorder, clock, "optimized-waterfall")
    await service.search("user-7", QUERY)
    recorder.close()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class TestSearchEvent:
    async def test_event_has_every_field(self, sqlite_store: Store, clock) -> None:
        init_store(sqlite_store, Settings().config_dir, clock.now())
        events = await search_once(sqlite_store, clock, {"Cognism": Outcome.HIT})
        event = next(e for e in events if e["event"] == "search.executed")
        assert event.keys() >= FIELDS
        assert event["level"] == "info"
        assert event["route"]["config_name"] == "standard"
        assert event["positions_tried"] == [1, 2, 3, 4, 5]

    async def test_event_holds_no_pii(self, sqlite_store: Store, clock) -> None:
        init_store(sqlite_store, Settings().config_dir, clock.now())
        events = await search_once(sqlite_store, clock, {"Cognism": Outcome.HIT})
        text = json.dumps(events)
        for secret in ("Jane", "Doe", "jane.doe@example.com", "+15550100"):
            assert secret not in text

    async def test_failed_search_logs_error(self, sqlite_store: Store, clock) -> None:
        init_store(sqlite_store, Settings().config_dir, clock.now())
        outcomes = {name: Outcome.SERVER_ERROR for name in NAMES}
        events = await search_once(sqlite_store, clock, outcomes)
        event = next(e for e in events if e["event"] == "search.executed")
        assert event["level"] == "error"
        assert event["error_occurred"] is True


class TestFreeTextScrubbing:
    def test_email_and_phone_in_free_text_are_removed(self) -> None:
        from vendors.protocol import SearchQuery

        query = SearchQuery(
            "cand-1", "Jane", "Doe", "jane@example.com", "Call +1 (202) 555-0199", "US"
        )
        criteria = query.sanitized()
        assert criteria["company"] == "[removed]"
        assert criteria["title"] == "Call [removed]"
        assert criteria["country"] == "US"
