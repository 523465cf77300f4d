"""Concurrent servers: no lost counts, and exactly the allowed number of probes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from tests.breaker.conftest import RULE, StorePair
from tests.breaker.helpers import VENDOR, open_breaker, response
from vendors.protocol import Outcome
from waterfall.breaker.breaker import CircuitBreaker
from waterfall.breaker.rule import Admission, State

THREADS = 8


def hammer(breakers: list[CircuitBreaker], work: Callable[[CircuitBreaker], None]):
    """Run work on THREADS threads at once, alternating between the breakers."""
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(breaker: CircuitBreaker) -> None:
        start.wait()
        try:
            work(breaker)
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(breakers[i % len(breakers)],))
        for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


class TestConcurrentServers:
    def test_concurrent_errors_lose_no_counts(self, stores: StorePair) -> None:
        # A minimum no test reaches keeps the breaker counting throughout.
        rule = replace(RULE, min_calls=1_000_000)
        breakers = [CircuitBreaker(s, rule) for s in (stores.first, stores.second)]
        per_thread = 40
        closed = Admission(True, State.CLOSED)

        def record_errors(breaker: CircuitBreaker) -> None:
            for _ in range(per_thread):
                breaker.record(VENDOR, closed, response(Outcome.SERVER_ERROR))

        hammer(breakers, record_errors)
        status = breakers[0].status([VENDOR])[0]
        assert status.errors_in_window == THREADS * per_thread
        assert status.calls_in_window == THREADS * per_thread

    def test_burst_of_probes_admits_exactly_probe_calls(
        self, stores: StorePair, clock
    ) -> None:
        breakers = [CircuitBreaker(s, RULE) for s in (stores.first, stores.second)]
        open_breaker(breakers[0], RULE)
        clock.advance(timedelta(seconds=RULE.cooldown_s))
        admitted: list[Admission] = []
        lock = threading.Lock()

        def ask(breaker: CircuitBreaker) -> None:
            for _ in range(25):
                admission = breaker.admit(VENDOR)
                if admission.allowed:
                    with lock:
                        admitted.append(admission)

        hammer(breakers, ask)
        assert len(admitted) == RULE.probe_calls
        assert all(admission.probe for admission in admitted)

    def test_concurrent_openings_publish_one_transition(
        self, stores: StorePair
    ) -> None:
        seen: list[object] = []
        breakers = [
            CircuitBreaker(s, RULE, None, [seen.append])
            for s in (stores.first, stores.second)
        ]
        closed = Admission(True, State.CLOSED)

        def fail(breaker: CircuitBreaker) -> None:
            for _ in range(10):
                breaker.record(VENDOR, closed, response(Outcome.TIMEOUT))

        hammer(breakers, fail)
        assert len(seen) == 1
