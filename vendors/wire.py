"""Request and response shapes of the six vendor APIs ("wires").

The adapters and the simulator both read these specs, so the two cannot drift
apart. The shapes differ the way real contact-data APIs do. A search is a GET or
a POST, and a hit is one object or a list. A miss is a 404 or an empty 200. The
last-verified date is an ISO datetime, an ISO date or unix epoch seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime


class DateFormat(enum.StrEnum):
    """Format of the last-verified field of a record on a wire."""

    ISO_DATETIME = "iso_datetime"
    ISO_DATE = "iso_date"
    EPOCH_SECONDS = "epoch_seconds"


@dataclass(frozen=True)
class WireSpec:
    """The request and response shape of one vendor API."""

    name: str
    method: str
    path: str
    # SearchQuery attribute -> request parameter or JSON field name
    query_fields: dict[str, str]
    envelope: str  # top-level key that contains the record(s)
    single: bool  # True when the envelope is one object instead of a list
    id_field: str
    email_field: str
    phone_field: str
    verified_field: str
    verified_format: DateFormat
    miss_status: int  # 404, or 200 with an empty list
    miss_body: dict | None = None  # JSON body of a miss; None means an empty body
    hit_extra: dict = field(default_factory=dict)  # extra top-level hit fields
    count_field: str | None = None  # top-level field with the number of records
    remaining_header: str | None = None
    reset_header: str | None = None


def _fields(first: str, last: str, company: str, title: str, country: str) -> dict:
    names = (first, last, company, title, country, "ref")
    keys = ("first_name", "last_name", "company", "title", "country", "candidate_ref")
    return {key: name for key, name in zip(keys, names, strict=True) if name}


WIRES: dict[str, WireSpec] = {
    "vendor_d": WireSpec(
        name="vendor_d",
        method="GET",
        path="/v1/person",
        query_fields=_fields("first", "last", "company", "title", "country"),
        envelope="person",
        single=True,
        id_field="id",
        email_field="email",
        phone_field="phone",
        verified_field="verified_at",
        verified_format=DateFormat.ISO_DATETIME,
        miss_status=404,
        miss_body={"error": {"code": "not_found", "message": "no person matched"}},
        remaining_header="X-RateLimit-Remaining",
        reset_header="X-RateLimit-Reset",
    ),
    "vendor_b": WireSpec(
        name="vendor_b",
        method="POST",
        path="/api/match",
        query_fields=_fields("first_name", "last_name", "company", "title", "country"),
        envelope="matches",
        single=False,
        id_field="match_id",
        email_field="work_email",
        phone_field="direct_dial",
        verified_field="last_verified",
        verified_format=DateFormat.EPOCH_SECONDS,
        miss_status=200,
        miss_body={"matches": []},
    ),
    "vendor_a": WireSpec(
        name="vendor_a",
        method="GET",
        path="/lookup",
        query_fields=_fields("fn", "ln", "org", "", ""),
        envelope="data",
        single=True,
        id_field="record_id",
        email_field="email",
        phone_field="phone",
        verified_field="updated_on",
        verified_format=DateFormat.ISO_DATE,
        miss_status=404,
        miss_body=None,
    ),
    "vendor_c": WireSpec(
        name="vendor_c",
        method="POST",
        path="/v2/enrich",
        query_fields=_fields(
            "firstName", "lastName", "companyName", "jobTitle", "country"
        ),
        envelope="results",
        single=False,
        id_field="contactId",
        email_field="emailAddress",
        phone_field="phoneNumber",
        verified_field="verifiedAt",
        verified_format=DateFormat.ISO_DATETIME,
        miss_status=200,
        miss_body={"status": "not_found", "results": []},
        hit_extra={"status": "ok"},
    ),
    "cognism": WireSpec(
        name="cognism",
        method="POST",
        path="/api/search/contact/enrich",
        query_fields=_fields(
            "firstName", "lastName", "companyName", "jobTitle", "country"
        ),
        envelope="results",
        single=False,
        id_field="id",
        email_field="email",
        phone_field="mobilePhone",
        verified_field="lastVerified",
        verified_format=DateFormat.ISO_DATETIME,
        miss_status=200,
        miss_body={"results": [], "totalResults": 0},
        count_field="totalResults",
        remaining_header="RateLimit-Remaining",
        reset_header="RateLimit-Reset",
    ),
    "vendor_e": WireSpec(
        name="vendor_e",
        method="GET",
        path="/contacts/search",
        query_fields=_fields("first_name", "last_name", "company", "", ""),
        envelope="contacts",
        single=False,
        id_field="contact_id",
        email_field="email",
        phone_field="phone_number",
        verified_field="freshness_date",
        verified_format=DateFormat.ISO_DATE,
        miss_status=404,
        miss_body={"error": "no_match"},
    ),
}


def format_verified(moment: datetime, fmt: DateFormat) -> str | int:
    """Write an aware datetime the way a wire sends its last-verified field."""
    moment = moment.astimezone(UTC)
    if fmt is DateFormat.EPOCH_SECONDS:
        return int(moment.timestamp())
    if fmt is DateFormat.ISO_DATE:
        return moment.date().isoformat()
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_verified(raw: object, fmt: DateFormat) -> datetime:
    """Read a wire's last-verified field as an aware UTC datetime.

    Raises ValueError or TypeError when the value does not match the format.
    A date without a time is taken as midnight UTC, and a naive datetime as UTC.
    """
    if fmt is DateFormat.EPOCH_SECONDS:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise TypeError(f"expected epoch seconds, got {type(raw).__name__}")
        return datetime.fromtimestamp(raw, tz=UTC)
    if not isinstance(raw, str):
        raise TypeError(f"expected an ISO string, got {type(raw).__name__}")
    if fmt is DateFormat.ISO_DATE:
        day = date.fromisoformat(raw)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
