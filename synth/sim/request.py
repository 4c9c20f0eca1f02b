"""What the two API modules hand the server: a parsed request, or a refusal to parse one.

Each API module (openai_api, anthropic_api) validates a body its provider's way and returns a
`ParsedRequest`; the server then runs the same pipeline (limits, faults, answer, ledger) for
both and asks the API module to render the result in its provider's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from synth.sim.answers.registry import SimRequest

if TYPE_CHECKING:  # caching imports ApiError from here
    from synth.sim.caching import CachePrefix


class ApiError(Exception):
    """A request the provider would refuse: rendered in the provider's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code


@dataclass
class ParsedRequest:
    request: SimRequest  # what the answer function sees
    input_tokens: int
    max_tokens: int | None
    system_tokens: int = 0  # the system prompt's tokens
    cache_prefix: CachePrefix | None = None  # what the provider's prompt cache may serve
    n: int = 1
    stop: list[str] = field(default_factory=list)
    top_logprobs: int | None = None  # None: no log-probabilities requested
    json_mode: bool = False  # structured output requested (schema or plain JSON object)
    temperature: float = 1.0


@dataclass
class Choice:
    """One answer after faults, stop sequences and max_tokens were applied."""

    text: str | None
    finish: str  # normalised: "stop", "length", "stop_sequence", "refusal", "content_filter"
    output_tokens: int
    refusal: str | None = None
    stop_sequence: str | None = None
    belief: dict[str, float] | None = None  # the answer function's, for the top-K log-probs
