"""What a provider's response headers say about waiting: `retry-after` and the rate-limit
windows. Pure parsing, shared by the retry policy (how long this request waits) and the
limiter (how fast the lane may go).

    retry_after_s(headers)          `retry-after-ms`, else `retry-after` (seconds or HTTP date)
    rate_limit_windows(headers)     OpenAI `x-ratelimit-{limit,remaining,reset}-NAME` and
                                    Anthropic `anthropic-ratelimit-NAME-{limit,remaining,reset}`
    parse_duration_s, parse_reset_s the reset formats ("6m0s", "20ms", RFC 3339)
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

#: a window whose remaining allowance is at most this share of its limit counts as spent
SPENT_FRACTION = 0.01


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait a response asked for: `retry-after-ms`, else `retry-after` as seconds or an
    HTTP date (`now`: wall-clock epoch seconds). None when absent, unparseable or negative."""
    h = {k.lower(): v for k, v in headers.items()}
    for key, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = h.get(key)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    value = h.get("retry-after")
    if value is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about the local zone
        when = when.replace(tzinfo=UTC)
    seconds = when.timestamp() - (time.time() if now is None else now)
    return seconds if seconds >= 0 else None


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration_s(value: str) -> float | None:
    """OpenAI's reset durations ("1s", "6m0s", "20ms", "1m30.5s", Go's time.Duration format),
    or a bare number of seconds. None when it is neither."""
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pos, seconds = 0, 0.0
        for m in _DURATION_PART.finditer(text):
            if m.start() != pos:
                return None
            seconds += float(m.group(1)) * _UNIT_S[m.group(2)]
            pos = m.end()
        if pos != len(text):
            return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_reset_s(value: str, now: float | None = None) -> float | None:
    """Seconds until a reset given as a duration (OpenAI) or an RFC 3339 time (Anthropic).

    `now` is wall-clock epoch seconds (time.time()); a time already past gives 0."""
    seconds = parse_duration_s(value)
    if seconds is not None:
        return seconds
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        return None  # a bare local time would be a guess
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class Window:
    """One rate-limit window a response advertised: "requests", "tokens", "input-tokens" or
    "output-tokens", with its limit, what remains of it and the seconds until it resets."""

    name: str
    limit: float | None
    remaining: float | None
    reset_s: float | None

    @property
    def spent(self) -> bool:
        if self.remaining is None:
            return False
        if self.remaining <= 0:
            return True
        return self.limit is not None and self.remaining <= SPENT_FRACTION * self.limit


_OPENAI = ("requests", "tokens")
_ANTHROPIC = ("requests", "tokens", "input-tokens", "output-tokens")
#: (window, limit key, remaining key, reset key), spelt out once: this runs on every response
_WINDOW_KEYS = [
    (name, *(key.format(part=part, name=name) for part in ("limit", "remaining", "reset")))
    for names, key in (
        (_OPENAI, "x-ratelimit-{part}-{name}"),
        (_ANTHROPIC, "anthropic-ratelimit-{name}-{part}"),
    )
    for name in names
]


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        n = float(value)
    except ValueError:
        return None
    return n if math.isfinite(n) and n >= 0 else None


def rate_limit_windows(headers: Mapping[str, str], now: float | None = None) -> list[Window]:
    """The windows in OpenAI `x-ratelimit-{limit,remaining,reset}-NAME` and Anthropic
    `anthropic-ratelimit-NAME-{limit,remaining,reset}` headers (keys in any case)."""
    h = {k.lower(): v for k, v in headers.items()}
    out: list[Window] = []
    for name, limit_key, remaining_key, reset_key in _WINDOW_KEYS:
        limit, remaining, reset = h.get(limit_key), h.get(remaining_key), h.get(reset_key)
        if limit is None and remaining is None and reset is None:
            continue
        reset_s = parse_reset_s(reset, now) if reset is not None else None
        out.append(Window(name, _number(limit), _number(remaining), reset_s))
    return out
