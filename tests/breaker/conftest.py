"""Breaker fixtures: a rule with small numbers, and stores on Redis and in-process.

The Redis tests run when WATERFALL_TEST_REDIS_URL is set. Each test uses its
own key prefix and deletes its keys at the end. Two independent clients
stand for two servers sharing one Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from tests.conftest import REDIS_URL
from waterfall.breaker.redis_store import RedisBreakerStore, connect
from waterfall.breaker.rule import BreakerRule
from waterfall.breaker.stores import BreakerStore, MemoryBreakerStore
from waterfall.clock import SimulatedClock

NEEDS_REDIS = pytest.mark.skipif(
    REDIS_URL is None, reason="WATERFALL_TEST_REDIS_URL is not set"
)

# The production numbers, except fewer calls before the rate counts.
RULE = BreakerRule(
    error_rate_threshold=0.05,
    window_s=300,
    bucket_s=10,
    min_calls=20,
    cooldown_s=900,
    probe_calls=3,
    probe_timeout_s=60,
    rate_limit_default_s=60,
    rate_limit_max_s=3600,
)


@dataclass
class StorePair:
    """Two handles on one breaker state, as two servers would hold them."""

    first: BreakerStore
    second: BreakerStore
    kind: str


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"waterfall-test:{uuid.uuid4().hex[:12]}"
    yield prefix
    if REDIS_URL is not None:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A client of the test Redis."""
    if REDIS_URL is None:
        pytest.skip("WATERFALL_TEST_REDIS_URL is not set")
    client = connect(REDIS_URL, timeout_s=2.0)
    yield client
    client.close()


def _pair_params() -> list[object]:
    return ["memory", pytest.param("redis", marks=[NEEDS_REDIS, pytest.mark.redis])]


@pytest.fixture(params=_pair_params())
def stores(
    request: pytest.FixtureRequest, clock: SimulatedClock, redis_prefix: str
) -> Iterator[StorePair]:
    """The in-process store (one handle twice), or two Redis clients."""
    if request.param == "memory":
        memory = MemoryBreakerStore(clock)
        yield StorePair(memory, memory, "memory")
        return
    assert REDIS_URL is not None
    clients = [connect(REDIS_URL, timeout_s=2.0) for _ in range(2)]
    first, second = (
        RedisBreakerStore(client, redis_prefix, clock, REDIS_URL) for client in clients
    )
    yield StorePair(first, second, "redis")
    for client in clients:
        client.close()
