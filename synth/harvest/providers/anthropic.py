"""Anthropic messages. The system prompt travels apart from the messages; structured output
goes through `output_config.format`; usage is normalised so that `input_tokens` counts every
prompt token, cache reads and writes included (Anthropic reports them apart)."""

from __future__ import annotations

import inspect
import time
from typing import Any

import anthropic

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
from synth.harvest.providers.prompt_cache import TTL, anthropic_marker, may_be_cached, shared_prefix

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "refusal",
    "tool_use": "stop",
    "pause_turn": "stop",
    "model_context_window_exceeded": "length",
}


def _message(err: anthropic.APIStatusError) -> str:
    r = err.response
    if "html" in r.headers.get("content-type", "") or r.text.lstrip().startswith("<"):
        return f"{err.status_code}: " + describe_body(
            r.content, r.headers.get("content-type", ""), str(r.request.url), err.status_code, ""
        )
    body = err.body
    if (
        isinstance(body, dict)
        and isinstance(body.get("error"), dict)
        and body["error"].get("message")
    ):
        return f"{err.status_code}: {body['error']['message']}"
    return f"{err.status_code}: {err.message}"


class AnthropicProvider:
    name = "anthropic"

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
            anthropic,
            anthropic.AsyncAnthropic,
            api_key=api_key,
            base_url=base_url,
            timeout_s=timeout_s,
            max_connections=max_connections,
        )
        self.structured_output = structured_output
        self.prompt_cache = prompt_cache  # None: no cache_control sent

    def request_kwargs(self, req: ChatRequest) -> dict[str, Any]:
        system = "\n\n".join(m["content"] for m in req.messages if m["role"] == "system")
        params = dict(req.params)
        if "stop" in params:  # the OpenAI spelling, accepted for convenience
            stop = params.pop("stop")
            params["stop_sequences"] = [stop] if isinstance(stop, str) else stop
        messages: list[dict[str, Any]] = [m for m in req.messages if m["role"] != "system"]
        kwargs: dict[str, Any] = {"model": req.model, "messages": messages, **params}
        if system:
            kwargs["system"] = system
        if self.prompt_cache and may_be_cached(req.model, shared_prefix(req.messages)):
            # one breakpoint at the end of the shared prefix: the cache covers the system
            # prompt and every few-shot turn before it
            marker = anthropic_marker(self.prompt_cache)
            if len(messages) > 1:
                last = messages[-2]
                messages[-2] = {
                    **last,
                    "content": [{"type": "text", "text": last["content"], "cache_control": marker}],
                }
            else:
                kwargs["system"] = [{"type": "text", "text": system, "cache_control": marker}]
        if req.json_schema is not None and self.structured_output:
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": req.json_schema}}
        return kwargs

    async def complete(self, req: ChatRequest) -> ChatResponse:
        t0 = time.monotonic()
        try:
            raw = await self.client.messages.with_raw_response.create(
                **split_known(self.client.messages.create, self.request_kwargs(req))
            )
        except anthropic.APIStatusError as e:
            raise ProviderError(
                _message(e), status=e.status_code, headers=dict(e.response.headers)
            ) from None
        except anthropic.APITimeoutError as e:
            raise ProviderError(
                "request timed out", kind="timeout", sent=not never_sent(e)
            ) from None
        except anthropic.APIConnectionError as e:
            raise ProviderError(
                f"connection failed: {e.__cause__ or e}", kind="connection", sent=not never_sent(e)
            ) from None
        try:
            message = raw.parse()
            if inspect.isawaitable(message):  # the async raw response parses asynchronously
                message = await message
            return self._response(message, raw, time.monotonic() - t0)
        except ProviderError:
            raise
        except Exception:  # a 200 that is not a message (a proxy's page, a cut body)
            raise _bad_shape(raw) from None

    def _response(self, message: Any, raw: Any, latency: float) -> ChatResponse:
        if not isinstance(getattr(message, "content", None), list):
            raise _bad_shape(raw)
        headers = {k.lower(): v for k, v in raw.headers.items()}
        return message_response(message, headers, latency)

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
            "content",
        ),
        status=http.status_code,
        headers={k.lower(): v for k, v in http.headers.items()},
        kind="bad_response",
    )


def message_response(message: Any, headers: dict[str, str], latency: float) -> ChatResponse:
    """A `Message` (online, or a succeeded result of a message batch) as our response."""
    text = "".join(
        getattr(b, "text", "") for b in message.content if getattr(b, "type", "") == "text"
    )
    u = getattr(message, "usage", None)
    given_in = getattr(u, "input_tokens", None)
    given_out = getattr(u, "output_tokens", None)
    reported = isinstance(given_in, int) and isinstance(given_out, int)
    if not (isinstance(given_in, int) and isinstance(given_out, int)):
        given_in = given_out = 0
    cache_read = getattr(u, "cache_read_input_tokens", None) or 0
    cache_write = getattr(u, "cache_creation_input_tokens", None) or 0
    # the 1-hour writes are billed dearer than the 5-minute ones: the SDK splits them
    write_1h = getattr(getattr(u, "cache_creation", None), "ephemeral_1h_input_tokens", 0)
    raw_finish = message.stop_reason
    finish = FINISH.get(raw_finish or "", raw_finish)
    return ChatResponse(
        text=text,
        usage=Usage(
            input_tokens=given_in + cache_read + cache_write,
            output_tokens=given_out,
            cached_input_tokens=cache_read,
            cache_write_tokens=cache_write,
            cache_write_1h_tokens=min(write_1h or 0, cache_write),
            reported=reported,
        ),
        finish_reason=finish,
        refusal=text if finish == "refusal" else None,
        request_id=headers.get("request-id") or message.id,
        latency_s=latency,
        headers=headers,
        raw_finish_reason=raw_finish,
    )
