"""The retry policy as tables: headers → waits, failures → decisions, and the tenacity loop
driven by a fake request with an injected sleep (nothing really waits)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from synth.errors import ProviderError
from synth.harvest.headers import retry_after_s
from synth.harvest.retry import (
    INITIAL_BACKOFF_S,
    ISOLATED_RETRY_S,
    JITTER,
    MAX_BACKOFF_S,
    MAX_RETRY_AFTER_S,
    TIMEOUT_RETRY_S,
    Decision,
    decide,
    retrying,
    wait_s,
)

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC).timestamp()


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.fromtimestamp(NOW + seconds_from_now, tz=UTC), usegmt=True)


def rfc3339(seconds_from_now: float) -> str:
    return datetime.fromtimestamp(NOW + seconds_from_now, tz=UTC).isoformat().replace("+00:00", "Z")


class Fixed:
    """An rng whose random() is always the same: the ends of the jitter range."""

    def __init__(self, u: float) -> None:
        self.u = u

    def random(self) -> float:
        return self.u


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "20.5"}, 0.0205),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"Retry-After": "3"}, 3.0),  # any case
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # ms wins
        ({"retry-after-ms": "soon", "retry-after": "4"}, 4.0),  # a bad ms falls through
        ({"retry-after": http_date(10)}, 10.0),
        ({"retry-after": http_date(-10)}, None),  # already past
        ({"retry-after": "Wed, 99 Foo 2026 07:28:10 GMT"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "0"}, 0.0),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    got = retry_after_s(headers, now=NOW)
    assert got == pytest.approx(expected) if expected is not None else got is None


def err(
    status: int | None = None,
    headers: dict[str, str] | None = None,
    kind: str = "http",
    message: str = "",
) -> ProviderError:
    return ProviderError(message or f"{status}: boom", status=status, headers=headers, kind=kind)


# (status, headers, kind) → retry, rate_limited, stop_run, overloaded
DECISIONS = [
    (401, {}, "http", False, False, True, False),
    (403, {}, "http", False, False, True, False),
    (401, {"x-should-retry": "true"}, "http", False, False, True, False),  # a key stays wrong
    (400, {}, "http", False, False, False, False),
    (404, {}, "http", False, False, False, False),
    (422, {}, "http", False, False, False, False),
    (413, {}, "http", False, False, False, False),
    (408, {}, "http", True, False, False, False),
    (409, {}, "http", True, False, False, False),
    (429, {}, "http", True, True, False, False),
    (429, {"retry-after": "5"}, "http", True, True, False, False),
    (500, {}, "http", True, False, False, False),
    (502, {}, "http", True, False, False, False),
    (503, {}, "http", True, False, False, True),
    (504, {}, "http", True, False, False, False),
    (529, {}, "http", True, False, False, True),
    (599, {}, "http", True, False, False, False),  # 5xx in general
    (400, {"x-should-retry": "true"}, "http", True, False, False, False),
    (500, {"x-should-retry": "false"}, "http", False, False, False, False),
    (429, {"x-should-retry": "False"}, "http", False, True, False, False),
    (429, {"retry-after": str(MAX_RETRY_AFTER_S + 1)}, "http", False, True, False, False),
    (503, {"retry-after-ms": "1000"}, "http", True, False, False, True),
    (None, {}, "timeout", True, False, False, False),
    (None, {}, "connection", True, False, False, False),
    # a 200 that is no answer (a proxy's page, a cut body) is retried as a server error
    (None, {}, "bad_response", True, False, False, False),
    (200, {}, "bad_response", True, False, False, False),
]


@pytest.mark.parametrize(("status", "headers", "kind", "retry", "rl", "stop", "over"), DECISIONS)
def test_decide(
    status: int | None,
    headers: dict[str, str],
    kind: str,
    retry: bool,
    rl: bool,
    stop: bool,
    over: bool,
) -> None:
    d = decide(err(status, headers, kind))
    assert (d.retry, d.rate_limited, d.stop_run, d.overloaded) == (retry, rl, stop, over)
    assert d.reason


def test_a_bad_request_fails_with_the_providers_message() -> None:
    d = decide(err(400, message="400: 'max_tokens' must be at most 4096"))
    assert not d.retry and not d.stop_run
    assert "'max_tokens' must be at most 4096" in d.reason


def test_a_refused_key_stops_the_run_and_the_reason_never_shows_the_key() -> None:
    d = decide(err(401, message="401: Incorrect API key provided: sk-proj-****abcd. See docs."))
    assert d.stop_run and "key" in d.reason
    assert "sk-proj" not in d.reason and "abcd" not in d.reason


def test_an_empty_account_stops_the_run() -> None:
    d = decide(err(429, message="429: You exceeded your current quota (insufficient_quota)"))
    assert (d.retry, d.stop_run) == (False, True)
    assert "credit" in d.reason


def test_a_wait_longer_than_the_cap_says_so() -> None:
    d = decide(err(429, {"retry-after": "3600"}))
    assert not d.retry and "3600 s" in d.reason


@pytest.mark.parametrize("u", [0.0, 0.5, 0.999])
@pytest.mark.parametrize(
    "headers", [{"retry-after": "3"}, {"retry-after-ms": "3000"}, {"retry-after": http_date(3)}]
)
def test_wait_is_never_below_retry_after(headers: dict[str, str], u: float) -> None:
    for attempt in (1, 2, 5):
        w = wait_s(err(429, headers), attempt, Fixed(u), now=NOW)
        assert 3.0 <= w <= 3.0 * (1 + JITTER) + 1e-9


def test_backoff_doubles_and_is_capped() -> None:
    waits = [wait_s(err(500), attempt, Fixed(0.0)) for attempt in range(1, 10)]
    expected = [min(INITIAL_BACKOFF_S * 2**k, MAX_BACKOFF_S) for k in range(9)]
    assert waits == pytest.approx(expected)
    assert waits[-1] == MAX_BACKOFF_S
    # jitter only shortens backoff, by at most JITTER
    rng = random.Random(7)
    for attempt in range(1, 12):
        base = min(INITIAL_BACKOFF_S * 2 ** (attempt - 1), MAX_BACKOFF_S)
        w = wait_s(err(None, kind="connection"), attempt, rng)
        assert base * (1 - JITTER) <= w <= base


# (failure, attempts so far) → the wait before the next attempt, at both ends of the jitter
RETRY_TIMING = [
    # a timeout: a short pause, the same at the 1st and the 9th attempt
    (err(None, kind="timeout"), 1, 0.0, TIMEOUT_RETRY_S),
    (err(None, kind="timeout"), 2, 0.0, TIMEOUT_RETRY_S),
    (err(None, kind="timeout"), 9, 0.0, TIMEOUT_RETRY_S),
    # a 503 streak: 1, 2, 4, 8, ... s, capped
    (err(503), 1, INITIAL_BACKOFF_S * (1 - JITTER), INITIAL_BACKOFF_S),
    (err(503), 2, 2 * INITIAL_BACKOFF_S * (1 - JITTER), 2 * INITIAL_BACKOFF_S),
    (err(503), 3, 4 * INITIAL_BACKOFF_S * (1 - JITTER), 4 * INITIAL_BACKOFF_S),
    (err(529), 4, 8 * INITIAL_BACKOFF_S * (1 - JITTER), 8 * INITIAL_BACKOFF_S),
    (err(503), 12, MAX_BACKOFF_S * (1 - JITTER), MAX_BACKOFF_S),
    # a timeout's retry-after, when a proxy sends one, is obeyed as any other
    (err(None, {"retry-after": "2"}, kind="timeout"), 1, 2.0, 2.0 * (1 + JITTER)),
]


@pytest.mark.parametrize(("failure", "attempt", "low", "high"), RETRY_TIMING)
@pytest.mark.parametrize("u", [0.0, 0.999])
def test_retry_timing(failure: ProviderError, attempt: int, low: float, high: float, u: float):
    assert low - 1e-9 <= wait_s(failure, attempt, Fixed(u), now=NOW) <= high + 1e-9


def test_a_timed_out_lane_retries_promptly_while_503s_escalate() -> None:
    """Through the tenacity loop, with the lane failing (`escalate` true): timeouts keep
    pausing briefly, a 503 streak's waits grow."""
    timeouts = Flaky(*[err(None, kind="timeout")] * 5)
    overloads = Flaky(*[err(503)] * 5)
    for fn, check in ((timeouts, "short"), (overloads, "growing")):
        sleep = Sleeps()

        async def go(fn: Flaky = fn, sleep: Sleeps = sleep) -> str:
            async for attempt in retrying(6, sleep=sleep, rng=Fixed(0.5), escalate=lambda: True):
                with attempt:
                    return await fn()
            raise AssertionError("unreachable")

        assert asyncio.run(go()) == "ok"
        if check == "short":
            assert sleep.waits == pytest.approx([TIMEOUT_RETRY_S * 0.5] * 5)
        else:
            assert sleep.waits == sorted(sleep.waits) and sleep.waits[-1] >= 8 * sleep.waits[0]


def test_an_isolated_failure_pauses_briefly_at_every_attempt() -> None:
    """With the lane mostly succeeding (`escalate` false), a 500, a 503 or a drop waits
    ISOLATED_RETRY_S (less jitter) however many attempts it took; a provider's retry-after
    and a timeout's pause are kept as they are."""
    failures = [err(503), err(500), err(None, kind="connection"), err(503), err(529)]
    failures += [err(429, {"retry-after": "2"}), err(None, kind="timeout")]
    fn, sleep = Flaky(*failures), Sleeps()

    async def go() -> str:
        async for attempt in retrying(10, sleep=sleep, rng=Fixed(1.0), escalate=lambda: False):
            with attempt:
                return await fn()
        raise AssertionError("unreachable")

    assert asyncio.run(go()) == "ok"
    brief = ISOLATED_RETRY_S * (1 - JITTER)
    assert sleep.waits == pytest.approx([brief] * 5 + [2.0 * (1 + JITTER), TIMEOUT_RETRY_S])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # OpenAI: the spent window's reset counts, the one with room left does not
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "7s",
                "x-ratelimit-remaining-tokens": "150000",
                "x-ratelimit-reset-tokens": "6m0s",
            },
            7.0,
        ),
        (
            {
                "x-ratelimit-limit-tokens": "200000",
                "x-ratelimit-remaining-tokens": "12",
                "x-ratelimit-reset-tokens": "1m30.5s",
            },
            90.5,
        ),
        # Anthropic: RFC 3339 resets; the longest spent one wins
        (
            {
                "anthropic-ratelimit-input-tokens-remaining": "0",
                "anthropic-ratelimit-input-tokens-reset": rfc3339(20),
                "anthropic-ratelimit-output-tokens-remaining": "0",
                "anthropic-ratelimit-output-tokens-reset": rfc3339(12),
            },
            20.0,
        ),
        # nothing spent: plain backoff
        ({"x-ratelimit-remaining-requests": "10", "x-ratelimit-reset-requests": "6s"}, 1.0),
    ],
)
def test_a_429_without_retry_after_waits_for_the_spent_windows_reset(
    headers: dict[str, str], expected: float
) -> None:
    assert wait_s(err(429, headers), 1, Fixed(0.0), now=NOW) == pytest.approx(expected)


def test_retry_after_wins_over_reset_headers() -> None:
    headers = {
        "retry-after": "2",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "30s",
    }
    assert wait_s(err(429, headers), 1, Fixed(0.0), now=NOW) == 2.0


# --------------------------------------------------------------------------- the tenacity loop


class Flaky:
    """A request that fails with `errors` in turn, then answers "ok"."""

    def __init__(self, *errors: ProviderError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def run_loop(fn: Flaky, max_attempts: int, sleep: Sleeps, on_retry: object = None) -> str:
    async for attempt in retrying(max_attempts, on_retry=on_retry, sleep=sleep):  # type: ignore[arg-type]
        with attempt:
            return await fn()
    raise AssertionError("unreachable")


def test_retries_until_success_and_sleeps_what_the_policy_says() -> None:
    fn = Flaky(err(503), err(429, {"retry-after": "2"}), err(None, kind="connection"))
    sleep = Sleeps()
    seen: list[tuple[int | None, Decision, float]] = []

    async def on_retry(e: ProviderError, d: Decision, w: float) -> None:
        seen.append((e.status, d, w))

    assert asyncio.run(run_loop(fn, 6, sleep, on_retry)) == "ok"
    assert fn.calls == 4
    assert len(sleep.waits) == 3
    assert [w for _, _, w in seen] == sleep.waits  # on_retry is told the wait it gets
    assert [s for s, _, _ in seen] == [503, 429, None]
    assert [d.overloaded for _, d, _ in seen] == [True, False, False]
    assert [d.rate_limited for _, d, _ in seen] == [False, True, False]
    assert (1 - JITTER) * INITIAL_BACKOFF_S <= sleep.waits[0] <= INITIAL_BACKOFF_S
    assert 2.0 <= sleep.waits[1] <= 2.0 * (1 + JITTER)
    assert (1 - JITTER) * 4 * INITIAL_BACKOFF_S <= sleep.waits[2] <= 4 * INITIAL_BACKOFF_S


def test_gives_up_after_max_attempts_and_reraises_the_last_error() -> None:
    errors = [err(500, message=f"500: attempt {i}") for i in range(1, 6)]
    fn, sleep = Flaky(*errors), Sleeps()
    with pytest.raises(ProviderError) as info:
        asyncio.run(run_loop(fn, 3, sleep))
    assert info.value is errors[2]
    assert fn.calls == 3 and len(sleep.waits) == 2


@pytest.mark.parametrize(("status", "stop_run"), [(400, False), (422, False), (401, True)])
def test_no_retry_on_a_bad_request_or_a_refused_key(status: int, stop_run: bool) -> None:
    fn, sleep = Flaky(err(status)), Sleeps()
    with pytest.raises(ProviderError) as info:
        asyncio.run(run_loop(fn, 6, sleep))
    assert fn.calls == 1 and sleep.waits == []
    assert decide(info.value).stop_run is stop_run


def test_other_exceptions_are_not_retried() -> None:
    async def broken() -> None:
        raise ValueError("a bug")

    sleep = Sleeps()

    async def go() -> None:
        await retrying(5, sleep=sleep)(broken)

    with pytest.raises(ValueError):
        asyncio.run(go())
    assert sleep.waits == []


def test_a_plain_function_works_as_on_retry_and_the_call_form_too() -> None:
    fn, sleep = Flaky(err(502), err(504)), Sleeps()
    seen: list[float] = []

    async def go() -> str:
        return await retrying(4, on_retry=lambda e, d, w: seen.append(w), sleep=sleep)(fn)

    assert asyncio.run(go()) == "ok"
    assert seen == sleep.waits and len(seen) == 2
