"""The simulator's Starlette app: six vendor wires, fault control and the ESP.

Every random choice comes from `unit_draw(seed, vendor, candidate_ref, purpose,
...)`. Choices fixed per (seed, vendor, candidate_ref): whether the vendor has a
record, whether the record is decayed, whether its email bounces, whether it has
a phone and whether that phone is invalid. Choices drawn per call, keyed by the
pair's call counter: latency, natural errors, runtime faults and staleness.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from scipy.special import gammaincinv, ndtri
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from vendors.simulator.feedback import FeedbackBook, RecordTruth, esp_routes, unit_draw
from vendors.simulator.profiles import ERROR_KINDS, VendorProfile
from vendors.wire import WIRES, WireSpec, format_verified
from waterfall.clock import Clock
from waterfall.logging import get_logger

log = get_logger("vendors.simulator")

FAULT_MODES = (
    "server_error",
    "timeout",
    "rate_limited",
    "out_of_credit",
    "malformed",
    "connection_drop",
)
RATE_LIMIT_QUOTA = 1000  # calls per window reported in the rate-limit headers
RATE_LIMIT_WINDOW_S = 60


@dataclass(frozen=True)
class Fault:
    """A runtime fault injected into one vendor: its mode and the share of calls."""

    mode: str
    rate: float


class FaultBoard:
    """The active runtime faults by vendor; safe to change from another thread."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()

    def set(self, vendor: str, mode: str | None, rate: float = 1.0) -> None:
        """Inject `mode` into `rate` of the vendor's calls; mode None clears it."""
        if mode is not None and mode not in FAULT_MODES:
            raise ValueError(
                f"fault mode {mode!r} is invalid; use one of {FAULT_MODES}"
            )
        if not 0.0 <= rate <= 1.0:
            raise ValueError(
                f"fault rate {rate!r} is invalid; use a number from 0 to 1"
            )
        with self._lock:
            if mode is None:
                self._faults.pop(vendor, None)
            else:
                self._faults[vendor] = Fault(mode, rate)

    def clear(self) -> None:
        """Remove every runtime fault."""
        with self._lock:
            self._faults.clear()

    def get(self, vendor: str) -> Fault | None:
        """Return the vendor's active fault, if any."""
        with self._lock:
            return self._faults.get(vendor)

    def as_json(self) -> dict[str, dict[str, object]]:
        """Return the active faults as the JSON that GET /_control/faults sends."""
        with self._lock:
            return {
                v: {"mode": f.mode, "rate": f.rate} for v, f in self._faults.items()
            }


def error_body(wire: str, code: str, message: str) -> dict[str, object]:
    """Return an error body in the style of the wire's vendor."""
    styles: dict[str, dict[str, object]] = {
        "vendor_d": {"error": {"code": code, "message": message}},
        "vendor_b": {"detail": message, "code": code},
        "vendor_a": {"message": message},
        "vendor_c": {"status": "error", "error": {"type": code, "message": message}},
        "cognism": {"errorCode": code, "message": message},
        "vendor_e": {"error": code, "error_description": message},
    }
    return styles[wire]


class DroppedConnection(Response):
    """Starts a response and returns without its body.

    uvicorn (h11, version 0.29) then logs "ASGI callable returned without
    completing response" and closes the connection, so the client sees a
    RemoteProtocolError, which httpx counts as a TransportError.
    """

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"100"), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})


@dataclass(frozen=True)
class CallContext:
    """One incoming vendor call: who is searched and the pair's call number."""

    candidate_ref: str
    first_name: str
    last_name: str
    company: str
    call_number: int


class VendorEndpoint:
    """Serves one simulated vendor on its wire."""

    def __init__(self, profile: VendorProfile, state: SimulatorState) -> None:
        self.profile = profile
        self.spec: WireSpec = WIRES[profile.wire]
        self.state = state
        self._calls = 0

    def draw(self, ref: str, purpose: str, *extra: object) -> float:
        """Return this vendor's uniform draw for a candidate and a purpose."""
        return unit_draw(self.state.seed, self.profile.name, ref, purpose, *extra)

    async def handle(self, request: Request) -> Response:
        """Reply to one search as the vendor would: fault, error, hit or miss."""
        try:
            call = await self._read_call(request)
        except ClientDisconnect:
            # The client gave up (its deadline passed) before the body arrived.
            log.info("simulator.client_disconnected", vendor=self.profile.name)
            return Response(status_code=499)
        except ValueError as exc:
            log.warning(
                "simulator.bad_request", vendor=self.profile.name, error=str(exc)
            )
            body = error_body(self.spec.name, "bad_request", str(exc))
            return JSONResponse(body, status_code=400)
        self._calls += 1
        await self._sleep_latency(call)
        fault = self.state.faults.get(self.profile.name)
        if (
            fault
            and self.draw(call.candidate_ref, "fault", call.call_number) < fault.rate
        ):
            return await self._fault_response(fault.mode, call)
        natural = self._natural_error(call)
        if natural is not None:
            return await self._fault_response(natural, call)
        if self.draw(call.candidate_ref, "hit") < self.profile.hit_rate:
            return self._hit_response(call)
        return self._miss_response()

    async def _read_call(self, request: Request) -> CallContext:
        if self.spec.method == "GET":
            fields = dict(request.query_params)
        else:
            fields = await request.json()  # JSONDecodeError is a ValueError
            if not isinstance(fields, dict):
                raise ValueError("request body must be a JSON object")
        wire_names = self.spec.query_fields

        def read(attr: str) -> str:
            return str(fields.get(wire_names.get(attr, ""), "") or "")

        names = (read("first_name"), read("last_name"), read("company"))
        # Without a ref, the names identify the candidate, so the reply is still
        # fixed per person.
        ref = read("candidate_ref") or "name:" + "|".join(names).lower()
        call_number = self.state.next_call_number(self.profile.name, ref)
        return CallContext(ref, *names, call_number=call_number)

    async def _sleep_latency(self, call: CallContext) -> None:
        scale = self.state.latency_scale
        if scale <= 0:
            return
        latency = self.profile.latency
        z = float(ndtri(self.draw(call.candidate_ref, "latency", call.call_number)))
        seconds = latency.median_ms * math.exp(latency.sigma * z) / 1000.0
        await asyncio.sleep(seconds * scale)

    def _natural_error(self, call: CallContext) -> str | None:
        draw = self.draw(call.candidate_ref, "error", call.call_number)
        for kind in ERROR_KINDS:
            rate = self.profile.error_rates.get(kind, 0.0)
            if draw < rate:
                return kind
            draw -= rate
        return None

    async def _fault_response(self, mode: str, call: CallContext) -> Response:
        if mode == "timeout":
            await self._hang()
            return self._error(504, "gateway_timeout", "upstream timed out")
        if mode == "connection_drop":
            return DroppedConnection()
        if mode == "out_of_credit":
            return self._error(402, "payment_required", "credit balance is exhausted")
        if mode == "rate_limited":
            return self._rate_limited(call)
        if mode == "malformed":
            return self._malformed(call)
        status = 500 + [0, 2, 3][int(self.draw(call.candidate_ref, "5xx") * 3)]
        return self._error(status, "server_error", "internal error, try again later")

    async def _hang(self) -> None:
        """Sleep hang_s, unscaled so it outlasts the adapter's timeout.

        The sleep ends early once the server is stopping, so that uvicorn does not
        have to cancel the request.
        """
        deadline = time.monotonic() + self.profile.hang_s
        while time.monotonic() < deadline and not self.state.stopping:
            await asyncio.sleep(min(0.05, deadline - time.monotonic()))

    def _error(self, status: int, code: str, message: str, headers=None) -> Response:
        body = error_body(self.spec.name, code, message)
        return JSONResponse(body, status_code=status, headers=headers)

    def _rate_limited(self, call: CallContext) -> Response:
        draw = self.draw(call.candidate_ref, "retry_after", call.call_number)
        retry_after = 1 + int(draw * 5)
        headers = {"Retry-After": str(retry_after)}
        if self.spec.remaining_header and self.spec.reset_header:
            headers[self.spec.remaining_header] = "0"
            headers[self.spec.reset_header] = str(retry_after)
        return self._error(429, "rate_limited", "too many requests", headers)

    def _malformed(self, call: CallContext) -> Response:
        """Send either cut-off JSON or a record without its last-verified field."""
        if self.draw(call.candidate_ref, "malformed", call.call_number) < 0.5:
            text = '{"' + self.spec.envelope + '": [{"'
            return Response(text, status_code=200, media_type="application/json")
        record = self._record(call, include_verified=False)
        return JSONResponse(self._hit_body(record), headers=self._quota_headers())

    def _miss_response(self) -> Response:
        status = self.spec.miss_status
        headers = self._quota_headers()
        if self.spec.miss_body is None:
            return Response(b"", status_code=status, headers=headers)
        return JSONResponse(self.spec.miss_body, status_code=status, headers=headers)

    def _quota_headers(self) -> dict[str, str]:
        if not (self.spec.remaining_header and self.spec.reset_header):
            return {}
        window_left = RATE_LIMIT_WINDOW_S - int(time.time()) % RATE_LIMIT_WINDOW_S
        remaining = RATE_LIMIT_QUOTA - self._calls % RATE_LIMIT_QUOTA
        return {
            self.spec.remaining_header: str(remaining),
            self.spec.reset_header: str(window_left),
        }

    def truth(self, ref: str) -> RecordTruth:
        """Return the fixed truth of the vendor's record for a candidate."""
        profile = self.profile
        decayed = self.draw(ref, "decay") < profile.decay_rate
        state = "decayed" if decayed else "fresh"
        bounce_rate = getattr(profile.email_bounce, state)
        invalid_rate = getattr(profile.phone_invalid, state)
        digest = self.draw(ref, "record_id")
        return RecordTruth(
            vendor=profile.name,
            vendor_record_id=f"{self.spec.name}-{int(digest * 2**48):012x}",
            email_bounces=self.draw(ref, "email") < bounce_rate,
            has_phone=self.draw(ref, "has_phone") < profile.phone_coverage,
            phone_invalid=self.draw(ref, "phone") < invalid_rate,
        )

    def staleness_days(self, ref: str, call_number: int) -> float:
        """Return the days since verification for one call, drawn from the gamma."""
        staleness = self.profile.staleness
        draw = self.draw(ref, "staleness", call_number)
        return float(gammaincinv(staleness.shape, draw)) * staleness.scale_days

    def _record(self, call: CallContext, include_verified: bool = True) -> dict:
        truth = self.truth(call.candidate_ref)
        self.state.book.register(truth)
        first = (call.first_name or "alex").lower()
        last = (call.last_name or "morgan").lower()
        domain = "".join(ch for ch in call.company.lower() if ch.isalnum()) or "acme"
        spec = self.spec
        record: dict[str, object] = {
            spec.id_field: truth.vendor_record_id,
            "full_name": f"{call.first_name} {call.last_name}".strip(),
            "company": call.company,
            spec.email_field: f"{first}.{last}@{domain}.example.com",
        }
        if truth.has_phone:
            # 555-0100 to 555-0199 are reserved for fiction in the North American plan
            line = int(self.draw(call.candidate_ref, "phone_digits") * 100)
            record[spec.phone_field] = f"+1-202-555-01{line:02d}"
        if include_verified:
            verified = self.state.clock.now() - timedelta(
                days=self.staleness_days(call.candidate_ref, call.call_number)
            )
            record[spec.verified_field] = format_verified(
                verified, spec.verified_format
            )
        return record

    def _hit_body(self, record: dict) -> dict:
        records: object = record if self.spec.single else [record]
        body = {**self.spec.hit_extra, self.spec.envelope: records}
        if self.spec.count_field:
            body[self.spec.count_field] = 1
        return body

    def _hit_response(self, call: CallContext) -> Response:
        body = self._hit_body(self._record(call))
        return JSONResponse(body, headers=self._quota_headers())


class SimulatorState:
    """Everything the app shares between requests: seed, clock, counters, faults."""

    def __init__(self, seed: int, clock: Clock, latency_scale: float) -> None:
        self.seed = seed
        self.clock = clock
        self.latency_scale = latency_scale
        self.faults = FaultBoard()
        self.stopping = False  # set by SimulatorServer.stop to end hanging calls
        self.book = FeedbackBook(seed)
        self._call_numbers: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def next_call_number(self, vendor: str, candidate_ref: str) -> int:
        """Count a call of the (vendor, candidate) pair and return its number."""
        key = (vendor, candidate_ref)
        with self._lock:
            number = self._call_numbers.get(key, 0) + 1
            self._call_numbers[key] = number
        return number


def _control_routes(state: SimulatorState, names: list[str]) -> list[Route]:
    async def get_faults(request: Request) -> JSONResponse:
        return JSONResponse({"faults": state.faults.as_json()})

    async def post_fault(request: Request) -> JSONResponse:
        vendor = request.path_params["vendor"]
        if vendor not in names:
            message = f"vendor {vendor!r} not found; use one of {', '.join(names)}"
            return JSONResponse({"error": message}, status_code=404)
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError(
                    'body must be a JSON object {"mode": ..., "rate": ...}'
                )
            rate = body.get("rate", 1.0)
            if isinstance(rate, bool) or not isinstance(rate, int | float):
                raise ValueError(f"fault rate {rate!r} is invalid; use a number 0..1")
            state.faults.set(vendor, body.get("mode"), float(rate))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        log.info("simulator.fault_changed", vendor=vendor, fault=body)
        return JSONResponse({"faults": state.faults.as_json()})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "vendors": names})

    return [
        Route("/_control/faults", get_faults, methods=["GET"]),
        Route("/_control/faults/{vendor}", post_fault, methods=["POST"]),
        Route("/_control/health", health, methods=["GET"]),
    ]


def create_app(
    profiles: dict[str, VendorProfile],
    seed: int,
    clock: Clock,
    latency_scale: float = 1.0,
) -> Starlette:
    """Build the simulator app; `app.state.simulator` is its SimulatorState."""
    state = SimulatorState(seed, clock, latency_scale)
    routes: list[Route | Mount] = []
    endpoints = {}
    for profile in profiles.values():
        endpoint = VendorEndpoint(profile, state)
        spec = endpoint.spec
        route = Route(spec.path, endpoint.handle, methods=[spec.method])
        routes.append(Mount(f"/{spec.name}", routes=[route]))
        endpoints[profile.name] = endpoint
    routes.extend(_control_routes(state, list(profiles)))
    routes.extend(esp_routes(state.book))
    app = Starlette(routes=routes)
    app.state.simulator = state
    app.state.endpoints = endpoints
    return app
