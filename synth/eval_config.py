"""The `eval:` section of the run config. No torch here: the harvest imports this.

    eval:
      gold_field: label              # optional: the input records' reference answer
      split: test                    # which split of <run>/dataset the student answers
      limit: 500                     # optional: the first N items of that split
      max_new_tokens: 64             # default: the teacher's max_tokens, else 256
      batch_size: 16
      student_cost_per_hour: 0.80    # USD per hour of the hardware that serves the student
      training_cost_per_hour: 2.50   # USD per hour of the training hardware (default: the above)
      monthly_requests: 1000000      # the volume the monthly saving is worked out at
      student_endpoint:              # optional: eval a served student instead of loading it
        base_url: http://127.0.0.1:8001/v1
        model: my-student
        api_key_env: STUDENT_API_KEY # optional: name of the variable holding the key

Every key is optional. Without the prices the eval still runs; the cost comparison then says
which key to set.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from synth.config_base import KeyEnvName, Strict


class StudentEndpoint(Strict):
    """An OpenAI-compatible server (vLLM, Ollama, llama.cpp, `transformers serve`) that serves
    the student, so that latency and throughput are measured under the stack users deploy."""

    base_url: str = Field(description="the server's /v1 URL, e.g. http://127.0.0.1:8001/v1")
    model: str = Field(description="the model name the server knows the student by")
    api_key_env: KeyEnvName | None = Field(
        None, description="name of the variable holding the key; none for servers without auth"
    )
    concurrency: int = Field(8, ge=1, le=1024, description="requests in flight at most")
    timeout_s: float = Field(120.0, gt=0, description="per-request timeout")


class EvalConfig(Strict):
    gold_field: str | None = Field(
        default=None,
        description="input record field holding the reference answer (label, object or text)",
    )
    split: Literal["train", "validation", "test"] = Field(
        default="test", description="the dataset split the student is evaluated on"
    )
    limit: int | None = Field(
        default=None, ge=1, description="evaluate the first N items of the split only"
    )
    max_new_tokens: int | None = Field(
        default=None,
        ge=1,
        description="student answer length cap (default: the teacher's max_tokens, else 256)",
    )
    batch_size: int = Field(
        default=16, ge=1, le=4096, description="prompts generated together in-process"
    )
    device: str = Field(
        default="auto", description="auto | cpu | cuda | cuda:N | mps (in-process student)"
    )
    student_cost_per_hour: Decimal | None = Field(
        default=None, ge=0, description="USD per hour of the hardware serving the student"
    )
    training_cost_per_hour: Decimal | None = Field(
        default=None,
        ge=0,
        description="USD per hour of the training hardware (default: student_cost_per_hour)",
    )
    monthly_requests: int | None = Field(
        default=None, ge=0, description="requests per month the saving is worked out at"
    )
    student_endpoint: StudentEndpoint | None = Field(
        default=None, description="eval a served student (OpenAI-compatible) instead of loading it"
    )
