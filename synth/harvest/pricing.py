"""What the teacher costs, in `Decimal` dollars: prices are reviewed data, not code.

A price comes from `teacher.price` in the config when given, else from the `genai-prices`
table (maintained upstream: cache reads, cache writes at their 5-minute and 1-hour rates,
long-context tiers and batch prices included), whose own `calc_price` does the arithmetic.
A model the table does not know, with no override, is an error before anything is sent: a
budget is only a guarantee when every token has a price.

    price = resolve_price("anthropic", "claude-haiku-4-5", None, base_url=None)
    price.cost(Usage(input_tokens=2000, cached_input_tokens=1000, cache_write_tokens=500))
    price.with_cache_writes("5m").worst_case(max_prompt_tokens(messages), max_tokens)
    price.batched()           # the same model through the provider's batch API
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from synth.config import PriceConfig
from synth.errors import PricingError
from synth.harvest.providers.base import Usage

MTOK = Decimal(1_000_000)
ZERO = Decimal(0)

#: our provider names → genai-prices provider ids
PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic"}

#: the providers' published batch discount (OpenAI Batch, Anthropic Message Batches), used
#: where the table has no batch price for a model and the config gives none
PUBLISHED_BATCH_FACTOR = Decimal("0.5")
#: Anthropic's published cache-write multipliers of the input price, for a config override
#: that gives no cache-write price of its own
CACHE_WRITE_5M_FACTOR = Decimal("1.25")
CACHE_WRITE_1H_FACTOR = Decimal("2")

#: tokens a chat template adds per message (role markers, separators) and per request
#: (start of the answer), generous for every template we know
MESSAGE_OVERHEAD_TOKENS = 8
REQUEST_OVERHEAD_TOKENS = 16
#: structured output: the provider feeds the schema to the model, wrapped in instructions
SCHEMA_OVERHEAD_TOKENS = 512

CacheWrites = Literal["5m", "1h"] | None


@dataclass(frozen=True)
class TableRef:
    """Where genai-prices prices this model: its provider id and model id."""

    provider_id: str
    model_id: str


@dataclass(frozen=True, kw_only=True)
class Price:
    """USD per million tokens. `input_tokens` of a usage counts every prompt token: the cache
    reads (`cached_input_tokens`) and writes (`cache_write_tokens`, of which
    `cache_write_1h_tokens` at the 1-hour rate) are billed at their own prices, the rest at
    `input_per_mtok`. A table price (`table` set) is computed by genai-prices itself; the
    per-token fields then show its base rates. `per_hour` prices a self-hosted endpoint by wall
    time (the engine adds it); `free` endpoints cost nothing. `batch` prices the provider's
    batch API; `cache_writes` says which cache writes a request may cause, for `worst_case`."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal
    cache_write_per_mtok: Decimal | None = None  # default: the input price × 1.25
    cache_write_1h_per_mtok: Decimal | None = None  # default: the input price × 2
    per_hour: Decimal | None = None
    free: bool = False
    source: str  # where the price came from, for the report: "teacher.price", "genai-prices ..."
    table: TableRef | None = None
    batch: bool = False
    batch_factor: Decimal | None = None  # overrides the table's batch price when set
    cache_writes: CacheWrites = None

    # ------------------------------------------------------------------ variants

    def batched(self) -> Price:
        return replace(self, batch=True, source=self.source + " · batch")

    def with_cache_writes(self, ttl: CacheWrites) -> Price:
        return replace(self, cache_writes=ttl)

    # ------------------------------------------------------------------ arithmetic

    def cost(self, usage: Usage) -> Decimal:
        if self.free:
            return ZERO
        if self.table is not None:
            return self._table_cost(usage)
        return self._override_cost(usage)

    def uncached_cost(self, usage: Usage) -> Decimal:
        """What the same tokens would have cost with no prompt caching at all."""
        return self.cost(Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens))

    def full_price(self, usage: Usage, cost: Decimal) -> Decimal | None:
        """What `usage` would have cost online with no prompt cache, or None when that is
        `cost` (nothing cached or written): the journal's record of what caching saved."""
        if not (usage.cached_input_tokens or usage.cache_write_tokens or self.batch):
            return None
        return replace(self, batch=False).uncached_cost(usage)

    def worst_case(self, input_tokens: int, max_output_tokens: int) -> Decimal:
        """An upper bound of `cost` for any usage of at most these many tokens: every input
        token at the dearest rate a request may be billed (uncached, or written to the cache
        when this price allows cache writes), every allowed output token produced, at the
        dearest applicable long-context tier."""
        candidates = [Usage(input_tokens=input_tokens, output_tokens=max_output_tokens)]
        if self.cache_writes is not None:
            candidates.append(
                Usage(
                    input_tokens=input_tokens,
                    output_tokens=max_output_tokens,
                    cache_write_tokens=input_tokens,
                    cache_write_1h_tokens=input_tokens if self.cache_writes == "1h" else 0,
                )
            )
        # a cached price above the input one would be a table error; bound it all the same
        candidates.append(
            Usage(
                input_tokens=input_tokens,
                output_tokens=max_output_tokens,
                cached_input_tokens=input_tokens,
            )
        )
        return max(self.cost(u) for u in candidates)

    def _table_cost(self, usage: Usage) -> Decimal:
        from genai_prices import Usage as TableUsage
        from genai_prices import calc_price

        assert self.table is not None
        read = min(usage.cached_input_tokens, usage.input_tokens)
        write = min(usage.cache_write_tokens, usage.input_tokens - read)
        write_1h = min(usage.cache_write_1h_tokens, write)
        table_usage = TableUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=read,
            cache_write_tokens=write,
            cache_write_1h_tokens=write_1h,
        )
        batch_by_factor = self.batch and self.batch_factor is not None
        context = {"processing": "batch"} if self.batch and not batch_by_factor else None
        total = calc_price(
            table_usage,
            self.table.model_id,
            provider_id=self.table.provider_id,
            price_context=context,
        ).total_price
        if batch_by_factor:
            assert self.batch_factor is not None
            return total * self.batch_factor
        return total

    def _override_cost(self, usage: Usage) -> Decimal:
        read = min(usage.cached_input_tokens, usage.input_tokens)
        write = min(usage.cache_write_tokens, usage.input_tokens - read)
        write_1h = min(usage.cache_write_1h_tokens, write)
        w5 = self.cache_write_per_mtok
        w1h = self.cache_write_1h_per_mtok
        w5 = w5 if w5 is not None else self.input_per_mtok * CACHE_WRITE_5M_FACTOR
        w1h = w1h if w1h is not None else self.input_per_mtok * CACHE_WRITE_1H_FACTOR
        total = (
            (usage.input_tokens - read - write) * self.input_per_mtok
            + read * self.cached_input_per_mtok
            + (write - write_1h) * w5
            + write_1h * w1h
            + usage.output_tokens * self.output_per_mtok
        ) / MTOK
        if self.batch:
            factor = self.batch_factor if self.batch_factor is not None else PUBLISHED_BATCH_FACTOR
            total *= factor
        return total


# --------------------------------------------------------------------------- resolution


def _from_override(p: PriceConfig) -> Price:
    """`free` wins over anything beside it; `per_hour` keeps the per-token prices given with
    it (both are then billed), and leaves them at zero otherwise."""
    if p.free:
        return Price(
            input_per_mtok=ZERO,
            output_per_mtok=ZERO,
            cached_input_per_mtok=ZERO,
            cache_write_per_mtok=ZERO,
            cache_write_1h_per_mtok=ZERO,
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
        cache_write_per_mtok=p.cache_write_per_mtok,
        cache_write_1h_per_mtok=p.cache_write_1h_per_mtok,
        per_hour=p.per_hour,
        batch_factor=p.batch_factor,
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


def _base(value: Any) -> Decimal | None:
    """A genai-prices price (a Decimal, or tiered prices) as its base rate."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(value.base)


def _from_table(provider: str, model: str, base_url: str | None) -> Price | None:
    from genai_prices import __version__

    table_provider, official = _table_provider(provider, base_url)
    info = table_provider.find_model(model) if table_provider else None
    if info is None:
        return None
    now = datetime.now(tz=UTC)
    prices = info.get_prices(now)
    inp, out = _base(prices.input_mtok), _base(prices.output_mtok)
    if inp is None and out is None:
        return None  # an audio/image/embedding-only entry: no chat price
    inp = inp if inp is not None else ZERO
    out = out if out is not None else ZERO
    cache = _base(prices.cache_read_mtok)
    write = _base(prices.cache_write_mtok)
    source = f"genai-prices {__version__}: {table_provider.id}/{info.id}"
    if not official:
        source += f" (the price of {table_provider.name}'s API; the endpoint is {base_url})"
    # no batch variant in the table: the provider's published discount
    batch_known = info.get_prices(now, {"processing": "batch"}) != prices
    return Price(
        input_per_mtok=inp,
        output_per_mtok=out,
        cached_input_per_mtok=cache if cache is not None else inp,
        cache_write_per_mtok=write if write is not None else inp,
        cache_write_1h_per_mtok=_base(getattr(prices, "cache_write_1h_mtok", None)),
        source=source,
        table=TableRef(table_provider.id, info.id),
        batch_factor=None if batch_known else PUBLISHED_BATCH_FACTOR,
    )


def resolve_price(
    provider: str, model: str, override: PriceConfig | None, *, base_url: str | None
) -> Price:
    """The price of `model`: `override` (teacher.price) first, else the genai-prices table.
    An override that gives only `batch_factor` keeps the table's prices with that batch
    discount. Raises PricingError when neither knows it, before any request is sent."""
    if override is not None and override.gives_prices:
        return _from_override(override)
    price = _from_table(provider, model, base_url)
    if price is None:
        raise PricingError(
            f"no price known for {provider} model '{model}': add teacher.price: "
            "{input_per_mtok: ..., output_per_mtok: ...} (or free: true for a local server)"
        )
    if override is not None and override.batch_factor is not None:
        price = replace(price, batch_factor=override.batch_factor)
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
