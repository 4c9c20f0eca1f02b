"""Every knob of the simulated teacher, in one typed model.

The same fields drive the library (`SimConfig(rpm=60, fault_429=0.1)`), the command line
(`python -m synth.sim --rpm 60 --fault-429 0.1`: one flag per field, generated from this model)
and the subprocess mode (the config travels as JSON on the child's stdin, so a key set in
`require_key` never shows in a process listing).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Faults that end a request with an error (or no response at all): one draw picks at most one.
ERROR_FAULTS = (
    "fault_429",
    "fault_500",
    "fault_503",
    "fault_529",
    "fault_500_no_retry",
    "fault_drop",
    "fault_html_200",
    "fault_truncated_200",
    "fault_no_choices_200",
)
# Error faults whose answer is generated (and billed) before the body is mangled on its way.
BILLED_BODY_FAULTS = ("truncated_200", "no_choices_200")
# Faults that alter a successful answer: each is drawn on its own.
ANSWER_FAULTS = (
    "fault_slow",
    "fault_truncate",
    "fault_refusal",
    "fault_content_filter",
    "fault_malformed_json",
    "fault_usage",
)

Imitate = Literal["none", "vllm", "llamacpp", "ollama"]
UsageFault = Literal["missing", "negative", "huge"]
EchoKey = Literal["none", "full", "masked"]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]  # a probability


# set from --require-key-env (the NAME of a variable), never typed on a command line
NOT_A_FLAG = {"require_key"}


class SimConfig(BaseModel):
    """The simulated teacher's behaviour. Defaults: no limits, no faults, no latency, echo answers."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    seed: int = Field(default=0, description="seeds faults, latency and answers")
    latency_ms: tuple[float, float] = Field(
        default=(0.0, 0.0),
        description="added latency per request, uniform in [min, max] milliseconds",
    )
    # Rate limits: continuously refilling token buckets holding `burst_s` seconds' worth.
    rpm: float | None = Field(
        default=None, gt=0, description="requests per minute (none: unlimited)"
    )
    tpm: float | None = Field(
        default=None, gt=0, description="tokens per minute, input + max_tokens (none: unlimited)"
    )
    burst_s: float = Field(default=1.0, gt=0, description="bucket capacity in seconds of the rate")

    fault_429: Rate = Field(
        default=0.0, description="probability of an injected 429 with retry-after"
    )
    fault_500: Rate = Field(default=0.0, description="probability of a 500")
    fault_503: Rate = Field(default=0.0, description="probability of a 503")
    fault_529: Rate = Field(
        default=0.0, description="probability of an Anthropic 529 overloaded_error (503 on OpenAI)"
    )
    fault_500_no_retry: Rate = Field(
        default=0.0, description="probability of a 500 with x-should-retry: false"
    )
    fault_drop: Rate = Field(
        default=0.0, description="probability of a dropped connection (no valid response)"
    )
    fault_html_200: Rate = Field(
        default=0.0,
        description="probability of a 200 HTML page (a proxy in the way; nothing generated)",
    )
    fault_truncated_200: Rate = Field(
        default=0.0, description="probability of a 200 whose JSON body is cut off (billed)"
    )
    fault_no_choices_200: Rate = Field(
        default=0.0,
        description="probability of a 200 JSON body without choices/content (billed)",
    )
    fault_usage: Rate = Field(
        default=0.0, description="probability that an answer reports usage_fault usage (billed)"
    )
    usage_fault: UsageFault = Field(
        default="missing",
        description="the usage a fault_usage answer reports: missing, negative or huge",
    )
    echo_key: EchoKey = Field(
        default="none",
        description="error bodies echo the presented key: none, full, or masked as OpenAI does",
    )
    fault_slow: Rate = Field(default=0.0, description="probability of an extra delay of slow_s")
    fault_truncate: Rate = Field(
        default=0.0, description="probability of an answer cut in half (finish: length)"
    )
    fault_refusal: Rate = Field(default=0.0, description="probability of a refusal")
    fault_content_filter: Rate = Field(
        default=0.0,
        description="probability of OpenAI finish_reason content_filter (Anthropic: refusal)",
    )
    fault_malformed_json: Rate = Field(
        default=0.0, description="probability of broken JSON when a schema is requested"
    )
    fault_retry_after_s: float = Field(
        default=0.25, ge=0, description="retry-after advertised by injected 429s, seconds"
    )
    slow_s: float = Field(default=1.0, ge=0, description="extra delay of a slow response, seconds")
    bill_abandoned: bool = Field(
        default=True,
        description="bill a request whose client hung up during its latency, as providers do",
    )

    require_key: SecretStr | None = Field(
        default=None, description="when set, requests must carry this key (401 otherwise)"
    )

    imitate: Imitate = Field(
        default="none", description="behave like a local server: none, vllm, llamacpp or ollama"
    )
    max_queue: int = Field(default=8, ge=0, description="vllm: requests in flight before 503")
    loading_s: float = Field(
        default=1.0, ge=0, description="llamacpp: seconds of 'Loading model' 503s"
    )
    max_parallel: int = Field(default=4, ge=0, description="ollama: requests in flight before 503")

    cache_min_tokens: int = Field(
        default=32,
        ge=1,
        description="a cacheable prompt prefix this long is cached (OpenAI: automatically; "
        "Anthropic: up to its cache_control mark)",
    )
    price_input_per_mtok: Decimal | None = Field(
        default=None, ge=0, description="USD per 1M input tokens"
    )
    price_output_per_mtok: Decimal | None = Field(
        default=None, ge=0, description="USD per 1M output tokens"
    )
    price_cached_input_per_mtok: Decimal | None = Field(
        default=None, ge=0, description="USD per 1M cached input tokens (default: the input price)"
    )
    price_batch_factor: Decimal = Field(
        default=Decimal("0.5"), gt=0, le=1, description="a batch answer's price, as a fraction"
    )
    batch_delay_s: float = Field(
        default=0.0, ge=0, description="batch APIs: seconds from a batch's creation to its end"
    )
    batch_item_error_rate: float = Field(
        default=0.0, ge=0, le=1, description="batch APIs: fraction of items answered with a 500"
    )
    batch_expire_first: int = Field(
        default=0, ge=0, description="batch APIs: the first N batches expire unprocessed"
    )
    price_cache_write_per_mtok: Decimal | None = Field(
        default=None,
        ge=0,
        description="USD per 1M tokens written to a 5-minute cache (default: input x 1.25)",
    )
    price_cache_write_1h_per_mtok: Decimal | None = Field(
        default=None,
        ge=0,
        description="USD per 1M tokens written to a 1-hour cache (default: input x 2)",
    )

    answers: str | Callable[..., Any] = Field(
        default="echo", description="answer function: echo, tickets, extract or module:function"
    )
    ledger_path: Path | None = Field(
        default=None, description="append every billed entry to this JSONL"
    )
    models: list[str] = Field(
        default_factory=lambda: ["sim-teacher"], description="ids listed by GET /v1/models"
    )

    @field_validator("latency_ms", mode="before")
    @classmethod
    def _latency(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            return (value, value)
        if isinstance(value, str):
            parts = [p for p in value.replace(":", ",").split(",") if p.strip()]
            return tuple(float(p) for p in (parts * 2 if len(parts) == 1 else parts))
        return value

    @field_validator("answers", mode="before")
    @classmethod
    def _answers(cls, value: Any) -> Any:
        if not (isinstance(value, str) or callable(value)):
            raise ValueError(
                "answers must be a name (echo, tickets, extract), 'module:function' or a callable"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> SimConfig:
        lo, hi = self.latency_ms
        if lo < 0 or hi < lo:
            raise ValueError(f"latency_ms must be 0 <= min <= max, got {self.latency_ms}")
        total = sum(getattr(self, name) for name in ERROR_FAULTS)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"the error fault rates ({', '.join(ERROR_FAULTS)}) add up to {total:g} > 1"
            )
        return self

    @property
    def price_given(self) -> bool:
        return self.price_input_per_mtok is not None or self.price_output_per_mtok is not None

    def answers_spec(self) -> str:
        """`answers` as an importable string (what a subprocess can load)."""
        if isinstance(self.answers, str):
            return self.answers
        module = getattr(self.answers, "__module__", None)
        qualname = getattr(self.answers, "__qualname__", "")
        if not module or "<" in qualname or module == "__main__":
            raise ValueError(
                "a subprocess sim needs an importable answer function: pass 'module:function'"
            )
        return f"{module}:{qualname}"

    def to_wire(self) -> dict[str, Any]:
        """A JSON-able dict that rebuilds this config (the key included) in another process."""
        data = self.model_dump(mode="json", exclude={"require_key", "answers"})
        data["answers"] = self.answers_spec()
        data["require_key"] = self.require_key.get_secret_value() if self.require_key else None
        return data
