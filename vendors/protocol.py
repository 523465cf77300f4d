"""The contract between the waterfall executor and a vendor adapter."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class Outcome(enum.StrEnum):
    """The outcome of one vendor call; only HIT stops the waterfall."""

    HIT = "hit"
    MISS = "miss"
    OUT_OF_CREDIT = "out_of_credit"  # HTTP 402
    RATE_LIMITED = "rate_limited"  # HTTP 429
    SERVER_ERROR = "server_error"  # HTTP 5xx
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    MALFORMED = "malformed"  # unparseable body or unexpected status
    SKIPPED = "skipped"  # not called, for example because its breaker is open

    @property
    def is_error(self) -> bool:
        """True when the call failed; a miss and a skip are not failures."""
        return self not in (Outcome.HIT, Outcome.MISS, Outcome.SKIPPED)


@dataclass(frozen=True)
class SearchQuery:
    """The criteria of one search: one candidate."""

    candidate_ref: str  # stable, non-PII id of the candidate (a hash)
    first_name: str
    last_name: str
    company: str
    title: str = ""
    country: str = ""

    def sanitized(self) -> dict[str, str]:
        """Return the criteria safe to log and store: no names, emails or phones."""
        return {
            "candidate_ref": self.candidate_ref,
            "company": _scrub(self.company),
            "title": _scrub(self.title),
            "country": _scrub(self.country),
        }


# Free-text criteria should hold a company, title or country, but a caller
# can type an email or a phone number into any field.
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")
_PHONE = re.compile(r"\+?\d[\d ().-]{6,}\d")


def _scrub(value: str) -> str:
    """Replace anything shaped like an email or a phone number."""
    return _PHONE.sub("[removed]", _EMAIL.sub("[removed]", value))


@dataclass(frozen=True)
class ContactProfile:
    """A profile a vendor returned. Contains PII: never log it."""

    vendor_record_id: str
    last_verified_at: datetime
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class VendorResponse:
    """The mapped result of one vendor call."""

    vendor: str
    outcome: Outcome
    latency_ms: float
    status_code: int | None = None
    profiles: tuple[ContactProfile, ...] = ()
    error_type: str | None = None  # short machine-readable cause, e.g. "http_503"
    retry_after_s: float | None = None  # from Retry-After on 429
    rate_limit_remaining: int | None = None
    rate_limit_reset_s: float | None = None
    detail: dict[str, object] = field(default_factory=dict)

    @property
    def result_count(self) -> int:
        return len(self.profiles)


class VendorAdapter(Protocol):
    """One vendor's API client."""

    name: str
    cost_per_call: float

    async def lookup(self, query: SearchQuery) -> VendorResponse:
        """Look the candidate up; a vendor fault is returned as an Outcome."""
        ...

    async def aclose(self) -> None: ...
