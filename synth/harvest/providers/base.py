"""The one small protocol every teacher provider implements.

A provider turns a `ChatRequest` into a `ChatResponse` (text, usage, finish reason, refusal,
request id, latency, headers) or raises `ProviderError` carrying the status and headers that
the retry policy needs. It does not retry, pace or price: the engine does that.
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol, TypeVar

C = TypeVar("C")


@dataclass(frozen=True)
class ChatRequest:
    """One rendered request: what is hashed into the journal key and what is sent."""

    model: str
    messages: list[dict[str, str]]  # [{"role": "system"|"user"|"assistant", "content": str}]
    params: dict[str, Any]  # temperature, max_tokens, top_p, stop, seed, ...
    json_schema: dict[str, Any] | None = None  # ask for structured output when set
    logprobs: int | None = None  # top-K log-probabilities of each answer token


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0  # part of input_tokens read from the prompt cache
    cache_write_tokens: int = 0  # part of input_tokens written to the prompt cache
    cache_write_1h_tokens: int = 0  # part of cache_write_tokens at the 1-hour rate
    reported: bool = True  # False: the response carried no usage (the engine prices it worst)


@dataclass
class ChatResponse:
    text: str
    usage: Usage
    finish_reason: str | None  # normalised: "stop", "length", "content_filter", "refusal", ...
    refusal: str | None = None
    request_id: str | None = None
    latency_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased
    logprobs: list[dict[str, Any]] | None = None  # per token: {"token", "logprob", "top": {...}}
    raw_finish_reason: str | None = None  # as the provider spelt it


class Provider(Protocol):
    name: str

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one request; raise `synth.errors.ProviderError` on any failure."""
        ...

    async def aclose(self) -> None: ...


@functools.lru_cache(maxsize=16)
def _parameter_names(func: Any) -> frozenset[str]:
    return frozenset(inspect.signature(func).parameters)


def split_known(create: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keep the arguments the SDK's `create` names; send the rest in `extra_body`, so that
    server-specific parameters (vLLM's `top_k`, a sampling knob a newer SDK dropped) still
    reach the server instead of failing in the SDK."""
    # The signature is read once per SDK method (keyed by the function under the bound
    # method): inspect.signature costs ~0.6 ms, a sixth of a whole request's client CPU.
    known = _parameter_names(getattr(create, "__func__", create))
    out = {k: v for k, v in kwargs.items() if k in known}
    extra = {k: v for k, v in kwargs.items() if k not in known}
    if extra:
        out["extra_body"] = {**out.get("extra_body", {}), **extra}
    return out


def never_sent(err: BaseException) -> bool:
    """True when an SDK's connection error or timeout happened while connecting: the request
    never left, so nothing can have been billed (any other timeout or drop may have been)."""
    cause = err.__cause__ or err.__context__
    return type(cause).__name__ in ("ConnectError", "ConnectTimeout")


def describe_body(body: bytes, content_type: str, url: str, status: int, expected: str) -> str:
    """What came back instead of the provider's answer, in one line a user can act on (a proxy's
    HTML page, a cut-off JSON body, JSON of another shape)."""
    text = body.decode("utf-8", "replace").strip()
    snippet = " ".join(text[:80].split())
    where = f"from {url} (HTTP {status})"
    if not text:
        return f"an empty body {where}, not a chat answer: check teacher.base_url"
    if "html" in content_type.lower() or text.startswith("<"):
        return (
            f"an HTML page {where}, not the API's JSON ({snippet!r}): check teacher.base_url "
            "(an OpenAI-compatible server's URL usually ends in /v1) and any proxy in the way"
        )
    try:
        data = json.loads(text)
    except ValueError:
        return f"truncated or invalid JSON {where} ({len(body)} bytes: {snippet!r}...)"
    if not isinstance(data, dict):
        return f"JSON that is not an object {where} ({snippet!r})"
    keys = ", ".join(sorted(map(str, data))[:8]) or "none"
    return f"a JSON body without `{expected}` {where} (keys: {keys})"


def sdk_client(
    sdk: ModuleType,
    client_class: type[C],
    *,
    api_key: str,
    base_url: str | None,
    timeout_s: float,
    max_connections: int,
) -> C:
    """An SDK's async client (openai and anthropic build theirs alike) with the SDK's own
    retries off, since the engine's retry layer decides, and its connection pool sized to our
    concurrency: the default pool would queue requests our limiter already admitted. The pool
    is the SDK's own client class (it may be built on httpx or its successor)."""
    limits = type(sdk.DEFAULT_CONNECTION_LIMITS)(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return client_class(  # type: ignore[call-arg]
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        timeout=timeout_s,
        http_client=sdk.DefaultAsyncHttpxClient(limits=limits, timeout=timeout_s),
    )
