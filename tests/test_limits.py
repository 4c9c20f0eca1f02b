"""The limiter on virtual time (fast and exact: a fake clock that jumps to the next sleeper's
wake-up once every task is blocked), plus one short test on the real event loop."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest

from synth.harvest.headers import Window, parse_duration_s, parse_reset_s, rate_limit_windows
from synth.harvest.limits import (
    HEADER_SAFETY,
    MAX_HOLD_S,
    RECOVERY_SUCCESSES,
    REQUEST_HEADER_SAFETY,
    Limiter,
)

WALL = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC).timestamp()


def rfc3339(seconds_from_now: float) -> str:
    return (
        datetime.fromtimestamp(WALL + seconds_from_now, tz=UTC).isoformat().replace("+00:00", "Z")
    )


def paused_for(lim: Limiter) -> float:
    """How long the limiter holds every new request, on its own clock."""
    return max(0.0, lim.paused_until - lim._clock())


class VirtualTime:
    """`clock` and `sleep` for the limiter and the fake requests; `run` drives the loop."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, seconds), self._seq, fut))
        self._seq += 1
        await fut

    def limiter(
        self, concurrency: int, rpm: float | None = None, tpm: float | None = None
    ) -> Limiter:
        return Limiter(
            concurrency, rpm, tpm, clock=self.clock, sleep=self.sleep, wall_clock=lambda: WALL
        )

    def run(self, main: Coroutine[Any, Any, Any]) -> Any:
        async def drive() -> Any:
            task = asyncio.ensure_future(main)
            while True:
                for _ in range(100):  # let every runnable task run until it blocks
                    await asyncio.sleep(0)
                if task.done():
                    return task.result()
                if not self._timers:
                    raise AssertionError("deadlock: every task waits and no one sleeps")
                wake = self._timers[0][0]
                self.now = max(self.now, wake)
                while self._timers and self._timers[0][0] <= wake:
                    _, _, fut = heapq.heappop(self._timers)
                    if not fut.done():
                        fut.set_result(None)

        return asyncio.run(drive())


def launch(
    vt: VirtualTime, lim: Limiter, sizes: list[int], hold_s: float = 0.5
) -> tuple[list[float], list[int]]:
    """Start one request per size at t=0; each holds its slot `hold_s`. Returns the start
    times and the in-flight count seen at each start."""
    starts: list[float] = []
    in_flight: list[int] = []

    async def one(tokens: int) -> None:
        async with lim.slot(tokens):
            starts.append(vt.now)
            in_flight.append(lim.in_flight)
            await vt.sleep(hold_s)

    async def main() -> None:
        await asyncio.gather(*(one(n) for n in sizes))

    vt.run(main())
    return starts, in_flight


def most_in_any_window(
    times: list[float], weights: list[int] | None = None, width: float = 1.0
) -> int:
    weights = weights or [1] * len(times)
    pairs = sorted(zip(times, weights, strict=True))
    best = 0
    for i, (t0, _) in enumerate(pairs):
        best = max(best, sum(w for t, w in pairs[i:] if t < t0 + width - 1e-9))
    return best


# --------------------------------------------------------------------------- pacing


@pytest.mark.parametrize("rpm", [60, 600, 3000])
def test_requests_are_spaced_evenly_never_in_bursts(rpm: float) -> None:
    vt = VirtualTime()
    n = 120
    starts, _ = launch(vt, vt.limiter(concurrency=1000, rpm=rpm), [0] * n)
    # n requests at R per minute take n/R minutes (the first starts at once)
    assert starts[-1] == pytest.approx((n - 1) * 60 / rpm)
    assert most_in_any_window(starts) <= rpm / 60 + 1
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) == pytest.approx(60 / rpm)


def test_tokens_are_paced_at_tpm_with_about_a_second_of_burst() -> None:
    vt = VirtualTime()
    tpm, size, n = 6000.0, 50, 40  # 100 tokens/s; each request 50 tokens
    starts, _ = launch(vt, vt.limiter(concurrency=1000, tpm=tpm), [size] * n)
    per_s = tpm / 60
    # the bucket starts with one second's allowance, then refills at tpm/60 per second
    assert starts[-1] == pytest.approx((n * size - per_s) / per_s)
    assert most_in_any_window(starts, [size] * n) <= 2 * per_s + size


def test_a_request_bigger_than_the_bucket_waits_for_it_full_and_leaves_a_debt() -> None:
    vt = VirtualTime()
    starts, _ = launch(vt, vt.limiter(concurrency=10, tpm=6000), [300, 300, 300])
    # 300 tokens at 100/s: one every 3 s once the first has emptied the bucket into debt
    assert starts == pytest.approx([0.0, 3.0, 6.0])


def test_settle_refunds_or_charges_the_difference() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=10, tpm=6000)  # 100 tokens/s, bucket of 100

    async def main() -> list[float]:
        times = []
        async with lim.slot(100) as permit:
            permit.settle(20)  # used 20 of the 100 reserved: 80 come back
        async with lim.slot(100) as permit:  # needs 20 more: 0.2 s
            times.append(vt.now)
            permit.settle(300)  # used 200 more than reserved: a debt of 200
            permit.settle(0)  # settling twice changes nothing
        async with lim.slot(100):  # from -200 to 100: 3 s
            times.append(vt.now)
        return times

    assert vt.run(main()) == pytest.approx([0.2, 3.2])


def test_the_concurrency_cap_holds() -> None:
    vt = VirtualTime()
    starts, in_flight = launch(vt, vt.limiter(concurrency=3), [0] * 10, hold_s=1.0)
    assert max(in_flight) == 3
    assert sorted(starts) == pytest.approx([0, 0, 0, 1, 1, 1, 2, 2, 2, 3])


def test_waiters_are_served_in_order() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=100, tpm=6000)
    order: list[int] = []

    async def one(i: int, tokens: int) -> None:
        async with lim.slot(tokens):
            order.append(i)

    async def main() -> None:
        await asyncio.gather(*(one(i, 500 if i == 1 else 10) for i in range(6)))

    vt.run(main())
    assert order == list(range(6))  # the big one is not overtaken by the small ones


def test_a_retry_is_served_before_the_first_attempts_queued_ahead_of_it() -> None:
    """Each link of an unlucky item's retry chain should not wait out the whole queue again."""
    vt = VirtualTime()
    lim = vt.limiter(concurrency=100, rpm=60)  # one start a second
    order: list[str] = []

    async def one(name: str, retry: bool = False) -> None:
        async with lim.slot(retry=retry):
            order.append(name)

    async def main() -> None:
        firsts = [asyncio.ensure_future(one(f"first{i}")) for i in range(4)]
        await vt.sleep(0.5)  # the four are queued behind the pacing; two retries arrive
        retries = [asyncio.ensure_future(one(f"retry{i}", retry=True)) for i in range(2)]
        await asyncio.gather(*firsts, *retries)

    vt.run(main())
    # first0 went at once, first1 held the head of the queue; then the retries, in order
    assert order == ["first0", "first1", "retry0", "retry1", "first2", "first3"]


# --------------------------------------------------------------------------- 429 and 503


#: a 429's headers when the window is spent (a short window at the ceiling looks like this)
SPENT = {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "0"}
#: ... and when plenty is left: a provider's transient 429
PLENTY = {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "480"}


def at_the_limit(lim: Limiter, wait_s: float) -> bool:
    """429s dense enough (every one of the last outcomes) to be the limit, not a hiccup."""
    return any([lim.on_rate_limited(wait_s, SPENT) for _ in range(20)])


def test_a_429_at_the_limit_pauses_the_whole_lane_and_halves_the_rate() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=50, rpm=600)
    starts: list[float] = []

    async def one() -> None:
        async with lim.slot():
            starts.append(vt.now)

    async def main() -> None:
        await one()
        assert at_the_limit(lim, 5.0)
        assert paused_for(lim) == pytest.approx(5.0)
        await asyncio.gather(*(one() for _ in range(4)))

    vt.run(main())
    assert lim.rpm == 300
    # nobody starts during the pause; then one every 60/300 s
    assert starts[1:] == pytest.approx([5.0, 5.2, 5.4, 5.6])


def test_the_rate_recovers_additively_up_to_the_ceiling() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=8, rpm=600, tpm=60000)

    async def main() -> None:
        async with lim.slot(100):
            pass

    vt.run(main())
    at_the_limit(lim, 1.0)
    assert (lim.rpm, lim.tpm) == (300, 30000)
    lim.on_rate_limited(1.0, SPENT)  # an answer to a request sent before the cut: same excess
    assert (lim.rpm, lim.tpm) == (300, 30000)
    lim.on_success()
    assert 300 < lim.rpm < 310
    for _ in range(200):
        lim.on_success()
    assert (lim.rpm, lim.tpm) == (600, 60000)  # back to the ceiling, never above


def test_a_429_on_an_unpaced_lane_cuts_from_the_measured_rate() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=100)
    launch(vt, lim, [10] * 20, hold_s=0.0)  # 20 starts in the first (virtual) second
    assert lim.rpm is None
    lim.on_rate_limited(0.0)
    assert lim.rpm == pytest.approx(20 * 60 / 2)  # 1200/min measured, halved
    assert lim.tpm == pytest.approx(200 * 60 / 2)
    lim.on_success()
    assert lim.rpm > 600  # grows back with no ceiling to stop it


def test_repeated_overloads_halve_concurrency_and_successes_restore_it() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=8)
    lim.on_overloaded()
    lim.on_overloaded()
    assert lim.concurrency == 8  # one or two 503s are a blip (llama.cpp loading, say)
    lim.on_overloaded()
    assert lim.concurrency == 4  # a sustained streak
    for _ in range(3):
        lim.on_overloaded()
    assert lim.concurrency == 4  # the in-flight answers of the same overload: no second cut
    for expected in (2, 1, 1):
        vt.now += 1.0
        for _ in range(3):
            lim.on_overloaded()
        assert lim.concurrency == expected
    steps = []
    for _ in range(200):
        lim.on_success()
        if not steps or steps[-1][1] != lim.concurrency:
            steps.append((len(steps), lim.concurrency))
    assert [c for _, c in steps] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert lim.concurrency == 8  # never above the configured concurrency
    lim.on_overloaded()
    lim.on_overloaded()
    lim.on_success()  # a success breaks the streak
    lim.on_overloaded()
    assert lim.concurrency == 8


def test_overloads_interleaved_with_answers_still_cut_concurrency() -> None:
    """A server that serves two at a time and refuses the rest answers 503, ok, 503, 503, ok,
    ...: no streak of three, but mostly refusals. 503s at one in ten are left alone."""
    vt = VirtualTime()
    lim = vt.limiter(concurrency=8)
    for _ in range(30):
        for outcome in ("503", "ok", "503", "ok", "ok", "ok", "ok", "ok", "ok", "ok"):
            lim.on_overloaded() if outcome == "503" else lim.on_success()
        vt.now += 1.0
    assert lim.concurrency == 8
    for outcome in ("503", "ok", "503", "503", "ok", "503", "ok", "503", "503", "ok"):
        lim.on_overloaded() if outcome == "503" else lim.on_success()
    assert lim.concurrency == 4


def test_retries_escalate_only_when_the_lane_is_in_trouble() -> None:
    """`failing()` (retries back off exponentially) on overloads back to back or on a lane
    whose attempts mostly fail; one 503 or 500 among successes is a request's bad luck."""
    vt = VirtualTime()
    lim = vt.limiter(concurrency=8)
    for _ in range(30):
        lim.on_success()
    lim.on_overloaded()
    lim.on_success()
    lim.on_failed()
    assert not lim.failing()
    lim.on_overloaded()
    lim.on_overloaded()
    assert lim.failing()  # two overloads in a row: a server in trouble
    lim.on_success()
    assert not lim.failing()
    for _ in range(12):
        lim.on_failed()
    assert lim.failing()  # most recent attempts failed


def test_a_cut_ceiling_admits_fewer_and_a_raised_one_wakes_a_waiter() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=2)
    for _ in range(3):
        lim.on_overloaded()
    assert lim.concurrency == 1
    starts: list[float] = []

    async def one() -> None:
        async with lim.slot():
            starts.append(vt.now)
            await vt.sleep(10)

    async def main() -> None:
        first = asyncio.ensure_future(one())
        second = asyncio.ensure_future(one())
        await vt.sleep(1)
        assert lim.in_flight == 1
        for _ in range(RECOVERY_SUCCESSES):
            lim.on_success()
        await asyncio.gather(first, second)

    vt.run(main())
    assert starts == [0.0, 1.0]


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1m30.5s", 90.5),
        ("1h2m3s", 3723.0),
        ("0s", 0.0),
        ("150us", 0.00015),
        ("2.5", 2.5),
        (" 7s ", 7.0),
        ("", None),
        ("soon", None),
        ("1x", None),
        ("s", None),
        ("-1s", None),
        ("1m 30s", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    got = parse_duration_s(text)
    assert got == pytest.approx(seconds) if seconds is not None else got is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-11-23T12:00:30Z", 30.0),
        ("2026-11-23T13:00:30+01:00", 30.0),
        ("2026-11-23T11:59:00Z", 0.0),  # past: no wait
        ("2026-11-23T12:00:30", None),  # no zone: not guessed
        ("20ms", 0.02),
        ("tomorrow", None),
    ],
)
def test_parse_reset(text: str, seconds: float | None) -> None:
    got = parse_reset_s(text, now=WALL)
    assert got == pytest.approx(seconds) if seconds is not None else got is None


def test_rate_limit_windows_of_both_providers() -> None:
    headers = {
        "X-RateLimit-Limit-Requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-limit-tokens": "200000",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "40",
        "anthropic-ratelimit-output-tokens-reset": rfc3339(9),
        "content-type": "application/json",
    }
    assert rate_limit_windows(headers, now=WALL) == [
        Window("requests", 500, 0, 0.12),
        Window("tokens", 200000, None, None),
        Window("output-tokens", 8000, 40, 9.0),
    ]
    spent = {w.name: w.spent for w in rate_limit_windows(headers, now=WALL)}
    assert spent == {"requests": True, "tokens": False, "output-tokens": True}


def test_openai_headers_set_the_limits_when_none_were_configured() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=4)
    lim.observe(
        {
            "x-ratelimit-limit-requests": "600",
            "x-ratelimit-remaining-requests": "599",
            "x-ratelimit-reset-requests": "100ms",
            "x-ratelimit-limit-tokens": "150000",
            "x-ratelimit-remaining-tokens": "149000",
            "x-ratelimit-reset-tokens": "400ms",
        }
    )
    assert lim.rpm == pytest.approx(600 * REQUEST_HEADER_SAFETY)
    assert lim.tpm == pytest.approx(150000 * HEADER_SAFETY)
    assert paused_for(lim) == 0
    lim.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s"})
    assert paused_for(lim) == pytest.approx(2.0)
    lim.observe({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m0s"})
    assert paused_for(lim) == pytest.approx(MAX_HOLD_S)  # a long reset is capped


@pytest.mark.parametrize(("configured", "expected"), [(100.0, 100.0), (1000.0, 594.0)])
def test_a_configured_rate_is_kept_unless_the_provider_allows_less(
    configured: float, expected: float
) -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=4, rpm=configured)
    lim.observe({"x-ratelimit-limit-requests": "600"})
    assert lim.rpm == pytest.approx(expected)
    for _ in range(200):  # successes climb back towards the ceiling, never above it
        lim.on_success()
        vt.now += 1.0
    assert lim.rpm == pytest.approx(expected)


def test_anthropic_headers_set_the_limits_and_a_spent_window_holds_the_lane() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=4)
    lim.observe(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": rfc3339(1.2),
            "anthropic-ratelimit-tokens-limit": "40000",
            "anthropic-ratelimit-tokens-remaining": "39000",
            "anthropic-ratelimit-tokens-reset": rfc3339(2),
            "anthropic-ratelimit-input-tokens-limit": "30000",
            "anthropic-ratelimit-input-tokens-remaining": "0",
            "anthropic-ratelimit-input-tokens-reset": rfc3339(15),
        }
    )
    assert lim.rpm == pytest.approx(50 * REQUEST_HEADER_SAFETY)
    assert lim.tpm == pytest.approx(40000 * HEADER_SAFETY)
    assert paused_for(lim) == pytest.approx(15.0)
    starts, _ = launch(vt, lim, [100])
    assert starts == pytest.approx([15.0])


def test_what_the_limiter_reports_while_a_slot_is_held() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=4, rpm=120)

    async def main() -> None:
        async with lim.slot(10):
            assert (lim.in_flight, lim.concurrency, lim.rpm, lim.tpm, paused_for(lim)) == (
                1,
                4,
                120,
                None,
                0,
            )

    vt.run(main())
    assert lim.in_flight == 0


# --------------------------------------------------------------------------- the real loop


def test_on_the_real_event_loop() -> None:
    lim = Limiter(concurrency=2, rpm=3000)  # one start every 20 ms, two at most in flight
    starts: list[float] = []
    peak = 0

    async def one() -> None:
        nonlocal peak
        async with lim.slot(5):
            starts.append(time.monotonic())
            peak = max(peak, lim.in_flight)
            await asyncio.sleep(0.01)

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(4)))
        at_the_limit(lim, 0.03)  # halves to one start every 40 ms, after a 30 ms pause
        t = time.monotonic()
        await asyncio.gather(*(one() for _ in range(2)))
        assert starts[-2] - t >= 0.03 - 0.002
        assert starts[-1] - t >= 0.03 + 0.04 - 0.002

    t0 = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - t0 < 10.0  # no stall (not a speed test: a busy machine is slow)
    assert peak <= 2
    # slots are fixed in time: a start the busy loop ran late may shorten the gap after it, but
    # never the span from the first start, so the span is what is checked
    assert starts[3] - starts[0] >= 3 * 0.02 - 0.01
    assert lim.in_flight == 0


def test_a_cancelled_waiter_takes_nothing() -> None:
    lim = Limiter(concurrency=1)

    async def main() -> None:
        async with lim.slot():
            waiter = asyncio.ensure_future(lim.acquire())
            await asyncio.sleep(0.005)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        assert lim.in_flight == 0
        async with lim.slot():
            assert lim.in_flight == 1

    asyncio.run(main())


# --------------------------------------------------------------------------- late starts, probe


def test_late_wake_ups_do_not_lower_the_rate() -> None:
    """A busy event loop wakes the paced request late; the next one makes up for it."""
    vt = VirtualTime()
    late_s = 0.004  # every timer fires 4 ms late: 8% of a 50 ms gap

    async def late_sleep(seconds: float) -> None:
        await vt.sleep(seconds + late_s)

    lim = Limiter(1000, 1200, clock=vt.clock, sleep=late_sleep, wall_clock=lambda: WALL)
    starts, _ = launch(vt, lim, [0] * 201)
    # 200 gaps of 50 ms: 10 s, give or take one late wake-up (not 200 of them)
    assert starts[-1] == pytest.approx(10.0, abs=2 * late_s)
    assert most_in_any_window(starts) <= 1200 / 60 + 1


def test_a_probe_goes_alone_until_it_ends() -> None:
    vt = VirtualTime()
    lim = Limiter(8, probe=True, clock=vt.clock, sleep=vt.sleep, wall_clock=lambda: WALL)
    starts, in_flight = launch(vt, lim, [0] * 5, hold_s=0.2)
    assert starts == [0.0, 0.2, 0.2, 0.2, 0.2]  # one first; the rest once it has ended
    assert max(in_flight) == 4
    paced = Limiter(8, rpm=600, probe=True, clock=vt.clock, sleep=vt.sleep)
    assert not paced._probing  # a configured rate needs no probe


def test_a_429_under_a_known_ceiling_holds_back_no_one_else() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=50, rpm=600)
    launch(vt, lim, [1] * 40, hold_s=0.0)  # 40 starts at 10/s: paced at the ceiling
    for headers in (PLENTY, SPENT, {}):  # a hiccup, or a short window's jitter at the ceiling
        assert not lim.on_rate_limited(5.0, headers)
        assert paused_for(lim) == 0 and lim.rpm == 600


def test_dense_429s_are_the_limit_whatever_the_ceiling_says() -> None:
    vt = VirtualTime()
    lim = vt.limiter(concurrency=50, rpm=600)
    launch(vt, lim, [1] * 5, hold_s=0.0)
    for _ in range(14):
        lim.on_success()
    cut = [lim.on_rate_limited(0.0, PLENTY) for _ in range(6)]
    assert cut == [False] * 5 + [True], "6 of the last 20 outcomes are 429s: the limit"
    assert lim.rpm is not None and lim.rpm < 600
