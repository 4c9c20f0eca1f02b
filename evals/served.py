"""The student answers through an OpenAI-compatible server (`eval.student_endpoint`).

vLLM, Ollama, llama.cpp's server or `transformers serve` serving the student: latency and
throughput are then those of the stack users deploy, not of an in-process `generate`.
Requests go out `concurrency` at a time with greedy decoding (temperature 0); a 429, a 5xx
(vLLM's full queue, llama.cpp loading) or a dropped connection is retried a few times with
backoff. An item whose request still fails gets an empty answer and its error (it counts as a
disagreement); when every request fails the eval stops with the first error.

Latency is the wall time of an item's successful request; throughput is items over the wall
time of the whole batch of requests.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from evals.generate import Generation, GenerationRun, Progress
from synth.errors import ConfigError, StageError
from synth.eval_config import StudentEndpoint

ATTEMPTS = 4  # per request
BACKOFF_S = (0.5, 8.0)  # first wait, longest wait


def _api_key(endpoint: StudentEndpoint) -> str:
    if endpoint.api_key_env is None:
        return "not-needed"  # local servers ignore it; the SDK wants a string
    key = os.environ.get(endpoint.api_key_env)
    if not key:
        raise ConfigError(
            f"no key in ${endpoint.api_key_env}: export it, or remove eval.student_endpoint.api_key_env"
        )
    return key


async def _generate(
    endpoint: StudentEndpoint,
    prompts: list[list[dict[str, str]]],
    max_new_tokens: int,
    progress: Progress | None,
) -> tuple[list[Generation], float]:
    import openai
    from tenacity import (
        AsyncRetrying,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential,
    )

    client = openai.AsyncOpenAI(
        base_url=endpoint.base_url,
        api_key=_api_key(endpoint),
        max_retries=0,  # one layer owns retries: this one
        timeout=endpoint.timeout_s,
    )
    retryable = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)
    gate = asyncio.Semaphore(endpoint.concurrency)
    done = 0

    async def one(messages: list[dict[str, str]]) -> Generation:
        nonlocal done
        async with gate:
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(ATTEMPTS),
                    wait=wait_exponential(multiplier=BACKOFF_S[0], max=BACKOFF_S[1]),
                    retry=retry_if_exception_type(retryable),
                    reraise=True,
                ):
                    with attempt:
                        t0 = time.perf_counter()
                        resp = await client.chat.completions.create(
                            model=endpoint.model,
                            messages=messages,  # type: ignore[arg-type]
                            temperature=0,
                            max_tokens=max_new_tokens,
                        )
                        latency = time.perf_counter() - t0
                text = (resp.choices[0].message.content or "").strip() if resp.choices else ""
                tokens = resp.usage.completion_tokens if resp.usage else 0
                gen = Generation(text=text, output_tokens=tokens or 0, latency_s=latency)
            except openai.OpenAIError as e:
                gen = Generation(text="", output_tokens=0, latency_s=0.0, error=_describe(e))
        done += 1
        if progress is not None:
            progress(done, len(prompts))
        return gen

    try:
        started = time.perf_counter()
        generations = await asyncio.gather(*(one(p) for p in prompts))
        wall = time.perf_counter() - started
    finally:
        await client.close()
    return list(generations), wall


def _describe(e: Exception) -> str:
    status = getattr(e, "status_code", None)
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return f"HTTP {status}: {text}" if status else f"{type(e).__name__}: {text}"


def generate_served(
    endpoint: StudentEndpoint,
    prompts: list[list[dict[str, str]]],
    *,
    max_new_tokens: int,
    progress: Progress | None = None,
) -> GenerationRun:
    generations, wall = asyncio.run(_generate(endpoint, prompts, max_new_tokens, progress))
    errors = [g.error for g in generations if g.error]
    if generations and len(errors) == len(generations):
        raise StageError(
            f"eval.student_endpoint {endpoint.base_url}: every request failed ({errors[0]}): "
            f"check that the server is up and serves the model '{endpoint.model}'"
        )
    source: dict[str, Any] = {
        "kind": "endpoint",
        "base_url": endpoint.base_url,
        "model": endpoint.model,
        "concurrency": endpoint.concurrency,
        "hardware": "the server's own (priced by eval.student_cost_per_hour)",
        "failed_requests": len(errors),
    }
    return GenerationRun(generations=generations, wall_s=wall, source=source)
