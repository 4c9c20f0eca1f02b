"""What every benchmark shares: the machine, a run folder, the baseline loop, tables, results.

The baseline is what most users write before they find a tool: an `asyncio` loop over the bare
`AsyncOpenAI` client, a semaphore for concurrency, the SDK's default retries, and nothing
else (no journal, no pacing, no budget). Every figure is taken side by side with it in the
same process, against the same simulated teacher, so that ratios survive a slower machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
KEY_ENV = "DISTILL_BENCH_KEY"
MAX_TOKENS = 16

TEMPLATE = {
    "description": "Classify a ticket (benchmark)",
    "system": "You are a support triage assistant. Answer with one category.",
    "user": "Ticket: {{ text }}",
    "params": {"temperature": 0, "max_tokens": MAX_TOKENS},
    "output": {"labels": ["billing", "shipping", "refund", "account", "technical"]},
}

# wide enough for the tables when the output is a file or a pipe (RESULTS.md is pasted from it)
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


# --------------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, Python and library versions: the first lines of a result."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    versions = {}
    for name in ("openai", "httpx", "tenacity", "torch", "transformers", "trl", "peft"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001 (not installed: not reported)
            pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": versions,
    }


# --------------------------------------------------------------------------- a run folder


def records(n: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "text": f"ticket {i}: my invoice shows a double charge for order {1000 + i}"}
        for i in range(n)
    ]


def write_inputs(path: Path, n: int) -> None:
    """`n` input lines, written streaming (a million lines never sit in a list)."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text = f"ticket {i}: my invoice shows a double charge for order {1000 + i}"
            f.write(json.dumps({"id": i, "text": text}) + "\n")


def make_run(
    root: Path,
    base_url: str,
    *,
    n: int,
    name: str = "bench",
    teacher: dict[str, Any] | None = None,
    inputs: Path | None = None,
    **top: Any,
) -> Path:
    """A run folder (prompts/bench.yaml, inputs.jsonl, config.yaml) pointed at `base_url`;
    returns the config's path. `inputs` reuses an inputs file already written."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts" / "bench.yaml").write_text(yaml.safe_dump(TEMPLATE))
    if inputs is None:
        inputs = root / "inputs.jsonl"
        write_inputs(inputs, n)
    t = {
        "provider": "openai",
        "model": "sim-teacher",
        "base_url": base_url,
        "api_key_env": KEY_ENV,
        "concurrency": 32,
        "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.60},
        **(teacher or {}),
    }
    cfg = {"name": name, "inputs": str(inputs), "template": "bench", "teacher": t, **top}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    os.environ.setdefault(KEY_ENV, "sk-bench-not-a-real-key")
    return path


def messages_for(record: dict[str, Any]) -> list[dict[str, str]]:
    """The same messages the template renders, written out by hand as a user would."""
    return [
        {"role": "system", "content": TEMPLATE["system"]},
        {"role": "user", "content": f"Ticket: {record['text']}"},
    ]


# --------------------------------------------------------------------------- the baseline


@dataclass
class BaselineResult:
    ok: int = 0
    failed: int = 0
    wall_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


async def baseline_loop(
    base_url: str, recs: Sequence[dict[str, Any]], *, concurrency: int, **client_kwargs: Any
) -> BaselineResult:
    """asyncio + a semaphore over the bare AsyncOpenAI client, default retries: what most
    users write. Answers are kept in a dict, as such a script would before dumping them."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", **client_kwargs)
    sem = asyncio.Semaphore(concurrency)
    out = BaselineResult()
    answers: dict[int, str] = {}

    async def one(rec: dict[str, Any]) -> None:
        async with sem:
            try:
                r = await client.chat.completions.create(
                    model="sim-teacher",
                    messages=messages_for(rec),  # type: ignore[arg-type]
                    temperature=0,
                    max_tokens=MAX_TOKENS,
                )
                answers[rec["id"]] = r.choices[0].message.content or ""
                out.ok += 1
            except openai.APIError as e:
                out.failed += 1
                kind = type(e).__name__
                out.errors[kind] = out.errors.get(kind, 0) + 1

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(one(r) for r in recs))
    finally:
        await client.close()
    out.wall_s = time.perf_counter() - t0
    return out


def run_baseline(base_url: str, n: int, *, concurrency: int, **kw: Any) -> BaselineResult:
    return asyncio.run(baseline_loop(base_url, records(n), concurrency=concurrency, **kw))


def run_distill(config: Path, **kw: Any) -> tuple[Any, float]:
    """`distill harvest CONFIG` as the CLI calls it (no progress display); (result, wall s)."""
    from synth.config import load_config
    from synth.harvest.engine import harvest

    cfg = load_config(config)
    t0 = time.perf_counter()
    result = harvest(cfg, **kw)
    return result, time.perf_counter() - t0


# --------------------------------------------------------------------------- output


def tiny_student(
    base: Path, *, steps: int, seed: int, max_length: int, loss: str, **extra: Any
) -> dict[str, Any]:
    """The `student:` section the soft-label benchmarks train with: full fine-tuning of a tiny
    local model, `steps` steps of 16, lr 2e-3, and `loss` (alpha 0.5, T 1) for the distill."""
    return {
        "base_model": str(base),
        "full_finetune": True,
        "max_steps": steps,
        "batch_size": 16,
        "learning_rate": 2e-3,
        "warmup_ratio": 0.05,
        "max_length": max_length,
        "seed": seed,
        "save_steps": steps,
        "logging_steps": 10,
        "distill": {"loss": loss, "alpha": 0.5, "temperature": 1.0},
        **extra,
    }


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*(fmt(v) for v in r))
    return t


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def save(
    name: str,
    data: dict[str, Any],
    out_dir: Path | None = None,
    argv: Sequence[str] | None = None,
    script: str | None = None,
) -> Path:
    """benchmarks/results/<name>.json (or `out_dir`): the figures, the machine, the command."""
    out_dir = out_dir or RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    args = list(sys.argv[1:] if argv is None else argv)
    payload = {
        "benchmark": name,
        "command": " ".join(["python", f"benchmarks/{script or name}.py", *args]),
        "machine": machine(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def add_common_args(parser: Any) -> None:
    parser.add_argument("--smoke", action="store_true", help="a tiny run (the test suite's)")
    parser.add_argument(
        "--out", type=Path, default=None, help=f"folder for <name>.json (default {RESULTS_DIR})"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)"
    )
