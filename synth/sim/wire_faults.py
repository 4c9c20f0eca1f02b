"""A wire that is not clean: what a proxy, a cut connection or a buggy server does to a
response on its way back. The answer was made (and billed) or not as the fault says; these
functions only change what the client receives.

    html_page()                 a 200 HTML page (a login portal, a CDN error page)
    truncate_body(body)         the JSON body cut off half way
    drop_choices(body)          a JSON body without `choices` (OpenAI) or `content` (Anthropic)
    bad_usage(body, kind)       usage missing, negative or absurdly large
    echo_key(body, key, how)    an error message that repeats the presented key
"""

from __future__ import annotations

import json
from typing import Any

HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><h1>Please sign in</h1>"
    b"<p>This network requires authentication.</p></body></html>"
)


def html_page() -> bytes:
    return HTML_PAGE


def truncate_body(body: bytes) -> bytes:
    return body[: max(1, len(body) // 2)]


def drop_choices(body: bytes) -> bytes:
    data = json.loads(body)
    data.pop("choices", None)
    data.pop("content", None)
    return json.dumps(data).encode()


def _set_usage(usage: dict[str, Any], value: int) -> None:
    for name in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"):
        if name in usage:
            usage[name] = value
    if "total_tokens" in usage:
        usage["total_tokens"] = 2 * value


def bad_usage(body: bytes, kind: str) -> bytes:
    data = json.loads(body)
    if kind == "missing":
        data.pop("usage", None)
    elif isinstance(data.get("usage"), dict):
        _set_usage(data["usage"], -50 if kind == "negative" else 1_000_000_000)
    return json.dumps(data).encode()


def masked(key: str) -> str:
    """A key as OpenAI's 401 message shows it: its first characters, ****, its last four."""
    return f"{key[:6]}****{key[-4:]}"


def echo_key(body: bytes, key: str, how: str) -> bytes:
    """Append the presented key (in full, or masked) to an error body's message, as some
    providers and proxies do: "Incorrect API key provided: sk-pro****zq9w"."""
    if not key or how == "none":
        return body
    shown = key if how == "full" else masked(key)
    try:
        data = json.loads(body)
    except ValueError:
        return body
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        err["message"] += f" Incorrect API key provided: {shown} (Authorization: Bearer {shown})"
    return json.dumps(data).encode()


def presented_key(headers: Any) -> str:
    """The key a request carried (OpenAI's Bearer token or Anthropic's x-api-key)."""
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return (headers.get("x-api-key") or "").strip()
