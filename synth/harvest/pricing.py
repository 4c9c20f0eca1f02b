"""What the teacher costs, in `Decimal` dollars: prices are reviewed data, not code.

A price comes from `teacher.price` in the config when given, else from the `genai-prices`
table (maintained upstream, cached-input prices included). A model the table does not know,
with no override, is an error before anything is sent: a budget is only a guarantee when
every token has a price.

    price = resolve_price("openai", "gpt-4o-mini", None, base_url=None)
    price.cost(Usage(input_tokens=1000, cached_input_tokens=400, output_tokens=100))
    price.worst_case(max_prompt_tokens(messages), max_tokens)     # what the budget reserves
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from synth.config import PriceConfig
from synth.errors import PricingError
from synth.harvest.providers.base import Usage

MTOK = Decimal(1_000_000)
ZERO = Decimal(0)

#: our provider names → genai-prices provider ids
PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic"}

#: tokens a chat template adds per message (role markers, separators) and per request
#: (start of the answer), generous for every template we know
MESSAGE_OVERHEAD_TOKENS = 8
REQUEST_OVERHEAD_TOKENS = 16
#: structured output: the provider feeds the schema to the model, wrapped in instructions
SCHEMA_OVERHEAD_TOKENS = 512


@dataclass(frozen=True)
class Tier:
    """Long-context pricing: above `above_input_tokens` prompt tokens, these prices apply to
    the whole request (the "cliff" model of OpenAI's and Anthropic's long-context prices)."""

    above_input_tokens: int
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal


@dataclass(frozen=True, kw_only=True)
class Price:
    """USD per million tokens. `input_tokens` of a usage counts cached tokens too: those are
    billed at `cached_input_per_mtok`, the rest at `input_per_mtok`. `per_hour` prices a
    self-hosted endpoint by wall time (the engine adds it); `free` endpoints cost nothing."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal
    per_hour: Decimal | None = None
    free: bool = False
    source: str  # where the price came from, for the report: "teacher.price", "genai-prices ..."
    tiers: tuple[Tier, ...] = ()  # ascending `above_input_tokens`

    def _rates(self, input_tokens: int) -> tuple[Decimal, Decimal, Decimal]:
        rates = (self.input_per_mtok, self.output_per_mtok, self.cached_input_per_mtok)
        for tier in self.tiers:
            if input_tokens > tier.above_input_tokens:
                rates = (tier.input_per_mtok, tier.output_per_mtok, tier.cached_input_per_mtok)
        return rates

    def cost(self, usage: Usage) -> Decimal:
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        inp, out, cache = self._rates(usage.input_tokens)
        return (
            (usage.input_tokens - cached) * inp + cached * cache + usage.output_tokens * out
        ) / MTOK

    def worst_case(self, input_tokens: int, max_output_tokens: int) -> Decimal:
        """An upper bound of `cost` for any usage of at most these many tokens: every input
        token uncached, every allowed output token produced, at the dearest applicable tier."""
        applicable = [self._rates(0)] + [
            self._rates(t.above_input_tokens + 1)
            for t in self.tiers
            if input_tokens > t.above_input_tokens
        ]
        inp = max(max(r[0], r[2]) for r in applicable)  # a cached price above the input one?
        out = max(r[1] for r in applicable)
        return (input_tokens * inp + max_output_tokens * out) / MTOK


# --------------------------------------------------------------------------- resolution


def _from_override(p: PriceConfig) -> Price:
    """`free` wins over anything beside it; `per_hour` keeps the per-token prices given with
    it (both are then billed), and leaves them at zero otherwise."""
    if p.free:
        return Price(
            input_per_mtok=ZERO,
            output_per_mtok=ZERO,
            cached_input_per_mtok=ZERO,
            free=True,
            source="teacher.price (free)",
        )
    inp = p.input_per_mtok if p.input_per_mtok is not None else ZERO
    out = p.output_per_mtok if p.output_per_mtok is not None else ZERO
    cached = p.cached_input_per_mtok if p.cached_input_per_mtok is not None else inp
    return Price(
        input_per_mtok=inp,
        output_per_mtok=out,
        cached_input_per_mtok=cached,
        per_hour=p.per_hour,
        source="teacher.price",
    )


def _table_provider(provider: str, base_url: str | None) -> tuple[Any, bool]:
    """The genai-prices provider whose prices apply, and whether `base_url` is that
    provider's own API. A base_url of a provider the table knows (Groq, Together, Azure, ...)
    selects that provider; any other base_url (a local server) falls back to `provider`."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    if base_url:
        for p in snapshot.providers:
            if re.match(p.api_pattern, base_url):
                return p, True
    found = data_snapshot.find_provider_by_id(snapshot.providers, PROVIDER_IDS[provider])
    return found, not base_url


def _tiered(value: Any) -> tuple[Decimal | None, dict[int, Decimal]]:
    """A genai-prices price (a Decimal, or tiered prices) as (base, {tier start: price})."""
    if value is None or isinstance(value, Decimal):
        return value, {}
    return value.base, {t.start: t.price for t in value.tiers}


def _at(base: Decimal, tiers: dict[int, Decimal], start: int) -> Decimal:
    below = [s for s in tiers if s <= start]
    return tiers[max(below)] if below else base


def _from_table(provider: str, model: str, base_url: str | None) -> Price | None:
    from genai_prices import __version__

    table_provider, official = _table_provider(provider, base_url)
    info = table_provider.find_model(model) if table_provider else None
    if info is None:
        return None
    prices = info.get_prices(datetime.now(tz=UTC))
    inp, inp_tiers = _tiered(prices.input_mtok)
    out, out_tiers = _tiered(prices.output_mtok)
    cache, cache_tiers = _tiered(prices.cache_read_mtok)
    if inp is None and out is None:
        return None  # an audio/image/embedding-only entry: no chat price
    inp = inp if inp is not None else ZERO
    out = out if out is not None else ZERO
    if cache is None:
        cache, cache_tiers = inp, inp_tiers
    starts = sorted(set(inp_tiers) | set(out_tiers) | set(cache_tiers))
    tiers = tuple(
        Tier(
            above_input_tokens=s,
            input_per_mtok=_at(inp, inp_tiers, s),
            output_per_mtok=_at(out, out_tiers, s),
            cached_input_per_mtok=_at(cache, cache_tiers, s),
        )
        for s in starts
    )
    source = f"genai-prices {__version__}: {table_provider.id}/{info.id}"
    if not official:
        source += f" (the price of {table_provider.name}'s API; the endpoint is {base_url})"
    return Price(
        input_per_mtok=inp,
        output_per_mtok=out,
        cached_input_per_mtok=cache,
        source=source,
        tiers=tiers,
    )


def resolve_price(
    provider: str, model: str, override: PriceConfig | None, *, base_url: str | None
) -> Price:
    """The price of `model`: `override` (teacher.price) first, else the genai-prices table.
    Raises PricingError when neither knows it, before any request is sent."""
    if override is not None:
        return _from_override(override)
    price = _from_table(provider, model, base_url)
    if price is None:
        raise PricingError(
            f"no price known for {provider} model '{model}': add teacher.price: "
            "{input_per_mtok: ..., output_per_mtok: ...} (or free: true for a local server)"
        )
    return price


# --------------------------------------------------------------------------- token counts


def _contents(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    out = []
    for m in messages:
        content = m.get("content", "")
        out.append(content if isinstance(content, str) else json.dumps(content))
    return out


def estimate_prompt_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """A typical prompt size for `--dry-run`: about four characters a token in English."""
    contents = _contents(messages)
    chars = sum(len(c) for c in contents)
    return math.ceil(chars / 4) + 4 * len(contents) + 3


def max_prompt_tokens(
    messages: Iterable[Mapping[str, Any]], json_schema: Mapping[str, Any] | None = None
) -> int:
    """An upper bound of the prompt tokens, for budget reservations: a byte-level BPE
    tokenizer never makes more tokens than the text has UTF-8 bytes; add the chat template's
    overhead, and the schema when structured output sends one."""
    contents = _contents(messages)
    n = sum(len(c.encode("utf-8")) for c in contents)
    n += MESSAGE_OVERHEAD_TOKENS * len(contents) + REQUEST_OVERHEAD_TOKENS
    if json_schema is not None:
        n += len(json.dumps(json_schema).encode("utf-8")) + SCHEMA_OVERHEAD_TOKENS
    return n
