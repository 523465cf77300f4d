"""Build the circuit breaker a runtime's settings describe."""

from __future__ import annotations

from collections.abc import Iterable

from waterfall.breaker.breaker import CircuitBreaker, TransitionListener
from waterfall.breaker.redis_store import RedisBreakerStore, connect
from waterfall.breaker.rule import BreakerRule
from waterfall.breaker.stores import BreakerStore, FallbackStore, MemoryBreakerStore
from waterfall.clock import SystemClock
from waterfall.runtime import Runtime
from waterfall.settings import Settings


def rule_from(settings: Settings) -> BreakerRule:
    """Read the rule's numbers from settings."""
    return BreakerRule(
        error_rate_threshold=settings.breaker_error_rate_threshold,
        window_s=settings.breaker_window_s,
        bucket_s=settings.breaker_bucket_s,
        min_calls=settings.breaker_min_calls,
        cooldown_s=settings.breaker_cooldown_s,
        probe_calls=settings.breaker_probe_calls,
        probe_timeout_s=settings.breaker_probe_timeout_s,
        rate_limit_default_s=settings.breaker_rate_limit_default_s,
        rate_limit_max_s=settings.breaker_rate_limit_max_s,
    )


def shared_store(runtime: Runtime) -> RedisBreakerStore | None:
    """Return the Redis store the settings name, or None when state is in-process.

    A simulated runtime clock is passed on, so that simulated runs move the
    breaker's time too; with the system clock the store reads Redis's TIME.
    """
    settings = runtime.settings
    if settings.redis_url is None:
        return None
    url = settings.redis_url.get_secret_value()
    client = connect(url, settings.breaker_redis_timeout_s)
    simulated = not isinstance(runtime.clock, SystemClock)
    clock = runtime.clock if simulated else None
    return RedisBreakerStore(client, settings.breaker_redis_prefix, clock, url)


def build_breaker(
    runtime: Runtime,
    listeners: Iterable[TransitionListener] = (),
    fallback: bool = True,
) -> CircuitBreaker:
    """Build the breaker for the search path (fallback=True) or for commands."""
    settings = runtime.settings
    redis_store = shared_store(runtime)
    store: BreakerStore
    if redis_store is None:
        store = MemoryBreakerStore(runtime.clock)
    elif fallback:
        store = FallbackStore(
            redis_store, runtime.clock, settings.breaker_store_retry_s
        )
    else:
        store = redis_store
    return CircuitBreaker(store, rule_from(settings), runtime.store, listeners)
