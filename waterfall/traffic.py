"""Simulated recruiter traffic on a simulated clock, with contact feedback.

This plays the recruiting product for the demo and the tests. Recruiters
search for candidates through the real SearchService. The product emails and
calls the contacts it got back, and the sending systems' feedback is ingested
through the same path as a real feedback file.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from vendors.esp import Delivery, FeedbackClient
from vendors.protocol import SearchQuery
from waterfall.clock import SharedClock, SimulatedClock
from waterfall.outcomes import IngestReport, ingest_file
from waterfall.recorder import ExecutionRecorder
from waterfall.search import SearchResult, SearchService
from waterfall.store import Store

FIRST_NAMES = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Femi",
    "Gita",
    "Hugo",
    "Ines",
    "Jon",
]
LAST_NAMES = [
    "Alvarez",
    "Brooks",
    "Chen",
    "Dubois",
    "Eze",
    "Fischer",
    "Gupta",
    "Haddad",
]
COMPANIES = [
    "acme.io",
    "globex.com",
    "initech.net",
    "umbrella.org",
    "hooli.com",
    "stark.dev",
]
TITLES = ["Data Engineer", "Backend Engineer", "Product Manager", "SRE", "Analyst"]
COUNTRIES = ["US", "GB", "DE", "FR", "IN", "BR"]
# A day's searches run in a few batches, each at one moment of the simulated
# clock. Every batch waits for its slowest search, so fewer batches keep a
# vendor timeout from stalling the whole day many times over.
SEARCH_HOURS = (9, 13, 16)


@dataclass(frozen=True)
class TrafficShape:
    """How much traffic a simulated day carries."""

    users: int = 3000
    searches_per_user_per_day: float = 0.5
    candidates: int = 50_000
    concurrency: int = 48
    seed: int = 11


@dataclass(frozen=True)
class DayStats:
    """Counts of one simulated day."""

    searches: int
    hits: int
    feedback: IngestReport


class TrafficDriver:
    """Runs simulated days of searches and feeds back their contact outcomes."""

    def __init__(
        self,
        service: SearchService,
        clock: SimulatedClock | SharedClock,
        feedback: FeedbackClient,
        store: Store,
        recorder: ExecutionRecorder,
        feedback_dir: Path,
        shape: TrafficShape = TrafficShape(),
    ) -> None:
        self._service = service
        self._clock = clock
        self._feedback = feedback
        self._store = store
        self._recorder = recorder
        self._feedback_dir = feedback_dir
        self._shape = shape
        self._rng = random.Random(shape.seed)
        self._day = 0

    async def run_days(
        self, days: int, on_day: Callable[[int, DayStats], None] | None = None
    ) -> list[DayStats]:
        """Run whole simulated days; the clock ends at the last day's midnight."""
        stats = []
        for day in range(1, days + 1):
            result = await self.run_day()
            stats.append(result)
            if on_day is not None:
                on_day(day, result)
        return stats

    async def run_day(self) -> DayStats:
        """Run one day of searches in batches, then ingest the feedback that arrived."""
        day_start = self._clock.now()
        results: list[SearchResult] = []
        for hour in SEARCH_HOURS:
            self._clock.set(day_start + timedelta(hours=hour))
            results += await self._run_hour(self._searches_this_hour())
        # Shadow runs outlive their searches; the day's must be recorded
        # before the day ends.
        await self._service.drain_shadows()
        await self._feedback.send(_deliveries(results))
        self._clock.set(day_start + timedelta(days=1))
        report = await self._ingest_feedback()
        hits = sum(1 for result in results if result.profile is not None)
        return DayStats(len(results), hits, report)

    def _searches_this_hour(self) -> int:
        mean = (
            self._shape.users
            * self._shape.searches_per_user_per_day
            / len(SEARCH_HOURS)
        )
        return max(0, round(self._rng.gauss(mean, mean**0.5)))

    async def _run_hour(self, count: int) -> list[SearchResult]:
        limit = asyncio.Semaphore(self._shape.concurrency)
        requests = [(self._subject(), self._query()) for _ in range(count)]

        async def one(subject: str, query: SearchQuery) -> SearchResult:
            async with limit:
                return await self._service.search(subject, query)

        return list(await asyncio.gather(*(one(s, q) for s, q in requests)))

    def _subject(self) -> str:
        return f"recruiter-{self._rng.randrange(self._shape.users):05d}"

    def _query(self) -> SearchQuery:
        index = self._rng.randrange(self._shape.candidates)
        pick = random.Random(index)  # a candidate's details depend only on its index
        return SearchQuery(
            candidate_ref=f"cand-{index:06d}",
            first_name=pick.choice(FIRST_NAMES),
            last_name=pick.choice(LAST_NAMES),
            company=pick.choice(COMPANIES),
            title=pick.choice(TITLES),
            country=pick.choice(COUNTRIES),
        )

    async def collect_feedback(self) -> IngestReport:
        """Ingest the feedback that has arrived by the clock's current time."""
        return await self._ingest_feedback()

    async def _ingest_feedback(self) -> IngestReport:
        self._day += 1
        self._recorder.flush()
        records = await self._feedback.fetch(self._clock.now())
        path = self._feedback_dir / f"feedback-day-{self._day:03d}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(record) + "\n" for record in records))
        return ingest_file(
            self._store,
            path,
            self._clock.now(),
            quarantine_path=self._feedback_dir / "quarantine.jsonl",
        )


def _deliveries(results: list[SearchResult]) -> list[Delivery]:
    deliveries = []
    for result in results:
        record, profile = result.record, result.profile
        if profile is None or record.vendor_hit is None:
            continue
        for channel, present in (("email", profile.email), ("phone", profile.phone)):
            if present:
                deliveries.append(
                    Delivery(
                        record.id,
                        channel,
                        record.vendor_hit,
                        profile.vendor_record_id,
                        record.started_at,
                    )
                )
    return deliveries
