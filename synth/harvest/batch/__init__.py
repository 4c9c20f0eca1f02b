"""`teacher.mode: batch`: the providers' batch APIs (half price, results within 24 h), with the
online harvest's journal and budget. One module per provider's batch API behind one protocol
(`base.BatchClient`), the runner beside them, and the factory here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from synth.errors import ConfigError
from synth.harvest.batch.base import BatchClient
from synth.harvest.providers.base import Provider
from synth.journal.store import Journal

if TYPE_CHECKING:
    from synth.harvest.engine import HarvestStats, Plan


def batch_client(provider: Provider) -> BatchClient:
    """The batch API of the provider the online harvest would use (same SDK client, key and
    request shape)."""
    from synth.harvest.providers.anthropic import AnthropicProvider
    from synth.harvest.providers.openai import OpenAIProvider

    if isinstance(provider, AnthropicProvider):
        from synth.harvest.batch.anthropic_batch import AnthropicBatches

        return AnthropicBatches(provider)
    if isinstance(provider, OpenAIProvider):
        from synth.harvest.batch.openai_batch import OpenAIBatches

        return OpenAIBatches(provider)
    raise ConfigError(f"teacher.mode: batch: provider {provider.name} has no batch API")


async def send_batches(
    p: Plan, journal: Journal, provider: Provider, stats: HarvestStats, *, wait: bool = True
) -> tuple[str, int]:
    """One batch-mode run over the journal: (status, run id). See `runner.BatchRunner`."""
    from synth.harvest.batch.runner import BatchProgress, BatchRunner

    t = p.cfg.teacher
    client = batch_client(provider)
    run_id = journal.start_run(
        provider=t.provider, model=t.model, budget_usd=p.cfg.budget_usd, per_hour_usd=None
    )
    stats.budget_usd = p.cfg.budget_usd
    stats.prior_spent_usd = journal.spent_usd()

    def show(b: BatchProgress) -> None:  # the online progress display reads these
        stats.done, stats.failed, stats.in_flight = b.done, b.failed, b.items_batched
        stats.spent_usd, stats.batches = b.spent_usd, b.line()

    runner = BatchRunner(
        client,
        journal,
        p.price,
        budget_usd=p.cfg.budget_usd,
        max_output_tokens=p.max_output_tokens or 0,
        batch_size=t.batch_size,
        poll_s=t.batch_poll_s,
        run_id=run_id,
        on_change=show,
    )
    try:
        status = await runner.run(wait=wait)
    except BaseException:
        journal.end_run(run_id, "interrupted")
        raise
    journal.end_run(run_id, status)
    return status, run_id
