"""OpenAI chat completions, and every OpenAI-compatible server (vLLM, Ollama, llama.cpp,
`transformers serve`, ...) through `base_url`.

The SDK's own retries are off: the engine's retry layer decides, from the status and headers
this module copies into `ProviderError`.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import openai

from synth.errors import ProviderError
from synth.harvest.providers.base import (
    ChatRequest,
    ChatResponse,
    Usage,
    describe_body,
    never_sent,
    sdk_client,
    split_known,
)
from synth.harvest.providers.prompt_cache import TTL, cache_key, shared_prefix

FINISH = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "stop",
}


def _strict_ok(schema: dict[str, Any]) -> bool:
    """OpenAI's strict mode wants every property required and no extra properties."""
    props = set(schema.get("properties", {}))
    return schema.get("additionalProperties") is False and set(schema.get("required", [])) == props


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": _strict_ok(schema)},
    }


def _message(err: openai.APIStatusError) -> str:
    r = err.response
    if "html" in r.headers.get("content-type", "") or r.text.lstrip().startswith("<"):
        return f"{err.status_code}: " + describe_body(
            r.content, r.headers.get("content-type", ""), str(r.request.url), err.status_code, ""
        )
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return f"{err.status_code}: {inner['message']}"
        if isinstance(inner, str):
            return f"{err.status_code}: {inner}"
    return f"{err.status_code}: {err.message}"


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        structured_output: bool = True,
        max_connections: int = 100,
        prompt_cache: TTL | None = None,
    ) -> None:
        self.client = sdk_client(
            openai,
            openai.AsyncOpenAI,
            api_key=api_key,
            base_url=base_url,
            timeout_s=timeout_s,
            max_connections=max_connections,
        )
        self.structured_output = structured_output
        # OpenAI caches long prefixes by itself; a routing key raises the hit rate. Only on
        # OpenAI's own API: a compatible server may refuse a parameter it does not know.
        self.cache_key = bool(prompt_cache) and (base_url is None or "api.openai.com" in base_url)

    def request_kwargs(self, req: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": req.model, "messages": req.messages, **req.params}
        if req.json_schema is not None and self.structured_output:
            kwargs["response_format"] = response_format(req.json_schema)
        if req.logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = req.logprobs
        if self.cache_key and len(req.messages) > 1:
            kwargs["prompt_cache_key"] = cache_key(shared_prefix(req.messages))
        return kwargs

    async def complete(self, req: ChatRequest) -> ChatResponse:
        t0 = time.monotonic()
        try:
            raw = await self.client.chat.completions.with_raw_response.create(
                **split_known(self.client.chat.completions.create, self.request_kwargs(req))
            )
        except openai.APIStatusError as e:
            raise ProviderError(
                _message(e), status=e.status_code, headers=dict(e.response.headers)
            ) from None
        except openai.APITimeoutError as e:
            raise ProviderError(
                "request timed out", kind="timeout", sent=not never_sent(e)
            ) from None
        except openai.APIConnectionError as e:
            raise ProviderError(
                f"connection failed: {e.__cause__ or e}", kind="connection", sent=not never_sent(e)
            ) from None
        try:
            completion = raw.parse()
            if inspect.isawaitable(completion):  # the async raw response parses asynchronously
                completion = await completion
            return self._response(completion, raw, time.monotonic() - t0)
        except ProviderError:
            raise
        except Exception:  # a 200 that is not a chat completion (a proxy's page, a cut body)
            raise _bad_shape(raw) from None

    def _response(self, completion: Any, raw: Any, latency: float) -> ChatResponse:
        headers = {k.lower(): v for k, v in raw.headers.items()}
        if not isinstance(getattr(completion, "choices", None), list) or not completion.choices:
            raise _bad_shape(raw)
        return chat_response(completion, headers, latency, raw.status_code)

    async def aclose(self) -> None:
        await self.client.close()


def _bad_shape(raw: Any) -> ProviderError:
    http = raw.http_response
    return ProviderError(
        describe_body(
            http.content,
            http.headers.get("content-type", ""),
            str(http.request.url),
            http.status_code,
            "choices",
        ),
        status=http.status_code,
        headers={k.lower(): v for k, v in http.headers.items()},
        kind="bad_response",
    )


def chat_response(
    completion: Any, headers: dict[str, str], latency: float, status: int = 200
) -> ChatResponse:
    """A `ChatCompletion` (online, or a line of a batch's output) as our response."""
    if not completion.choices:
        raise ProviderError(
            "response has no choices",
            status=status,
            headers=headers,
            kind="bad_response",
        )
    choice = completion.choices[0]
    usage = getattr(completion, "usage", None)
    given_in = getattr(usage, "prompt_tokens", None)
    given_out = getattr(usage, "completion_tokens", None)
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    refusal = getattr(choice.message, "refusal", None)
    raw_finish = choice.finish_reason
    finish = "refusal" if refusal else FINISH.get(raw_finish or "", raw_finish)
    return ChatResponse(
        text=choice.message.content or "",
        usage=Usage(
            input_tokens=given_in if isinstance(given_in, int) else 0,
            output_tokens=given_out if isinstance(given_out, int) else 0,
            cached_input_tokens=(getattr(details, "cached_tokens", None) or 0) if details else 0,
            # reported by models that bill cache writes; priced by the table
            cache_write_tokens=(getattr(details, "cache_write_tokens", None) or 0)
            if details
            else 0,
            reported=isinstance(given_in, int) and isinstance(given_out, int),
        ),
        finish_reason=finish,
        refusal=refusal,
        request_id=headers.get("x-request-id") or completion.id,
        latency_s=latency,
        headers=headers,
        logprobs=_logprobs(choice),
        raw_finish_reason=raw_finish,
    )


def _logprobs(choice: Any) -> list[dict[str, Any]] | None:
    lp = getattr(choice, "logprobs", None)
    content = getattr(lp, "content", None) if lp else None
    if not content:
        return None
    return [
        {
            "token": t.token,
            "logprob": t.logprob,
            "top": {a.token: a.logprob for a in (t.top_logprobs or [])},
        }
        for t in content
    ]
