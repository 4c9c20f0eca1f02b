"""Behave like a local inference server under load, as seen from an OpenAI client.

None of them sends rate-limit headers; each answers 503 in its own words when it cannot take a
request (bodies as the real servers write them):

- vLLM: its waiting queue is full (more than `max_queue` requests in flight);
- llama.cpp server: the model is still loading (the first `loading_s` seconds);
- Ollama: more than `max_parallel` requests in flight ("server busy").
"""

from __future__ import annotations

import json

from synth.sim.config import SimConfig


def _vllm(request_id: str) -> bytes:
    message = f"Scheduler waiting queue is full. Cannot add request {request_id}."
    error = {"message": message, "type": "ServiceUnavailableError", "param": None, "code": 503}
    return json.dumps({"error": error}).encode()


_LLAMACPP = json.dumps(
    {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
).encode()
_OLLAMA = json.dumps(
    {
        "error": {
            "message": "server busy, please try again.  maximum pending requests exceeded",
            "type": "api_error",
            "param": None,
            "code": None,
        }
    }
).encode()


class Imitation:
    def __init__(self, config: SimConfig, started: float) -> None:
        self.kind = config.imitate
        self.config = config
        self.started = started

    @property
    def active(self) -> bool:
        return self.kind != "none"

    def refuse(self, in_flight: int, now: float, request_id: str) -> bytes | None:
        """The 503 body when the imitated server would refuse this request, else None.

        `in_flight` counts the requests being served, this one excluded.
        """
        cfg = self.config
        if self.kind == "vllm" and in_flight >= cfg.max_queue:
            return _vllm(request_id)
        if self.kind == "llamacpp" and now - self.started < cfg.loading_s:
            return _LLAMACPP
        if self.kind == "ollama" and in_flight >= cfg.max_parallel:
            return _OLLAMA
        return None
