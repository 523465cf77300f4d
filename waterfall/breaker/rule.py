"""The breaker's rule and state machine, as pure functions on one vendor's record.

Both stores run these functions, so the rule exists once. Times are epoch
seconds on the store's clock. See docs/circuit-breaker.md for the rule.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from vendors.protocol import Outcome
from waterfall.errors import ConfigError


class State(enum.StrEnum):
    """The state a vendor is reported in; the last two are holds over the breaker."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    RATE_LIMITED = "RATE_LIMITED"
    OUT_OF_CREDIT = "OUT_OF_CREDIT"


class Signal(enum.Enum):
    """The health signal of one vendor call."""

    SUCCESS = "success"
    FAILURE = "failure"
    OUT_OF_CREDIT = "out_of_credit"
    RATE_LIMITED = "rate_limited"
    NONE = "none"


_SIGNALS = {
    Outcome.HIT: Signal.SUCCESS,
    Outcome.MISS: Signal.SUCCESS,
    Outcome.SERVER_ERROR: Signal.FAILURE,
    Outcome.TIMEOUT: Signal.FAILURE,
    Outcome.CONNECTION_ERROR: Signal.FAILURE,
    Outcome.MALFORMED: Signal.FAILURE,
    Outcome.OUT_OF_CREDIT: Signal.OUT_OF_CREDIT,
    Outcome.RATE_LIMITED: Signal.RATE_LIMITED,
    Outcome.SKIPPED: Signal.NONE,
}


def signal_of(outcome: Outcome) -> Signal:
    """Classify a call outcome; only unhealthy failures are FAILURE."""
    return _SIGNALS[outcome]


@dataclass(frozen=True)
class BreakerRule:
    """The numbers of the rule; every one comes from settings."""

    error_rate_threshold: float = 0.05
    window_s: float = 300.0
    bucket_s: float = 10.0
    min_calls: int = 100
    cooldown_s: float = 900.0
    probe_calls: int = 3
    probe_timeout_s: float = 60.0
    rate_limit_default_s: float = 60.0
    rate_limit_max_s: float = 3600.0

    def __post_init__(self) -> None:
        checks = [
            (0 < self.error_rate_threshold <= 1, "error_rate_threshold", "(0, 1]"),
            (self.bucket_s > 0, "bucket_s", "> 0"),
            (self.window_s >= self.bucket_s, "window_s", ">= bucket_s"),
            (self.min_calls >= 1, "min_calls", ">= 1"),
            (self.cooldown_s > 0, "cooldown_s", "> 0"),
            (self.probe_calls >= 1, "probe_calls", ">= 1"),
            (self.probe_timeout_s > 0, "probe_timeout_s", "> 0"),
            (self.rate_limit_default_s >= 0, "rate_limit_default_s", ">= 0"),
            (self.rate_limit_max_s >= 0, "rate_limit_max_s", ">= 0"),
        ]
        for valid, name, bound in checks:
            if not valid:
                raise ConfigError(
                    f"breaker setting {name}={getattr(self, name)!r} is invalid: "
                    f"it must be {bound}; fix WATERFALL_BREAKER_{name.upper()}"
                )

    @property
    def buckets(self) -> int:
        """Number of buckets that overlap one window."""
        return max(1, round(self.window_s / self.bucket_s))


@dataclass
class VendorRecord:
    """Everything the breaker keeps about one vendor."""

    breaker: State = State.CLOSED  # CLOSED, OPEN or HALF_OPEN only
    buckets: dict[int, list[int]] = field(default_factory=dict)  # [calls, errors]
    opened_at: float | None = None
    probes_admitted: int = 0
    probe_successes: int = 0
    probe_deadline: float | None = None
    rate_limited_until: float | None = None
    out_of_credit_since: float | None = None

    @property
    def state(self) -> State:
        """The reported state: a hold if one is set, else the breaker's state."""
        if self.out_of_credit_since is not None:
            return State.OUT_OF_CREDIT
        if self.rate_limited_until is not None:
            return State.RATE_LIMITED
        return self.breaker

    def window(self, now: float, rule: BreakerRule) -> tuple[int, int]:
        """Return (calls, errors) in the window ending at now."""
        oldest = int(now // rule.bucket_s) - rule.buckets + 1
        calls = errors = 0
        for index, (bucket_calls, bucket_errors) in self.buckets.items():
            if index >= oldest:
                calls += bucket_calls
                errors += bucket_errors
        return calls, errors

    def to_json(self) -> str:
        """Serialise for a store."""
        data: dict[str, Any] = dict(self.__dict__)
        data["breaker"] = self.breaker.value
        data["buckets"] = {str(k): v for k, v in self.buckets.items()}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes | None) -> VendorRecord:
        """Read a record a store saved; nothing saved is a fresh CLOSED record."""
        if not text:
            return cls()
        data = json.loads(text)
        data["breaker"] = State(data["breaker"])
        data["buckets"] = {int(k): list(v) for k, v in data["buckets"].items()}
        return cls(**data)


def error_rate(record: VendorRecord, now: float, rule: BreakerRule) -> float | None:
    """Return errors / calls in the window, or None without calls."""
    calls, errors = record.window(now, rule)
    return errors / calls if calls else None


@dataclass(frozen=True)
class Admission:
    """Whether one call may go to the vendor, and as what."""

    allowed: bool
    state: State
    probe: bool = False
    opened_at: float | None = None  # the opening a probe belongs to


def admit(
    record: VendorRecord, now: float, rule: BreakerRule
) -> tuple[Admission, list[str]]:
    """Admit or skip one call, moving the record on with time first.

    Returns the admission and the reasons of any state change: a passed
    rate-limit reset time, a passed cooldown. A HALF_OPEN admission takes a
    probe slot.
    """
    reasons = _expire(record, now, rule)
    state = record.state
    if state is State.CLOSED:
        return Admission(True, state), reasons
    if state is not State.HALF_OPEN:
        return Admission(False, state), reasons
    lost = record.probe_deadline is not None and now >= record.probe_deadline
    if record.probes_admitted >= rule.probe_calls and lost:
        # Probes that never reported (their process died) give their slots back.
        record.probes_admitted = record.probe_successes
    if record.probes_admitted >= rule.probe_calls:
        return Admission(False, state), reasons
    record.probes_admitted += 1
    record.probe_deadline = now + rule.probe_timeout_s
    return Admission(True, state, probe=True, opened_at=record.opened_at), reasons


def _expire(record: VendorRecord, now: float, rule: BreakerRule) -> list[str]:
    reasons = []
    if record.rate_limited_until is not None and now >= record.rate_limited_until:
        record.rate_limited_until = None
        reasons.append("rate limit reset time passed")
    if record.breaker is State.OPEN and now >= _cooldown_end(record, rule):
        record.breaker = State.HALF_OPEN
        record.probes_admitted = record.probe_successes = 0
        record.probe_deadline = None
        reasons.append(f"cooldown of {rule.cooldown_s:g} s passed")
    return reasons


def record_signal(
    record: VendorRecord,
    now: float,
    rule: BreakerRule,
    admission: Admission,
    signal: Signal,
    retry_after_s: float | None = None,
) -> list[str]:
    """Apply one call's signal to the record; return the reasons of any change."""
    is_current_probe = (
        admission.probe
        and record.breaker is State.HALF_OPEN
        and admission.opened_at == record.opened_at
    )
    if signal is Signal.OUT_OF_CREDIT or signal is Signal.RATE_LIMITED:
        if is_current_probe:
            record.probes_admitted = max(0, record.probes_admitted - 1)
        return _hold(record, now, rule, signal, retry_after_s)
    if signal is Signal.NONE:
        return []
    if is_current_probe:
        return _probe_result(record, now, rule, signal)
    if record.breaker is State.CLOSED and not admission.probe:
        return _count(record, now, rule, signal)
    return []  # a call admitted in an earlier state


def reset(record: VendorRecord) -> None:
    """Close the breaker and clear both holds and the window."""
    fresh = VendorRecord()
    record.__dict__.update(fresh.__dict__)


def _cooldown_end(record: VendorRecord, rule: BreakerRule) -> float:
    return (record.opened_at or 0.0) + rule.cooldown_s


def _hold(
    record: VendorRecord,
    now: float,
    rule: BreakerRule,
    signal: Signal,
    retry_after_s: float | None,
) -> list[str]:
    if signal is Signal.OUT_OF_CREDIT:
        if record.out_of_credit_since is not None:
            return []
        record.out_of_credit_since = now
        return ["vendor answered 402: out of credit until reset by hand"]
    wait = rule.rate_limit_default_s if retry_after_s is None else retry_after_s
    wait = min(max(wait, 0.0), rule.rate_limit_max_s)
    until = max(record.rate_limited_until or 0.0, now + wait)
    record.rate_limited_until = until
    return [f"vendor answered 429: skipped for {wait:g} s"]


def _probe_result(
    record: VendorRecord, now: float, rule: BreakerRule, signal: Signal
) -> list[str]:
    if signal is Signal.FAILURE:
        _open(record, now)
        return ["a probe call failed"]
    record.probe_successes += 1
    if record.probe_successes < rule.probe_calls:
        return []
    # Holds stay: a 429 on another probe must still be waited out.
    record.breaker = State.CLOSED
    record.buckets = {}
    record.opened_at = record.probe_deadline = None
    record.probes_admitted = record.probe_successes = 0
    return [f"{rule.probe_calls} probe calls succeeded"]


def _count(
    record: VendorRecord, now: float, rule: BreakerRule, signal: Signal
) -> list[str]:
    index = int(now // rule.bucket_s)
    bucket = record.buckets.setdefault(index, [0, 0])
    bucket[0] += 1
    if signal is Signal.FAILURE:
        bucket[1] += 1
    oldest = index - rule.buckets + 1
    record.buckets = {k: v for k, v in record.buckets.items() if k >= oldest}
    calls, errors = record.window(now, rule)
    if calls < rule.min_calls or errors / calls < rule.error_rate_threshold:
        return []
    _open(record, now)
    return [
        f"error rate {errors / calls:.1%} over {calls} calls in the last "
        f"{rule.window_s:g} s reached {rule.error_rate_threshold:.1%}"
    ]


def _open(record: VendorRecord, now: float) -> None:
    record.breaker = State.OPEN
    record.opened_at = now
    record.probes_admitted = record.probe_successes = 0
    record.probe_deadline = None
