"""The process-wide runtime: settings, store, plan and clock, built once.

Prefect tasks run in the same process as the flow that calls them, and a
flow's parameters must be JSON. So the objects a task needs (the store, the
clock) are not passed as parameters: the caller installs a Runtime with
`use_runtime`, and a worker process that installs none gets one built from
WATERFALL_* settings and the system clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from waterfall.clock import Clock, SystemClock
from waterfall.logging import configure_logging
from waterfall.plan import RolloutPlan, load_plan
from waterfall.settings import Settings
from waterfall.store import Store
from waterfall.store.db import require_existing_sqlite

if TYPE_CHECKING:
    from waterfall.slack.notifier import Notifier


@dataclass
class Runtime:
    """The objects the core needs at run time."""

    settings: Settings
    store: Store
    plan: RolloutPlan
    clock: Clock
    notifier: Notifier | None = field(default=None)

    def slack(self) -> Notifier:
        """Return the Slack notifier, built from settings on first use."""
        if self.notifier is None:
            from waterfall.slack.notifier import build_notifier

            self.notifier = build_notifier(self.settings)
        return self.notifier

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, clock: Clock | None = None
    ) -> Runtime:
        """Build a runtime from settings (default: the environment)."""
        settings = settings or Settings()
        plan = load_plan(settings.config_dir / "rollout_plan.yaml")
        return cls(settings, Store(settings.database_url), plan, clock or SystemClock())


def command_runtime(create: bool = False) -> Runtime:
    """Build the runtime of one CLI command from the environment, with logging set.

    Unless create is set (`waterfall init`), a SQLite store must already exist:
    a mistyped path would otherwise become a new, empty database.
    """
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    if not create:
        require_existing_sqlite(settings.database_url)
    return Runtime.from_settings(settings)


_lock = threading.Lock()
_current: Runtime | None = None


def get_runtime() -> Runtime:
    """Return the installed runtime, building a default one on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = Runtime.from_settings()
        return _current


@contextmanager
def use_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """Install a runtime for the duration of a block."""
    global _current
    with _lock:
        previous, _current = _current, runtime
    try:
        yield runtime
    finally:
        with _lock:
            _current = previous
