"""The batch sender: the same journal and budget as the online harvest, another way to send.

One run, top to bottom (`BatchRunner.run`):

    open batches of earlier runs ─► poll (backoff) ─► collect: answers done at the batch price,
                                                      the rest back to pending or failed
    pending items ─► batches within the provider's limits, each reserved at its worst case
                  ─► submitted, journaled at once (items `batched`: never sent again)

A re-run after a crash or Ctrl-C polls the batches the journal holds and submits only what is
pending; `--no-wait` submits and returns. Items that came back without an answer this run
(expired, cancelled, a server error) stay pending for the next `distill harvest`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from synth.harvest.batch.base import BatchClient, ItemResult
from synth.harvest.budget import Budget
from synth.harvest.pricing import Price, max_prompt_tokens
from synth.harvest.providers.base import ChatRequest
from synth.harvest.usage_check import clamp, unbelievable
from synth.journal.batches import BatchJournal
from synth.journal.store import Journal

#: polling: first wait, growth per poll, ceiling (a real batch takes minutes to hours)
POLL_GROWTH = 1.5
MAX_POLL_S = 300.0


@dataclass
class BatchProgress:
    """Live figures of a batch harvest, for the progress display and the closing line."""

    submitted: int = 0  # batches submitted by this run
    open: int = 0  # batches waiting for the provider
    collected: int = 0  # batches whose results this run read
    items_batched: int = 0  # items in open batches
    done: int = 0
    failed: int = 0
    retry_later: int = 0  # came back unanswered: pending for the next harvest
    spent_usd: Decimal = Decimal(0)
    statuses: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"batches: {self.submitted} submitted, {self.open} in progress, "
            f"{self.collected} collected · items: {self.items_batched} in batches, "
            f"{self.done} answered, {self.failed} failed, {self.retry_later} to resend"
        )


class BatchRunner:
    def __init__(
        self,
        client: BatchClient,
        journal: Journal,
        price: Price,
        *,
        budget_usd: Decimal | None,
        max_output_tokens: int,
        batch_size: int,
        poll_s: float,
        run_id: int,
        on_change: Callable[[BatchProgress], None] | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.batches = BatchJournal(journal)
        self.online_price = price
        self.price = price.batched()
        self.budget_usd = budget_usd
        self.max_out = max_output_tokens
        self.batch_size = max(1, min(batch_size, client.max_requests))
        self.poll_s = poll_s
        self.run_id = run_id
        self.progress = BatchProgress()
        self.on_change = on_change
        self.sent: set[str] = set()  # keys submitted by this run
        self.out_of_budget = False

    async def run(self, *, wait: bool = True) -> str:
        """'finished', 'submitted' (--no-wait), 'budget', or 'pending' (items to resend)."""
        await self._resolve_interrupted_submissions()
        self._refresh()
        while True:
            await self._submit_what_fits()
            if not wait:
                return "submitted" if self.batches.open() else self._ending()
            if not self.batches.open():
                return self._ending()
            await self._collect_ended()

    def _ending(self) -> str:
        if self.out_of_budget:
            return "budget"
        if self.journal.count("pending", current=True):
            return "pending"
        return "finished"

    def _refresh(self) -> None:
        self.progress.open = len(self.batches.open())
        self.progress.items_batched = self.journal.count("batched")
        if self.on_change:
            self.on_change(self.progress)

    # -- submitting -----------------------------------------------------------------------------

    def _budget(self) -> Budget:
        # spent_usd counts settled answers, crashes' in-flight requests and open batches
        return Budget(self.budget_usd, self.journal.spent_usd())

    async def _submit_what_fits(self) -> None:
        budget = self._budget()
        chunk: list[tuple[str, bytes]] = []
        size = 0
        worst = Decimal(0)
        for key, request in list(self.journal.iter_pending()):
            if key in self.sent:
                continue  # came back this run: the next harvest resends it
            req = ChatRequest(**request)
            line = self.client.line(key, req)
            item_worst = self.price.worst_case(
                max_prompt_tokens(req.messages, req.json_schema), self.max_out
            )
            if not budget.fits(worst + item_worst):
                self.out_of_budget = True
                break
            if chunk and (
                len(chunk) >= self.batch_size or size + len(line) > self.client.max_bytes
            ):
                await self._submit(chunk, worst)
                budget = self._budget()
                chunk, size, worst = [], 0, Decimal(0)
                if not budget.fits(item_worst):
                    self.out_of_budget = True
                    break
            chunk.append((key, line))
            size += len(line)
            worst += item_worst
        if chunk:
            await self._submit(chunk, worst)
        if self.out_of_budget and self.batches.open():
            self.out_of_budget = False  # open batches will settle below their worst case

    async def _submit(self, chunk: list[tuple[str, bytes]], worst: Decimal) -> None:
        # journaled before the provider hears of it, so that no crash can send it twice
        keys = [k for k, _ in chunk]
        tag = "distill-" + uuid.uuid4().hex
        self.batches.intend(tag, self.client.name, keys, worst, self.run_id)
        self.sent.update(keys)
        try:
            batch_id = await self.client.submit([line for _, line in chunk], tag)
        except Exception as e:
            if getattr(e, "status_code", None) is not None:  # refused: it was never created
                self.batches.abandon(tag, f"refused: {e}")
            raise  # otherwise unknown: the next run looks for it (`find`)
        self.batches.confirm(tag, batch_id)
        self.progress.submitted += 1
        self._refresh()

    async def _resolve_interrupted_submissions(self) -> None:
        """A crash between journaling a batch and the provider's answer: adopt the batch the
        provider has, or put its items back to pending when it has none."""
        for b in self.batches.submitting():
            found = await self.client.find(b.id, b.items, b.created_at, self.batches.known_ids())
            if found is None:
                self.batches.abandon(b.id, "never reached the provider")
            else:
                self.batches.confirm(b.id, found)

    # -- collecting -----------------------------------------------------------------------------

    async def _collect_ended(self) -> None:
        """Poll the open batches with backoff until at least one has ended; collect those."""
        wait = self.poll_s
        while True:
            ended = []
            for b in self.batches.open():
                poll = await self.client.poll(b.id)
                if poll.ended:
                    ended.append((b.id, poll.status))
            if ended:
                for batch_id, status in ended:
                    await self._collect(batch_id, status)
                return
            await asyncio.sleep(wait)
            wait = min(wait * POLL_GROWTH, MAX_POLL_S)

    async def _collect(self, batch_id: str, status: str) -> None:
        waiting = self.batches.waiting_in(batch_id)
        cost = Decimal(0)
        for result in await self.client.results(batch_id):
            if result.key == "*":  # the whole batch was refused: its items fail with the reason
                for key in waiting:
                    self._unanswered(ItemResult(key, error=result.error))
                waiting = {}
                break
            if result.key not in waiting:
                continue  # not ours, or already collected
            request = ChatRequest(**waiting.pop(result.key))
            if result.response is None:
                self._unanswered(result)
                continue
            cost += self._answered(result, request)
        self.batches.close(batch_id, status, cost)  # what the results left out: pending
        self.progress.retry_later += len(waiting)
        self.progress.collected += 1
        self._refresh()

    def _answered(self, result: ItemResult, request: ChatRequest) -> Decimal:
        response = result.response
        assert response is not None
        bound = max_prompt_tokens(request.messages, request.json_schema)
        flag = unbelievable(response.usage, bound, self.max_out or None)
        if flag is None:
            cost = self.price.cost(response.usage)
        else:  # the budget never trusts a number it cannot believe: the worst case
            cost = self.price.worst_case(bound, self.max_out)
            response.usage = clamp(response.usage, bound, self.max_out or None)
        usage = response.usage
        online = self.online_price.cost(usage)
        full = self.online_price.uncached_cost(usage)
        self.journal.mark_done(
            result.key,
            response,
            cost,
            run_id=self.run_id,
            started_at=time.time(),
            full_price_usd=full,
            flag=flag,
        )
        self.batches.set_online_cost(result.key, online)
        self.progress.done += 1
        self.progress.spent_usd += cost
        if self.on_change:
            self.on_change(self.progress)
        return cost

    def _unanswered(self, result: ItemResult) -> None:
        self.batches.back_to_pending(
            result.key, result.error or "no result", run_id=self.run_id, retryable=result.retryable
        )
        if result.retryable:
            self.progress.retry_later += 1
        else:
            self.progress.failed += 1
