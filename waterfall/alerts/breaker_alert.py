"""The breaker alert: sent from the breaker's transition listener, not by polling.

A listener runs on the search's event loop, so it only puts the transition
on a queue. One worker thread per listener reads the store, decides and
posts to Slack.
"""

from __future__ import annotations

import queue
import threading

from waterfall.alerts.checks import Finding
from waterfall.alerts.config import AlertConfig
from waterfall.alerts.engine import AlertBook
from waterfall.breaker.breaker import Transition
from waterfall.breaker.rule import State
from waterfall.logging import get_logger
from waterfall.runtime import Runtime
from waterfall.store import alert_repository as alert_repo
from waterfall.store import repository as repo

log = get_logger("alerts.breaker")

# OUT_OF_CREDIT skips the vendor until a manual reset, so for the searches it
# is an open breaker too.
OPENED = frozenset({State.OPEN, State.OUT_OF_CREDIT})


def serving_configs(runtime: Runtime) -> list[str]:
    """Return the configs that get primary traffic at the stored percentage."""
    plan = runtime.plan
    with runtime.store.session() as session:
        percentage = repo.get_percentage(session, plan.rollout_name)
    configs = []
    if percentage < 100:
        configs.append(plan.control_config)
    if percentage > 0:
        configs.append(plan.treatment_config)
    return configs


def breaker_finding(transition: Transition, configs: list[str]) -> Finding:
    """Describe a transition as a breaker-rule finding on its vendor."""
    rate = transition.error_rate
    measured = f"{transition.from_state.value} -> {transition.to_state.value}"
    if rate is not None:
        measured += f", error rate {rate:.1%} over {transition.calls_in_window} calls"
    return Finding(
        rule="breaker",
        subject=transition.vendor,
        firing=transition.to_state in OPENED,
        value=rate or 0.0,
        threshold=0.0,
        measured=f"{measured} ({transition.reason})",
        limit="breaker must stay closed at position 1",
        window=f"transition at {transition.changed_at:%Y-%m-%d %H:%M:%S} UTC",
        configs=tuple(configs),
        vendors=(transition.vendor,),
    )


class BreakerAlertListener:
    """A transition listener that raises and clears the breaker alert."""

    def __init__(self, runtime: Runtime, book: AlertBook) -> None:
        self.runtime = runtime
        self.book = book
        self._queue: queue.Queue[Transition] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def __call__(self, transition: Transition) -> None:
        """Queue a transition that opens or closes a breaker; ignore the rest."""
        if transition.to_state not in OPENED | {State.CLOSED}:
            return
        self._start()
        self._queue.put(transition)

    def flush(self) -> None:
        """Wait until every queued transition has been handled."""
        self._queue.join()

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._run, name="breaker-alerts", daemon=True
                )
                self._worker.start()

    def _run(self) -> None:
        while True:
            transition = self._queue.get()
            try:
                self._handle(transition)
            except Exception as exc:  # the worker must outlive one bad transition
                log.error(
                    "alert.breaker_failed",
                    vendor=transition.vendor,
                    error=type(exc).__name__,
                    detail=str(exc)[:200],
                )
            finally:
                self._queue.task_done()

    def _handle(self, transition: Transition) -> None:
        configs = serving_configs(self.runtime)
        with self.runtime.store.session() as session:
            first = alert_repo.first_vendors(session, configs)
        led = [config for config in configs if first.get(config) == transition.vendor]
        finding = breaker_finding(transition, led)
        if finding.firing and not led:
            log.info(
                "alert.breaker_not_first",
                vendor=transition.vendor,
                to_state=transition.to_state.value,
            )
            return
        self.book.apply(finding, self.runtime.clock.now())


def breaker_alert_listener(
    runtime: Runtime, config: AlertConfig
) -> BreakerAlertListener:
    """Build the listener on the runtime's store and Slack notifier."""
    book = AlertBook(
        runtime.store, runtime.slack(), config, runtime.settings.runbook_url
    )
    return BreakerAlertListener(runtime, book)
