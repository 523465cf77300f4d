"""Drive a breaker with vendor outcomes and watch its transitions."""

from __future__ import annotations

from vendors.protocol import Outcome, VendorResponse
from waterfall.breaker.breaker import CircuitBreaker, Transition
from waterfall.breaker.rule import BreakerRule

VENDOR = "Vendor_A"


def response(outcome: Outcome, retry_after_s: float | None = None) -> VendorResponse:
    """A mapped vendor response with the given outcome."""
    return VendorResponse(VENDOR, outcome, 1.0, retry_after_s=retry_after_s)


def call(breaker: CircuitBreaker, outcome: Outcome, **fields: float) -> bool:
    """Ask the breaker, and when admitted report the outcome; return admitted."""
    admission = breaker.admit(VENDOR)
    if admission.allowed:
        breaker.record(VENDOR, admission, response(outcome, **fields))
    return admission.allowed


def calls(breaker: CircuitBreaker, outcome: Outcome, count: int) -> None:
    """Make count admitted calls with one outcome."""
    for _ in range(count):
        assert call(breaker, outcome), "the vendor was skipped unexpectedly"


def open_breaker(breaker: CircuitBreaker, rule: BreakerRule) -> None:
    """Trip the vendor's breaker with exactly min_calls calls at the threshold."""
    errors = max(1, round(rule.min_calls * rule.error_rate_threshold))
    calls(breaker, Outcome.MISS, rule.min_calls - errors)
    calls(breaker, Outcome.SERVER_ERROR, errors)


class Listener:
    """A transition listener that keeps what it was given."""

    def __init__(self) -> None:
        self.transitions: list[Transition] = []

    def __call__(self, transition: Transition) -> None:
        self.transitions.append(transition)

    @property
    def path(self) -> list[tuple[str, str]]:
        """The (from, to) states in order."""
        return [(t.from_state.value, t.to_state.value) for t in self.transitions]
