"""A real third-party OpenAI-compatible server: `transformers serve` (the `transformers[serving]`
extra) serving a tiny model folder built here, on 127.0.0.1, offline.

The harvest sends every input to it through the OpenAI provider (`base_url`), and the eval
measures a served student through it (`eval.student_endpoint`): what users do with vLLM,
Ollama or llama.cpp's server, against a server we did not write. The model is random-init, so
its answers are noise; what is checked is the plumbing: every item answered, usage recorded
as the server's tokenizer counts it, journal and report agreeing, wall-time pricing.

`transformers serve` pins the folder it is started with: requests must name the model by that
same path. It answers `/health` once the model is loaded (about 10-20 s on 2 CPU cores).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import distill, make_run

pytestmark = pytest.mark.serving

#: what `transformers serve` imports beyond the base install (its `serving` extra)
SERVING_MODULES = ("fastapi", "uvicorn", "openai", "torch", "accelerate")
STARTUP_TIMEOUT_S = 90.0
#: USD per hour of the (imaginary) GPU the server runs on
PER_HOUR = Decimal(2)
TINY = {"vocab_size": 400, "hidden_size": 64, "layers": 2, "heads": 4}


@dataclass
class Served:
    base_url: str
    model: str  # the model folder's path: the name the server answers to
    model_dir: Path
    pid: int
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _missing_extra() -> list[str]:
    return [m for m in SERVING_MODULES if importlib.util.find_spec(m) is None]


def _texts() -> list[str]:
    """What the tokenizer learns from: the prompts the tests send, so they tokenize short."""
    import evalkit

    texts = ["system", "user", "assistant", evalkit.SYSTEM, "Answer with one category."]
    texts += [r["text"] for r in evalkit.records(60)] + evalkit.LABELS
    texts += [
        f"Ticket: ticket {i}: my invoice shows a double charge for order {1000 + i}"
        for i in range(50)
    ]
    return texts * 3


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """The server and whatever it started: its whole process group, by its pid."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    missing = _missing_extra()
    if missing:
        pytest.skip(
            f"transformers serve needs the serving extra ({', '.join(missing)} missing): "
            "pip install -e '.[serving]'"
        )
    from finetune.tiny import build_tiny_student

    root = tmp_path_factory.mktemp("serve")
    model_dir = build_tiny_student(root / "student", _texts(), **TINY)
    (root / "hf-cache").mkdir()
    port = _free_port()
    log = root / "serve.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",  # no hub: the model is a local folder
        "HF_HUB_CACHE": str(root / "hf-cache"),
        "OMP_NUM_THREADS": "1",  # a tiny model: threads cost more than they give
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
    }
    args = [
        sys.executable,
        "-m",
        "transformers.cli.transformers",
        "serve",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        "--log-level",
        "info",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with httpx.Client(timeout=2.0) as client:
            while True:
                if proc.poll() is not None:
                    said = _tail(log)
                    if "No module named" in said or "transformers[serving]" in said:
                        pytest.skip(f"transformers serve cannot start (serving extra): {said}")
                    pytest.fail(f"transformers serve exited with {proc.returncode}:\n{said}")
                try:
                    if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"transformers serve not healthy after {STARTUP_TIMEOUT_S} s:\n{_tail(log)}"
                    )
                time.sleep(0.25)
        yield Served(f"http://127.0.0.1:{port}/v1", str(model_dir), model_dir, proc.pid, log)
    finally:
        _stop(proc)


def _report(config: Path) -> dict[str, Any]:
    r = distill("report", str(config), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_harvest_through_transformers_serve(
    tmp_path: Path, served: Served, record_property: Any
) -> None:
    from transformers import AutoTokenizer

    n, max_tokens = 16, 6
    run = make_run(
        tmp_path,
        served.base_url,
        n=n,
        teacher={
            "model": served.model,
            "api_key_env": None,  # a local server needs no key: none is set below
            "concurrency": 2,  # it generates one request at a time anyway
            "price": {"per_hour": str(PER_HOUR)},
            "params": {"temperature": 0, "max_tokens": max_tokens},
            "timeout_s": 60,
        },
    )
    r = distill("harvest", str(run.config), env={"OPENAI_API_KEY": ""}, timeout=180)
    assert r.returncode == 0, r.stderr + _tail(served.log)
    assert f"{n}/{n} answered" in r.stdout

    report = _report(run.config)
    cfg = run.cfg()
    from synth.journal.store import Journal

    with Journal(cfg.journal_path, readonly=True) as j:
        items = list(j.iter_items())
        totals = j.totals()
        attempts = list(j.iter_attempts())

    # every item answered, once, with the server's usage
    assert len(items) == n and all(i.state == "done" for i in items)
    assert report["succeeded"] == n and report["failed"] == 0 and report["pending"] == 0
    assert report["requests"] == n and report["retries"] == 0 and report["rate_limited"] == 0
    assert {a["outcome"] for a in attempts} == {"ok"} and {a["status"] for a in attempts} == {200}
    tok = AutoTokenizer.from_pretrained(served.model_dir)
    for it in items:
        prompt = tok.apply_chat_template(it.messages, add_generation_prompt=True, tokenize=False)
        assert it.input_tokens == len(tok(prompt, add_special_tokens=False)["input_ids"])
        assert 1 <= it.output_tokens <= max_tokens
        assert it.finish_reason in ("stop", "length") and it.response_text is not None
        assert it.request_id and it.latency_s and it.latency_s > 0
        assert it.model == served.model and it.logprobs is None

    # journal and report agree, to the token and to the exact dollar
    assert report["input_tokens"] == sum(i.input_tokens for i in items) == totals["input_tokens"]
    assert report["output_tokens"] == sum(i.output_tokens for i in items) == totals["output_tokens"]
    assert report["per_model"][0]["model"] == served.model
    assert report["per_model"][0]["input_tokens"] == report["input_tokens"]
    assert Decimal(report["cost_usd_exact"]) == totals["cost_usd"]

    # a self-hosted teacher costs its wall time: nothing per token, PER_HOUR per hour
    assert totals["token_cost_usd"] == 0
    wall = report["harvest_wall_s"]
    assert report["cost_usd"] == pytest.approx(wall * float(PER_HOUR) / 3600, abs=1e-6)
    assert report["cost_comparison"]["teacher"]["pricing"] == "per_hour"

    items_per_s = n / wall
    record_property("items_per_s", round(items_per_s, 2))
    print(f"\ntransformers serve: {n} items in {wall:.2f} s = {items_per_s:.2f} items/s")
    assert items_per_s > 0.2


def test_served_student_eval_through_transformers_serve(tmp_path: Path, served: Served) -> None:
    """`eval.student_endpoint`: the student answers through the server, not in-process."""
    import evalkit

    from evals.run import evaluate

    endpoint = {"base_url": served.base_url, "model": served.model, "concurrency": 2}
    cfg = evalkit.make_run(
        tmp_path, eval_cfg={"student_endpoint": endpoint, "max_new_tokens": 4, "limit": 6}
    )
    result = evaluate(cfg)
    m = result.metrics
    assert m["items"] == 6 and m["failed_requests"] == 0
    assert m["student"]["kind"] == "endpoint" and m["student"]["base_url"] == served.base_url
    perf = m["performance"]
    assert perf["latency_is"] == "per request"
    assert 0 < perf["latency_p50_s"] <= perf["latency_p95_s"]
    assert perf["items_per_s"] > 0 and 0 < perf["output_tokens"] <= 6 * 4
    preds = [
        json.loads(line)
        for line in (cfg.run_dir / "eval" / "predictions.jsonl").read_text().splitlines()
    ]
    assert len(preds) == 6 and all(p["error"] is None and p["latency_s"] > 0 for p in preds)
