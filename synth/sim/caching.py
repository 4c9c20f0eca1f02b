"""Prompt caching as each provider bills it: the prefix a request may read from cache.

OpenAI caches by itself: a prefix (system prompt and every message before the last) seen
before, at least `cache_min_tokens` long, is read from cache (`cached_tokens`); writing it
costs nothing extra. Anthropic caches only what a request marks with `cache_control`: the
system prompt and messages up to the last marked block. The first request writes it (billed as
a cache write, 1.25x the input price for the 5-minute TTL, 2x for 1 hour), later ones within
the TTL read it (and refresh the TTL); a prefix shorter than `cache_min_tokens` is not cached.

    prefix = openai_prefix(model, system_parts, chat)       # or anthropic_prefix(body, ...)
    use = cache.use(prefix, time.monotonic())                # CacheUse(read, write, write_1h)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from synth.sim import tokens
from synth.sim.request import ApiError

#: how long an entry lives after its last use (OpenAI's automatic cache: minutes)
OPENAI_TTL_S = 600.0
ANTHROPIC_TTL_S = {"5m": 300.0, "1h": 3600.0}
ANTHROPIC_MAX_BREAKPOINTS = 4


@dataclass(frozen=True)
class CachePrefix:
    key: int  # the model and the prefix's content
    tokens: int  # the prefix's input tokens, framing included
    ttl: str | None = None  # Anthropic's marked TTL ("5m" | "1h"); None: OpenAI's automatic cache


@dataclass(frozen=True)
class CacheUse:
    read: int = 0
    write: int = 0  # Anthropic only: OpenAI bills no cache writes
    write_1h: int = 0  # of `write`, at the 1-hour rate


NO_CACHE = CacheUse()


class PromptCache:
    def __init__(self, min_tokens: int) -> None:
        self.min_tokens = min_tokens
        self._expires: dict[int, float] = {}

    def use(self, prefix: CachePrefix | None, now: float) -> CacheUse:
        if prefix is None or prefix.tokens < self.min_tokens:
            return NO_CACHE
        ttl_s = OPENAI_TTL_S if prefix.ttl is None else ANTHROPIC_TTL_S[prefix.ttl]
        hit = self._expires.get(prefix.key, 0.0) > now
        self._expires[prefix.key] = now + ttl_s
        if hit:
            return CacheUse(read=prefix.tokens)
        if prefix.ttl is None:
            return NO_CACHE  # OpenAI: the first request stores it at no extra cost
        return CacheUse(write=prefix.tokens, write_1h=prefix.tokens if prefix.ttl == "1h" else 0)


def openai_prefix(
    model: str, system_parts: list[str], chat: list[dict[str, str]]
) -> CachePrefix | None:
    shared = chat[:-1]
    if not system_parts and not shared:
        return None
    n = tokens.input_tokens(system_parts, [m["content"] for m in shared])
    key = hash((model, tuple(system_parts), tuple((m["role"], m["content"]) for m in shared)))
    return CachePrefix(key, n)


def _marker(block: Any, where: str) -> str | None:
    """The TTL a content block marks for caching, or None."""
    if not isinstance(block, dict) or "cache_control" not in block:
        return None
    control = block["cache_control"]
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise ApiError(
            400,
            f"{where}.cache_control.type: Input should be 'ephemeral'",
            type="invalid_request_error",
        )
    ttl = control.get("ttl", "5m")
    if ttl not in ANTHROPIC_TTL_S:
        raise ApiError(
            400,
            f"{where}.cache_control.ttl: Input should be '5m' or '1h'",
            type="invalid_request_error",
        )
    return str(ttl)


def anthropic_prefix(
    model: str, body: dict[str, Any], system: str | None, chat: list[dict[str, str]]
) -> CachePrefix | None:
    """The prefix up to the last `cache_control` mark (system blocks, then messages)."""
    marks: list[tuple[int, str]] = []  # (messages up to and including it; -1: system only)
    raw_system = body.get("system")
    if isinstance(raw_system, list):
        for j, block in enumerate(raw_system):
            if (ttl := _marker(block, f"system.{j}")) is not None:
                marks.append((0, ttl))
    for i, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for j, block in enumerate(content):
                if (ttl := _marker(block, f"messages.{i}.content.{j}")) is not None:
                    marks.append((i + 1, ttl))
    if not marks:
        return None
    if len(marks) > ANTHROPIC_MAX_BREAKPOINTS:
        raise ApiError(
            400,
            f"A maximum of {ANTHROPIC_MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(marks)}.",
            type="invalid_request_error",
        )
    upto, ttl = marks[-1]
    system_parts = [system] if system is not None else []
    shared = chat[:upto]
    n = tokens.input_tokens(system_parts, [m["content"] for m in shared])
    key = hash((model, system, tuple((m["role"], m["content"]) for m in shared)))
    return CachePrefix(key, n, ttl)
