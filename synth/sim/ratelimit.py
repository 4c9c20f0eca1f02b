"""Rate limits the way the real providers enforce them: over short windows, not per minute.

A limit of 600 RPM does not let 600 requests through in the first second: each limit is a token
bucket refilling continuously at limit/60 per second and holding `burst_s` seconds' worth (at
least one request; a request larger than the token bucket passes when the bucket is full and
leaves it in debt, so the long-run rate still holds). TPM counts input tokens + max_tokens at
admission, as OpenAI does.

The headers tell the truth about the buckets: `remaining` is what would be admitted right now,
`reset` the time until the bucket is full again. OpenAI spells durations like Go (`20ms`,
`1.5s`, `6m0s`); Anthropic gives the RFC 3339 instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime


class TokenBucket:
    __slots__ = ("limit", "rate", "capacity", "level", "stamp")

    def __init__(self, per_minute: float, burst_s: float, now: float) -> None:
        self.limit = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait(self, cost: float) -> float:
        """Seconds until `cost` fits (0 when it fits now). Call `refill` first."""
        need = min(cost, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def remaining(self) -> int:
        return max(0, int(self.level))

    def reset_s(self) -> float:
        return max(0.0, (self.capacity - self.level) / self.rate)


@dataclass(frozen=True, slots=True)
class Admission:
    wait_s: float  # 0: admitted (and charged)
    reason: str = ""  # "requests" or "tokens" when refused
    too_large: bool = False  # more tokens than a whole minute allows: never fits


class Limiter:
    """RPM and TPM buckets checked together: a request is charged only when both admit it."""

    def __init__(self, rpm: float | None, tpm: float | None, burst_s: float, now: float) -> None:
        self.requests = TokenBucket(rpm, burst_s, now) if rpm else None
        self.tokens = TokenBucket(tpm, burst_s, now) if tpm else None

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def admit(self, tokens: int, now: float) -> Admission:
        req, tok = self.requests, self.tokens
        if tok is not None and tokens > tok.limit:
            return Admission(math.inf, "tokens", too_large=True)
        wait_r = wait_t = 0.0
        if req is not None:
            req.refill(now)
            wait_r = req.wait(1)
        if tok is not None:
            tok.refill(now)
            wait_t = tok.wait(tokens)
        if wait_r > 0 or wait_t > 0:
            return Admission(max(wait_r, wait_t), "requests" if wait_r >= wait_t else "tokens")
        if req is not None:
            req.level -= 1
        if tok is not None:
            tok.level -= tokens
        return Admission(0.0)

    def refresh(self, now: float) -> None:
        if self.requests is not None:
            self.requests.refill(now)
        if self.tokens is not None:
            self.tokens.refill(now)


def go_duration(seconds: float) -> str:
    """OpenAI's reset format: `0s`, `20ms`, `1.5s`, `6m0s`, `1h2m3s`."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{math.ceil(seconds * 1000) / 1000:g}s"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s"


def rfc3339(epoch_s: float) -> str:
    """Anthropic's reset format: an instant in UTC, whole seconds rounded up."""
    return datetime.fromtimestamp(math.ceil(epoch_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def openai_headers(limiter: Limiter) -> dict[str, str]:
    """`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; call `refresh` first."""
    headers: dict[str, str] = {}
    for name, bucket in (("requests", limiter.requests), ("tokens", limiter.tokens)):
        if bucket is not None:
            headers[f"x-ratelimit-limit-{name}"] = _num(bucket.limit)
            headers[f"x-ratelimit-remaining-{name}"] = str(bucket.remaining())
            headers[f"x-ratelimit-reset-{name}"] = go_duration(bucket.reset_s())
    return headers


def anthropic_headers(limiter: Limiter, wall: float) -> dict[str, str]:
    """`anthropic-ratelimit-*`: one token bucket stands for tokens, input and output tokens."""
    headers: dict[str, str] = {}
    groups: list[tuple[str, TokenBucket | None]] = [("requests", limiter.requests)]
    groups += [(g, limiter.tokens) for g in ("tokens", "input-tokens", "output-tokens")]
    for name, bucket in groups:
        if bucket is not None:
            headers[f"anthropic-ratelimit-{name}-limit"] = _num(bucket.limit)
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(bucket.remaining())
            headers[f"anthropic-ratelimit-{name}-reset"] = rfc3339(wall + bucket.reset_s())
    return headers


def retry_after_headers(wait_s: float) -> dict[str, str]:
    """Both spellings: `retry-after-ms` (exact) and `retry-after` (whole seconds, rounded up)."""
    ms = max(1, math.ceil(wait_s * 1000))
    return {"retry-after-ms": str(ms), "retry-after": str(max(1, math.ceil(ms / 1000)))}
