"""OpenAI's Batch API: a JSONL file of `/v1/chat/completions` requests uploaded through the
Files API, one batch per file, results in an output file (answers) and an error file
(per-item errors, expired or cancelled requests)."""

from __future__ import annotations

import json
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from synth.errors import ProviderError
from synth.harvest.batch.base import ItemResult, Poll
from synth.harvest.providers.base import ChatRequest
from synth.harvest.providers.openai import OpenAIProvider, chat_response

ENDED = ("completed", "failed", "expired", "cancelled")
#: retrying helps: a server error, a rate limit, or the batch ran out of time
RETRYABLE_CODES = ("batch_expired", "batch_cancelled")


class OpenAIBatches:
    name = "openai"
    max_requests = 50_000  # published limits per batch
    max_bytes = 200 * 1024 * 1024

    def __init__(self, provider: OpenAIProvider) -> None:
        self.provider = provider
        self.client: openai.AsyncOpenAI = provider.client

    def line(self, key: str, request: ChatRequest) -> bytes:
        body = self.provider.request_kwargs(request)
        row = {"custom_id": key, "method": "POST", "url": "/v1/chat/completions", "body": body}
        return json.dumps(row).encode() + b"\n"

    async def submit(self, lines: list[bytes], tag: str) -> str:
        upload = await self.client.files.create(
            file=("distill-batch.jsonl", b"".join(lines)), purpose="batch"
        )
        batch = await self.client.batches.create(
            input_file_id=upload.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"source": "distill", "distill_batch": tag},
        )
        return batch.id

    async def find(self, tag: str, items: int, since: float, known: set[str]) -> str | None:
        async for batch in self.client.batches.list(limit=100):  # newest first
            if (batch.metadata or {}).get("distill_batch") == tag:
                return batch.id
            if batch.created_at < since - 3600:
                break
        return None

    async def poll(self, batch_id: str) -> Poll:
        batch = await self.client.batches.retrieve(batch_id)
        return Poll(batch.status in ENDED, batch.status)

    async def results(self, batch_id: str) -> list[ItemResult]:
        batch = await self.client.batches.retrieve(batch_id)
        out: list[ItemResult] = []
        if batch.status == "failed":  # the file itself was refused: no item ran
            reasons = [e.message for e in (batch.errors.data if batch.errors else []) or []]
            return [
                ItemResult(key="*", error="batch failed: " + "; ".join(r or "" for r in reasons))
            ]
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await self.client.files.content(file_id)
                out.extend(_item(json.loads(line)) for line in content.text.splitlines() if line)
        return out


def _item(row: dict[str, Any]) -> ItemResult:
    key = row["custom_id"]
    response, error = row.get("response"), row.get("error")
    if response and response.get("status_code") == 200:
        try:
            completion = ChatCompletion.model_validate(response["body"])
            return ItemResult(key, response=chat_response(completion, {}, 0.0))
        except (ValueError, ProviderError) as e:
            return ItemResult(key, error=f"unexpected response: {e}", retryable=True)
    if error:
        code = error.get("code") or ""
        return ItemResult(
            key, error=f"{code}: {error.get('message')}", retryable=code in RETRYABLE_CODES
        )
    status = response.get("status_code", 0) if response else 0
    body = (response or {}).get("body") or {}
    message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
    return ItemResult(
        key, error=f"{status}: {message or body}", retryable=status == 429 or status >= 500
    )
