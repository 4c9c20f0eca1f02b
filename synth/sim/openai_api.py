"""The OpenAI chat completions dialect: validation, error bodies, response shape, log-probs.

Errors look like the real API's (`{"error": {"message", "type", "param", "code"}}`); a success
is a `chat.completion` with `usage.prompt_tokens_details.cached_tokens`, headers
`x-request-id` and the `x-ratelimit-*` family.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import zlib
from functools import lru_cache
from typing import Any

from synth.sim import tokens
from synth.sim.answers.registry import SimRequest
from synth.sim.caching import NO_CACHE, CacheUse, openai_prefix
from synth.sim.ratelimit import Limiter, openai_headers
from synth.sim.request import ApiError, Choice, ParsedRequest

NAME = "openai"
REQUEST_ID_HEADER = "x-request-id"
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_ROLE_LIST = "'system', 'assistant', 'user', 'function', 'tool', and 'developer'"
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_BAD_KEY = "Incorrect API key provided. You can find your API key in your account settings."
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."
BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was "
    "not valid JSON.)"
)
SERVER_ERRORS = {
    "500": (500, "The server had an error while processing your request. Sorry about that!"),
    "500_no_retry": (500, "The server had an error processing your request. Do not retry."),
    "503": (503, "The server is overloaded or not ready yet."),
    "529": (503, "The server is overloaded or not ready yet."),
}


def new_ids() -> tuple[str, str]:
    """(response id, request id)."""
    return "chatcmpl-" + os.urandom(14).hex(), "req_" + os.urandom(16).hex()


def authenticate(headers: Any, key: str) -> ApiError | None:
    auth = headers.get("authorization", "")
    scheme, _, given = auth.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return ApiError(401, _NO_KEY, type="invalid_request_error")
    if not hmac.compare_digest(given.strip().encode(), key.encode()):
        return ApiError(401, _BAD_KEY, type="invalid_request_error", code="invalid_api_key")
    return None


def _invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, type="invalid_request_error", param=param, code=code)


def _missing(param: str) -> ApiError:
    return _invalid(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def _type_name(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a decimal"}.get(
        type(value), "an object" if isinstance(value, dict) else "an array"
    )


def _wrong_type(param: str, expected: str, value: Any) -> ApiError:
    return _invalid(
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param,
        "invalid_type",
    )


def _int_param(body: dict[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(name, "an integer", value)
    if value < low:
        raise _invalid(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            name,
            "integer_below_min_value",
        )
    if high is not None and value > high:
        raise _invalid(
            f"Invalid '{name}': integer above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            name,
            "integer_above_max_value",
        )
    return value


def _number_param(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong_type(name, "a decimal", value)
    if value < low:
        raise _invalid(
            f"Invalid '{name}': decimal below minimum value. Expected a value >= {low:g}, "
            f"but got {value} instead.",
            name,
            "decimal_below_min_value",
        )
    if value > high:
        raise _invalid(
            f"Invalid '{name}': decimal above maximum value. Expected a value <= {high:g}, "
            f"but got {value} instead.",
            name,
            "decimal_above_max_value",
        )
    return float(value)


def _text(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or "type" not in part:
                raise _missing(f"{param}[{i}].type")
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    raise _missing(f"{param}[{i}].text")
                parts.append(part["text"])
        return "\n".join(parts)
    raise _wrong_type(param, "one of a string or array of objects", content)


def _response_format(body: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """(json mode, schema) from `response_format`."""
    fmt = body.get("response_format")
    if fmt is None:
        return False, None
    if not isinstance(fmt, dict):
        raise _wrong_type("response_format", "an object", fmt)
    kind = fmt.get("type")
    if kind == "text":
        return False, None
    if kind == "json_object":
        return True, {"type": "object"}  # any object: the answer function knows JSON is due
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict):
            raise _missing("response_format.json_schema")
        if not isinstance(spec.get("name"), str) or not spec["name"]:
            raise _missing("response_format.json_schema.name")
        schema = spec.get("schema", {})
        if not isinstance(schema, dict):
            raise _wrong_type("response_format.json_schema.schema", "an object", schema)
        return True, schema
    raise _invalid(
        f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and 'json_schema'.",
        "response_format.type",
        "invalid_value",
    )


def parse(body: Any, headers: Any) -> ParsedRequest:
    if not isinstance(body, dict):
        raise _invalid("Invalid type for body: expected an object.", None, "invalid_type")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _wrong_type("messages", "an array of objects", messages)
    if not messages:
        raise _invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "messages",
            "empty_array",
        )
    if body.get("stream"):
        raise _invalid("The simulated teacher does not stream: leave 'stream' unset.", "stream")

    system_parts: list[str] = []
    chat: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _wrong_type(f"messages[{i}]", "an object", message)
        role = message.get("role")
        if role is None:
            raise _missing(f"messages[{i}].role")
        if role not in ROLES:
            raise _invalid(
                f"Invalid value: '{role}'. Supported values are: {_ROLE_LIST}.",
                f"messages[{i}].role",
                "invalid_value",
            )
        content = message.get("content")
        if content is None:
            if role != "assistant":
                raise _missing(f"messages[{i}].content")
            content = ""
        text = _text(content, f"messages[{i}].content")
        if role in ("system", "developer") and not chat:
            system_parts.append(text)
        else:
            chat.append({"role": role, "content": text})
    system = "\n".join(system_parts) if system_parts else None

    max_tokens = _int_param(body, "max_completion_tokens", 1)
    legacy = _int_param(body, "max_tokens", 1)
    if max_tokens is None:
        max_tokens = legacy
    temperature = _number_param(body, "temperature", 0, 2)
    _number_param(body, "top_p", 0, 1)
    n = _int_param(body, "n", 1, 128) or 1
    logprobs = body.get("logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        raise _wrong_type("logprobs", "a boolean", logprobs)
    top = _int_param(body, "top_logprobs", 0, 20)
    if top is not None and not logprobs:
        raise _invalid(
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is used.",
            "top_logprobs",
            "invalid_value",
        )
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > 4 or not all(isinstance(s, str) for s in stops):
        raise _invalid("Invalid 'stop': expected a string or up to 4 strings.", "stop")
    json_mode, schema = _response_format(body)

    skip = ("model", "messages", "response_format", "max_completion_tokens", "stream")
    params = {k: v for k, v in body.items() if k not in skip}
    params["max_tokens"] = max_tokens
    if temperature is None:
        temperature = 1.0
    params["temperature"] = temperature
    request = SimRequest(NAME, model, system, chat, params, schema)
    return ParsedRequest(
        request=request,
        input_tokens=tokens.input_tokens(system_parts, [m["content"] for m in chat]),
        max_tokens=max_tokens,
        system_tokens=sum(tokens.count_system_tokens(p) for p in system_parts),
        cache_prefix=openai_prefix(model, system_parts, chat),
        n=n,
        stop=stops,
        top_logprobs=(top or 0) if logprobs else None,
        json_mode=json_mode,
        temperature=temperature,
    )


def error_body(err: ApiError, request_id: str) -> bytes:
    del request_id  # OpenAI carries it in the header only
    return json.dumps(
        {
            "error": {
                "message": err.message,
                "type": err.type
                or ("server_error" if err.status >= 500 else "invalid_request_error"),
                "param": err.param,
                "code": err.code,
            }
        }
    ).encode()


def server_error(kind: str) -> ApiError:
    status, message = SERVER_ERRORS[kind]
    return ApiError(status, message, type="server_error")


def rate_limited(model: str, reason: str, wait_s: float, limit: float, requested: int) -> ApiError:
    if math.isinf(wait_s):
        return ApiError(
            429,
            f"Request too large for {model} on tokens per min (TPM): Limit {limit:g}, Requested "
            f"{requested}. The input or output tokens must be reduced in order to run successfully.",
            type="tokens",
            code="rate_limit_exceeded",
        )
    unit = "requests per min (RPM)" if reason == "requests" else "tokens per min (TPM)"
    where = f" on {unit}: Limit {limit:g}, Requested {requested}" if limit else ""
    return ApiError(
        429,
        f"Rate limit reached for {model}{where}. "
        f"Please try again in {max(1, math.ceil(wait_s * 1000))}ms.",
        type=reason,
        code="rate_limit_exceeded",
    )


def ratelimit_headers(limiter: Limiter, wall: float) -> dict[str, str]:
    return openai_headers(limiter)


_ALTERNATIVES = (
    " the", ",", ".", " a", " and", " of", " to", " is", " in", " it", " that", " for", " on",
    " with", " as", " was", " be", " by", " this", " not", " or", " at", " an", " are", ":",
)  # fmt: skip


@lru_cache(maxsize=65536)
def _token_logprob(token: str, k: int) -> dict[str, Any]:
    """A token's log-prob entry: a fixed function of the token (and K)."""
    h = zlib.crc32(token.encode())
    p = 0.5 + 0.5 * ((h % 997) / 997.0)  # the chosen token is always the most likely one
    rest = 1.0 - p
    top = [{"token": token, "logprob": math.log(p), "bytes": list(token.encode())}]
    start = h % len(_ALTERNATIVES)
    picked = 0
    for j in range(len(_ALTERNATIVES)):
        if len(top) >= k:
            break
        alt = _ALTERNATIVES[(start + j) % len(_ALTERNATIVES)]
        if alt == token:
            continue
        picked += 1
        share = max(rest * 0.5**picked, 1e-12)
        top.append({"token": alt, "logprob": math.log(share), "bytes": list(alt.encode())})
    return {
        "token": token,
        "logprob": top[0]["logprob"],
        "bytes": top[0]["bytes"],
        "top_logprobs": top[:k],
    }


def logprobs_content(
    text: str, k: int, belief: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """Each token's entry; with a belief, the first token that is one of its alternatives gets
    the belief as its top-K (written in that token's case and leading space)."""
    content = [_token_logprob(piece, k) for piece in tokens.pieces(text)]
    wanted = {a.lower(): a for a in belief} if belief else {}
    for i, entry in enumerate(content):
        piece = entry["token"]
        if belief and piece.strip().lower() in wanted:
            content[i] = _believed_logprob(piece, belief, belief[wanted[piece.strip().lower()]], k)
            break
    return content


def _believed_logprob(piece: str, belief: dict[str, float], own: float, k: int) -> dict[str, Any]:
    word = piece.strip()
    lead = piece[: len(piece) - len(piece.lstrip())]

    def styled(alt: str) -> str:
        if word.isupper():
            alt = alt.upper()
        elif word[:1].isupper():
            alt = alt.capitalize()
        return lead + alt

    ranked = sorted(belief.items(), key=lambda kv: -kv[1])
    top = [
        {"token": styled(a), "logprob": math.log(max(p, 1e-12)), "bytes": list(styled(a).encode())}
        for a, p in ranked[:k]
    ]
    return {
        "token": piece,
        "logprob": math.log(max(own, 1e-12)),
        "bytes": list(piece.encode()),
        "top_logprobs": top,
    }


_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "refusal": "stop"}


def success_body(
    response_id: str,
    parsed: ParsedRequest,
    choices: list[Choice],
    input_tokens: int,
    cached_tokens: int,
    created: int,
    cache: CacheUse = NO_CACHE,
) -> bytes:
    del cache  # OpenAI reports reads only (cached_tokens): writes cost nothing extra
    out = []
    completion_tokens = 0
    for i, choice in enumerate(choices):
        completion_tokens += choice.output_tokens
        logprobs = None
        if parsed.top_logprobs is not None:
            text = choice.text if choice.text is not None else (choice.refusal or "")
            content = logprobs_content(text, parsed.top_logprobs, choice.belief)
            logprobs = {"content": content, "refusal": None}
        out.append(
            {
                "index": i,
                "message": {
                    "role": "assistant",
                    "content": choice.text,
                    "refusal": choice.refusal,
                    "annotations": [],
                },
                "logprobs": logprobs,
                "finish_reason": _FINISH.get(choice.finish, choice.finish),
            }
        )
    body = {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": parsed.request.model,
        "choices": out,
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": input_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_distill_sim",
    }
    return json.dumps(body).encode()
