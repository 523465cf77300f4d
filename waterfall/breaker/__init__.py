"""Per-vendor circuit breaker with state in-process or shared through Redis."""

from waterfall.breaker.breaker import (
    CircuitBreaker,
    Transition,
    TransitionListener,
    VendorStatus,
)
from waterfall.breaker.factory import build_breaker, rule_from
from waterfall.breaker.rule import Admission, BreakerRule, State

__all__ = [
    "Admission",
    "BreakerRule",
    "CircuitBreaker",
    "State",
    "Transition",
    "TransitionListener",
    "VendorStatus",
    "build_breaker",
    "rule_from",
]
