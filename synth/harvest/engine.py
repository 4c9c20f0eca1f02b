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
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from synth.config import RunConfig
from synth.errors import AuthError, BudgetExceeded, ConfigError, ProviderError
from synth.harvest.budget import Budget
from synth.harvest.limits import Limiter
from synth.harvest.pricing import Price, estimate_prompt_tokens, max_prompt_tokens, resolve_price
from synth.harvest.providers import make_provider
from synth.harvest.providers.base import ChatRequest, ChatResponse, Provider
from synth.harvest.retry import Decision, decide, retrying
from synth.inputs import render_records
from synth.journal.store import PLAN_EXTEND, PLAN_REPLACE, Journal, NewItem, request_key
from synth.templates import Template, load_template


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
    prior_spent_usd: Decimal = Decimal(0)  # earlier runs, orphaned reservations included
    repeated_inputs: int = 0  # input lines whose prompt repeats an earlier line's: sent once
    budget_usd: Decimal | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def remaining(self) -> int:
        return max(self.total - self.already_done - self.done - self.failed, 0)


@dataclass
class HarvestResult:
    stats: HarvestStats
    status: str  # finished | budget
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
    return Plan(cfg, template, params, max_out, price, template.json_schema)


def iter_items(p: Plan) -> Iterator[NewItem]:
    """Render and key every (input, sample); raises InputError naming the line."""
    t = p.cfg.teacher
    for line, record, messages in render_records(p.cfg.inputs, p.template):
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
            done = {r[0] for r in j.db.execute("SELECT key FROM items WHERE state = 'done'")}
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
    from synth.harvest.providers.base import Usage

    est = p.price.cost(Usage(input_tokens=est_in, output_tokens=max_out // 2))
    worst = p.price.worst_case(worst_in, max_out)
    return DryRun(n, already, to_send, est_in, max_out, est, worst, p.price)


class Harvester:
    """One harvest run over a journal. `run()` returns when every item has ended."""

    def __init__(self, p: Plan, journal: Journal, provider: Provider, stats: HarvestStats) -> None:
        self.p = p
        self.cfg = p.cfg
        self.journal = journal
        self.provider = provider
        self.stats = stats
        t = self.cfg.teacher
        # probe: with no rpm/tpm configured, one request learns the advertised limits first
        self.limiter = Limiter(t.concurrency, t.rpm, t.tpm, probe=True)
        self.budget = Budget(self.cfg.budget_usd, journal.spent_usd())
        stats.prior_spent_usd = self.budget.spent
        stats.budget_usd = self.cfg.budget_usd
        self.run_id = 0
        self.stop_reason: str | None = None  # "budget" | "auth"
        self.auth_error: str | None = None

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
            await self._answer(*job)

    async def _answer(self, key: str, request: dict[str, Any]) -> None:
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
        started = time.time()
        attempt_started = [started]

        async def on_retry(err: ProviderError, decision: Decision, wait: float) -> None:
            outcome = "rate_limited" if decision.rate_limited else "retry"
            self.journal.record_attempt(
                key, self.run_id, attempt_started[0], outcome, err.status, str(err)
            )
            attempt_started[0] = time.time() + wait
            self.stats.retries += 1
            self.limiter.observe(err.headers)
            if decision.rate_limited:
                self.stats.rate_limited += 1
                self.limiter.on_rate_limited(wait)
            elif decision.overloaded:
                self.limiter.on_overloaded()

        try:
            response = await self._send(req, prompt_bound + max_out, on_retry)
        except ProviderError as err:
            decision = decide(err)
            self.stats.in_flight -= 1
            if decision.stop_run:
                self.stop_reason = "auth"
                self.auth_error = str(err)
                self.journal.mark_failed(
                    key,
                    str(err),
                    run_id=self.run_id,
                    started_at=attempt_started[0],
                    status=err.status,
                    outcome="auth",
                    state="pending",
                )
                await self.budget.release(worst)
                return
            self.journal.mark_failed(
                key,
                str(err) or decision.reason,
                run_id=self.run_id,
                started_at=attempt_started[0],
                status=err.status,
                outcome="rate_limited" if decision.rate_limited else "failed",
            )
            if decision.rate_limited:
                self.stats.rate_limited += 1
            self.stats.failed += 1
            await self.budget.release(worst)
            return
        except asyncio.CancelledError:
            # Left in flight on purpose: the next run counts its worst case as possibly billed.
            self.stats.in_flight -= 1
            raise
        cost = self.p.price.cost(response.usage)
        self.journal.mark_done(
            key, response, cost, run_id=self.run_id, started_at=attempt_started[0]
        )
        await self.budget.settle(worst, cost)
        self.stats.in_flight -= 1
        self.stats.done += 1
        self.stats.input_tokens += response.usage.input_tokens
        self.stats.output_tokens += response.usage.output_tokens
        self.stats.spent_usd += cost

    async def _send(self, req: ChatRequest, tokens_bound: int, on_retry: Any) -> ChatResponse:
        async for attempt in retrying(self.cfg.teacher.max_attempts, on_retry=on_retry):
            with attempt:
                if self.stop_reason == "auth":
                    raise ProviderError("run stopped: the key was refused", status=401)
                async with self.limiter.slot(tokens_bound) as permit:
                    response = await self.provider.complete(req)
                    permit.settle(response.usage.input_tokens + response.usage.output_tokens)
                self.limiter.observe(response.headers)
                self.limiter.on_success()
        return response


async def harvest_async(
    cfg: RunConfig,
    *,
    stats: HarvestStats | None = None,
    retry_failed: bool = False,
    provider: Provider | None = None,
    progress: Callable[[HarvestStats], AbstractContextManager[Any]] | None = None,
    add_to_plan: bool = False,
) -> HarvestResult:
    """Check everything, journal every item, then send what is not answered yet.
    `progress(stats)` (a context manager, e.g. synth.cli.progress.harvest_progress) is entered
    only once the inputs are validated, so a user's mistake prints one line and nothing else.
    The items journaled become the journal's plan (what build reads); `add_to_plan=True`
    (another inputs file, `--inputs`) adds them to the plan instead of replacing it."""
    p = plan(cfg)
    own_provider = provider is None
    provider = provider or make_provider(cfg.teacher)  # AuthError here: no key, nothing sent
    stats = stats or HarvestStats()
    t0 = time.monotonic()
    try:
        with Journal(cfg.journal_path) as journal:
            # every line checked before anything is sent; the plan changes only then
            rendered = [0]

            def counted() -> Iterator[NewItem]:
                for item in iter_items(p):
                    rendered[0] += 1
                    yield item

            journal.add_items(counted(), plan=PLAN_EXTEND if add_to_plan else PLAN_REPLACE)
            if retry_failed:
                journal.retry_failed()
            stats.total = journal.count(current=True)
            # same prompt, same key: one request; said, so that a count never surprises
            stats.repeated_inputs = (rendered[0] - stats.total) // cfg.teacher.samples_per_input
            stats.already_done = journal.count("done", current=True)
            h = Harvester(p, journal, provider, stats)
            with progress(stats) if progress else nullcontext():
                status = await h.run()
            if status == "auth":
                raise AuthError(
                    f"the teacher refused the key in ${cfg.teacher.key_env} ({h.auth_error}): check the key "
                    "and its access to this model; nothing more was sent"
                )
            if status == "budget":
                left = journal.count("pending", current=True)
                spent = journal.spent_usd()
                raise BudgetExceeded(
                    f"budget_usd {cfg.budget_usd} reached: ${spent:.4f} committed, {left} items not sent; "
                    "raise budget_usd and run the same command to continue"
                )
            return HarvestResult(stats, status, h.run_id, time.monotonic() - t0)
    finally:
        if own_provider:
            await provider.aclose()


def harvest(cfg: RunConfig, **kwargs: Any) -> HarvestResult:
    return asyncio.run(harvest_async(cfg, **kwargs))
