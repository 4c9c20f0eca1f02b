"""The one small protocol both providers' batch APIs implement.

A batch client turns journaled requests into the lines of one provider batch, submits them,
polls the batch, and reads its results back as our `ChatResponse`s (matched by `custom_id`,
the item's key) or per-item errors. It does not price, budget or journal: the runner does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from synth.harvest.providers.base import ChatRequest, ChatResponse


@dataclass(frozen=True)
class Poll:
    ended: bool
    status: str  # the provider's word: in_progress, completed, expired, ended, ...


@dataclass(frozen=True)
class ItemResult:
    key: str  # the custom_id
    response: ChatResponse | None = None
    error: str | None = None  # the provider's message when there is no response
    retryable: bool = False  # expired, cancelled, a server error: send it again later


class BatchClient(Protocol):
    name: str
    max_requests: int  # the provider's limits per batch
    max_bytes: int

    def line(self, key: str, request: ChatRequest) -> bytes:
        """One request as the batch API wants it (its size counts against max_bytes)."""
        ...

    async def submit(self, lines: list[bytes], tag: str) -> str:
        """Create a batch of these lines; returns the provider's batch id. `tag` is our own
        name for it, journaled before the call (OpenAI keeps it as metadata)."""
        ...

    async def find(self, tag: str, items: int, since: float, known: set[str]) -> str | None:
        """The batch a crash may have left unjournaled: submitted as `tag` (with `items`
        requests, at `since` or later), not one of the `known` ids; None when there is none."""
        ...

    async def poll(self, batch_id: str) -> Poll: ...

    async def results(self, batch_id: str) -> list[ItemResult]: ...
