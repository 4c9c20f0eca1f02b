"""Prompt caching: the shared prefix of a harvest's requests, marked the providers' way.

Every request of a harvest starts with the same messages (the template's system prompt and
few-shot examples) and ends with its own input. Anthropic caches a prefix only where the
request marks it (`cache_control` on its last block) and only past a minimum length per model;
OpenAI caches long prefixes by itself, routed by an optional `prompt_cache_key`.

    prefix = shared_prefix(messages)                    # all but the input turn
    anthropic_marker("5m")                              # {"type": "ephemeral"}
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from synth.harvest.pricing import max_prompt_tokens

TTL = Literal["5m", "1h"]

#: Anthropic's published minimum cacheable prompt length, by model name prefix; others 1024
ANTHROPIC_MIN_CACHEABLE_TOKENS = (
    ("claude-haiku-4", 4096),
    ("claude-opus-4-5", 4096),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
)
DEFAULT_MIN_CACHEABLE_TOKENS = 1024
#: OpenAI caches prompts from 1,024 tokens, by itself
OPENAI_MIN_CACHEABLE_TOKENS = 1024


def shared_prefix(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The messages every request of a harvest shares: all but the last (the input)."""
    return messages[:-1]


def min_cacheable_tokens(model: str) -> int:
    for prefix, tokens in ANTHROPIC_MIN_CACHEABLE_TOKENS:
        if model.startswith(prefix):
            return tokens
    return DEFAULT_MIN_CACHEABLE_TOKENS


def may_be_cached(model: str, prefix: list[dict[str, str]]) -> bool:
    """Whether the prefix may reach the model's minimum: judged on the prompt's upper bound
    (bytes), so that a prefix the provider may cache is always marked, and budgeted as a
    possible cache write."""
    return bool(prefix) and max_prompt_tokens(prefix) >= min_cacheable_tokens(model)


def anthropic_marker(ttl: TTL) -> dict[str, Any]:
    return {"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"}


def cache_key(prefix: list[dict[str, str]]) -> str:
    """A routing key for OpenAI's cache: the same for every request sharing the prefix."""
    digest = hashlib.sha256(json.dumps(prefix, sort_keys=True).encode()).hexdigest()
    return f"distill-{digest[:24]}"
