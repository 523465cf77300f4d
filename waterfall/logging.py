"""structlog set-up: one JSON event per line, fixed event names, no PII."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import IO, Any

import structlog

# Keys that could carry personal data; the executor never passes them, and
# this processor drops them should a caller do so by mistake.
PII_KEYS = frozenset({"first_name", "last_name", "name", "email", "phone", "profile"})


def drop_pii(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Remove personal-data keys from an event, at any nesting of 'criteria'."""
    for key in PII_KEYS & event.keys():
        event[key] = "[removed]"
    criteria = event.get("criteria")
    if isinstance(criteria, dict):
        event["criteria"] = {k: v for k, v in criteria.items() if k not in PII_KEYS}
    return event


class _Stderr:
    """Whatever sys.stderr is at the moment of writing.

    Tools such as click's test runner and pytest swap sys.stderr and close
    their stand-in afterwards; a logger bound to the stand-in would then fail.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(
    level: str = "INFO", json: bool = True, stream: IO[str] | None = None
) -> None:
    """Configure structlog once for the process."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="logged_at"),
            drop_pii,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream or _Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """Return a bound structlog logger carrying the component name."""
    return structlog.get_logger(component=name)
