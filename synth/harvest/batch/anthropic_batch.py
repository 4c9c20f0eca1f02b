"""Anthropic's Message Batches: the requests travel in the create call itself; results are a
JSONL stream of `{custom_id, result: succeeded | errored | canceled | expired}`."""

from __future__ import annotations

import json

import anthropic

from synth.harvest.batch.base import ItemResult, Poll
from synth.harvest.providers.anthropic import AnthropicProvider, message_response
from synth.harvest.providers.base import ChatRequest

#: error types that retrying can cure
RETRYABLE_TYPES = ("api_error", "overloaded_error", "rate_limit_error", "timeout_error")


class AnthropicBatches:
    name = "anthropic"
    max_requests = 100_000  # published limits per batch
    max_bytes = 256 * 1024 * 1024

    def __init__(self, provider: AnthropicProvider) -> None:
        self.provider = provider
        self.client: anthropic.AsyncAnthropic = provider.client

    def line(self, key: str, request: ChatRequest) -> bytes:
        params = self.provider.request_kwargs(request)
        return json.dumps({"custom_id": key, "params": params}).encode() + b"\n"

    async def submit(self, lines: list[bytes], tag: str) -> str:
        del tag  # Message Batches keep no metadata: `find` matches by time and size
        requests = [json.loads(line) for line in lines]
        batch = await self.client.messages.batches.create(requests=requests)
        return batch.id

    async def find(self, tag: str, items: int, since: float, known: set[str]) -> str | None:
        candidates = []
        async for batch in self.client.messages.batches.list(limit=100):  # newest first
            created = batch.created_at.timestamp()
            if created < since - 60:
                break
            counts = batch.request_counts
            total = (
                counts.processing
                + counts.succeeded
                + counts.errored
                + counts.canceled
                + counts.expired
            )
            if batch.id not in known and total == items:
                candidates.append(batch.id)
        # exactly one unknown batch of that size since then: ours (its results are matched by
        # custom_id all the same, so a stranger's items would simply be ignored)
        return candidates[0] if len(candidates) == 1 else None

    async def poll(self, batch_id: str) -> Poll:
        batch = await self.client.messages.batches.retrieve(batch_id)
        return Poll(batch.processing_status == "ended", batch.processing_status)

    async def results(self, batch_id: str) -> list[ItemResult]:
        out = []
        async for row in await self.client.messages.batches.results(batch_id):
            result = row.result
            if result.type == "succeeded":
                out.append(
                    ItemResult(row.custom_id, response=message_response(result.message, {}, 0.0))
                )
            elif result.type == "errored":
                err = result.error.error
                out.append(
                    ItemResult(
                        row.custom_id,
                        error=f"{err.type}: {err.message}",
                        retryable=err.type in RETRYABLE_TYPES,
                    )
                )
            else:  # canceled | expired: never ran
                out.append(
                    ItemResult(row.custom_id, error=f"batch item {result.type}", retryable=True)
                )
        return out
