"""Tests of the HTTP vendor adapters: each wire's mapping of replies to outcomes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from vendors.adapters import (
    HttpVendorAdapter,
    build_adapter,
    build_adapters,
    parse_retry_after,
)
from vendors.protocol import Outcome, SearchQuery
from vendors.simulator import SimulatorServer, load_profiles
from waterfall.clock import SimulatedClock

ROOT = Path(__file__).resolve().parents[2]
QUERY = SearchQuery(
    candidate_ref="cand-000001",
    first_name="Test",
    last_name="Person",
    company="Example Corp",
    title="Engineer",
)
VERIFIED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
VERIFIED_DAY = datetime(2025, 1, 2, tzinfo=UTC)
EMAIL = "test.person@examplecorp.example.com"
PHONE = "+1-202-555-0100"
# Placeholder URL: MockTransport replies in-process and never opens a socket.
BASE_URL = "http://127.0.0.1:9/vendor"

HIT_BODIES = {
    "vendor_d": {
        "person": {
            "id": "d-1",
            "email": EMAIL,
            "phone": PHONE,
            "verified_at": "2025-01-02T03:04:05Z",
        }
    },
    "vendor_b": {
        "matches": [
            {
                "match_id": "b-1",
                "work_email": EMAIL,
                "direct_dial": PHONE,
                "last_verified": int(VERIFIED.timestamp()),
            }
        ]
    },
    "vendor_a": {
        "data": {
            "record_id": "a-1",
            "email": EMAIL,
            "phone": PHONE,
            "updated_on": "2025-01-02",
        }
    },
    "vendor_c": {
        "status": "ok",
        "results": [
            {
                "contactId": "c-1",
                "emailAddress": EMAIL,
                "phoneNumber": PHONE,
                "verifiedAt": "2025-01-02T03:04:05+00:00",
            }
        ],
    },
    "cognism": {
        "results": [
            {
                "id": "g-1",
                "email": EMAIL,
                "mobilePhone": PHONE,
                "lastVerified": "2025-01-02T03:04:05Z",
            }
        ],
        "totalResults": 1,
    },
    "vendor_e": {
        "contacts": [
            {
                "contact_id": "e-1",
                "email": EMAIL,
                "phone_number": PHONE,
                "freshness_date": "2025-01-02",
            }
        ]
    },
}
EXPECTED_VERIFIED = {
    "vendor_d": VERIFIED,
    "vendor_b": VERIFIED,
    "vendor_a": VERIFIED_DAY,
    "vendor_c": VERIFIED,
    "cognism": VERIFIED,
    "vendor_e": VERIFIED_DAY,
}
RECORD_IDS = {
    "vendor_d": "d-1",
    "vendor_b": "b-1",
    "vendor_a": "a-1",
    "vendor_c": "c-1",
    "cognism": "g-1",
    "vendor_e": "e-1",
}
VERIFIED_FIELDS = {
    "vendor_d": "verified_at",
    "vendor_b": "last_verified",
    "vendor_a": "updated_on",
    "vendor_c": "verifiedAt",
    "cognism": "lastVerified",
    "vendor_e": "freshness_date",
}
MISS_REPLIES = {
    "vendor_d": (404, {"error": {"code": "not_found", "message": "no person"}}),
    "vendor_b": (200, {"matches": []}),
    "vendor_a": (404, None),
    "vendor_c": (200, {"status": "not_found", "results": []}),
    "cognism": (200, {"results": [], "totalResults": 0}),
    "vendor_e": (404, {"error": "no_match"}),
}
RATE_HEADERS = {
    "vendor_d": ("X-RateLimit-Remaining", "X-RateLimit-Reset"),
    "cognism": ("RateLimit-Remaining", "RateLimit-Reset"),
}
WIRE_NAMES = sorted(HIT_BODIES)


def reply(status: int, body: object = None, headers=None) -> httpx.Response:
    """Build a mocked reply; body None means an empty body."""
    if body is None:
        return httpx.Response(status, content=b"", headers=headers)
    if isinstance(body, bytes):
        return httpx.Response(status, content=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def mock_adapter(wire: str, handler) -> HttpVendorAdapter:
    """Return an adapter for the wire whose calls `handler` replies to."""
    return HttpVendorAdapter(
        name=f"Mock_{wire}",
        base_url=BASE_URL,
        wire=wire,
        cost_per_call=0.1,
        timeout_s=1.0,
        transport=httpx.MockTransport(handler),
    )


async def lookup_with(wire: str, handler):
    """Run one lookup against a mocked vendor and close the adapter."""
    async with mock_adapter(wire, handler) as adapter:
        return await adapter.lookup(QUERY)


def raising(exc: Exception):
    """Return a handler that raises `exc` as the transport would."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize("wire", WIRE_NAMES)
class TestWireMapping:
    async def test_hit_parses_profile(self, wire):
        response = await lookup_with(wire, lambda r: reply(200, HIT_BODIES[wire]))
        assert response.outcome is Outcome.HIT
        assert response.result_count == 1
        profile = response.profiles[0]
        assert profile.vendor_record_id == RECORD_IDS[wire]
        assert profile.last_verified_at == EXPECTED_VERIFIED[wire]
        assert profile.last_verified_at.tzinfo is not None
        assert profile.email == EMAIL
        assert profile.phone == PHONE

    async def test_hit_without_phone_has_none(self, wire):
        body = json.loads(json.dumps(HIT_BODIES[wire]))
        envelope = next(v for v in body.values() if isinstance(v, dict | list))
        record = envelope[0] if isinstance(envelope, list) else envelope
        phone_key = next(k for k, v in record.items() if v == PHONE)
        del record[phone_key]
        response = await lookup_with(wire, lambda r: reply(200, body))
        assert response.outcome is Outcome.HIT
        assert response.profiles[0].phone is None

    async def test_miss_maps_to_miss(self, wire):
        status, body = MISS_REPLIES[wire]
        response = await lookup_with(wire, lambda r: reply(status, body))
        assert response.outcome is Outcome.MISS
        assert response.status_code == status
        assert response.profiles == ()

    async def test_request_carries_ref_and_names(self, wire):
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return reply(200, HIT_BODIES[wire])

        await lookup_with(wire, handler)
        request = seen[0]
        sent = request.url.query.decode() + request.content.decode()
        assert "cand-000001" in sent
        assert "Person" in sent
        assert request.url.path.startswith("/vendor/")

    async def test_402_maps_to_out_of_credit(self, wire):
        response = await lookup_with(wire, lambda r: reply(402, {"error": "credit"}))
        assert response.outcome is Outcome.OUT_OF_CREDIT
        assert response.error_type == "http_402"

    async def test_429_reads_retry_after(self, wire):
        headers = {"Retry-After": "7"}
        if wire in RATE_HEADERS:
            remaining, reset = RATE_HEADERS[wire]
            headers.update({remaining: "0", reset: "42"})
        response = await lookup_with(wire, lambda r: reply(429, {}, headers))
        assert response.outcome is Outcome.RATE_LIMITED
        assert response.retry_after_s == 7.0
        if wire in RATE_HEADERS:
            assert response.rate_limit_remaining == 0
            assert response.rate_limit_reset_s == 42.0

    @pytest.mark.parametrize("status", [500, 502, 503])
    async def test_5xx_maps_to_server_error(self, wire, status):
        response = await lookup_with(wire, lambda r: reply(status, {"error": "x"}))
        assert response.outcome is Outcome.SERVER_ERROR
        assert response.error_type == f"http_{status}"

    async def test_timeout_maps_to_timeout(self, wire):
        response = await lookup_with(wire, raising(httpx.ReadTimeout("slow")))
        assert response.outcome is Outcome.TIMEOUT
        assert response.status_code is None

    async def test_connect_error_maps_to_connection_error(self, wire):
        response = await lookup_with(wire, raising(httpx.ConnectError("refused")))
        assert response.outcome is Outcome.CONNECTION_ERROR

    async def test_dropped_connection_maps_to_connection_error(self, wire):
        exc = httpx.RemoteProtocolError("peer closed connection")
        response = await lookup_with(wire, raising(exc))
        assert response.outcome is Outcome.CONNECTION_ERROR

    async def test_invalid_json_maps_to_malformed(self, wire):
        response = await lookup_with(wire, lambda r: reply(200, b'{"cut": [{"'))
        assert response.outcome is Outcome.MALFORMED
        assert response.error_type == "malformed_body"

    async def test_missing_verified_field_maps_to_malformed(self, wire):
        body = json.loads(
            json.dumps(HIT_BODIES[wire]).replace(VERIFIED_FIELDS[wire], "x")
        )
        response = await lookup_with(wire, lambda r: reply(200, body))
        assert response.outcome is Outcome.MALFORMED

    async def test_wrong_envelope_maps_to_malformed(self, wire):
        response = await lookup_with(wire, lambda r: reply(200, {"unexpected": 1}))
        assert response.outcome is Outcome.MALFORMED

    async def test_unexpected_status_maps_to_malformed(self, wire):
        response = await lookup_with(wire, lambda r: reply(401, {"error": "auth"}))
        assert response.outcome is Outcome.MALFORMED
        assert response.error_type == "http_401"

    async def test_latency_is_measured(self, wire):
        response = await lookup_with(wire, lambda r: reply(200, HIT_BODIES[wire]))
        assert response.latency_ms > 0.0


class TestEmptyMissWires:
    @pytest.mark.parametrize("wire", ["vendor_b", "vendor_c", "cognism"])
    async def test_404_on_empty_miss_wire_is_malformed(self, wire):
        response = await lookup_with(wire, lambda r: reply(404, {"error": "x"}))
        assert response.outcome is Outcome.MALFORMED


class TestRetryAfter:
    def test_seconds_value(self):
        assert parse_retry_after("12") == 12.0

    def test_http_date_value(self):
        now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert parse_retry_after("Thu, 02 Jan 2025 03:04:35 GMT", now) == 30.0

    def test_invalid_value_is_none(self):
        assert parse_retry_after("soon") is None

    def test_missing_value_is_none(self):
        assert parse_retry_after(None) is None


CATALOG_ROW = {
    "name": "Vendor_D",
    "base_url": "http://127.0.0.1:8700/vendor_d",
    "wire": "vendor_d",
    "cost_per_call": 0.05,
    "timeout_s": 2.0,
}


class TestBuildAdapters:
    async def test_mapping_row_keeps_catalog_url(self):
        adapter = build_adapter(CATALOG_ROW)
        assert adapter.base_url == "http://127.0.0.1:8700/vendor_d"
        assert adapter.cost_per_call == 0.05
        await adapter.aclose()

    async def test_override_points_at_wire_prefix(self):
        adapter = build_adapter(CATALOG_ROW, "http://127.0.0.1:5555/")
        assert adapter.base_url == "http://127.0.0.1:5555/vendor_d"
        await adapter.aclose()

    async def test_attribute_row_is_accepted(self):
        adapters = build_adapters([SimpleNamespace(**CATALOG_ROW)])
        assert list(adapters) == ["Vendor_D"]
        await adapters["Vendor_D"].aclose()

    def test_missing_field_names_it(self):
        row = {key: value for key, value in CATALOG_ROW.items() if key != "wire"}
        with pytest.raises(ValueError, match="'wire'"):
            build_adapter(row)

    def test_unknown_wire_is_rejected(self):
        with pytest.raises(ValueError, match="unknown wire 'vendor_z'"):
            build_adapter({**CATALOG_ROW, "wire": "vendor_z"})


@pytest.fixture(scope="module")
def simulator():
    profiles = load_profiles(ROOT / "config" / "simulator_profiles.yaml")
    clock = SimulatedClock(datetime(2025, 3, 1, tzinfo=UTC))
    with SimulatorServer(profiles, 7, clock, latency_scale=0) as server:
        yield server


def catalog_row(wire: str) -> dict:
    """Return a catalog row for the wire, aimed at nothing until overridden."""
    return {**CATALOG_ROW, "name": f"Sim_{wire}", "wire": wire}


class TestAgainstSimulator:
    @pytest.mark.parametrize("wire", WIRE_NAMES)
    async def test_wire_returns_hits_and_misses(self, simulator, wire):
        name = next(n for n, p in simulator.profiles.items() if p.wire == wire)
        adapter = build_adapter({**catalog_row(wire), "name": name}, simulator.base_url)
        outcomes = {}
        async with adapter:
            for index in range(200):
                query = SearchQuery(f"sim-{index}", "Test", "Person", "Example Corp")
                response = await adapter.lookup(query)
                outcomes.setdefault(response.outcome, response)
                if Outcome.HIT in outcomes and Outcome.MISS in outcomes:
                    break
        assert Outcome.HIT in outcomes
        assert Outcome.MISS in outcomes
        profile = outcomes[Outcome.HIT].profiles[0]
        assert profile.vendor_record_id.startswith(f"{wire}-")
        assert profile.last_verified_at <= datetime(2025, 3, 1, tzinfo=UTC)


class TestHostileBodies:
    async def test_deeply_nested_body_is_malformed(self) -> None:
        body = b"[" * 200_000

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=body)

        response = await lookup_with("cognism", handler)
        assert response.outcome is Outcome.MALFORMED

    async def test_email_of_wrong_type_is_malformed(self) -> None:
        record = {
            "id": "r-1",
            "lastVerified": "2026-08-01T00:00:00Z",
            "email": ["a@example.com"],
            "phone": None,
        }

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={"results": [record], "totalResults": 1})

        response = await lookup_with("cognism", handler)
        assert response.outcome is Outcome.MALFORMED

    async def test_slow_drip_ends_at_the_deadline(self) -> None:
        async def drip():
            for _ in range(50):
                await asyncio.sleep(0.1)
                yield b" "

        async def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=drip())

        adapter = HttpVendorAdapter(
            "Slow",
            BASE_URL,
            "cognism",
            0.1,
            timeout_s=0.3,
            transport=httpx.MockTransport(handler),
        )
        async with adapter:
            response = await adapter.lookup(QUERY)
        assert response.outcome is Outcome.TIMEOUT
        assert response.error_type == "deadline"
