"""Every transition of the breaker, on the in-process store and on Redis."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.breaker.conftest import RULE, StorePair
from tests.breaker.helpers import (
    VENDOR,
    Listener,
    call,
    calls,
    open_breaker,
    response,
)
from vendors.protocol import Outcome
from waterfall.breaker.breaker import CircuitBreaker
from waterfall.breaker.rule import State
from waterfall.clock import SimulatedClock
from waterfall.store import Store
from waterfall.store import repository as repo

E, M, H = Outcome.SERVER_ERROR, Outcome.MISS, Outcome.HIT


@pytest.fixture
def listener() -> Listener:
    return Listener()


@pytest.fixture
def breaker(stores: StorePair, sqlite_store: Store, listener: Listener):
    return CircuitBreaker(stores.first, RULE, sqlite_store, [listener])


def state(breaker: CircuitBreaker) -> State:
    return breaker.status([VENDOR])[0].state


class TestOpening:
    def test_error_rate_at_threshold_opens(self, breaker, listener) -> None:
        open_breaker(breaker, RULE)
        assert state(breaker) is State.OPEN
        assert listener.path == [("CLOSED", "OPEN")]
        assert listener.transitions[0].error_rate == pytest.approx(0.05)
        assert listener.transitions[0].calls_in_window == 20

    def test_rate_below_threshold_stays_closed(self, breaker, listener) -> None:
        calls(breaker, M, 39)
        calls(breaker, E, 1)  # 2.5 %
        assert state(breaker) is State.CLOSED
        assert listener.transitions == []

    def test_one_error_in_three_calls_does_not_open(self, breaker) -> None:
        calls(breaker, M, 2)
        calls(breaker, E, 1)
        assert state(breaker) is State.CLOSED

    def test_opens_once_min_calls_reached(self, breaker) -> None:
        calls(breaker, E, 5)
        calls(breaker, M, 14)  # 19 calls at 26 %: below the minimum
        assert state(breaker) is State.CLOSED
        calls(breaker, M, 1)
        assert state(breaker) is State.OPEN

    @pytest.mark.parametrize(
        "outcome",
        [
            Outcome.SERVER_ERROR,
            Outcome.TIMEOUT,
            Outcome.CONNECTION_ERROR,
            Outcome.MALFORMED,
        ],
    )
    def test_unhealthy_outcomes_count(self, breaker, outcome) -> None:
        calls(breaker, M, 19)
        calls(breaker, outcome, 1)
        assert state(breaker) is State.OPEN

    @pytest.mark.parametrize("outcome", [Outcome.MISS, Outcome.HIT])
    def test_answers_do_not_count_as_errors(self, breaker, outcome) -> None:
        calls(breaker, outcome, 50)
        status = breaker.status([VENDOR])[0]
        assert status.state is State.CLOSED
        assert status.errors_in_window == 0
        assert status.calls_in_window == 50

    def test_transition_is_stored(self, breaker, sqlite_store) -> None:
        open_breaker(breaker, RULE)
        with sqlite_store.session() as session:
            rows = repo.breaker_transitions(session, VENDOR)
        assert [(r.from_state, r.to_state) for r in rows] == [("CLOSED", "OPEN")]
        assert rows[0].error_rate == pytest.approx(0.05)
        assert "error rate 5.0% over 20 calls" in rows[0].reason


class TestWindow:
    def test_old_errors_slide_out(self, breaker, clock: SimulatedClock) -> None:
        calls(breaker, E, 4)
        calls(breaker, M, 6)
        clock.advance(timedelta(seconds=RULE.window_s + RULE.bucket_s))
        calls(breaker, M, 10)
        status = breaker.status([VENDOR])[0]
        assert status.state is State.CLOSED
        assert status.calls_in_window == 10
        assert status.errors_in_window == 0

    def test_errors_inside_window_still_count(self, breaker, clock) -> None:
        calls(breaker, E, 4)
        calls(breaker, M, 6)
        clock.advance(timedelta(seconds=RULE.window_s - 2 * RULE.bucket_s))
        calls(breaker, M, 10)  # 20 calls, 4 errors, 20 %
        assert state(breaker) is State.OPEN


class TestOpenAndHalfOpen:
    def test_open_skips_until_cooldown(self, breaker, clock) -> None:
        open_breaker(breaker, RULE)
        clock.advance(timedelta(seconds=RULE.cooldown_s - 1))
        assert call(breaker, H) is False
        status = breaker.status([VENDOR])[0]
        assert status.next_probe_in_s == pytest.approx(1)

    def test_cooldown_leads_to_half_open(self, breaker, clock, listener) -> None:
        open_breaker(breaker, RULE)
        clock.advance(timedelta(seconds=RULE.cooldown_s))
        admission = breaker.admit(VENDOR)
        assert admission.allowed is True
        assert admission.probe is True
        assert listener.path[-1] == ("OPEN", "HALF_OPEN")

    def test_half_open_admits_probe_calls_only(self, breaker, clock) -> None:
        open_breaker(breaker, RULE)
        clock.advance(timedelta(seconds=RULE.cooldown_s))
        admitted = [breaker.admit(VENDOR).allowed for _ in range(RULE.probe_calls + 2)]
        assert admitted == [True] * RULE.probe_calls + [False, False]

    def test_all_probes_succeeding_close(self, breaker, clock, listener) -> None:
        open_breaker(breaker, RULE)
        clock.advance(timedelta(seconds=RULE.cooldown_s))
        calls(breaker, H, RULE.probe_calls - 1)
        assert state(breaker) is State.HALF_OPEN
        calls(breaker, M, 1)
        assert state(breaker) is State.CLOSED
        assert listener.path[-1] == ("HALF_OPEN", "CLOSED")
        assert breaker.status([VENDOR])[0].calls_in_window == 0

    def test_failed_probe_reopens(self, breaker, clock, listener) -> None:
        open_breaker(breaker, RULE)
        clock.advance(timedelta(seconds=RULE.cooldown_s))
        calls(breaker, H, 1)
        calls(breaker, Outcome.TIMEOUT, 1)
        assert listener.path[-1] == ("HALF_OPEN", "OPEN")
        clock.advance(timedelta(seconds=RULE.cooldown_s - 1))
        assert call(breaker, H) is False  # a new, full cooldown

    def test_lost_probe_slots_are_freed(self, breaker, clock) -> None:
        open_breaker(breaker, RULE)
        clock.advance(timedelta(seconds=RULE.cooldown_s))
        for _ in range(RULE.probe_calls):
            assert breaker.admit(VENDOR).allowed  # never reported
        assert breaker.admit(VENDOR).allowed is False
        clock.advance(timedelta(seconds=RULE.probe_timeout_s))
        assert breaker.admit(VENDOR).allowed is True

    def test_probe_from_earlier_opening_is_ignored(self, breaker, clock) -> None:
        open_breaker(breaker, RULE)
        clock.advance(timedelta(seconds=RULE.cooldown_s))
        stale = breaker.admit(VENDOR)
        calls(breaker, E, 1)  # reopens
        clock.advance(timedelta(seconds=RULE.cooldown_s))
        calls(breaker, H, RULE.probe_calls - 1)
        breaker.record(VENDOR, stale, response(H))
        assert state(breaker) is State.HALF_OPEN

    def test_call_admitted_while_closed_is_ignored_when_open(self, breaker) -> None:
        early = breaker.admit(VENDOR)
        open_breaker(breaker, RULE)
        before = breaker.status([VENDOR])[0].calls_in_window
        breaker.record(VENDOR, early, response(H))
        assert breaker.status([VENDOR])[0].calls_in_window == before


class TestHolds:
    def test_402_holds_until_reset(self, breaker, clock, listener) -> None:
        assert call(breaker, Outcome.OUT_OF_CREDIT)
        assert listener.path == [("CLOSED", "OUT_OF_CREDIT")]
        clock.advance(timedelta(days=2))
        assert call(breaker, H) is False
        transition = breaker.reset(VENDOR, "alice", "credit bought")
        assert transition.to_state is State.CLOSED
        assert transition.actor == "alice"
        assert call(breaker, H) is True

    def test_402_is_not_an_error(self, breaker) -> None:
        calls(breaker, M, 19)
        call(breaker, Outcome.OUT_OF_CREDIT)
        assert breaker.status([VENDOR])[0].errors_in_window == 0

    def test_429_holds_until_retry_after(self, breaker, clock, listener) -> None:
        call(breaker, Outcome.RATE_LIMITED, retry_after_s=30)
        assert state(breaker) is State.RATE_LIMITED
        clock.advance(timedelta(seconds=29))
        assert call(breaker, H) is False
        clock.advance(timedelta(seconds=1))
        assert call(breaker, H) is True
        assert listener.path == [("CLOSED", "RATE_LIMITED"), ("RATE_LIMITED", "CLOSED")]

    def test_429_without_header_uses_default(self, breaker, clock) -> None:
        call(breaker, Outcome.RATE_LIMITED)
        status = breaker.status([VENDOR])[0]
        assert status.hold_ends_in_s == pytest.approx(RULE.rate_limit_default_s)

    def test_429_hold_is_capped(self, breaker) -> None:
        call(breaker, Outcome.RATE_LIMITED, retry_after_s=86_400)
        status = breaker.status([VENDOR])[0]
        assert status.hold_ends_in_s == pytest.approx(RULE.rate_limit_max_s)

    def test_429_is_not_a_call_in_window(self, breaker) -> None:
        call(breaker, Outcome.RATE_LIMITED, retry_after_s=5)
        assert breaker.status([VENDOR])[0].calls_in_window == 0

    def test_opening_under_hold_shows_after_it(self, breaker, clock, listener):
        early = [breaker.admit(VENDOR) for _ in range(RULE.min_calls)]
        call(breaker, Outcome.RATE_LIMITED, retry_after_s=10)
        for admission in early[:-1]:
            breaker.record(VENDOR, admission, response(M))
        breaker.record(VENDOR, early[-1], response(E))
        assert state(breaker) is State.RATE_LIMITED
        clock.advance(timedelta(seconds=10))
        assert call(breaker, H) is False
        assert listener.path[-1] == ("RATE_LIMITED", "OPEN")

    def test_429_on_probe_frees_its_slot(self, breaker, clock, listener) -> None:
        open_breaker(breaker, RULE)
        clock.advance(timedelta(seconds=RULE.cooldown_s))
        call(breaker, Outcome.RATE_LIMITED, retry_after_s=10)
        clock.advance(timedelta(seconds=10))
        calls(breaker, H, RULE.probe_calls)
        assert state(breaker) is State.CLOSED
        assert ("RATE_LIMITED", "HALF_OPEN") in listener.path


class TestResetAndListeners:
    def test_reset_closes_open_breaker(self, breaker, sqlite_store) -> None:
        open_breaker(breaker, RULE)
        breaker.reset(VENDOR, "bob", "vendor fixed their API")
        assert state(breaker) is State.CLOSED
        with sqlite_store.session() as session:
            newest = repo.breaker_transitions(session, VENDOR)[0]
        assert newest.reason == "reset by bob: vendor fixed their API"
        assert (newest.from_state, newest.to_state) == ("OPEN", "CLOSED")

    def test_failing_listener_does_not_stop_others(
        self, stores: StorePair, listener: Listener
    ) -> None:
        def broken(_transition: object) -> None:
            raise RuntimeError("slack is down")

        breaker = CircuitBreaker(stores.first, RULE, None, [broken, listener])
        open_breaker(breaker, RULE)
        assert listener.path == [("CLOSED", "OPEN")]

    def test_second_server_sees_the_opening(self, stores: StorePair) -> None:
        first = CircuitBreaker(stores.first, RULE)
        second = CircuitBreaker(stores.second, RULE)
        open_breaker(first, RULE)
        assert second.admit(VENDOR).allowed is False
        assert state(second) is State.OPEN
