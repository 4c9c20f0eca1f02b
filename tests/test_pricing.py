"""Prices: the genai-prices table (expected values read from the package's own data, never
typed here), config overrides, Decimal arithmetic, and the bounds the budget relies on."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage as TableUsage
from genai_prices import calc_price, data_snapshot
from genai_prices.types import TieredPrices

from synth.config import PriceConfig
from synth.errors import PricingError
from synth.harvest.pricing import (
    Price,
    estimate_prompt_tokens,
    max_prompt_tokens,
    resolve_price,
)
from synth.harvest.providers.base import Usage


def table_model(provider_id: str, model: str):  # type: ignore[no-untyped-def]
    provider = data_snapshot.find_provider_by_id(
        data_snapshot.get_snapshot().providers, provider_id
    )
    assert provider is not None
    info = provider.find_model(model)
    assert info is not None, f"{provider_id}/{model} is no longer in genai-prices"
    return provider, info, info.get_prices(datetime.now(tz=UTC))


@pytest.mark.parametrize(
    ("provider", "model", "table_id"),
    [
        ("openai", "gpt-4o-mini", "gpt-4o-mini"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),  # dated names resolve
        ("openai", "gpt-4.1-nano", "gpt-4.1-nano"),
        ("anthropic", "claude-haiku-4-5", "claude-haiku-4-5"),
        ("anthropic", "claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ],
)
def test_known_models_are_priced_from_the_table(provider: str, model: str, table_id: str) -> None:
    _, info, prices = table_model(provider, model)
    assert info.id == table_id
    price = resolve_price(provider, model, None, base_url=None)
    assert price.input_per_mtok == prices.input_mtok
    assert price.output_per_mtok == prices.output_mtok
    assert price.cached_input_per_mtok == prices.cache_read_mtok
    assert price.cached_input_per_mtok < price.input_per_mtok
    assert (price.free, price.per_hour) == (False, None)
    assert price.source.startswith("genai-prices ") and table_id in price.source


@pytest.mark.parametrize(
    ("provider", "model"),
    [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-haiku-4-5")],
)
@pytest.mark.parametrize(("inp", "cached", "out"), [(1000, 0, 100), (1000, 400, 100), (7, 7, 0)])
def test_cost_agrees_with_genai_prices_own_calculation(
    provider: str, model: str, inp: int, cached: int, out: int
) -> None:
    price = resolve_price(provider, model, None, base_url=None)
    ours = price.cost(Usage(input_tokens=inp, output_tokens=out, cached_input_tokens=cached))
    theirs = calc_price(
        TableUsage(input_tokens=inp, cache_read_tokens=cached, output_tokens=out),
        model,
        provider_id=provider,
    ).total_price
    assert ours == theirs


def test_long_context_tiers_follow_the_table() -> None:
    """Some models charge more for the whole request past a prompt size; find one."""
    for provider_id in ("openai", "anthropic"):
        provider, _, _ = table_model(
            provider_id, "gpt-4o" if provider_id == "openai" else "claude-haiku-4-5"
        )
        for info in provider.models:
            prices = info.get_prices(datetime.now(tz=UTC))
            if isinstance(prices.input_mtok, TieredPrices) and isinstance(
                prices.output_mtok, TieredPrices
            ):
                break
        else:
            continue
        start = prices.input_mtok.tiers[0].start
        price = resolve_price(provider_id, info.id, None, base_url=None)
        for inp in (start, start + 1, 2 * start):
            usage = Usage(input_tokens=inp, output_tokens=1000, cached_input_tokens=inp // 3)
            theirs = calc_price(
                TableUsage(input_tokens=inp, cache_read_tokens=inp // 3, output_tokens=1000),
                info.id,
                provider_id=provider_id,
            ).total_price
            assert price.cost(usage) == theirs
            assert price.worst_case(inp, 1000) >= price.cost(usage)
        return
    pytest.skip("no tiered model in this genai-prices version")


def test_cached_tokens_are_billed_at_the_cached_price_in_exact_decimals() -> None:
    price = Price(
        input_per_mtok=Decimal("0.15"),
        output_per_mtok=Decimal("0.60"),
        cached_input_per_mtok=Decimal("0.075"),
        source="test",
    )
    usage = Usage(input_tokens=1000, output_tokens=100, cached_input_tokens=400)
    # 600 × 0.15 + 400 × 0.075 + 100 × 0.60 = 180 per million
    assert price.cost(usage) == Decimal("0.00018")
    assert price.worst_case(1000, 100) == Decimal("0.00021")
    assert isinstance(price.cost(usage), Decimal)
    assert sum((price.cost(Usage(1, 1, 0)) for _ in range(10**4)), Decimal(0)) == Decimal("0.0075")


def test_an_override_wins_over_the_table() -> None:
    cfg = PriceConfig(input_per_mtok=Decimal("1"), output_per_mtok=Decimal("2"))
    price = resolve_price("openai", "gpt-4o-mini", cfg, base_url=None)
    assert (price.input_per_mtok, price.output_per_mtok) == (Decimal(1), Decimal(2))
    assert price.cached_input_per_mtok == Decimal(1)  # default: the input price
    assert price.source == "teacher.price"
    cfg = PriceConfig(
        input_per_mtok=Decimal("1"),
        output_per_mtok=Decimal("2"),
        cached_input_per_mtok=Decimal("0.1"),
    )
    assert resolve_price(
        "openai", "gpt-4o-mini", cfg, base_url=None
    ).cached_input_per_mtok == Decimal("0.1")


def test_an_override_prices_a_model_the_table_does_not_know() -> None:
    cfg = PriceConfig(input_per_mtok=Decimal("0.2"), output_per_mtok=Decimal("0.2"))
    price = resolve_price("openai", "my-finetune", cfg, base_url="http://127.0.0.1:8000/v1")
    assert price.cost(Usage(input_tokens=10**6, output_tokens=10**6)) == Decimal("0.4")


def test_a_free_endpoint_costs_nothing() -> None:
    price = resolve_price(
        "openai", "qwen2.5-7b", PriceConfig(free=True), base_url="http://127.0.0.1:8000/v1"
    )
    assert price.free and price.per_hour is None
    assert price.cost(Usage(input_tokens=10**9, output_tokens=10**9)) == 0
    assert price.worst_case(10**9, 10**9) == 0


def test_a_self_hosted_endpoint_priced_by_the_hour() -> None:
    price = resolve_price(
        "openai", "llama-70b", PriceConfig(per_hour=Decimal("2.5")), base_url="http://gpu:8000/v1"
    )
    assert price.per_hour == Decimal("2.5") and not price.free
    assert price.cost(Usage(input_tokens=10**6, output_tokens=10**6)) == 0  # the engine adds time


@pytest.mark.parametrize(
    ("provider", "base_url"),
    [("openai", None), ("anthropic", None), ("openai", "http://127.0.0.1:8000/v1")],
)
def test_an_unknown_model_is_an_error_naming_the_fix(provider: str, base_url: str | None) -> None:
    with pytest.raises(PricingError) as info:
        resolve_price(provider, "no-such-model-x", None, base_url=base_url)
    assert str(info.value) == (
        f"no price known for {provider} model 'no-such-model-x': add teacher.price: "
        "{input_per_mtok: ..., output_per_mtok: ...} (or free: true for a local server)"
    )


def test_a_local_server_serving_a_known_name_gets_the_official_price_and_says_so() -> None:
    price = resolve_price("openai", "gpt-4o-mini", None, base_url="http://127.0.0.1:8000/v1")
    official = resolve_price("openai", "gpt-4o-mini", None, base_url=None)
    assert price.input_per_mtok == official.input_per_mtok
    assert "127.0.0.1:8000" in price.source


def test_the_official_base_url_is_the_official_price() -> None:
    price = resolve_price("openai", "gpt-4o-mini", None, base_url="https://api.openai.com/v1")
    assert "endpoint" not in price.source


def test_a_base_url_of_another_provider_in_the_table_uses_its_prices() -> None:
    snapshot = data_snapshot.get_snapshot()
    groq = data_snapshot.find_provider_by_id(snapshot.providers, "groq")
    if groq is None or not groq.models:
        pytest.skip("no groq prices in this genai-prices version")
    info = next(
        m for m in groq.models if isinstance(m.get_prices(datetime.now(tz=UTC)).input_mtok, Decimal)
    )
    price = resolve_price("openai", info.id, None, base_url="https://api.groq.com/openai/v1")
    assert price.input_per_mtok == info.get_prices(datetime.now(tz=UTC)).input_mtok
    assert "groq/" in price.source


def _tiered_model() -> tuple[str, str] | None:
    for provider_id in ("anthropic", "openai"):
        provider, _, _ = table_model(
            provider_id, "gpt-4o" if provider_id == "openai" else "claude-haiku-4-5"
        )
        for info in provider.models:
            prices = info.get_prices(datetime.now(tz=UTC))
            if isinstance(prices.input_mtok, TieredPrices) and prices.cache_write_mtok:
                return provider_id, info.id
    return None


def test_worst_case_bounds_every_usage_within_its_limits() -> None:
    rng = random.Random(0)
    prices = [
        resolve_price("openai", "gpt-4o-mini", None, base_url=None),
        resolve_price("anthropic", "claude-haiku-4-5", None, base_url=None).with_cache_writes("1h"),
        resolve_price("anthropic", "claude-haiku-4-5", None, base_url=None)
        .with_cache_writes("5m")
        .batched(),
        resolve_price(
            "openai", "x", PriceConfig(input_per_mtok=3, output_per_mtok=15), base_url=None
        ).with_cache_writes("1h"),
    ]
    tiered = _tiered_model()
    if tiered:
        prices.append(resolve_price(*tiered, None, base_url=None).with_cache_writes("1h"))
    for _ in range(600):
        price = rng.choice(prices)
        # past the long-context tiers too (200K on Anthropic's)
        max_in, max_out = rng.choice([(500, 500), (300_000, 2000)])
        max_in, max_out = rng.randint(0, max_in), rng.randint(0, max_out)
        inp = rng.randint(0, max_in)
        read = rng.randint(0, inp)
        write = rng.randint(0, inp - read)
        usage = Usage(
            input_tokens=inp,
            output_tokens=rng.randint(0, max_out),
            cached_input_tokens=read,
            cache_write_tokens=write,
            cache_write_1h_tokens=rng.randint(0, write),
        )
        assert price.cost(usage) <= price.worst_case(max_in, max_out)


def test_cache_writes_are_priced_by_genai_prices_at_their_own_rates() -> None:
    """The published figures: claude-haiku-4-5, 1M in + 1M out = $6.00; 2M input of which 1M
    cache read and 1M cache write (5-minute) = $1.35; a 1-hour write costs 2x the input."""
    price = resolve_price("anthropic", "claude-haiku-4-5", None, base_url=None)
    m = 10**6
    assert price.cost(Usage(input_tokens=m, output_tokens=m)) == Decimal("6.00")
    usage = Usage(input_tokens=2 * m, cached_input_tokens=m, cache_write_tokens=m)
    assert price.cost(usage) == Decimal("1.35")
    theirs = calc_price(
        TableUsage(input_tokens=2 * m, cache_read_tokens=m, cache_write_tokens=m),
        "claude-haiku-4-5",
        provider_id="anthropic",
    ).total_price
    assert price.cost(usage) == theirs
    one_hour = Usage(input_tokens=m, cache_write_tokens=m, cache_write_1h_tokens=m)
    assert price.cost(one_hour) == 2 * price.cost(Usage(input_tokens=m))
    # what the same tokens cost with no cache at all
    assert price.uncached_cost(usage) == price.cost(Usage(input_tokens=2 * m))


def test_the_worst_case_counts_cache_writes_only_when_the_request_may_write() -> None:
    price = resolve_price("anthropic", "claude-haiku-4-5", None, base_url=None)
    m = 10**6
    assert price.worst_case(m, 0) == Decimal(1)  # no cache_control sent: no writes billed
    assert price.with_cache_writes("5m").worst_case(m, 0) == Decimal("1.25")
    assert price.with_cache_writes("1h").worst_case(m, 0) == Decimal(2)


def test_an_override_prices_cache_writes_with_its_own_rate_or_the_published_multiplier() -> None:
    m = 10**6
    cfg = PriceConfig(input_per_mtok=Decimal(2), output_per_mtok=Decimal(10))
    price = resolve_price("anthropic", "my-claude", cfg, base_url=None)
    assert price.cost(Usage(input_tokens=m, cache_write_tokens=m)) == Decimal("2.5")
    assert price.cost(
        Usage(input_tokens=m, cache_write_tokens=m, cache_write_1h_tokens=m)
    ) == Decimal(4)
    cfg = PriceConfig(
        input_per_mtok=Decimal(2), output_per_mtok=Decimal(10), cache_write_per_mtok=Decimal(3)
    )
    price = resolve_price("anthropic", "my-claude", cfg, base_url=None)
    assert price.cost(Usage(input_tokens=m, cache_write_tokens=m)) == Decimal(3)
    assert price.with_cache_writes("5m").worst_case(m, 0) == Decimal(3)


def test_the_batch_price_is_the_tables_where_it_knows_it_else_half() -> None:
    m = 10**6
    usage = Usage(input_tokens=2 * m, output_tokens=m, cached_input_tokens=m // 2)
    for provider, model in (("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")):
        price = resolve_price(provider, model, None, base_url=None)
        theirs = calc_price(
            TableUsage(input_tokens=2 * m, output_tokens=m, cache_read_tokens=m // 2),
            model,
            provider_id=provider,
            price_context={"processing": "batch"},
        ).total_price
        assert price.batched().cost(usage) == theirs < price.cost(usage)
    override = PriceConfig(input_per_mtok=Decimal(1), output_per_mtok=Decimal(4))
    price = resolve_price("openai", "my-model", override, base_url=None)
    assert price.batched().cost(Usage(input_tokens=m, output_tokens=m)) == Decimal("2.5")
    # the discount is overridable, alone (table prices kept) or beside per-token prices
    only = resolve_price(
        "openai", "gpt-4o-mini", PriceConfig(batch_factor=Decimal("0.6")), base_url=None
    )
    assert only.source.startswith("genai-prices")
    plain = resolve_price("openai", "gpt-4o-mini", None, base_url=None)
    assert only.batched().cost(usage) == plain.cost(usage) * Decimal("0.6")


# --------------------------------------------------------------------------- token counts

MESSAGES = [
    {"role": "system", "content": "You triage support tickets."},
    {"role": "user", "content": "Ticket: my parcel never arrived — where is it? 📦 Merci!"},
]


def test_the_upper_bound_counts_bytes_and_overhead() -> None:
    content_bytes = sum(len(m["content"].encode()) for m in MESSAGES)
    assert max_prompt_tokens(MESSAGES) == content_bytes + 8 * 2 + 16
    schema = {"type": "object", "properties": {"label": {"type": "string"}}}
    assert max_prompt_tokens(MESSAGES, schema) > max_prompt_tokens(MESSAGES) + 30
    assert max_prompt_tokens([]) == 16


def test_the_estimate_is_typical_and_below_the_bound() -> None:
    text = "word " * 400  # 2000 characters
    estimate = estimate_prompt_tokens([{"role": "user", "content": text}])
    assert 450 <= estimate <= 550
    assert estimate_prompt_tokens(MESSAGES) < max_prompt_tokens(MESSAGES)


def test_a_byte_level_bpe_never_makes_more_tokens_than_the_bound() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(["the parcel never arrived"] * 50, trainer)
    texts = [m["content"] for m in MESSAGES] + ["日本語のテキスト", "ß" * 50, "\n\n\t  x", ""]
    for text in texts:
        assert len(tok.encode(text).ids) <= len(text.encode("utf-8"))
    messages = [{"role": "user", "content": t} for t in texts]
    assert max_prompt_tokens(messages) >= sum(len(tok.encode(t).ids) for t in texts)
