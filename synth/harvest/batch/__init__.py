"""`teacher.mode: batch`: the providers' batch APIs (half price, results within 24 h), with the
online harvest's journal and budget. One module per provider's batch API behind one protocol
(`base.BatchClient`), the runner beside them, and the factory here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anthropic
import openai

from synth.errors import AuthError, ConfigError, EndpointError
from synth.harvest.batch.anthropic_batch import AnthropicBatches
from synth.harvest.batch.base import BatchClient
from synth.harvest.batch.openai_batch import OpenAIBatches
from synth.harvest.batch.runner import BatchProgress, BatchRunner
from synth.harvest.providers.anthropic import AnthropicProvider
from synth.harvest.providers.base import Provider
from synth.harvest.providers.openai import OpenAIProvider
from synth.harvest.secrets import Redactor
from synth.journal.store import Journal

if TYPE_CHECKING:
    from synth.harvest.engine import HarvestStats, Plan


def batch_client(provider: Provider) -> BatchClient:
    """The batch API of the provider the online harvest would use (same SDK client, key and
    request shape)."""
    if isinstance(provider, AnthropicProvider):
        return AnthropicBatches(provider)
    if isinstance(provider, OpenAIProvider):
        return OpenAIBatches(provider)
    raise ConfigError(f"teacher.mode: batch: provider {provider.name} has no batch API")


async def send_batches(
    p: Plan, journal: Journal, provider: Provider, stats: HarvestStats, *, wait: bool = True
) -> tuple[str, int]:
    """One batch-mode run over the journal: (status, run id). See `runner.BatchRunner`."""
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
    except BaseException as e:
        journal.end_run(run_id, "interrupted")
        refused = _refusal(e, provider, t.base_url)
        if refused is not None:
            raise refused from None
        raise
    journal.end_run(run_id, status)
    return status, run_id


def _refusal(err: BaseException, provider: Provider, base_url: str | None) -> Exception | None:
    """A batch API call the endpoint refused, as one line for the user (key redacted)."""
    if not isinstance(err, openai.APIError | anthropic.APIError):
        return None
    clean = Redactor(getattr(getattr(provider, "client", None), "api_key", None))
    status = getattr(err, "status_code", None)
    where = base_url or f"the {provider.name} API"
    what = clean(f"{status}: {err.message}" if status else f"connection failed: {err.message}")
    if status in (401, 403):
        return AuthError(f"the batch API at {where} refused the key ({what}): check it")
    return EndpointError(
        f"the batch API at {where} failed ({what}): a server without the provider's batch API "
        "needs teacher.mode: online; the journal keeps what was submitted, run again to go on"
    )
