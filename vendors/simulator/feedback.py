"""Simulated email-service-provider (ESP) and dialer feedback.

The recruiting product emails and calls the contacts a vendor returned, and
learns days later whether an email bounced or a phone number was invalid. The
simulator reports the truth it fixed when the vendor returned the record, after
a delay drawn per delivery: 1 to 3 days for email and 2 to 6 days for phone.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from waterfall.logging import get_logger

log = get_logger("vendors.simulator.feedback")

CHANNEL_DELAY_DAYS = {"email": (1.0, 3.0), "phone": (2.0, 6.0)}
DELIVERY_FIELDS = ("execution_id", "channel", "vendor", "vendor_record_id", "sent_at")


def unit_draw(seed: int, *parts: object) -> float:
    """Return a uniform number in [0, 1) fixed by the seed and the parts.

    It uses a keyed hash instead of a shared RNG, so the value does not depend on
    the order in which concurrent requests arrive.
    """
    key = "|".join(str(part) for part in (seed, *parts)).encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


@dataclass(frozen=True)
class RecordTruth:
    """Truth the simulator fixed for one returned record: bounce and phone state."""

    vendor: str
    vendor_record_id: str
    email_bounces: bool
    has_phone: bool
    phone_invalid: bool


@dataclass(frozen=True)
class PendingFeedback:
    """One feedback event waiting for its arrival time."""

    execution_id: str
    channel: str
    status: str
    observed_at: datetime

    def as_json(self) -> dict[str, str]:
        """Return the event as the JSON object GET /esp/feedback sends."""
        return {
            "execution_id": self.execution_id,
            "channel": self.channel,
            "status": self.status,
            "observed_at": self.observed_at.isoformat(),
        }


class DeliveryError(ValueError):
    """A delivery report was invalid; the message names the item and field."""


def parse_aware(raw: object, field_name: str) -> datetime:
    """Parse an ISO datetime; a naive value is taken as UTC."""
    if not isinstance(raw, str):
        raise DeliveryError(f"{field_name}={raw!r} is not an ISO datetime string")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise DeliveryError(f"{field_name}={raw!r} is not an ISO datetime") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class FeedbackBook:
    """The record truths and the feedback events not yet collected."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._records: dict[str, RecordTruth] = {}
        self._pending: list[PendingFeedback] = []
        self._lock = threading.Lock()

    def register(self, truth: RecordTruth) -> None:
        """Store the truth of a record a vendor has just returned."""
        with self._lock:
            self._records[truth.vendor_record_id] = truth

    def truth(self, vendor_record_id: str) -> RecordTruth | None:
        """Return the stored truth of a record, or None when it was never returned."""
        with self._lock:
            return self._records.get(vendor_record_id)

    def deliver(self, items: object) -> int:
        """Validate delivery reports and schedule their feedback; all or nothing."""
        if not isinstance(items, list):
            raise DeliveryError("body must be a JSON list of delivery objects")
        events = [self._event(index, item) for index, item in enumerate(items)]
        with self._lock:
            self._pending.extend(events)
        return len(events)

    def collect(self, until: datetime) -> list[PendingFeedback]:
        """Remove and return the events that arrived at or before `until`."""
        with self._lock:
            ready = [e for e in self._pending if e.observed_at <= until]
            self._pending = [e for e in self._pending if e.observed_at > until]
        return sorted(ready, key=lambda event: event.observed_at)

    def pending_count(self) -> int:
        """Return how many events have not arrived or not been collected yet."""
        with self._lock:
            return len(self._pending)

    def _event(self, index: int, item: object) -> PendingFeedback:
        if not isinstance(item, dict):
            raise DeliveryError(f"item {index} is not a JSON object")
        missing = [name for name in DELIVERY_FIELDS if name not in item]
        if missing:
            raise DeliveryError(f"item {index} is missing {', '.join(missing)}")
        channel = item["channel"]
        if channel not in CHANNEL_DELAY_DAYS:
            raise DeliveryError(
                f"item {index}: channel={channel!r}; use email or phone"
            )
        record_id = str(item["vendor_record_id"])
        truth = self.truth(record_id)
        if truth is None or truth.vendor != item["vendor"]:
            raise DeliveryError(
                f"item {index}: vendor_record_id={record_id!r} was never returned by "
                f"vendor {item['vendor']!r}; send only ids from a vendor hit"
            )
        if channel == "phone" and not truth.has_phone:
            raise DeliveryError(
                f"item {index}: vendor_record_id={record_id!r} has no phone to call"
            )
        sent_at = parse_aware(item["sent_at"], f"item {index}: sent_at")
        return self._schedule(str(item["execution_id"]), channel, truth, sent_at)

    def _schedule(self, execution_id, channel, truth, sent_at) -> PendingFeedback:
        low, high = CHANNEL_DELAY_DAYS[channel]
        draw = unit_draw(
            self.seed, "delay", execution_id, truth.vendor_record_id, channel
        )
        arrival = sent_at + timedelta(days=low + (high - low) * draw)
        if channel == "email":
            status = "bounced" if truth.email_bounces else "delivered"
        else:
            status = "invalid" if truth.phone_invalid else "valid"
        return PendingFeedback(execution_id, channel, status, arrival)


def esp_routes(book: FeedbackBook) -> list[Route]:
    """Return the /esp routes that serve `book`."""

    async def post_deliveries(request: Request) -> JSONResponse:
        try:
            accepted = book.deliver(await request.json())
        except ValueError as exc:  # DeliveryError and invalid JSON
            log.warning("esp.delivery_rejected", error=str(exc))
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"accepted": accepted}, status_code=202)

    async def get_feedback(request: Request) -> JSONResponse:
        raw = request.query_params.get("until")
        try:
            until = parse_aware(raw, "until")
        except DeliveryError as exc:
            return JSONResponse({"error": f"{exc}; pass ?until=ISO"}, status_code=422)
        return JSONResponse([event.as_json() for event in book.collect(until)])

    return [
        Route("/esp/deliveries", post_deliveries, methods=["POST"]),
        Route("/esp/feedback", get_feedback, methods=["GET"]),
    ]
