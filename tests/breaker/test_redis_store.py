"""The Redis store's clock and keys, and the fallback when Redis is unreachable."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from tests.breaker.conftest import NEEDS_REDIS, RULE
from tests.breaker.helpers import VENDOR, call, calls, open_breaker
from vendors.protocol import Outcome
from waterfall.breaker.breaker import CircuitBreaker
from waterfall.breaker.redis_store import RedisBreakerStore, connect
from waterfall.breaker.rule import State
from waterfall.breaker.stores import FallbackStore
from waterfall.clock import SimulatedClock
from waterfall.errors import BreakerStoreError
from waterfall.logging import configure_logging


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unreachable_store(clock: SimulatedClock | None = None) -> RedisBreakerStore:
    url = f"redis://127.0.0.1:{free_port()}/0"
    return RedisBreakerStore(connect(url, 0.2), "waterfall-test", clock, url)


@pytest.fixture
def events() -> Iterator[io.StringIO]:
    """Log events as JSON lines, captured."""
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    yield stream
    configure_logging()


def event_names(stream: io.StringIO) -> list[str]:
    return [json.loads(line)["event"] for line in stream.getvalue().splitlines()]


@pytest.mark.redis
@NEEDS_REDIS
class TestRedisStore:
    def test_time_defaults_to_redis_server_time(self, redis_client, redis_prefix):
        store = RedisBreakerStore(redis_client, redis_prefix)
        seconds, microseconds = redis_client.time()
        assert store.now() == pytest.approx(seconds + microseconds / 1e6, abs=1.0)

    def test_state_is_one_json_key_without_expiry(
        self, redis_client, redis_prefix, clock
    ) -> None:
        breaker = CircuitBreaker(
            RedisBreakerStore(redis_client, redis_prefix, clock), RULE
        )
        open_breaker(breaker, RULE)
        key = f"{redis_prefix}:{VENDOR}"
        assert json.loads(redis_client.get(key))["breaker"] == "OPEN"
        assert redis_client.ttl(key) == -1


class TestRedisUnreachable:
    def test_store_error_names_the_url(self) -> None:
        store = unreachable_store()
        with pytest.raises(BreakerStoreError, match=r"redis://127\.0\.0\.1:\d+/0"):
            store.read([VENDOR])

    def test_breaker_without_fallback_admits(self, events) -> None:
        breaker = CircuitBreaker(unreachable_store(), RULE)
        assert breaker.admit(VENDOR).allowed is True
        assert "breaker.admit_failed" in event_names(events)

    def test_fallback_keeps_a_local_breaker(self, clock, events) -> None:
        store = FallbackStore(unreachable_store(clock), clock, retry_s=5)
        breaker = CircuitBreaker(store, RULE)
        open_breaker(breaker, RULE)
        assert store.degraded is True
        assert call(breaker, Outcome.HIT) is False
        assert event_names(events).count("breaker.store_unavailable") == 1

    def test_fallback_fails_fast(self, clock) -> None:
        store = FallbackStore(unreachable_store(clock), clock, retry_s=5)
        breaker = CircuitBreaker(store, RULE)
        began = time.perf_counter()
        calls(breaker, Outcome.MISS, 200)
        assert time.perf_counter() - began < 2.0


def _start_redis(port: int, folder: Path) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        + ["--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = connect(f"redis://127.0.0.1:{port}/0", 0.2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.ping()
            client.close()
            return server
        except redis.RedisError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


@pytest.mark.redis
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
class TestRedisOutage:
    def test_outage_then_recovery(self, clock, tmp_path: Path, events) -> None:
        port = free_port()
        url = f"redis://127.0.0.1:{port}/0"
        server = _start_redis(port, tmp_path)
        try:
            shared = RedisBreakerStore(connect(url, 0.2), "outage", clock, url)
            store = FallbackStore(shared, clock, retry_s=5)
            breaker = CircuitBreaker(store, RULE)
            calls(breaker, Outcome.MISS, 3)
            server.terminate()
            server.wait(timeout=10)

            open_breaker(breaker, RULE)  # judged locally during the outage
            assert store.degraded is True
            assert call(breaker, Outcome.HIT) is False

            server = _start_redis(port, tmp_path)
            clock.advance(timedelta(seconds=5))
            assert call(breaker, Outcome.HIT) is True  # Redis's state counts again
            assert store.degraded is False
            assert breaker.status([VENDOR])[0].state is State.CLOSED
            names = event_names(events)
            assert names.count("breaker.store_unavailable") == 1
            assert names.count("breaker.store_recovered") == 1
        finally:
            server.terminate()
            server.wait(timeout=10)
