"""HTTP adapters that turn each vendor API's replies into VendorResponse values.

Every vendor fault maps to an Outcome in `map_response` or `_map_exception`, so
`lookup` never raises for one. Profiles contain PII, so nothing here logs them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from vendors.protocol import ContactProfile, Outcome, SearchQuery, VendorResponse
from vendors.wire import WIRES, WireSpec, parse_verified
from waterfall.logging import get_logger

log = get_logger("vendors.adapters")

# Maximum length of an id, email or phone accepted from a vendor; the store's
# columns are 128 characters wide.
MAX_FIELD_CHARS = 128


class MalformedBodyError(ValueError):
    """A vendor body could not be read as the wire's shape."""


def _header_float(headers: httpx.Headers, name: str | None) -> float | None:
    """Read a numeric header; a missing or non-numeric value returns None."""
    raw = headers.get(name) if name else None
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def parse_retry_after(raw: str | None, now: datetime | None = None) -> float | None:
    """Read Retry-After as seconds; it may be delta-seconds or an HTTP-date."""
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(UTC)
    return max(0.0, (moment - now).total_seconds())


def _parse_record(spec: WireSpec, record: object) -> ContactProfile:
    if not isinstance(record, dict):
        raise MalformedBodyError(f"record is {type(record).__name__}, not an object")
    for required in (spec.id_field, spec.verified_field):
        if record.get(required) in (None, ""):
            raise MalformedBodyError(f"record has no '{required}'")
    try:
        verified = parse_verified(record[spec.verified_field], spec.verified_format)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise MalformedBodyError(f"invalid '{spec.verified_field}': {exc}") from exc
    record_id = record[spec.id_field]
    if not isinstance(record_id, str | int) or isinstance(record_id, bool):
        raise MalformedBodyError(f"'{spec.id_field}' is {type(record_id).__name__}")
    return ContactProfile(
        vendor_record_id=_clean_text(str(record_id), spec.id_field),
        last_verified_at=verified,
        email=_contact_text(record.get(spec.email_field), spec.email_field),
        phone=_contact_text(record.get(spec.phone_field), spec.phone_field),
    )


def _contact_text(value: object, field: str) -> str | None:
    """Return a contact field as text; a vendor sending another type is malformed."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MalformedBodyError(f"'{field}' is {type(value).__name__}, not a string")
    return _clean_text(value, field)


def _clean_text(value: str, field: str) -> str:
    # Lone surrogates survive JSON decoding but cannot be stored or logged.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedBodyError(f"'{field}' is not valid UTF-8 text") from exc
    if len(value) > MAX_FIELD_CHARS:
        raise MalformedBodyError(
            f"'{field}' is longer than {MAX_FIELD_CHARS} characters"
        )
    return value


def parse_hit_body(spec: WireSpec, body: object) -> tuple[ContactProfile, ...]:
    """Parse a 200 body into profiles; an empty tuple is a miss.

    Raises MalformedBodyError when the body does not have the wire's shape.
    """
    if not isinstance(body, dict) or spec.envelope not in body:
        raise MalformedBodyError(f"body has no '{spec.envelope}' key")
    records = body[spec.envelope]
    if spec.single:
        records = [] if records is None else [records]
    if not isinstance(records, list):
        raise MalformedBodyError(f"'{spec.envelope}' is not a list")
    return tuple(_parse_record(spec, record) for record in records)


def map_response(
    vendor: str, spec: WireSpec, response: httpx.Response, latency_ms: float
) -> VendorResponse:
    """Map one HTTP reply to a VendorResponse; the single place for status codes."""
    status = response.status_code
    base: dict[str, Any] = {
        "vendor": vendor,
        "latency_ms": latency_ms,
        "status_code": status,
        "rate_limit_remaining": _remaining(response.headers, spec),
        "rate_limit_reset_s": _header_float(response.headers, spec.reset_header),
    }
    if status == 200:
        return _map_ok(base, spec, response)
    if status == 404 and spec.miss_status == 404:
        return VendorResponse(outcome=Outcome.MISS, **base)
    if status == 402:
        return VendorResponse(
            outcome=Outcome.OUT_OF_CREDIT, error_type="http_402", **base
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return VendorResponse(
            outcome=Outcome.RATE_LIMITED,
            error_type="http_429",
            retry_after_s=retry_after,
            **base,
        )
    # Any other status is one this wire never sends on purpose.
    is_server_error = 500 <= status <= 599
    outcome = Outcome.SERVER_ERROR if is_server_error else Outcome.MALFORMED
    return VendorResponse(outcome=outcome, error_type=f"http_{status}", **base)


def _remaining(headers: httpx.Headers, spec: WireSpec) -> int | None:
    value = _header_float(headers, spec.remaining_header)
    if value is None or not math.isfinite(value):
        return None
    return int(value)


def _map_ok(base: dict[str, Any], spec: WireSpec, response: httpx.Response):
    try:
        profiles = parse_hit_body(spec, response.json())
    # ValueError covers JSONDecodeError and MalformedBodyError; a deeply nested
    # body makes the JSON decoder raise RecursionError instead.
    except (ValueError, RecursionError) as exc:
        detail: dict[str, object] = {"reason": str(exc)[:200]}
        return VendorResponse(
            outcome=Outcome.MALFORMED,
            error_type="malformed_body",
            detail=detail,
            **base,
        )
    outcome = Outcome.HIT if profiles else Outcome.MISS
    return VendorResponse(outcome=outcome, profiles=profiles, **base)


def _map_exception(vendor: str, exc: httpx.HTTPError, latency_ms: float):
    """Map a transport failure; TimeoutException is checked before TransportError."""
    if isinstance(exc, httpx.TimeoutException):
        outcome, error_type = Outcome.TIMEOUT, "timeout"
    else:
        outcome, error_type = Outcome.CONNECTION_ERROR, type(exc).__name__
    return VendorResponse(
        vendor=vendor, outcome=outcome, latency_ms=latency_ms, error_type=error_type
    )


class HttpVendorAdapter:
    """A VendorAdapter that calls one vendor's HTTP API through httpx."""

    def __init__(
        self,
        name: str,
        base_url: str,
        wire: str,
        cost_per_call: float,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if wire not in WIRES:
            raise ValueError(
                f"vendor '{name}': unknown wire {wire!r}; use one of {', '.join(WIRES)}"
            )
        self.name = name
        self.wire = wire
        self.spec = WIRES[wire]
        self.cost_per_call = cost_per_call
        self.timeout_s = timeout_s
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )

    def _request_fields(self, query: SearchQuery) -> dict[str, str]:
        fields = self.spec.query_fields.items()
        return {
            wire: getattr(query, attr) for attr, wire in fields if getattr(query, attr)
        }

    async def _send(self, query: SearchQuery) -> httpx.Response:
        fields = self._request_fields(query)
        if self.spec.method == "GET":
            return await self._client.get(self.spec.path, params=fields)
        return await self._client.post(self.spec.path, json=fields)

    async def lookup(self, query: SearchQuery) -> VendorResponse:
        """Look the candidate up; vendor faults come back as an Outcome, not raised."""
        started = time.perf_counter()
        try:
            # httpx's timeout bounds each read, so a vendor that drips a byte
            # at a time never trips it; the deadline bounds the whole call.
            async with asyncio.timeout(self.timeout_s):
                response = await self._send(query)
        except TimeoutError:
            latency_ms = (time.perf_counter() - started) * 1000.0
            log.warning(
                "vendor.call_deadline_passed",
                vendor=self.name,
                candidate_ref=query.candidate_ref,
                timeout_s=self.timeout_s,
            )
            return VendorResponse(
                self.name, Outcome.TIMEOUT, latency_ms, error_type="deadline"
            )
        except httpx.HTTPError as exc:
            latency_ms = (time.perf_counter() - started) * 1000.0
            log.warning(
                "vendor.call_failed",
                vendor=self.name,
                url=self.base_url,
                candidate_ref=query.candidate_ref,
                error=type(exc).__name__,
            )
            return _map_exception(self.name, exc, latency_ms)
        latency_ms = (time.perf_counter() - started) * 1000.0
        return map_response(self.name, self.spec, response, latency_ms)

    async def aclose(self) -> None:
        """Close the HTTP client and its connections."""
        await self._client.aclose()

    async def __aenter__(self) -> HttpVendorAdapter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _field(row: object, key: str) -> Any:
    """Read a field from a mapping or an object, naming the field when missing."""
    if isinstance(row, Mapping):
        if key not in row:
            raise ValueError(
                f"vendor row {row.get('name', '?')!r} has no '{key}' field"
            )
        return row[key]
    if not hasattr(row, key):
        name = getattr(row, "name", "?")
        raise ValueError(f"vendor row {name!r} has no '{key}' attribute")
    return getattr(row, key)


def build_adapter(
    vendor_row: object,
    base_url_override: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HttpVendorAdapter:
    """Build one adapter from a catalog row (a mapping or an object).

    With base_url_override, the adapter calls `{override}/{wire}`, which is
    where the simulator serves that wire.
    """
    wire = str(_field(vendor_row, "wire"))
    base_url = str(_field(vendor_row, "base_url"))
    if base_url_override:
        base_url = f"{base_url_override.rstrip('/')}/{wire}"
    return HttpVendorAdapter(
        name=str(_field(vendor_row, "name")),
        base_url=base_url,
        wire=wire,
        cost_per_call=float(_field(vendor_row, "cost_per_call")),
        timeout_s=float(_field(vendor_row, "timeout_s")),
        transport=transport,
    )


def build_adapters(
    vendor_rows: Iterable[object],
    base_url_override: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, HttpVendorAdapter]:
    """Build an adapter per catalog row, keyed by vendor name."""
    adapters = {}
    for row in vendor_rows:
        adapter = build_adapter(row, base_url_override, transport)
        adapters[adapter.name] = adapter
    return adapters
