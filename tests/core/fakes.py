"""A scripted vendor adapter for executor logic tests.

The HTTP adapters have their own tests against the simulator; this one lets
a test state exactly which outcome each vendor returns.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from vendors.protocol import ContactProfile, Outcome, SearchQuery, VendorResponse


class ScriptedAdapter:
    """Returns one fixed outcome; a hit carries a profile verified `age_days` ago."""

    def __init__(
        self,
        name: str,
        outcome: Outcome,
        now: datetime,
        age_days: float = 10,
        cost_per_call: float = 0.1,
    ) -> None:
        self.name = name
        self.cost_per_call = cost_per_call
        self.outcome = outcome
        self.calls = 0
        self._verified = now - timedelta(days=age_days)

    async def lookup(self, query: SearchQuery) -> VendorResponse:
        self.calls += 1
        profiles = ()
        if self.outcome is Outcome.HIT:
            profiles = (
                ContactProfile(
                    f"{self.name}-1",
                    self._verified,
                    "jane.doe@example.com",
                    "+15550100",
                ),
            )
        return VendorResponse(
            self.name,
            self.outcome,
            latency_ms=1.0,
            profiles=profiles,
            status_code=200 if self.outcome is Outcome.HIT else 503,
            error_type=None if not self.outcome.is_error else "http_503",
        )

    async def aclose(self) -> None:
        return None


QUERY = SearchQuery("cand-1", "Jane", "Doe", "acme.io", "Engineer", "US")
