"""Teacher providers behind one protocol (`synth.harvest.providers.base.Provider`)."""

from __future__ import annotations

import os
from typing import Literal, TypedDict

from synth.config import TeacherConfig
from synth.errors import AuthError
from synth.harvest.providers.base import ChatRequest, ChatResponse, Provider, Usage

__all__ = ["ChatRequest", "ChatResponse", "Provider", "Usage", "make_provider", "api_key_for"]

# OpenAI-compatible local servers accept any key; the SDK insists on a non-empty one.
LOCAL_PLACEHOLDER_KEY = "not-needed"


class _ProviderArgs(TypedDict):
    """The keyword arguments every provider class takes."""

    api_key: str
    base_url: str | None
    timeout_s: float
    structured_output: bool
    max_connections: int
    prompt_cache: Literal["5m", "1h"] | None


def keyless(teacher: TeacherConfig) -> bool:
    """An endpoint declared to need no key: `api_key_env: null` written out, or a free price
    (a local server)."""
    explicit_null = "api_key_env" in teacher.model_fields_set and teacher.api_key_env is None
    return explicit_null or bool(teacher.price and teacher.price.free)


def api_key_for(teacher: TeacherConfig) -> str:
    """The key from the environment; never from the config, never written anywhere. A missing
    key is an error before anything is sent, unless the endpoint is declared keyless."""
    if "api_key_env" in teacher.model_fields_set and teacher.api_key_env is None:
        return LOCAL_PLACEHOLDER_KEY  # declared keyless: no variable is read
    key = os.environ.get(teacher.key_env, "").strip()
    if key:
        return key
    if keyless(teacher):
        return LOCAL_PLACEHOLDER_KEY
    hint = (
        " (a local server that needs none: set teacher.api_key_env: null)"
        if teacher.base_url is not None
        else ""
    )
    raise AuthError(
        f"no API key in ${teacher.key_env}: export it, or set teacher.api_key_env to the "
        f"variable that holds it{hint}; nothing was sent"
    )


def make_provider(teacher: TeacherConfig, *, max_connections: int | None = None) -> Provider:
    kwargs = _ProviderArgs(
        api_key=api_key_for(teacher),
        base_url=teacher.base_url,
        timeout_s=teacher.timeout_s,
        structured_output=teacher.structured_output,
        max_connections=max_connections or max(teacher.concurrency, 10),
        prompt_cache=teacher.prompt_cache_ttl if teacher.prompt_cache == "auto" else None,
    )
    if teacher.provider == "anthropic":
        from synth.harvest.providers.anthropic import AnthropicProvider

        return AnthropicProvider(**kwargs)
    from synth.harvest.providers.openai import OpenAIProvider

    return OpenAIProvider(**kwargs)
