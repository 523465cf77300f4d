"""Vendor responses of one search's primary execution, shared with its shadow.

The primary opens an entry before it calls a vendor and settles it with the
response. A shadow execution of the same search that reaches that vendor
waits for the entry instead of paying for a second call. Only the shadow
reads entries: the primary never waits on anything the shadow started, so
it runs exactly as it would without a shadow.
"""

from __future__ import annotations

import asyncio

from vendors.protocol import VendorResponse


class CallLedger:
    """In-flight and finished vendor calls of one primary execution, by vendor."""

    def __init__(self) -> None:
        self.execution_id: str | None = None
        self._calls: dict[str, asyncio.Future[VendorResponse]] = {}

    def open(self, vendor: str) -> asyncio.Future[VendorResponse]:
        """Register a call the primary is about to make and return its entry."""
        entry: asyncio.Future[VendorResponse] = (
            asyncio.get_running_loop().create_future()
        )
        self._calls[vendor] = entry
        return entry

    def has(self, vendor: str) -> bool:
        """Return True when the primary has called, or is calling, the vendor."""
        return vendor in self._calls

    async def wait(self, vendor: str) -> VendorResponse | None:
        """Wait for the primary's response; None when its call was abandoned."""
        entry = self._calls[vendor]
        try:
            # shield: cancelling the waiting shadow must not cancel the entry,
            # which the primary still settles.
            return await asyncio.shield(entry)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if entry.cancelled() and task is not None and not task.cancelling():
                return None
            raise
