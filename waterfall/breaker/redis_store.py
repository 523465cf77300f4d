"""Breaker state shared by every process through Redis.

Each change is an optimistic transaction: WATCH the vendor's key, read it,
apply the change in Python, then write it in MULTI/EXEC. When another
process wrote the key in between, EXEC fails and the change is applied again
to the new value, so no count is lost and no extra probe is admitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from waterfall.breaker.rule import VendorRecord
from waterfall.breaker.stores import Change, Update
from waterfall.clock import Clock
from waterfall.errors import BreakerStoreError

T = TypeVar("T")

# A change that loses this many races in a row gives up; the caller treats
# that like an unreachable store. Contention that high means thousands of
# writes to one vendor's key per second.
MAX_CONFLICTS = 100


def connect(url: str, timeout_s: float) -> redis.Redis:
    """Build a client that fails fast: one attempt per command, short timeouts.

    redis-py retries a refused connection with backoff by default, which
    made one failed command take about 3 s; the fallback store handles
    failures instead.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


def display_url(url: str) -> str:
    """Return the URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"


class RedisBreakerStore:
    """One JSON value per vendor at `{prefix}:{vendor}`, with no expiry.

    Time is Redis's own TIME unless a clock is injected, so every server
    measures windows and cooldowns on one clock.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        clock: Clock | None = None,
        url: str = "",
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._url = display_url(url) if url else _client_address(client)

    def key(self, vendor: str) -> str:
        """Return the Redis key of a vendor."""
        return f"{self._prefix}:{vendor}"

    def now(self) -> float:
        """Return the store's time: the injected clock's, else Redis's TIME."""
        return self._guard(lambda: self._time(self._client))

    def update(self, vendor: str, change: Change[T]) -> Update[T]:
        """Apply change in a WATCH/MULTI/EXEC transaction, retrying on conflict."""
        return self._guard(lambda: self._transact(self.key(vendor), change))

    def read(self, vendors: Iterable[str]) -> tuple[dict[str, VendorRecord], float]:
        """Read the vendors' records with one MGET."""
        names = list(vendors)

        def fetch() -> tuple[dict[str, VendorRecord], float]:
            values = self._client.mget([self.key(name) for name in names])
            records = {
                name: VendorRecord.from_json(value)
                for name, value in zip(names, values, strict=True)
            }
            return records, self._time(self._client)

        return self._guard(fetch)

    def _transact(self, key: str, change: Change[T]) -> Update[T]:
        quick = self._read_only(key, change)
        if quick is not None:
            return quick
        with self._client.pipeline() as pipe:
            for _attempt in range(MAX_CONFLICTS):
                try:
                    return self._attempt(pipe, key, change)
                except redis.WatchError:
                    continue
        raise BreakerStoreError(
            self._url, f"{MAX_CONFLICTS} conflicting writes in a row on {key}"
        )

    def _read_only(self, key: str, change: Change[T]) -> Update[T] | None:
        """Apply change to a snapshot; return it when it writes nothing.

        Most admissions (a CLOSED vendor) change nothing, so one pipelined
        round trip serves them instead of a WATCH transaction.
        """
        with self._client.pipeline(transaction=False) as pipe:
            pipe.get(key)
            if self._clock is None:
                pipe.time()
            replies = pipe.execute()
        saved = replies[0]
        if saved is None:
            return None
        now = self._clock.now().timestamp() if self._clock else _seconds(replies[1])
        record = VendorRecord.from_json(saved)
        before = record.state
        result = change(record, now)
        if record.to_json() != saved.decode():
            return None
        return Update(before, record, result, now)

    def _attempt(self, pipe: Any, key: str, change: Change[T]) -> Update[T]:
        pipe.watch(key)
        saved = pipe.get(key)
        now = self._time(pipe)
        record = VendorRecord.from_json(saved)
        before = record.state
        result = change(record, now)
        text = record.to_json()
        if saved is not None and text == saved.decode():
            pipe.unwatch()
            return Update(before, record, result, now)
        pipe.multi()
        pipe.set(key, text)
        pipe.execute()
        return Update(before, record, result, now)

    def _time(self, client: Any) -> float:
        if self._clock is not None:
            return self._clock.now().timestamp()
        return _seconds(client.time())

    def _guard(self, operation: Any) -> Any:
        try:
            return operation()
        except redis.WatchError:
            raise
        except redis.RedisError as exc:
            raise BreakerStoreError(self._url, str(exc) or type(exc).__name__) from exc


def _seconds(reply: tuple[int, int]) -> float:
    seconds, microseconds = reply
    return seconds + microseconds / 1_000_000


def _client_address(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
