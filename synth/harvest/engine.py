"""The harvest: every input answered once by the teacher, within limits and budget.

The path of one request, top to bottom (`_answer`):

    template ─► journal (in_flight, money reserved) ─► limiter ─► provider ─► retry policy
             ─► journal (done + usage + cost, or failed + reason) ─► budget settled

Everything a user can get wrong (config, template, price, key, every input line) is checked
before the first request leaves. A re-run resumes from the journal: an answered item is never
sent or paid for again. The keys a harvest journals become the journal's plan, what build reads
(an edited template, inputs, model or params leaves the older answers out of the dataset);
`add_to_plan=True` (`distill harvest --inputs FILE`) adds a file's items to the plan instead.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from synth.config import RunConfig
from synth.errors import (
    AuthError,
    BudgetExceeded,
    ConfigError,
    EndpointError,
    Interrupted,
    ProviderError,
)
from synth.harvest.batch import send_batches
from synth.harvest.budget import Budget
from synth.harvest.limits import Limiter
from synth.harvest.pricing import Price, estimate_prompt_tokens, max_prompt_tokens, resolve_price
from synth.harvest.providers import api_key_for, make_provider
from synth.harvest.providers.base import ChatRequest, ChatResponse, Provider, Usage
from synth.harvest.retry import Decision, decide, retrying, systematic
from synth.harvest.secrets import Redactor, redact
from synth.harvest.usage_check import clamp, unbelievable
from synth.inputs import render_records
from synth.journal import queries
from synth.journal.lock import run_lock
from synth.journal.store import PLAN_EXTEND, PLAN_REPLACE, Journal, NewItem, request_key
from synth.templates import Template, load_template

#: the first attempts watched for one systematic failure (all alike: the run stops)
SYSTEMATIC_PROBE = 5


@dataclass
class HarvestStats:
    """Live figures for the progress display; the engine is their only writer."""

    total: int = 0
    already_done: int = 0
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    retries: int = 0
    rate_limited: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    spent_usd: Decimal = Decimal(0)  # this run's settled cost
    possibly_billed_usd: Decimal = Decimal(0)  # this run's attempts of unknown outcome
    usage_flagged: int = 0  # answers whose usage was missing or absurd: priced at worst case
    failed_earlier: int = 0  # failed items of earlier runs, not sent again without --retry-failed
    prior_spent_usd: Decimal = Decimal(0)  # earlier runs, orphaned reservations included
    repeated_inputs: int = 0  # input lines whose prompt repeats an earlier line's: sent once
    budget_usd: Decimal | None = None
    batches: str | None = None  # batch mode: batches and items per state, one line
    started: float = field(default_factory=time.monotonic)
    limiter: Limiter | None = None  # set by the engine: the progress shows its pauses

    def paused_for_s(self) -> float:
        """How long the lane is held for the rate limit from now (0: not held)."""
        lim = self.limiter
        return max(0.0, lim.paused_until - time.monotonic()) if lim is not None else 0.0

    @property
    def remaining(self) -> int:
        return max(self.total - self.already_done - self.done - self.failed, 0)


@dataclass
class HarvestResult:
    stats: HarvestStats
    status: str  # always "finished": a budget stop raises BudgetExceeded, a refused key AuthError
    run_id: int
    wall_s: float


@dataclass
class DryRun:
    items: int
    already_done: int
    to_send: int
    est_input_tokens: int
    max_output_tokens: int
    est_cost_usd: Decimal
    worst_case_usd: Decimal
    price: Price


@dataclass
class Plan:
    """What a harvest needs, checked before any money moves."""

    cfg: RunConfig
    template: Template
    params: dict[str, Any]
    max_output_tokens: int | None
    price: Price
    json_schema: dict[str, Any] | None


def plan(cfg: RunConfig) -> Plan:
    t = cfg.teacher
    template = load_template(cfg.template, cfg.base_dir)
    params = {**template.params, **t.params}
    max_out = params.get("max_completion_tokens", params.get("max_tokens"))
    if max_out is not None and (not isinstance(max_out, int) or max_out < 1):
        raise ConfigError(
            f"{cfg.config_path}: teacher.params.max_tokens: must be a positive integer"
        )
    if t.provider == "anthropic" and "max_tokens" not in params:
        raise ConfigError(
            f"{cfg.config_path}: teacher.params.max_tokens: Anthropic requires it; set it in the config or the template's params"
        )
    if cfg.budget_usd is not None and max_out is None:
        raise ConfigError(
            f"{cfg.config_path}: teacher.params.max_tokens: needed with budget_usd, so that a request's worst case is known"
        )
    if t.logprobs and t.provider == "anthropic":
        raise ConfigError(
            f"{cfg.config_path}: teacher.logprobs: the Anthropic API returns no log-probabilities; remove it"
        )
    price = resolve_price(t.provider, t.model, t.price, base_url=t.base_url)
    if t.provider == "anthropic" and t.prompt_cache == "auto":
        price = price.with_cache_writes(t.prompt_cache_ttl)  # a request may write the cache
    return Plan(cfg, template, params, max_out, price, template.json_schema)


def iter_items(p: Plan) -> Iterator[NewItem]:
    """Render and key every (input, sample); raises InputError naming the line."""
    t = p.cfg.teacher
    for line, record, messages in render_records(
        p.cfg.input_file, p.template, split=p.cfg.input_split, columns=p.cfg.input_columns
    ):
        request = ChatRequest(
            model=t.model,
            messages=messages,
            params=p.params,
            json_schema=p.json_schema,
            logprobs=t.logprobs,
        )
        for sample in range(t.samples_per_input):
            yield NewItem(
                request_key(t.provider, request, sample), line, sample, record, request, t.provider
            )


def dry_run(cfg: RunConfig) -> DryRun:
    """Estimated tokens and cost of what a harvest would send now; sends nothing."""
    p = plan(cfg)
    done: set[str] = set()
    if cfg.journal_path.exists():
        with Journal(cfg.journal_path, readonly=True) as j:
            done = queries.done_keys(j)
    n = already = est_in = worst_in = 0
    for item in iter_items(p):
        n += 1
        if item.key in done:
            already += 1
            continue
        est_in += estimate_prompt_tokens(item.request.messages)
        worst_in += max_prompt_tokens(item.request.messages, item.request.json_schema)
    to_send = n - already
    max_out = (p.max_output_tokens or 0) * to_send

    est = p.price.cost(Usage(input_tokens=est_in, output_tokens=max_out // 2))
    worst = p.price.worst_case(worst_in, max_out)
    return DryRun(n, already, to_send, est_in, max_out, est, worst, p.price)


class Harvester:
    """One harvest run over a journal. `run()` returns when every item has ended."""

    def __init__(
        self,
        p: Plan,
        journal: Journal,
        provider: Provider,
        stats: HarvestStats,
        redactor: Redactor | None = None,
    ) -> None:
        self.p = p
        self.redact = redactor or Redactor()
        self.cfg = p.cfg
        self.journal = journal
        self.provider = provider
        self.stats = stats
        t = self.cfg.teacher
        # probe: with no rpm/tpm configured, one request learns the advertised limits first
        self.limiter = Limiter(t.concurrency, t.rpm, t.tpm, probe=True)
        stats.limiter = self.limiter
        self.budget = Budget(self.cfg.budget_usd, journal.spent_usd())
        stats.prior_spent_usd = self.budget.spent
        stats.budget_usd = self.cfg.budget_usd
        self.run_id = 0
        self.stop_reason: str | None = None  # "budget" | "auth" | "systematic" | "error"
        self.auth_error: str | None = None
        self.systematic: str | None = None  # why every first request failed alike
        self.crash: BaseException | None = None  # a bug in the engine: re-raised by run()
        self._first: list[str | None] = []  # the systematic reason of each first attempt
        self._probe_failed: list[str] = []  # items failed meanwhile, for a systematic reason
        self._probe_n = max(1, min(SYSTEMATIC_PROBE, stats.total - stats.already_done))

    async def run(self) -> str:
        t = self.cfg.teacher
        per_hour = self.p.price.per_hour
        self.run_id = self.journal.start_run(
            provider=t.provider,
            model=t.model,
            budget_usd=self.cfg.budget_usd,
            per_hour_usd=per_hour,
        )
        ticker = asyncio.create_task(self._bill_hours(per_hour)) if per_hour else None
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue(
            maxsize=t.concurrency * 2
        )
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(t.concurrency)]
        try:
            for key, request in self.journal.iter_pending():
                if self.stop_reason:
                    break
                await queue.put((key, request))
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
            if self.crash is not None:
                raise self.crash
        except BaseException:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.journal.end_run(self.run_id, "interrupted")
            raise
        finally:
            if ticker:
                ticker.cancel()
        status = self.stop_reason or "finished"
        if status == "systematic":  # they failed for the endpoint, not for themselves
            self.journal.requeue_failed(self._probe_failed)
        self.journal.end_run(self.run_id, status)
        return status

    async def _bill_hours(self, per_hour: Decimal, every_s: float = 0.5) -> None:
        """A teacher priced per hour costs wall time: charge it to the budget as it passes."""
        last = time.monotonic()
        while True:
            wait = every_s
            if self.budget.limit is not None:  # wake when the budget runs out, not after
                left = self.budget.limit - self.budget.committed
                wait = min(every_s, max(0.0, float(left * 3600 / per_hour)))
            await asyncio.sleep(wait)
            now = time.monotonic()
            cost = per_hour * Decimal(str(now - last)) / 3600
            last = now
            await self.budget.settle(Decimal(0), cost)
            self.stats.spent_usd += cost
            if self.budget.limit is not None and self.budget.spent >= self.budget.limit:
                self.stop_reason = self.stop_reason or "budget"

    async def _worker(self, queue: asyncio.Queue[tuple[str, dict[str, Any]] | None]) -> None:
        while (job := await queue.get()) is not None:
            if self.stop_reason:
                continue  # drain: the run is stopping, these stay pending
            try:
                await self._answer(*job)
            except Exception as exc:  # a bug: stop the run and show it, never hang the queue
                self.crash = self.crash or exc
                self.stop_reason = "error"

    async def _answer(self, key: str, request: dict[str, Any]) -> None:
        """One item, attempt by attempt. Each attempt holds its own worst case: an attempt
        whose outcome is unknown (timed out, dropped, unreadable) keeps it as possibly billed,
        and the retry reserves anew; when the budget cannot cover another attempt, the item
        goes back to pending and the run stops for the budget."""
        req = ChatRequest(**request)
        max_out = self.p.max_output_tokens or 0
        prompt_bound = max_prompt_tokens(req.messages, req.json_schema)
        worst = self.p.price.worst_case(prompt_bound, max_out)
        if not await self.budget.reserve(worst):
            self.stop_reason = self.stop_reason or "budget"
            return
        if self.stop_reason:  # stopped while this one waited for money
            await self.budget.release(worst)
            return
        self.journal.mark_in_flight(key, worst)
        self.stats.in_flight += 1
        a = _Attempt(worst=worst, started_at=time.time())

        async def on_retry(err: ProviderError, decision: Decision, wait: float) -> None:
            outcome = "rate_limited" if decision.rate_limited else "retry"
            self.journal.record_attempt(
                key,
                self.run_id,
                a.started_at,
                outcome,
                err.status,
                decision.reason,
                possibly_billed_usd=a.take_possibly_billed(),
            )
            a.started_at = time.time() + wait
            self.stats.retries += 1
            self.limiter.observe(err.headers)
            if decision.rate_limited:
                self.stats.rate_limited += 1
                self.limiter.on_rate_limited(wait, err.headers)
            elif decision.overloaded:
                self.limiter.on_overloaded()
            elif err.kind != "timeout":  # a slow answer is no sign of a server in trouble
                self.limiter.on_failed()

        try:
            response = await self._send(req, prompt_bound + max_out, a, on_retry)
        except _NoMoney:
            # the budget cannot cover another attempt: the item waits for a bigger budget
            self.stats.in_flight -= 1
            self.stop_reason = self.stop_reason or "budget"
            self.journal.mark_interrupted(
                key, run_id=self.run_id, started_at=a.started_at, possibly_billed_usd=None
            )
            return
        except ProviderError as err:
            decision = decide(err)
            self.stats.in_flight -= 1
            possibly = a.take_possibly_billed()
            if a.held:
                await self.budget.release(worst)
                a.held = False
            wrong_endpoint = self.stopped_for("systematic") and systematic(err)
            if wrong_endpoint or decision.stop_run:
                # the run stops (a wrong endpoint, a refused key): the item waits for the fix
                if not wrong_endpoint:
                    self.stop_reason = "auth"
                    self.auth_error = redact(str(err))
                self.journal.mark_failed(
                    key,
                    decision.reason,
                    run_id=self.run_id,
                    started_at=a.started_at,
                    status=err.status,
                    state="pending",
                    possibly_billed_usd=possibly,
                    outcome="failed" if wrong_endpoint else "auth",
                )
                return
            self.journal.mark_failed(
                key,
                decision.reason,
                run_id=self.run_id,
                started_at=a.started_at,
                status=err.status,
                outcome="rate_limited" if decision.rate_limited else "failed",
                possibly_billed_usd=possibly,
            )
            if systematic(err) and len(self._first) <= self._probe_n:
                self._probe_failed.append(key)  # back to pending if the run stops for it
            if decision.rate_limited:
                self.stats.rate_limited += 1
            self.stats.failed += 1
            return
        except asyncio.CancelledError:
            # A clean stop: an attempt on the wire may be billed (its worst case is recorded),
            # an item only waiting (for a retry, the limiter, money) goes back as it was.
            self.stats.in_flight -= 1
            self.journal.mark_interrupted(
                key,
                run_id=self.run_id,
                started_at=a.started_at,
                possibly_billed_usd=worst if a.on_wire else a.take_possibly_billed(),
            )
            raise
        flag = unbelievable(response.usage, prompt_bound, self.p.max_output_tokens)
        if flag is None:
            cost = self.p.price.cost(response.usage)
        else:  # the budget never trusts a number it cannot believe
            cost = worst
            response.usage = clamp(response.usage, prompt_bound, self.p.max_output_tokens)
            self.stats.usage_flagged += 1
        self.journal.mark_done(
            key,
            response,
            cost,
            run_id=self.run_id,
            started_at=a.started_at,
            full_price_usd=self.p.price.full_price(response.usage, cost),
            flag=flag,
        )
        await self.budget.settle(worst, cost)
        a.held = False
        self.stats.in_flight -= 1
        self.stats.done += 1
        self.stats.input_tokens += response.usage.input_tokens
        self.stats.output_tokens += response.usage.output_tokens
        self.stats.spent_usd += cost

    async def _send(
        self, req: ChatRequest, tokens_bound: int, a: _Attempt, on_retry: Any
    ) -> ChatResponse:
        async for attempt in retrying(
            self.cfg.teacher.max_attempts, on_retry=on_retry, escalate=self.limiter.failing
        ):
            with attempt:
                if self.stop_reason == "auth":
                    raise ProviderError("run stopped: the key was refused", status=401)
                if not a.held:  # a retry: its own worst case, or no attempt at all
                    if self.stop_reason or not await self.budget.reserve(a.worst):
                        raise _NoMoney
                    if self.stop_reason:
                        await self.budget.release(a.worst)
                        raise _NoMoney
                    a.held = True
                retry = attempt.retry_state.attempt_number > 1
                async with self.limiter.slot(tokens_bound, retry) as permit:
                    a.on_wire = True
                    try:
                        response = await self.provider.complete(req)
                    except ProviderError as err:
                        # the one place a provider's text enters the engine: keys out here
                        self.redact.error(err)
                        a.on_wire = False
                        await self._end_failed_attempt(a, err)
                        raise
                    a.on_wire = False
                    used = response.usage.input_tokens + response.usage.output_tokens
                    permit.settle(min(max(used, 0), tokens_bound))
                self._first_outcome(None)
                self.limiter.observe(response.headers)
                self.limiter.on_success()
        return response

    async def _end_failed_attempt(self, a: _Attempt, err: ProviderError) -> None:
        """The money of an attempt that failed: released when nothing was generated, kept as
        possibly billed (spent, from now on) when the outcome is unknown."""
        a.held = False
        self._first_outcome(systematic(err))
        if err.may_be_billed:
            await self.budget.settle(a.worst, a.worst)
            a.possibly_billed = a.worst
            self.stats.possibly_billed_usd += a.worst
        else:
            await self.budget.release(a.worst)

    def stopped_for(self, reason: str) -> bool:
        # a method, not an inline comparison: the stop reason changes across awaits
        return self.stop_reason == reason

    def _first_outcome(self, reason: str | None) -> None:
        """The first attempts' outcomes: when they all failed the same systematic way (nothing
        listening, 404, an HTML page), no later request will fare better; stop the run."""
        if len(self._first) >= self._probe_n:
            return
        self._first.append(reason)
        if len(self._first) == self._probe_n and reason and set(self._first) == {reason}:
            self.stop_reason = self.stop_reason or "systematic"
            self.systematic = reason


class _NoMoney(Exception):
    """A retry's worst case does not fit the budget (or the run is stopping): not sent."""


@dataclass
class _Attempt:
    """The money and the state of an item's current attempt."""

    worst: Decimal
    started_at: float
    held: bool = True  # its worst case is reserved in the budget
    on_wire: bool = False  # sent, no answer yet
    possibly_billed: Decimal | None = None  # the last failed attempt's unknown worst case

    def take_possibly_billed(self) -> Decimal | None:
        out, self.possibly_billed = self.possibly_billed, None
        return out


async def harvest_async(
    cfg: RunConfig,
    *,
    stats: HarvestStats | None = None,
    retry_failed: bool = False,
    provider: Provider | None = None,
    progress: Callable[[HarvestStats], AbstractContextManager[Any]] | None = None,
    add_to_plan: bool = False,
    wait: bool = True,
) -> HarvestResult:
    """Check everything, journal every item, then send what is not answered yet.
    `progress(stats)` (a context manager, e.g. synth.cli.progress.harvest_progress) is entered
    only once the inputs are validated, so a user's mistake prints one line and nothing else.
    The items journaled become the journal's plan (what build reads); `add_to_plan=True`
    (another inputs file, `--inputs`) adds them to the plan instead of replacing it.
    `teacher.mode: batch` sends through the provider's batch API (synth.harvest.batch);
    `wait=False` then submits and returns (status 'submitted')."""
    p = plan(cfg)
    own_provider = provider is None
    provider = provider or make_provider(cfg.teacher)  # AuthError here: no key, nothing sent
    stats = stats or HarvestStats()
    t0 = time.monotonic()
    terminated = _on_sigterm_cancel()
    try:
        with run_lock(cfg.run_dir, "harvest"), Journal(cfg.journal_path) as journal:
            # every line checked before anything is sent; the plan changes only then
            rendered = [0]

            def counted() -> Iterator[NewItem]:
                for item in iter_items(p):
                    rendered[0] += 1
                    yield item

            journal.add_items(counted(), plan=PLAN_EXTEND if add_to_plan else PLAN_REPLACE)
            if retry_failed:
                journal.retry_failed()
            else:
                stats.failed_earlier = journal.count("failed", current=True)
            stats.total = journal.count(current=True)
            # same prompt, same key: one request; said, so that a count never surprises
            stats.repeated_inputs = (rendered[0] - stats.total) // cfg.teacher.samples_per_input
            stats.already_done = journal.count("done", current=True)
            auth_error: str | None = ""
            if cfg.teacher.mode == "batch":  # another sender, the same journal and budget
                with progress(stats) if progress else nullcontext():
                    status, run_id = await send_batches(p, journal, provider, stats, wait=wait)
            else:
                h = Harvester(p, journal, provider, stats, Redactor(_key_or_none(cfg)))
                with progress(stats) if progress else nullcontext():
                    try:
                        status = await h.run()
                    except asyncio.CancelledError:
                        if not terminated():
                            raise
                        raise Interrupted(
                            "terminated (SIGTERM): the run stopped cleanly; run the same command "
                            "again to carry on where it stopped"
                        ) from None
                run_id, auth_error = h.run_id, h.auth_error
                if status == "systematic":
                    left = journal.count("pending", current=True)
                    raise EndpointError(
                        f"the first {h._probe_n} requests all failed the same way: "
                        f"{h.systematic}; stopped, {left} items left pending (nothing is lost: "
                        "fix it and run the same command)"
                    )
            if status == "auth":
                raise AuthError(
                    f"the teacher refused the key in ${cfg.teacher.key_env} ({auth_error}): check the key "
                    "and its access to this model; nothing more was sent"
                )
            if status == "budget":
                left = journal.count("pending", current=True)
                t = journal.totals()
                unknown = (
                    f" + ${t['possibly_billed_usd']:.4f} possibly billed (timed out or dropped, "
                    "at their worst case)"
                    if t["possibly_billed_usd"]
                    else ""
                )
                raise BudgetExceeded(
                    f"budget_usd {cfg.budget_usd} reached: ${t['cost_usd']:.4f} settled{unknown}, "
                    f"{left} items not sent; raise budget_usd and run the same command to continue"
                )
            return HarvestResult(stats, status, run_id, time.monotonic() - t0)
    finally:
        _restore_sigterm()
        if own_provider:
            await provider.aclose()


def _key_or_none(cfg: RunConfig) -> str | None:
    try:
        return api_key_for(cfg.teacher)
    except AuthError:
        return None


def _on_sigterm_cancel() -> Callable[[], bool]:
    """SIGTERM stops the harvest as Ctrl-C does: the main task is cancelled, every worker
    journals where it stood. Returns whether SIGTERM came. (Only in the main thread.)"""
    came = [False]
    task = asyncio.current_task()

    def on_term() -> None:
        came[0] = True
        if task is not None:
            task.cancel()

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_term)
    except (NotImplementedError, RuntimeError, ValueError):
        pass  # not the main thread, or no signals here: SIGTERM keeps its default
    return lambda: came[0]


def _restore_sigterm() -> None:
    try:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
    except (NotImplementedError, RuntimeError, ValueError):
        pass


def harvest(cfg: RunConfig, **kwargs: Any) -> HarvestResult:
    return asyncio.run(harvest_async(cfg, **kwargs))
