"""The retry policy: should a failed request be tried again, and after how long.

Pure functions over a `ProviderError` (status, lower-cased headers, kind) and named constants,
after openai-python's `_should_retry` / `_calculate_retry_timeout`; `retrying()` plugs them into
tenacity for the engine. The SDKs' own retries are off, so this is the only place that decides.

    status / kind                       decision
    401, 403                            stop the run: the key is wrong or lacks access
    429 "insufficient_quota"            stop the run: the account is out of credit
    retry-after > MAX_RETRY_AFTER_S     fail the item, saying how long the provider asked for
    x-should-retry: true | false        the provider's word, obeyed
    408, 409, 429, 5xx (529 included)   retry (429: the lane slows down; 503/529: overloaded);
                                          isolated (most of the lane succeeds): a short pause,
                                          else exponential backoff
    timeout                             retry after a short pause, never growing (the attempt's
                                          worst case stays possibly billed)
    dropped connection                  retry (its worst case stays possibly billed)
    bad_response (a 200 that is no      retry, as a server error (its worst case stays
      answer: HTML, cut JSON, ...)        possibly billed)
    400, 404, 422, other 4xx            fail the item with the provider's message

`systematic(err)` says when a failure is one that every request will meet alike (nothing
listening, a wrong URL, a page instead of the API): the engine stops early when the first
requests all fail that way.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import tenacity

from synth.errors import ProviderError
from synth.harvest.headers import rate_limit_windows, retry_after_s
from synth.harvest.secrets import redact

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
#: servers that say "too busy" (vLLM, Ollama, llama.cpp answer 503; Anthropic 529)
OVERLOADED_STATUS = frozenset({503, 529})
#: the first backoff, doubled each attempt up to the cap (a harvest is a batch job: waiting
#: longer than an interactive SDK would is fine, hammering an overloaded server is not)
INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
#: a timed-out attempt is retried after a short random pause, the same at every attempt: a
#: timeout says this answer took long (latency spread), not that the server is in trouble,
#: and a backoff that grows would leave the lane idle while most attempts time out
TIMEOUT_RETRY_S = 0.25
#: while most of the lane's attempts succeed, a 5xx, 503 or drop is this request's bad luck:
#: its retry waits this long (less jitter), whatever the attempt, as the OpenAI and Anthropic
#: SDKs wait before their first retry; exponential backoff is for a lane that is failing
ISOLATED_RETRY_S = 0.5
#: a provider asking for a longer wait than this fails the item instead (a quota that resets
#: tomorrow should not leave the run hanging); rerun later to resume it
MAX_RETRY_AFTER_S = 300.0
#: backoff loses up to this share (spreading retries out); a provider's wait gains up to it
JITTER = 0.25


@dataclass(frozen=True)
class Decision:
    retry: bool
    rate_limited: bool  # a 429: the whole lane should slow down
    stop_run: bool  # no item can succeed (a bad key, no credit): stop everything
    reason: str  # the one line recorded for the attempt, or for the failed item
    overloaded: bool = False  # a 503/529: the lane should lower its concurrency


def _is_quota(err: ProviderError) -> bool:
    text = str(err).lower()
    return "insufficient_quota" in text or "exceeded your current quota" in text


def decide(err: ProviderError) -> Decision:
    """What to do about one failed attempt; `reason` is safe to journal (keys redacted)."""
    status, msg = err.status, redact(str(err))
    if status in (401, 403):
        # before x-should-retry: no retry fixes a key, and every other item would fail alike
        return Decision(
            retry=False,
            rate_limited=False,
            stop_run=True,
            reason=f"the teacher refused the API key ({msg}): check the key and that it has "
            "access to the model",
        )
    rate_limited = status == 429
    overloaded = status in OVERLOADED_STATUS
    if rate_limited and _is_quota(err):
        return Decision(
            retry=False,
            rate_limited=True,
            stop_run=True,
            reason=f"the account is out of credit ({msg}): add credit or raise its limit, then "
            "run the harvest again to resume",
        )

    def verdict(retry: bool, reason: str = msg) -> Decision:
        return Decision(retry, rate_limited, False, reason, overloaded)

    wait = retry_after_s(err.headers)
    if wait is not None and wait > MAX_RETRY_AFTER_S:
        return verdict(
            False,
            f"{msg} (the provider asked to wait {wait:.0f} s, more than "
            f"{MAX_RETRY_AFTER_S:.0f} s: run the harvest again later to resume)",
        )
    header = err.headers.get("x-should-retry", "").strip().lower()
    if header in ("true", "false"):
        retry = header == "true"
        return verdict(retry, f"{msg} (provider says: {'retry' if retry else 'do not retry'})")
    if err.kind == "bad_response":
        return verdict(True)
    if status is None:
        return verdict(err.kind in ("timeout", "connection"))
    return verdict(status in RETRYABLE_STATUS or status >= 500)


def systematic(err: ProviderError) -> str | None:
    """The reason every request would fail the same way, or None for a failure that may be
    this request's alone. (401/403 stop the run through `decide` already.)"""
    if err.kind == "connection" and not err.sent:
        return "nothing answers at teacher.base_url (connection refused): is the server running?"
    if err.status == 404:
        return (
            "404 Not Found: check teacher.base_url (an OpenAI-compatible server's URL usually "
            "ends in /v1) and teacher.model"
        )
    if "an HTML page" in str(err):
        return "the endpoint answers with an HTML page, not the API: check teacher.base_url"
    return None


class Rng(Protocol):
    def random(self) -> float: ...


def _backoff_s(attempt: int, rng: Rng) -> float:
    base = min(INITIAL_BACKOFF_S * 2.0 ** min(max(attempt, 1) - 1, 60), MAX_BACKOFF_S)
    return base * (1 - JITTER * rng.random())


def wait_s(err: ProviderError, attempt: int, rng: Rng = random, now: float | None = None) -> float:
    """Seconds to wait before the next attempt, after `attempt` attempts (1 after the first).

    A provider's retry-after is a floor: only upward jitter is added to it, so that a crowd of
    retries does not arrive together yet none arrives early. Without one, a 429 waits for the
    longest reset of the rate-limit windows its headers show spent; a timeout waits a short
    random pause (0 to TIMEOUT_RETRY_S, whatever the attempt); anything else backs off
    exponentially (with downward jitter, capped at MAX_BACKOFF_S)."""
    asked = retry_after_s(err.headers, now)
    if asked is not None:
        return asked * (1 + JITTER * rng.random())
    if err.kind == "timeout" and err.status is None:
        return TIMEOUT_RETRY_S * rng.random()
    backoff = _backoff_s(attempt, rng)
    if err.status == 429:
        resets = [w.reset_s for w in rate_limit_windows(err.headers, now) if w.spent and w.reset_s]
        if resets:
            reset = min(max(resets), MAX_RETRY_AFTER_S)
            return max(backoff, reset * (1 + JITTER * rng.random()))
    return backoff


def isolated_wait_s(err: ProviderError, rng: Rng = random, now: float | None = None) -> float:
    """`wait_s` for a failure of a lane that mostly succeeds: a provider's retry-after, a
    spent window's reset and a timeout's pause are kept; a backoff is ISOLATED_RETRY_S."""
    if err.kind == "timeout" and err.status is None:
        return wait_s(err, 1, rng, now)
    if retry_after_s(err.headers, now) is not None or err.status == 429:
        return wait_s(err, 1, rng, now)
    return ISOLATED_RETRY_S * (1 - JITTER * rng.random())


OnRetry = Callable[[ProviderError, Decision, float], Awaitable[None] | None]


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and decide(exc).retry


def retrying(
    max_attempts: int,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: Rng = random,
    escalate: Callable[[], bool] | None = None,
) -> tenacity.AsyncRetrying:
    """A tenacity loop for one request: retries the ProviderErrors `decide` says to retry,
    waits `wait_s`, gives up after `max_attempts` attempts and re-raises the last error (so
    the caller sees the provider's message, never a RetryError). `on_retry(err, decision,
    wait)` runs before each sleep: the engine journals the attempt and slows the lane there.

        async for attempt in retrying(cfg.max_attempts, on_retry=note):
            with attempt:
                response = await send()
    """

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, ProviderError)
        # `escalate()` false (the lane mostly succeeds, no overload streak): a 5xx, a 503 or
        # a drop is this request's bad luck, and its retry pauses briefly however many
        # attempts it took; true or absent: exponential in its attempts
        if escalate is not None and not escalate():
            return isolated_wait_s(exc, rng)
        return wait_s(exc, state.attempt_number, rng)

    async def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is None or state.outcome is None:
            return
        exc = state.outcome.exception()
        assert isinstance(exc, ProviderError)
        result = on_retry(exc, decide(exc), state.upcoming_sleep)
        if inspect.isawaitable(result):
            await result

    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(max_attempts),
        wait=wait,
        retry=tenacity.retry_if_exception(_retryable),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
