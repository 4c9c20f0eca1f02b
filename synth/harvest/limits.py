"""The pacing of one lane (one teacher endpoint): how many requests in flight, how fast they
start, and how the lane slows down when the provider pushes back.

    async with limiter.slot(tokens=prompt + max_tokens) as permit:
        response = await provider.complete(request)
        permit.settle(response.usage.input_tokens + response.usage.output_tokens)
    limiter.observe(response.headers); limiter.on_success()

Three brakes, all shared by every request of the lane:

- a concurrency ceiling (like a semaphore whose size can change: it halves on repeated
  503/529 and grows back by one after a run of successes, AIMD as in TCP);
- RPM and TPM token buckets that refill continuously. Providers enforce their per-minute
  limits over much shorter windows, so the buckets never hold a minute's allowance: requests
  are spaced 60/rpm seconds apart (a start that came late lets the next come as much
  sooner, so late wake-ups do not add up), and the token bucket holds about one second of
  tokens;
- a pause: after a 429 at the limit, or when the rate-limit headers say the allowance is
  spent, no request starts before a given time. Such a 429 also halves the paced rates, which
  recover additively on successes up to the configured (or advertised) ceiling. With a
  ceiling known, the lane is paced under it already: a 429 is a hiccup that holds back only
  its own request for its retry-after, unless 429s become dense (the ceiling is wrong) or
  the measured rate is above the ceiling.

Time comes from an injected `clock` and `sleep`, so tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from synth.harvest.headers import rate_limit_windows
from synth.harvest.turns import Turns

#: the share of an advertised token limit we allow ourselves: our token counts are estimates
#: (prompt bound + max_tokens), and other clients, clock skew
HEADER_SAFETY = 0.95
#: the same for an advertised request limit: a request count is exact, so only clock skew and
#: timing jitter need room (at 0.95 a harvest could never come within 5% of its limit; other
#: clients on the key show in `remaining`, and a spent window pauses the lane)
REQUEST_HEADER_SAFETY = 0.99
#: a request that starts late (the event loop was busy when its timer fired) lets the next one
#: start that much sooner, up to this many seconds and never a whole request early: without
#: it every late wake-up is lost for good (7% of a 20 requests/s limit, measured)
LATE_CREDIT_S = 0.02
#: a spent window holds the lane at most this long (a stale or odd reset header must not stall
#: the run for an hour; a 429 will tell us if we start too early)
MAX_HOLD_S = 60.0
#: the token bucket holds this much of a second's allowance (never a minute's)
TOKEN_BURST_S = 1.0
#: multiplicative decrease of the paced rates on a 429, and their floors
RATE_DECREASE = 0.5
MIN_RPM = 1.0
MIN_TPM = 100.0
#: at most one cut of the paced rates per this many seconds: 429s that arrive together answer
#: the same excess (and a provider's transient 429s must not grind the lane to a halt)
RATE_CUT_COOLDOWN_S = 1.0
#: additive increase per success, as a share of the ceiling (or of the rate before the cut)
RATE_INCREASE = 0.01
#: consecutive overload answers (503/529) before the concurrency ceiling is cut
OVERLOAD_STREAK = 3
#: ... or this share of the last RECENT_OUTCOMES // 2 outcomes (a server that refuses most
#: of what it gets, its refusals interleaved with the answers it can give)
OVERLOAD_SHARE = 0.5
#: overload answers back to back before their retries back off exponentially (one 503 among
#: successes is a blip)
OVERLOAD_ESCALATE = 2
#: at most one cut of the concurrency ceiling per this many seconds: the answers of the
#: requests already in flight when we cut are the same overload, not a new one
OVERLOAD_COOLDOWN_S = 1.0
#: successes needed for +1 on the concurrency ceiling (at least this, or the ceiling itself)
RECOVERY_SUCCESSES = 4
#: how far back starts are counted to measure the lane's actual rate (used when a 429 comes
#: to a lane that had no configured rate to cut)
MEASURE_WINDOW_S = 10.0
#: with a known ceiling, a 429 cuts the pace only when the measured rate is above it by this
#: factor (a burst the pacing let through); at or under it, the 429 holds back only its request
OVER_CEILING = 1.05
#: ... or when 429s are this dense among the last outcomes (successes and 429s): the ceiling is
#: wrong (a provider enforcing less than it advertises, or a wrong `rpm`)
DENSE_429_SHARE = 0.3
RECENT_OUTCOMES = 20
#: the share of failed attempts among the last ones at which the lane counts as failing
FAILING_SHARE = 0.5


# --------------------------------------------------------------------------- pacing


class _Bucket:
    """Refills at `rate` per second up to `capacity`; may go into debt (a request bigger than
    the capacity waits for a full bucket, then leaves it negative), so that the average rate
    holds whatever the request sizes."""

    def __init__(self, rate_per_s: float, capacity: float, now: float) -> None:
        self.rate = rate_per_s
        self.capacity = capacity
        self.level = capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_s(self, cost: float, now: float) -> float:
        self.refill(now)
        need = min(cost, self.capacity)
        # a hair of tolerance: float refills land at 0.9999999 of a token, and a wait of
        # 1e-16 s would not move a clock that is read back as the same float
        return (
            0.0 if self.level >= need - 1e-9 * max(1.0, need) else (need - self.level) / self.rate
        )


class _Pace:
    """One per-minute rate (requests or tokens): its ceiling (configured, or advertised by
    the provider), the rate we pace at now (cut on 429s, grown back on successes), and the
    bucket that enforces it. No rate and no ceiling: not paced at all."""

    def __init__(self, per_minute: float | None, burst: Callable[[float], float], now: float):
        self.ceiling = per_minute
        self.rate: float | None = None
        self.grow_ref: float | None = None  # step basis when there is no ceiling
        self.bucket: _Bucket | None = None
        self._burst = burst  # per-second rate -> bucket capacity
        if per_minute:
            self.set(per_minute, now)

    def set(self, per_minute: float, now: float) -> None:
        self.rate = per_minute
        per_s = per_minute / 60
        if self.bucket is None:
            self.bucket = _Bucket(per_s, self._burst(per_s), now)
        else:
            self.bucket.refill(now)
            self.bucket.rate, self.bucket.capacity = per_s, self._burst(per_s)
            self.bucket.level = min(self.bucket.level, self.bucket.capacity)

    def wait_s(self, cost: float, now: float) -> float:
        return self.bucket.wait_s(cost, now) if self.bucket else 0.0

    def take(self, cost: float) -> None:
        if self.bucket:
            self.bucket.level -= cost

    def credit(self, late_s: float) -> None:
        """A start that came `late_s` after its time: the next may come as much sooner (the
        bucket, full at its capacity, could not hold the time lost)."""
        if self.bucket:
            self.bucket.level += min(late_s * self.bucket.rate, 0.9)

    def lower_ceiling(self, advertised: float, now: float) -> None:
        if self.ceiling is not None and self.ceiling <= advertised:
            return
        self.ceiling = advertised
        self.set(advertised if self.rate is None else min(self.rate, advertised), now)

    def cut(self, measured: float | None, floor: float, now: float) -> None:
        current = self.rate if self.rate is not None else measured
        if current is None:
            return
        if self.ceiling is None:
            self.grow_ref = max(self.grow_ref or 0.0, current)
        self.set(max(floor, current * RATE_DECREASE), now)

    def grow(self, now: float) -> None:
        ref = self.ceiling if self.ceiling is not None else self.grow_ref
        if self.rate is None or ref is None:
            return
        rate = self.rate + ref * RATE_INCREASE
        self.set(rate if self.ceiling is None else min(self.ceiling, rate), now)


# --------------------------------------------------------------------------- the limiter


@dataclass
class Permit:
    """One admitted request. `settle` corrects the TPM bucket once the real usage is known."""

    limiter: Limiter
    tokens: int
    settled: bool = False
    released: bool = False

    def settle(self, actual_tokens: int) -> None:
        if not self.settled:
            self.settled = True
            self.limiter._settle(self.tokens, actual_tokens)


class Limiter:
    def __init__(
        self,
        concurrency: int,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
        probe: bool = False,
    ) -> None:
        """`probe`: with no rpm or tpm given, send one request alone first and open the lane
        once it has ended, so that the limits its answer advertises (or its 429) pace the
        rest, instead of a first wave of `concurrency` requests overrunning them."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._clock, self._sleep, self._wall = clock, sleep, wall_clock
        now = clock()
        self.max_concurrency = concurrency
        self.concurrency = concurrency
        self.in_flight = 0
        self.paused_until = now
        # requests are spaced one by one (a bucket of 1); tokens come in lumps, ~1 s of them
        self._rpm = _Pace(rpm, lambda per_s: 1.0, now)
        self._tpm = _Pace(tpm, lambda per_s: per_s * TOKEN_BURST_S, now)
        self._probing = probe and not rpm and not tpm
        self._admission = Turns()  # the head of the queue waits, the rest queue (retries first)
        self._released = asyncio.Event()
        self._starts: deque[tuple[float, int]] = deque()  # (time, tokens), last MEASURE_WINDOW_S
        self._starts_since_cut = 0
        self._overload_streak = 0
        self._last_overload_cut = -math.inf
        self._last_rate_cut = -math.inf
        self._successes = 0
        self._recent: deque[bool] = deque(maxlen=RECENT_OUTCOMES)  # True: a 429
        self._health: deque[bool] = deque(maxlen=RECENT_OUTCOMES)  # True: any failed attempt
        self._overloads: deque[bool] = deque(maxlen=RECENT_OUTCOMES // 2)  # True: a 503/529

    @property
    def rpm(self) -> float | None:
        """The requests/minute paced at now (None: not paced)."""
        return self._rpm.rate

    @property
    def tpm(self) -> float | None:
        return self._tpm.rate

    # ---- admission

    @asynccontextmanager
    async def slot(self, tokens: int = 0, retry: bool = False) -> AsyncIterator[Permit]:
        permit = await self.acquire(tokens, retry)
        try:
            yield permit
        finally:
            self.release(permit)

    async def acquire(self, tokens: int = 0, retry: bool = False) -> Permit:
        """Wait until a request of `tokens` (prompt + max_tokens) may start, then take it.

        Waiters are served in order (a big request is not starved by small ones), retries
        before first attempts (see `synth.harvest.turns`)."""
        async with self._admission.turn(retry):
            paced_until: float | None = None  # when the request bucket let us go, if it held us
            while True:
                if self.in_flight >= (1 if self._probing else self.concurrency):
                    self._released.clear()
                    await self._released.wait()
                    paced_until = None
                    continue
                now = self._clock()
                rpm_wait = self._rpm.wait_s(1, now)
                delay = max(self.paused_until - now, rpm_wait, self._tpm.wait_s(tokens, now))
                if delay <= 0:
                    break
                paced_until = now + delay if rpm_wait >= delay else None
                await self._sleep(delay)
            self.in_flight += 1
            self._rpm.take(1)
            if paced_until is not None and now > paced_until:
                self._rpm.credit(min(now - paced_until, LATE_CREDIT_S))
            self._tpm.take(tokens)
            self._starts.append((now, tokens))
            while self._starts[0][0] < now - MEASURE_WINDOW_S:
                self._starts.popleft()
            self._starts_since_cut += 1
            return Permit(self, tokens)

    def release(self, permit: Permit) -> None:
        if not permit.released:
            permit.released = True
            self._probing = False  # the probe has ended: its headers are observed next
            self.in_flight -= 1
            self._released.set()

    def _settle(self, reserved: int, actual: int) -> None:
        bucket = self._tpm.bucket
        if bucket:
            bucket.refill(self._clock())
            bucket.level = min(bucket.capacity, bucket.level + reserved - actual)

    # ---- feedback

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adapt to the rate-limit headers of a response: adopt advertised limits (less a
        margin) as ceilings, and hold the lane until the reset of any spent window."""
        now = self._clock()
        for w in rate_limit_windows(headers, self._wall()):
            if w.limit and w.name == "requests":
                self._rpm.lower_ceiling(w.limit * REQUEST_HEADER_SAFETY, now)
            elif w.limit and w.name == "tokens":
                # Anthropic's `tokens-*` is the most restrictive of its input/output limits;
                # the split ones only ever pause the lane (our bucket counts both together)
                self._tpm.lower_ceiling(w.limit * HEADER_SAFETY, now)
            if w.spent and w.reset_s:
                self.paused_until = max(self.paused_until, now + min(w.reset_s, MAX_HOLD_S))

    def on_rate_limited(self, wait_s: float, headers: Mapping[str, str] | None = None) -> bool:
        """A 429. At the limit (see `_at_limit`): no request of the lane starts before
        now + wait_s, and the paced rates halve (from the measured rate when none was set);
        the requests already in flight when we cut answer 429 too: they are the same excess,
        so a cut needs a start since the last. Well under the limit, it is a hiccup: only its
        own request waits (its retry-after), the lane goes on. Returns whether it was the limit."""
        now = self._clock()
        self._recent.append(True)
        self._health.append(True)
        if not self._at_limit(now, headers or {}):
            return False
        self.paused_until = max(self.paused_until, now + max(0.0, wait_s))
        if self._starts_since_cut == 0 or now - self._last_rate_cut < RATE_CUT_COOLDOWN_S:
            return True
        self._starts_since_cut = 0
        self._last_rate_cut = now
        rpm, tpm = self._measured(now)
        self._rpm.cut(rpm, MIN_RPM, now)
        self._tpm.cut(tpm, MIN_TPM, now)
        return True

    def _at_limit(self, now: float, headers: Mapping[str, str]) -> bool:
        """Whether a 429 means the lane goes too fast. With a known ceiling (configured, or
        advertised by the headers, which `observe` has read first) the lane is already paced
        under it, so a 429 is the provider's hiccup or a short window's jitter, unless 429s
        have become dense (the ceiling is wrong: a provider enforcing less than it says, a
        wrong `rpm`), or the headers say a window is spent while the measured rate is above
        the ceiling. With no ceiling known, a 429 is the only word on the limit: heed it."""
        recent = self._recent
        if len(recent) == RECENT_OUTCOMES and sum(recent) >= DENSE_429_SHARE * len(recent):
            return True
        ceilings = (self._rpm.ceiling, self._tpm.ceiling)
        if ceilings == (None, None):
            return True
        rpm, tpm = self._measured(now)
        return any(
            ceiling is not None and rate is not None and rate > OVER_CEILING * ceiling
            for ceiling, rate in zip(ceilings, (rpm, tpm), strict=True)
        )

    def on_failed(self) -> None:
        """Any other failed attempt (a 5xx, a dropped connection; a timeout is no sign of trouble
        and is not counted)."""
        self._health.append(True)
        self._overloads.append(False)

    def failing(self) -> bool:
        """Whether the lane is in trouble: most recent attempts fail, or overload answers
        (503/529) come back to back. Retries should then back off exponentially; otherwise a
        failure is the request's own bad luck and its retry pauses briefly (no long tail of
        unlucky items)."""
        if self._overload_streak >= OVERLOAD_ESCALATE:
            return True
        h = self._health
        return len(h) >= RECENT_OUTCOMES // 2 and sum(h) >= FAILING_SHARE * len(h)

    def on_overloaded(self) -> None:
        """A 503/529 (a local server's full queue, Anthropic's overload): after a streak of
        them, or when they are most of the recent outcomes, halve the concurrency ceiling (at
        least 1), at most once per cooldown."""
        self._successes = 0
        self._health.append(True)
        self._overloads.append(True)
        self._overload_streak += 1
        now = self._clock()
        o = self._overloads
        dense = len(o) == o.maxlen and sum(o) >= OVERLOAD_SHARE * len(o)
        if (
            self._overload_streak >= OVERLOAD_STREAK or dense
        ) and now - self._last_overload_cut >= OVERLOAD_COOLDOWN_S:
            self.concurrency = max(1, self.concurrency // 2)
            self._last_overload_cut = now
            self._overload_streak = 0
            o.clear()  # the next cut needs outcomes of the new ceiling

    def on_success(self) -> None:
        """Additive increase: rates climb back towards their ceiling, and the concurrency
        ceiling gains one after a run of successes."""
        self._overload_streak = 0
        self._recent.append(False)
        self._health.append(False)
        self._overloads.append(False)
        self._successes += 1
        if self.concurrency < self.max_concurrency and self._successes >= max(
            RECOVERY_SUCCESSES, self.concurrency
        ):
            self.concurrency += 1
            self._successes = 0
            self._released.set()
        now = self._clock()
        self._rpm.grow(now)
        self._tpm.grow(now)

    def _measured(self, now: float) -> tuple[float | None, float | None]:
        """Requests and tokens per minute started over the last MEASURE_WINDOW_S (over at
        least one second, so that a first burst does not read as an absurd rate)."""
        while self._starts and self._starts[0][0] < now - MEASURE_WINDOW_S:
            self._starts.popleft()
        if not self._starts:
            return None, None
        span = max(1.0, now - self._starts[0][0])
        tokens = sum(t for _, t in self._starts)
        return len(self._starts) / span * 60, (tokens / span * 60 if tokens else None)
