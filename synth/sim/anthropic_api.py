"""The Anthropic messages dialect: validation, error bodies, response shape.

Errors look like the real API's (`{"type": "error", "error": {"type", "message"},
"request_id"}`, 529 `overloaded_error`); a success is a `message` whose `usage.input_tokens`
excludes the tokens read from cache (`cache_read_input_tokens`), headers `request-id` and the
`anthropic-ratelimit-*` family. Structured output arrives as `output_config.format` (SDK 2.x)
or the older beta `output_format`; both are accepted.
"""

from __future__ import annotations

import hmac
import json
import math
import os
from typing import Any

from synth.sim import tokens
from synth.sim.answers.registry import SimRequest
from synth.sim.caching import NO_CACHE, CacheUse, anthropic_prefix
from synth.sim.ratelimit import Limiter, anthropic_headers
from synth.sim.request import ApiError, Choice, ParsedRequest

NAME = "anthropic"
REQUEST_ID_HEADER = "request-id"
REFUSAL_TEXT = "I can't help with that request."
BAD_JSON = "There was an error parsing the body of your request: it is not valid JSON."
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
SERVER_ERRORS = {
    "500": (500, "api_error", "Internal server error"),
    "500_no_retry": (500, "api_error", "Internal server error"),
    "503": (503, "api_error", "Service unavailable"),
    "529": (529, "overloaded_error", "Overloaded"),
}
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58(n: int) -> str:
    return "".join(_B58[b % 58] for b in os.urandom(n))


def new_ids() -> tuple[str, str]:
    """(message id, request id)."""
    return "msg_01" + _b58(22), "req_011C" + _b58(20)


def authenticate(headers: Any, key: str) -> ApiError | None:
    given = headers.get("x-api-key")
    if given is None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        given = token if scheme.lower() == "bearer" else None
    if not given:
        return ApiError(401, "x-api-key header is required", type="authentication_error")
    if not hmac.compare_digest(given.strip().encode(), key.encode()):
        return ApiError(401, "invalid x-api-key", type="authentication_error")
    return None


def _invalid(message: str) -> ApiError:
    return ApiError(400, message, type="invalid_request_error")


def _number(body: dict[str, Any], name: str, low: float, high: float | None) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{name}: Input should be a valid number")
    if value < low:
        raise _invalid(f"{name}: Input should be greater than or equal to {low:g}")
    if high is not None and value > high:
        raise _invalid(f"{name}: Input should be less than or equal to {high:g}")
    return float(value)


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for j, block in enumerate(content):
            if not isinstance(block, dict) or "type" not in block:
                raise _invalid(f"{where}.{j}.type: Field required")
            if block["type"] == "text":
                if not isinstance(block.get("text"), str):
                    raise _invalid(f"{where}.{j}.text: Field required")
                parts.append(block["text"])
        return "\n".join(parts)
    raise _invalid(f"{where}: Input should be a valid list")


def _schema(body: dict[str, Any]) -> dict[str, Any] | None:
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    where = "output_config.format"
    if fmt is None and body.get("output_format") is not None:
        fmt, where = body["output_format"], "output_format"
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        raise _invalid(f"{where}.type: Input should be 'json_schema'")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise _invalid(f"{where}.schema: Field required")
    return schema


def parse(body: Any, headers: Any) -> ParsedRequest:
    if not headers.get("anthropic-version"):
        raise _invalid("anthropic-version: header is required")
    if not isinstance(body, dict):
        raise _invalid("Input should be a valid dictionary")
    model = body.get("model")
    if model is None:
        raise _invalid("model: Field required")
    if not isinstance(model, str) or not model:
        raise _invalid("model: Input should be a valid string")
    if "messages" not in body:
        raise _invalid("messages: Field required")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise _invalid("max_tokens: Field required")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise _invalid("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise _invalid("max_tokens: Input should be greater than or equal to 1")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _invalid("messages: Input should be a valid list")
    if not messages:
        raise _invalid("messages: at least one message is required")
    if body.get("stream"):
        raise _invalid("stream: the simulated teacher does not stream; leave it unset")

    chat: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role is None:
            raise _invalid(f"messages.{i}.role: Field required")
        if role == "system":
            raise _invalid(
                'messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            raise _invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise _invalid(f"messages.{i}.content: Field required")
        text = _text(message["content"], f"messages.{i}.content")
        last = i == len(messages) - 1
        if not text and not message["content"] and not (last and role == "assistant"):
            raise _invalid(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        chat.append({"role": role, "content": text})

    system = body.get("system")
    if system is not None:
        system = _text(system, "system")
    temperature = _number(body, "temperature", 0, 1)
    _number(body, "top_p", 0, 1)
    _number(body, "top_k", 0, None)
    stops = body.get("stop_sequences") or []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _invalid("stop_sequences: Input should be a valid list of strings")
    schema = _schema(body)

    skip = ("model", "messages", "system", "output_config", "output_format", "stream")
    params = {k: v for k, v in body.items() if k not in skip}
    if temperature is None:
        temperature = 1.0
    params["temperature"] = temperature
    if stops:
        params["stop"] = stops
    request = SimRequest(NAME, model, system, chat, params, schema)
    return ParsedRequest(
        request=request,
        input_tokens=tokens.input_tokens(
            [system] if system is not None else [], [m["content"] for m in chat]
        ),
        max_tokens=max_tokens,
        system_tokens=tokens.count_system_tokens(system) if system else 0,
        cache_prefix=anthropic_prefix(model, body, system, chat),
        stop=stops,
        json_mode=schema is not None,
        temperature=temperature,
    )


def error_body(err: ApiError, request_id: str) -> bytes:
    kind = err.type or _TYPES.get(
        err.status, "api_error" if err.status >= 500 else "invalid_request_error"
    )
    return json.dumps(
        {"type": "error", "error": {"type": kind, "message": err.message}, "request_id": request_id}
    ).encode()


def server_error(kind: str) -> ApiError:
    status, type_, message = SERVER_ERRORS[kind]
    return ApiError(status, message, type=type_)


def rate_limited(model: str, reason: str, wait_s: float, limit: float, requested: int) -> ApiError:
    if math.isinf(wait_s):
        return ApiError(
            429,
            f"This request ({requested} tokens) exceeds the rate limit of {limit:g} tokens per "
            "minute for your organization; reduce the prompt length or max_tokens.",
            type="rate_limit_error",
        )
    unit = "requests per minute" if reason == "requests" else "tokens per minute"
    of = f" of {limit:g} {unit}" if limit else ""
    return ApiError(
        429,
        f"This request would exceed the rate limit for your organization{of} for {model}. "
        f"Please try again in {max(1, math.ceil(wait_s * 1000))} ms.",
        type="rate_limit_error",
    )


def ratelimit_headers(limiter: Limiter, wall: float) -> dict[str, str]:
    return anthropic_headers(limiter, wall)


_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "content_filter": "refusal",
}


def success_body(
    response_id: str,
    parsed: ParsedRequest,
    choices: list[Choice],
    input_tokens: int,
    cached_tokens: int,
    created: int,
    cache: CacheUse = NO_CACHE,
) -> bytes:
    del created
    choice = choices[0]
    refused = choice.finish in ("refusal", "content_filter")
    content = [] if refused or choice.text is None else [{"type": "text", "text": choice.text}]
    details = None
    if refused:
        details = {"type": "refusal", "category": None, "explanation": choice.refusal}
    body = {
        "id": response_id,
        "type": "message",
        "role": "assistant",
        "model": parsed.request.model,
        "content": content,
        "stop_reason": _STOP[choice.finish],
        "stop_sequence": choice.stop_sequence,
        "stop_details": details,
        "usage": {
            "input_tokens": input_tokens - cached_tokens - cache.write,
            "cache_creation_input_tokens": cache.write,
            "cache_read_input_tokens": cached_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache.write - cache.write_1h,
                "ephemeral_1h_input_tokens": cache.write_1h,
            },
            "output_tokens": choice.output_tokens,
            "service_tier": "standard",
        },
    }
    return json.dumps(body).encode()
