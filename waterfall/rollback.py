"""A full rollback: the percentage to 0 first, then waiting runs and the channel.

The order matters. Writing 0 % is one small transaction and takes effect on
the next search. Everything after it (releasing paused flow runs, posting to
Slack) may be slow or fail without delaying that.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from waterfall import rollout as core
from waterfall.rollout import StageView
from waterfall.runtime import Runtime
from waterfall.slack.announcer import RolloutAnnouncer

# Ends the flow runs still waiting on the closed stages: (stages, actor, reason).
Release = Callable[[list[StageView], str, str], None]


@dataclass(frozen=True)
class RollbackResult:
    """Result of a rollback: the stages it closed and how long the 0 % write took."""

    closed: list[StageView]
    write_s: float


def roll_back_everything(
    runtime: Runtime,
    actor: str,
    reason: str,
    release: Release | None = None,
    announce: bool = True,
) -> RollbackResult:
    """Set 0 %, close open stages, end their waiting runs and tell the channel."""
    started = time.perf_counter()
    closed = core.rollback(
        runtime.store, runtime.plan.rollout_name, actor, reason, runtime.clock.now()
    )
    write_s = time.perf_counter() - started

    finish_rollback(runtime, closed, actor, reason, release, announce)
    return RollbackResult(closed, write_s)


def finish_rollback(
    runtime: Runtime,
    closed: list[StageView],
    actor: str,
    reason: str,
    release: Release | None = None,
    announce: bool = True,
) -> None:
    """After the 0 % write: end the waiting runs and tell the channel."""
    if release is not None:
        release(closed, actor, reason)
    if announce:
        RolloutAnnouncer(runtime).rolled_back(actor, reason, closed)
