"""`distill harvest --dry-run`'s comparison: the same answers bought online, online with the
prompt cache, and through the batch API, so that the user picks with numbers.

The estimate is typical (about four characters a token, half of max_tokens per answer); the
cache saves only when the shared prefix (system prompt, few-shot examples) reaches the
model's minimum cacheable length: on Anthropic the first request writes it (dearer than
input) and the others read it; OpenAI reads it from the second request on, writes cost
nothing extra. The worst case is what the budget would reserve.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rich.table import Table

from synth.config import RunConfig
from synth.harvest.engine import iter_items, plan
from synth.harvest.pricing import estimate_prompt_tokens, max_prompt_tokens
from synth.harvest.providers.base import Usage
from synth.harvest.providers.prompt_cache import (
    OPENAI_MIN_CACHEABLE_TOKENS,
    min_cacheable_tokens,
    shared_prefix,
)
from synth.journal import queries
from synth.journal.store import Journal


@dataclass(frozen=True)
class ModeEstimate:
    mode: str  # online | online + cache | batch
    est_usd: Decimal
    worst_usd: Decimal
    note: str = ""


def mode_estimates(cfg: RunConfig) -> list[ModeEstimate]:
    p = plan(cfg)
    t = cfg.teacher
    done: set[str] = set()
    if cfg.journal_path.exists():
        with Journal(cfg.journal_path, readonly=True) as j:
            done = queries.done_keys(j)
    n = est_in = worst_in = 0
    prefixes: dict[str, int] = {}  # a prefix (as text) → its estimated tokens
    reads: dict[str, int] = {}  # a prefix → the tokens later requests would read of it
    for item in iter_items(p):
        if item.key in done:
            continue
        n += 1
        messages = item.request.messages
        est_in += estimate_prompt_tokens(messages)
        worst_in += max_prompt_tokens(messages, item.request.json_schema)
        prefix = shared_prefix(messages)
        if prefix:
            key = repr(prefix)
            if key in prefixes:
                reads[key] = reads.get(key, 0) + prefixes[key]
            else:
                prefixes[key] = estimate_prompt_tokens(prefix)
    out_tokens = (p.max_output_tokens or 0) * n
    online_price = p.price.with_cache_writes(None)
    plain = Usage(input_tokens=est_in, output_tokens=out_tokens // 2)
    minimum = (
        min_cacheable_tokens(t.model) if t.provider == "anthropic" else OPENAI_MIN_CACHEABLE_TOKENS
    )
    cacheable = {k: v for k, v in prefixes.items() if v >= minimum}
    if cacheable:
        written = sum(cacheable.values()) if t.provider == "anthropic" else 0
        cached = Usage(
            input_tokens=est_in,
            output_tokens=out_tokens // 2,
            cached_input_tokens=sum(reads.get(k, 0) for k in cacheable),
            cache_write_tokens=written,
            cache_write_1h_tokens=written if t.prompt_cache_ttl == "1h" else 0,
        )
        cache_price = p.price.with_cache_writes(
            t.prompt_cache_ttl if t.provider == "anthropic" else None
        )
        cache_est = cache_price.cost(cached)
        cache_note = f"{len(prefixes)} shared prefix(es), ~{max(cacheable.values()):,} tokens"
    else:
        cache_price = online_price
        cache_est = online_price.cost(plain)
        longest = max(prefixes.values(), default=0)
        cache_note = f"shared prefix ~{longest:,} tokens, below the {minimum:,} the model caches"
    if t.prompt_cache == "off":
        cache_note += " (teacher.prompt_cache: off)"
    batch_price = online_price.batched()
    return [
        ModeEstimate(
            "online", online_price.cost(plain), online_price.worst_case(worst_in, out_tokens)
        ),
        ModeEstimate(
            "online + cache", cache_est, cache_price.worst_case(worst_in, out_tokens), cache_note
        ),
        ModeEstimate(
            "batch",
            batch_price.cost(plain),
            batch_price.worst_case(worst_in, out_tokens),
            "results within 24 h",
        ),
    ]


def current_mode(cfg: RunConfig) -> str:
    t = cfg.teacher
    return (
        "batch" if t.mode == "batch" else "online + cache" if t.prompt_cache == "auto" else "online"
    )


def mode_table(rows: list[ModeEstimate], current: str) -> Table:
    table = Table(title="the same answers, three ways", title_justify="left")
    table.add_column("mode")
    table.add_column("estimated", justify="right")
    table.add_column("worst case", justify="right")
    table.add_column("")
    for r in rows:
        table.add_row(
            r.mode + (" (this config)" if r.mode == current else ""),
            f"${r.est_usd:,.4f}",
            f"${r.worst_usd:,.4f}",
            r.note,
        )
    return table
