"""Client of the email-sending and dialing systems' feedback API.

The recruiting product tags each email it sends and each call it places with
the search execution id, and the sending system later reports whether the
email bounced or the number was invalid. The simulator plays that system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx


@dataclass(frozen=True)
class Delivery:
    """One email sent or call placed to a contact point a search returned."""

    execution_id: str
    channel: str  # "email" or "phone"
    vendor: str
    vendor_record_id: str
    sent_at: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "execution_id": self.execution_id,
            "channel": self.channel,
            "vendor": self.vendor,
            "vendor_record_id": self.vendor_record_id,
            "sent_at": self.sent_at.isoformat(),
        }


class FeedbackClient:
    """Sends deliveries and fetches the feedback that has arrived."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout_s, transport=transport
        )

    async def send(self, deliveries: list[Delivery]) -> None:
        """Report contact points the product used; feedback on them comes later."""
        if not deliveries:
            return
        response = await self._client.post(
            "/esp/deliveries", json=[delivery.to_json() for delivery in deliveries]
        )
        response.raise_for_status()

    async def fetch(self, until: datetime) -> list[dict[str, Any]]:
        """Return feedback that arrived up to `until`; each record is returned once."""
        response = await self._client.get(
            "/esp/feedback", params={"until": until.isoformat()}
        )
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()
        return records

    async def aclose(self) -> None:
        await self._client.aclose()
