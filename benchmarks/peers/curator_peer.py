"""bespokelabs-curator as a peer: one harvest of the benchmark's prompts, run in curator's own
virtual environment (it pins versions of its own), printing one JSON line of what it saw.

    CURATOR_VENV/bin/python benchmarks/peers/curator_peer.py '{"base_url": ..., "n": 300}'

Set up once:  python3 -m venv VENV && VENV/bin/pip install bespokelabs-curator==0.1.31

Offline, curator cannot download tiktoken's `cl100k_base` encoding (it counts tokens for its
TPM limiter with it), so `tiktoken.get_encoding` is replaced by a whitespace word counter
before curator is imported; litellm is told to use its bundled price map
(LITELLM_LOCAL_MODEL_COST_MAP) and curator's telemetry is off. The prompts are the same
messages distill's benchmark template renders (benchmarks/common.py).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Any

SYSTEM = "You are a support triage assistant. Answer with one category."


class _WordCount:
    """Stands in for a tiktoken Encoding: `encode` gives one item per word."""

    name = "words"

    def encode(self, text: str, *args: Any, **kwargs: Any) -> list[str]:
        return str(text).split()


def _patch_tiktoken() -> None:
    import tiktoken

    tiktoken.get_encoding = lambda name: _WordCount()  # type: ignore[assignment]


def main(spec: dict[str, Any]) -> dict[str, Any]:
    work = tempfile.mkdtemp(prefix="curator-peer-")
    os.environ.update(
        CURATOR_CACHE_DIR=work,
        TELEMETRY_ENABLED="false",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        CURATOR_DISABLE_RICH_DISPLAY="1",
        OPENAI_API_KEY=spec.get("api_key", "sk-bench-not-a-real-key"),
    )
    _patch_tiktoken()
    from bespokelabs import curator  # after the patch

    class Triage(curator.LLM):
        def prompt(self, row: dict[str, Any]) -> list[dict[str, str]]:
            return [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Ticket: {row['text']}"},
            ]

        def parse(self, row: dict[str, Any], response: str) -> dict[str, Any]:
            return {"id": row["id"], "answer": response}

    backend_params: dict[str, Any] = {
        "base_url": spec["base_url"],
        "api_key": os.environ["OPENAI_API_KEY"],
        "max_retries": spec.get("max_retries", 10),
        "request_timeout": spec.get("timeout_s", 60),
        "require_all_responses": False,
        # as distill: an answer cut at max_tokens is kept (build filters it), not re-bought
        "invalid_finish_reasons": ["content_filter"],
        "max_concurrent_requests": spec.get("concurrency", 32),
        "in_mtok_cost": spec.get("in_mtok_cost"),
        "out_mtok_cost": spec.get("out_mtok_cost"),
    }
    if spec.get("rpm"):
        backend_params["max_requests_per_minute"] = int(spec["rpm"])
        backend_params["max_tokens_per_minute"] = 10**9
    llm = Triage(
        model_name="sim-teacher",
        backend="openai",
        generation_params={"temperature": 0, "max_tokens": spec.get("max_tokens", 16)},
        backend_params=backend_params,
    )
    # the sim's model is in no price map: give litellm what curator reads back from it (its
    # output-token estimate for the TPM limiter divides max_tokens by 4)
    import litellm

    top = 4 * spec.get("max_tokens", 16)
    litellm.register_model(
        {
            "sim-teacher": {
                "max_tokens": top,
                "max_output_tokens": top,
                "input_cost_per_token": (spec.get("in_mtok_cost") or 0) / 1e6,
                "output_cost_per_token": (spec.get("out_mtok_cost") or 0) / 1e6,
                "litellm_provider": "openai",
                "mode": "chat",
            }
        }
    )
    rows = [
        {"id": i, "text": f"ticket {i}: my invoice shows a double charge for order {1000 + i}"}
        for i in range(spec["n"])
    ]
    t0 = time.perf_counter()
    out = llm(rows)
    wall = time.perf_counter() - t0
    data = getattr(out, "dataset", out)
    answered = len(data)
    tracker = getattr(llm._request_processor, "tracker", None)
    return {
        "wall_s": wall,
        "answered": answered,
        "failed": spec["n"] - answered,
        "cost_usd": getattr(tracker, "total_cost", None),
        "client_429s": getattr(tracker, "num_rate_limit_errors", None),
    }


if __name__ == "__main__":
    result = main(json.loads(sys.argv[1]))
    print("CURATOR_RESULT " + json.dumps(result), flush=True)
