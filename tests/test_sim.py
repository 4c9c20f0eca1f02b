"""The simulated teacher through the official SDKs over real loopback: shapes, usage, headers,
faults and the exceptions they become, limits, imitated local servers, the ledger, determinism.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import jsonschema
import openai
import pytest

from synth.sim import tokens
from synth.sim.__main__ import build_parser, config_from_args
from synth.sim.answers import registry as answers
from synth.sim.answers.registry import Refusal, SimRequest
from synth.sim.config import SimConfig
from synth.sim.ratelimit import go_duration
from synth.sim.runner import SimServer

USER = [{"role": "user", "content": "My parcel never arrived, order 1234. Please help!"}]
LONG_SYSTEM = "You are a careful support triage assistant for an online shop. " * 4
SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "shipping", "refund"]},
        "order": {"type": "integer", "minimum": 1},
        "urgent": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["category", "order", "urgent", "tags"],
    "additionalProperties": False,
}


# Plain http on loopback: `verify=False` only skips loading CA certificates (slow to build).
def oai(sim: SimServer) -> openai.AsyncOpenAI:
    http = openai.DefaultAsyncHttpxClient(verify=False)
    return openai.AsyncOpenAI(
        base_url=sim.openai_base_url, api_key="sk-x", max_retries=0, http_client=http
    )


def ant(sim: SimServer) -> anthropic.AsyncAnthropic:
    http = anthropic.DefaultAsyncHttpxClient(verify=False)
    return anthropic.AsyncAnthropic(
        base_url=sim.anthropic_base_url, api_key="sk-x", max_retries=0, http_client=http
    )


def post(url: str, **kw: Any) -> httpx.Response:
    with httpx.Client(verify=False) as client:
        return client.post(url, **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class Raw:
    """A raw response read through: its headers, and the parsed object from `.parse()`."""

    def __init__(self, headers: Any, parsed: Any) -> None:
        self.headers, self._parsed = headers, parsed

    def parse(self) -> Any:
        return self._parsed


async def chat(sim: SimServer, **kw: Any) -> Raw:
    async with oai(sim) as client:
        args = {"model": "gpt-4o-mini", "messages": USER, **kw}
        raw = await client.chat.completions.with_raw_response.create(**args)
        return Raw(raw.headers, raw.parse())


async def message(sim: SimServer, **kw: Any) -> Raw:
    async with ant(sim) as client:
        args = {"model": "claude-x", "max_tokens": 256, "messages": USER, **kw}
        raw = await client.messages.with_raw_response.create(**args)
        return Raw(raw.headers, await raw.parse())


@pytest.fixture(scope="module")
def sim() -> Any:
    with SimServer(rpm=60_000, tpm=10_000_000, price_input_per_mtok=0.15) as s:
        yield s


# -- shapes, usage, headers ---------------------------------------------------------------------


def test_openai_usage_headers_and_request_id(sim: SimServer) -> None:
    sim.reset()
    system = [{"role": "system", "content": LONG_SYSTEM}]
    raw = run(chat(sim, messages=system + USER, max_tokens=100))
    completion = raw.parse()
    expected_in = tokens.count_tokens(LONG_SYSTEM) + tokens.count_tokens(USER[0]["content"]) + 6
    assert completion.usage.prompt_tokens == expected_in
    text = completion.choices[0].message.content
    assert text.startswith("You said: My parcel never arrived")
    assert completion.usage.completion_tokens == tokens.count_tokens(text)
    assert completion.usage.total_tokens == expected_in + completion.usage.completion_tokens
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert completion.choices[0].finish_reason == "stop"
    assert completion.object == "chat.completion" and completion.model == "gpt-4o-mini"

    h = raw.headers
    assert re.fullmatch(r"req_[0-9a-f]{32}", h["x-request-id"])
    assert completion._request_id == h["x-request-id"]
    assert h["x-ratelimit-limit-requests"] == "60000"
    assert h["x-ratelimit-limit-tokens"] == "10000000"
    assert int(h["x-ratelimit-remaining-requests"]) >= 0
    for key in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        assert re.fullmatch(r"(\d+ms|[\d.]+s|\d+m\d+s|0s)", h[key]), h[key]

    # the same long system prompt again: served from cache
    again = run(chat(sim, messages=system + USER, max_tokens=100)).parse()
    prefix = tokens.count_tokens(LONG_SYSTEM) + tokens.PER_MESSAGE  # with its framing
    assert again.usage.prompt_tokens_details.cached_tokens == prefix
    entries = sim.ledger()["entries"]
    assert [e["request_id"] for e in entries][0] == h["x-request-id"]
    assert entries[1]["cached_input_tokens"] == prefix
    assert entries[1]["input_tokens"] == expected_in  # the ledger counts the whole prompt


def test_anthropic_usage_excludes_cache_reads_and_headers(sim: SimServer) -> None:
    sim.reset()
    raw = run(message(sim, system=LONG_SYSTEM))
    msg = raw.parse()
    whole = tokens.count_tokens(LONG_SYSTEM) + tokens.count_tokens(USER[0]["content"]) + 6
    assert msg.usage.input_tokens == whole and msg.usage.cache_read_input_tokens == 0
    assert msg.stop_reason == "end_turn" and msg.content[0].type == "text"
    assert msg.usage.output_tokens == tokens.count_tokens(msg.content[0].text)
    assert msg._request_id == raw.headers["request-id"].strip()

    # Anthropic caches only what a request marks: the same system prompt unmarked is not
    again = run(message(sim, system=LONG_SYSTEM)).parse().usage
    assert again.cache_read_input_tokens == again.cache_creation_input_tokens == 0
    assert again.input_tokens == whole

    h = raw.headers
    for group in ("requests", "tokens", "input-tokens", "output-tokens"):
        assert int(h[f"anthropic-ratelimit-{group}-limit"]) > 0
        assert int(h[f"anthropic-ratelimit-{group}-remaining"]) >= 0
        reset = datetime.strptime(h[f"anthropic-ratelimit-{group}-reset"], "%Y-%m-%dT%H:%M:%SZ")
        assert abs(reset.replace(tzinfo=UTC).timestamp() - time.time()) < 120
    assert sim.ledger()["entries"][1]["input_tokens"] == whole


def test_models_listed_for_both_sdks(sim: SimServer) -> None:
    async def go() -> tuple[list[str], list[str]]:
        async with oai(sim) as o, ant(sim) as a:
            return [m.id async for m in o.models.list()], [m.id async for m in a.models.list()]

    assert run(go()) == (["sim-teacher"], ["sim-teacher"])


# -- validation and auth ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        ({"messages": USER}, None, "model"),
        ({"model": "m"}, "missing_required_parameter", "messages"),
        ({"model": "m", "messages": []}, "empty_array", "empty array"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "invalid_value", "robot"),
        (
            {"model": "m", "messages": USER, "max_tokens": 0},
            "integer_below_min_value",
            "max_tokens",
        ),
        ({"model": "m", "messages": USER, "temperature": 3}, "decimal_above_max_value", "temp"),
        ({"model": "m", "messages": USER, "top_logprobs": 2}, "invalid_value", "logprobs"),
    ],
)
def test_openai_validation_is_a_400_in_openai_shape(
    sim: SimServer, body: dict[str, Any], code: str | None, needle: str
) -> None:
    response = post(sim.openai_base_url + "/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["code"] == code
    assert needle in error["message"]


def test_openai_sdk_raises_bad_request(sim: SimServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        run(chat(sim, messages=[]))
    assert info.value.code == "empty_array"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "m", "messages": USER}, "max_tokens: Field required"),
        ({"model": "m", "max_tokens": 0, "messages": USER}, "greater than or equal to 1"),
        ({"max_tokens": 5, "messages": USER}, "model: Field required"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "at least one message"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            "system",
        ),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": ""}]},
            "non-empty",
        ),
    ],
)
def test_anthropic_validation_is_a_400_in_anthropic_shape(
    sim: SimServer, body: dict[str, Any], needle: str
) -> None:
    headers = {"anthropic-version": "2023-06-01"}
    response = post(sim.anthropic_base_url + "/v1/messages", json=body, headers=headers)
    assert response.status_code == 400
    data = response.json()
    assert data["type"] == "error" and data["error"]["type"] == "invalid_request_error"
    assert needle in data["error"]["message"]
    assert data["request_id"] == response.headers["request-id"]


def test_bad_json_and_missing_version_header(sim: SimServer) -> None:
    bad = post(sim.openai_base_url + "/chat/completions", content=b"{nope")
    assert bad.status_code == 400 and "parse the JSON" in bad.json()["error"]["message"]
    body = {"model": "m", "max_tokens": 5, "messages": USER}
    response = post(sim.anthropic_base_url + "/v1/messages", json=body)
    assert response.status_code == 400 and "anthropic-version" in response.text


def test_require_key_gives_401_in_each_shape_and_never_echoes_the_key() -> None:
    secret = "sk-the-right-one-123"
    with SimServer(require_key=secret) as sim:

        async def go(key: str) -> None:
            async with oai(sim) as o, ant(sim) as a:
                o.api_key = a.api_key = key
                if key != secret:
                    with pytest.raises(openai.AuthenticationError) as o_info:
                        await o.chat.completions.create(model="m", messages=USER)
                    assert o_info.value.code == "invalid_api_key"
                    with pytest.raises(anthropic.AuthenticationError) as a_info:
                        await a.messages.create(model="m", max_tokens=5, messages=USER)
                    assert a_info.value.body["error"]["type"] == "authentication_error"
                else:
                    await o.chat.completions.create(model="m", messages=USER)
                    await a.messages.create(model="m", max_tokens=5, messages=USER)

        run(go("sk-wrong"))
        run(go(secret))
        # no key at all
        body = {"model": "m", "max_tokens": 5, "messages": USER}
        o = post(sim.openai_base_url + "/chat/completions", json=body)
        assert o.status_code == 401 and "didn't provide an API key" in o.json()["error"]["message"]
        headers = {"anthropic-version": "2023-06-01"}
        a = post(sim.anthropic_base_url + "/v1/messages", json=body, headers=headers)
        assert a.status_code == 401 and a.json()["error"]["type"] == "authentication_error"
        ledger = sim.ledger()
        assert ledger["counters"]["by_status"] == {"200": 2, "401": 4}
        assert ledger["counters"]["received"] == 6
        assert secret not in json.dumps(ledger) and secret not in repr(sim.config)


# -- faults -------------------------------------------------------------------------------------

FAULT_CASES = [
    ("fault_429", openai.RateLimitError, 429, anthropic.RateLimitError, 429),
    ("fault_500", openai.InternalServerError, 500, anthropic.InternalServerError, 500),
    ("fault_503", openai.InternalServerError, 503, anthropic.InternalServerError, 503),
    ("fault_529", openai.InternalServerError, 503, anthropic.APIStatusError, 529),
    ("fault_500_no_retry", openai.InternalServerError, 500, anthropic.InternalServerError, 500),
    ("fault_drop", openai.APIConnectionError, None, anthropic.APIConnectionError, None),
]


@pytest.mark.parametrize(("fault", "o_exc", "o_status", "a_exc", "a_status"), FAULT_CASES)
def test_each_fault_becomes_the_sdk_exception(
    fault: str, o_exc: type, o_status: int | None, a_exc: type, a_status: int | None
) -> None:
    with SimServer(**{fault: 1.0}, price_input_per_mtok=1) as sim:
        with pytest.raises(o_exc) as o_info:
            run(chat(sim))
        with pytest.raises(a_exc) as a_info:
            run(message(sim))
        ledger = sim.ledger()
    for info, status in ((o_info, o_status), (a_info, a_status)):
        assert getattr(info.value, "status_code", None) == status
        if status is None:
            continue
        headers = info.value.response.headers
        if fault == "fault_429":
            assert headers["retry-after-ms"] == "250" and headers["retry-after"] == "1"
        if fault == "fault_500_no_retry":
            assert headers["x-should-retry"] == "false"
    if fault == "fault_529":
        assert a_info.value.body["error"]["type"] == "overloaded_error"
    assert ledger["entries"] == [] and ledger["totals"]["cost_usd"] == "0", "errors are not billed"
    assert ledger["counters"]["received"] == 2
    assert ledger["counters"]["faults"] == {fault.removeprefix("fault_"): 2}
    assert ledger["counters"]["drops"] == (2 if fault == "fault_drop" else 0)


def test_truncation_by_max_tokens_and_by_fault() -> None:
    with SimServer() as sim:
        c = run(chat(sim, max_tokens=3)).parse()
        assert c.choices[0].finish_reason == "length" and c.usage.completion_tokens == 3
        assert c.choices[0].message.content == "You said:"
        c = run(chat(sim, max_completion_tokens=2)).parse()
        assert c.usage.completion_tokens == 2
        m = run(message(sim, max_tokens=2)).parse()
        assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 2
    with SimServer(fault_truncate=1.0) as sim:
        full = tokens.count_tokens("You said: " + USER[0]["content"])
        c = run(chat(sim, max_tokens=500)).parse()
        assert c.choices[0].finish_reason == "length"
        assert c.usage.completion_tokens == full // 2
        assert run(message(sim)).parse().stop_reason == "max_tokens"


def test_stop_sequences() -> None:
    with SimServer() as sim:
        c = run(chat(sim, stop=["arrived"])).parse()
        assert c.choices[0].message.content == "You said: My parcel never "
        assert c.choices[0].finish_reason == "stop"
        m = run(message(sim, stop_sequences=["never"])).parse()
        assert m.stop_reason == "stop_sequence" and m.stop_sequence == "never"
        assert m.content[0].text == "You said: My parcel "


def test_refusal_shapes_from_fault_and_from_answer_function() -> None:
    with SimServer(fault_refusal=1.0) as sim:
        c = run(chat(sim)).parse()
        choice = c.choices[0]
        assert choice.message.content is None and choice.message.refusal
        assert choice.finish_reason == "stop"
        m = run(message(sim)).parse()
        assert m.stop_reason == "refusal" and m.content == []
        assert len(sim.ledger()["entries"]) == 2, "a refusal is a billed answer"

    def refuse(req: SimRequest, rng: random.Random) -> str:
        return Refusal("Not this one.")

    with SimServer(answers=refuse) as sim:
        assert run(chat(sim)).parse().choices[0].message.refusal == "Not this one."
        assert run(message(sim)).parse().stop_details.explanation == "Not this one."


def test_content_filter() -> None:
    with SimServer(fault_content_filter=1.0) as sim:
        choice = run(chat(sim)).parse().choices[0]
        assert choice.finish_reason == "content_filter" and choice.message.content is None
        assert run(message(sim)).parse().stop_reason == "refusal"


def test_slow_fault_and_latency() -> None:
    with SimServer(fault_slow=1.0, slow_s=0.3, latency_ms=(50, 50)) as sim:
        start = time.monotonic()
        run(chat(sim))
        assert time.monotonic() - start >= 0.34


def test_a_client_hanging_up_is_counted_and_billed_unless_told_otherwise() -> None:
    async def impatient(sim: SimServer) -> None:
        async with openai.AsyncOpenAI(
            base_url=sim.openai_base_url,
            api_key="k",
            max_retries=0,
            timeout=0.05,
            http_client=openai.DefaultAsyncHttpxClient(verify=False),
        ) as client:
            with pytest.raises(openai.APITimeoutError):
                await client.chat.completions.create(model="m", messages=USER)

    for bill in (True, False):
        with SimServer(latency_ms=400, bill_abandoned=bill) as sim:
            start = time.monotonic()
            run(impatient(sim))
            while sim.ledger()["counters"]["abandoned"] == 0 and time.monotonic() - start < 2:
                time.sleep(0.01)
            assert time.monotonic() - start < 0.35, "noticed the hang-up before the latency ran out"
            assert sim.ledger()["totals"]["requests"] == (1 if bill else 0)


# -- structured output and log-probabilities ----------------------------------------------------


def test_structured_output_both_apis_and_malformed_fault() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA, "strict": True}}
    with SimServer() as sim:
        text = run(chat(sim, response_format=fmt)).parse().choices[0].message.content
        jsonschema.validate(json.loads(text), SCHEMA)
        text = run(chat(sim, response_format={"type": "json_object"})).parse()
        assert json.loads(text.choices[0].message.content)["answer"].startswith("You said")
        m = run(message(sim, output_config={"format": {"type": "json_schema", "schema": SCHEMA}}))
        jsonschema.validate(json.loads(m.parse().content[0].text), SCHEMA)

        async def beta() -> Any:  # the older beta spelling, `output_format`
            async with ant(sim) as a:
                return await a.beta.messages.create(
                    model="m",
                    max_tokens=200,
                    messages=USER,
                    extra_body={"output_format": {"type": "json_schema", "schema": SCHEMA}},
                    betas=["structured-outputs-2025-11-13"],
                )

        jsonschema.validate(json.loads(run(beta()).content[0].text), SCHEMA)
    with SimServer(fault_malformed_json=1.0) as sim:
        text = run(chat(sim, response_format=fmt)).parse().choices[0].message.content
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
        plain = run(chat(sim)).parse().choices[0].message.content
        assert plain.startswith("You said"), "no schema asked: nothing to break"
        assert sim.ledger()["counters"]["faults"] == {"malformed_json": 1}


def test_example_for_schema_follows_refs_and_bounds() -> None:
    schema = {
        "$defs": {"Item": {"type": "object", "properties": {"sku": {"type": "string"}}}},
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 2},
            "note": {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 12}]},
            "when": {"type": "string", "format": "date"},
            "score": {"type": "number", "minimum": 3, "maximum": 5},
        },
        "required": ["items", "note", "when", "score"],
    }
    value = answers.example_for_schema(schema, ["invoice"])
    jsonschema.validate(value, schema)
    assert len(value["items"]) == 2


def test_logprobs_are_deterministic_and_tile_the_answer(sim: SimServer) -> None:
    first = run(chat(sim, logprobs=True, top_logprobs=3)).parse()
    content = first.choices[0].logprobs.content
    text = first.choices[0].message.content
    assert "".join(t.token for t in content) == text
    assert len(content) == first.usage.completion_tokens
    for t in content:
        assert t.logprob <= 0 and t.bytes == list(t.token.encode())
        assert len(t.top_logprobs) == 3 and t.top_logprobs[0].token == t.token
        assert sorted((x.logprob for x in t.top_logprobs), reverse=True) == [
            x.logprob for x in t.top_logprobs
        ]
    again = run(chat(sim, logprobs=True, top_logprobs=3)).parse()
    assert again.choices[0].logprobs.content == content
    assert run(chat(sim)).parse().choices[0].logprobs is None


# -- rate limits --------------------------------------------------------------------------------


def test_rate_limit_enforced_over_a_short_window_with_retry_after() -> None:
    # 120 RPM: 2 a second, 2 at once at most; a per-minute count would let all 12 through
    with SimServer(rpm=120) as sim:

        async def burst() -> tuple[list[Any], float]:
            async with oai(sim) as client:
                calls = [
                    client.chat.completions.with_raw_response.create(
                        model="m", messages=[{"role": "user", "content": f"q {i}"}]
                    )
                    for i in range(12)
                ]
                start = time.monotonic()
                results = await asyncio.gather(*calls, return_exceptions=True)
                return results, time.monotonic() - start

        results, elapsed = run(burst())
        ok = [r for r in results if not isinstance(r, Exception)]
        limited = [r for r in results if isinstance(r, openai.RateLimitError)]
        assert len(ok) + len(limited) == 12
        assert 2 <= len(ok) <= 2 + 2 * elapsed + 1, "a minute's allowance is not granted at once"
        headers = limited[0].response.headers
        wait_ms = int(headers["retry-after-ms"])
        assert 0 < wait_ms <= 500 and headers["retry-after"] == "1"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-limit-requests"] == "120"
        assert limited[0].body["code"] == "rate_limit_exceeded"
        time.sleep(0.5)
        run(chat(sim))  # fits again once retry-after has passed
        counters = sim.ledger()["counters"]
        assert counters["rate_limited"] == len(limited)


def test_tpm_counts_input_plus_max_tokens() -> None:
    with SimServer(tpm=6000) as sim:  # 100 tokens a second
        run(chat(sim, max_tokens=60))
        with pytest.raises(openai.RateLimitError) as info:
            run(chat(sim, max_tokens=60))
        assert info.value.body["type"] == "tokens"
        assert int(info.value.response.headers["x-ratelimit-remaining-tokens"]) < 60
        with pytest.raises(anthropic.RateLimitError):
            run(message(sim, max_tokens=10_000))  # more than a minute allows: never fits


def test_go_durations() -> None:
    assert [go_duration(s) for s in (0, 0.02, 1, 1.5, 360, 3723)] == [
        "0s",
        "20ms",
        "1s",
        "1.5s",
        "6m0s",
        "1h2m3s",
    ]


def test_retry_after_violations_are_counted() -> None:
    with SimServer(fault_429=1.0, fault_retry_after_s=0.3) as sim:
        body = {"model": "m", "messages": USER}
        url = sim.openai_base_url + "/chat/completions"
        with httpx.Client(verify=False) as client:
            assert client.post(url, json=body).status_code == 429
            client.post(url, json=body)  # at once: a violation
            client.post(url, json={**body, "n": 1})  # another body: none
            time.sleep(0.3)
            client.post(url, json=body)  # waited: none
        assert sim.ledger()["counters"]["retry_after_violations"] == 1


# -- imitated local servers ---------------------------------------------------------------------


async def _burst(sim: SimServer, n: int) -> list[Any]:
    async with oai(sim) as client:
        calls = [
            client.chat.completions.with_raw_response.create(model="m", messages=USER)
            for _ in range(n)
        ]
        return await asyncio.gather(*calls, return_exceptions=True)


@pytest.mark.parametrize(
    ("imitate", "limit", "needle"),
    [("vllm", "max_queue", "queue is full"), ("ollama", "max_parallel", "server busy")],
)
def test_local_servers_503_when_overloaded_and_send_no_rate_limit_headers(
    imitate: str, limit: str, needle: str
) -> None:
    with SimServer(imitate=imitate, rpm=60_000, latency_ms=(300, 300), **{limit: 2}) as sim:
        results = run(_burst(sim, 5))
        counters = sim.ledger()["counters"]
    ok = [r for r in results if not isinstance(r, Exception)]
    busy = [r for r in results if isinstance(r, openai.InternalServerError)]
    assert len(ok) + len(busy) == 5 and len(ok) >= 2 and len(busy) >= 1
    assert counters["max_in_flight"] == 2
    assert busy[0].status_code == 503 and needle in busy[0].message
    assert not any(k.startswith("x-ratelimit") for k in ok[0].headers)
    assert "x-request-id" not in ok[0].headers


def test_llamacpp_loading_model() -> None:
    start = time.monotonic()
    with SimServer(imitate="llamacpp", loading_s=0.8) as sim:
        with pytest.raises(openai.InternalServerError) as info:
            run(chat(sim))
        assert info.value.status_code == 503
        assert info.value.body == {
            "code": 503,
            "message": "Loading model",
            "type": "unavailable_error",
        }
        time.sleep(max(0.0, 0.8 - (time.monotonic() - start)))
        assert run(chat(sim)).parse().choices[0].message.content


# -- the ledger, determinism, reset -------------------------------------------------------------


def test_ledger_totals_and_cost_in_decimal() -> None:
    prices = {"price_input_per_mtok": "0.15", "price_output_per_mtok": "0.60"}
    with SimServer(**prices, price_cached_input_per_mtok="0.075") as sim:
        run(chat(sim, messages=[{"role": "system", "content": LONG_SYSTEM}, *USER]))
        run(chat(sim, messages=[{"role": "system", "content": LONG_SYSTEM}, *USER]))
        run(message(sim))
        ledger = sim.ledger()
    entries = ledger["entries"]
    assert [e["api"] for e in entries] == ["openai", "openai", "anthropic"]
    total = Decimal(0)
    for e in entries:
        fresh = e["input_tokens"] - e["cached_input_tokens"]
        cost = (
            fresh * Decimal("0.15")
            + e["cached_input_tokens"] * Decimal("0.075")
            + e["output_tokens"] * Decimal("0.60")
        ) / 1_000_000
        assert Decimal(e["cost_usd"]) == cost
        total += cost
        assert set(e) == {
            "request_id", "api", "model", "input_tokens", "output_tokens",
            "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "cost_usd",
            "body_hash", "t", "batch",
        }  # fmt: skip
    totals = ledger["totals"]
    assert Decimal(totals["cost_usd"]) == total and totals["requests"] == 3
    assert totals["input_tokens"] == sum(e["input_tokens"] for e in entries)
    assert totals["output_tokens"] == sum(e["output_tokens"] for e in entries)


def test_ledger_jsonl_and_reset(tmp_path: Any) -> None:
    path = tmp_path / "ledger.jsonl"
    with SimServer(ledger_path=path) as sim:
        run(chat(sim))
        sim.reset()
        assert sim.ledger()["entries"] == [] and sim.ledger()["counters"]["received"] == 0
        run(message(sim))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["api"] for x in lines] == ["openai", "anthropic"]


def _dice(req: SimRequest, rng: random.Random) -> str:
    return f"roll {rng.randint(1, 10**9)}"


def _statuses(config: SimConfig, temperature: float = 1.0) -> list[str]:
    async def go(sim: SimServer) -> list[str]:
        out = []
        async with oai(sim) as client:
            for i in range(20):
                try:
                    c = await client.chat.completions.create(
                        model="m",
                        messages=[{"role": "user", "content": f"q {i % 5}"}],
                        temperature=temperature,
                    )
                    out.append(c.choices[0].message.content or c.choices[0].finish_reason)
                except openai.APIStatusError as exc:
                    out.append(str(exc.status_code))
        return out

    with SimServer(config) as sim:
        return run(go(sim))


def test_determinism_for_a_given_seed() -> None:
    faults = dict(fault_500=0.2, fault_429=0.1, fault_content_filter=0.1, fault_retry_after_s=0)
    a = _statuses(SimConfig(seed=3, answers=_dice, **faults))
    b = _statuses(SimConfig(seed=3, answers=_dice, **faults))
    c = _statuses(SimConfig(seed=4, answers=_dice, **faults))
    assert a == b and a != c
    assert {"500", "429", "content_filter"} <= set(a)
    answered = [x for x in a if x.startswith("roll")]
    assert len(set(answered)) == len(answered), "repeats at temperature 1 draw anew"
    cold = [x for x in _statuses(SimConfig(seed=3, answers=_dice), 0.0) if x.startswith("roll")]
    assert len(set(cold)) == 5, "at temperature 0 the same request gets the same answer"


# -- small parts --------------------------------------------------------------------------------


def test_tokens_never_exceed_utf8_bytes_and_truncate_exactly() -> None:
    for text in ("", "héllo, wörld!", "a  b\n\nc", "日本語のテキスト。", "x" * 50, "?!?!"):
        assert tokens.count_tokens(text) <= len(text.encode())
        assert "".join(tokens.pieces(text)) == text
    assert tokens.truncate_tokens("one, two three", 2) == "one,"
    assert tokens.count_tokens("one, two three") == 4


def test_answer_registry() -> None:
    assert answers.resolve("echo") is answers.echo
    assert answers.resolve("synth.sim.answers.registry:echo") is answers.echo
    with pytest.raises(Exception, match="unknown sim answers"):
        answers.resolve("nope")


def test_cli_flags_map_to_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_KEY", "sk-cli")
    args = build_parser().parse_args(
        ["--rpm", "120", "--fault-429", "0.1", "--latency-ms", "5,20", "--imitate", "vllm",
         "--require-key-env", "SIM_KEY", "--price-input-per-mtok", "0.15", "--models", "a,b"]
    )  # fmt: skip
    cfg = config_from_args(args)
    assert cfg.rpm == 120 and cfg.fault_429 == 0.1 and cfg.latency_ms == (5.0, 20.0)
    assert cfg.imitate == "vllm" and cfg.require_key.get_secret_value() == "sk-cli"
    assert cfg.price_input_per_mtok == Decimal("0.15") and cfg.models == ["a", "b"]
    with pytest.raises(ValueError, match="add up to"):
        SimConfig(fault_500=0.7, fault_503=0.7)


def test_process_mode_serves_and_stops(tmp_path: Any) -> None:
    with SimServer(process=True, seed=5, price_input_per_mtok=1, require_key="sk-p") as sim:
        assert sim.pid is not None

        async def go() -> str:
            async with ant(sim) as a:
                a.api_key = "sk-p"
                m = await a.messages.create(model="m", max_tokens=50, messages=USER)
                return m.content[0].text

        assert run(go()).startswith("You said")
        assert sim.ledger()["totals"]["requests"] == 1
        proc = sim.proc
    assert proc is not None and proc.poll() is not None


def test_tickets_teacher_states_its_belief_in_its_answer_tokens_logprobs() -> None:
    """The top-K of the answer token is softmax of the scores that chose the answer."""
    from synth.sim.answers import tickets

    ticket = "I was charged twice and I want my money back, please refund it"
    with SimServer(answers="tickets") as sim:
        client = openai.OpenAI(base_url=sim.openai_base_url, api_key="k", max_retries=0)
        out = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": f"<ticket>{ticket}</ticket>"}],
            temperature=0,
            logprobs=True,
            top_logprobs=20,
        )
    content = out.choices[0].logprobs.content  # type: ignore[union-attr]
    first = content[0]
    stated = {t.token: t.logprob for t in first.top_logprobs}
    want = tickets.belief(ticket)
    assert len(stated) == len(tickets.CATEGORIES)
    assert stated == pytest.approx({c: math.log(p) for c, p in want.items()})
    assert max(want, key=want.__getitem__) == out.choices[0].message.content == first.token
    # two topics named: the runner-up carries real mass, the others little
    ranked = sorted(want.values(), reverse=True)
    assert ranked[1] > 0.1 > ranked[2]
