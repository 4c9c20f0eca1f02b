"""`distill demo`: the whole pipeline offline, on the bundled support tickets.

The simulated teacher plays gpt-4o-mini on a free loopback port, with realistic latency, a
rate limit and a few faults switched on, so the progress bar, the retries and the cost
tracking have something to show. The student is a tiny local model built from scratch. The
config the demo writes (<dir>/config.yaml) is a normal run config: read it, then point
`teacher` at a real endpoint and `student.base_model` at a real model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

import yaml
from rich.console import Console
from rich.table import Table

from synth.cli.pipeline import PipelineResult, run_pipeline, stages_table
from synth.config import load_config
from synth.resources import EXAMPLES

EXAMPLE = EXAMPLES / "support-tickets"


class _SimSettings(TypedDict):
    """The demo's simulated-teacher settings: keyword overrides of `SimConfig` fields."""

    seed: int
    latency_ms: tuple[float, float]
    rpm: float | None
    fault_429: float
    fault_500: float
    fault_503: float
    fault_drop: float
    fault_truncate: float
    fault_refusal: float
    fault_retry_after_s: float
    answers: str
    price_input_per_mtok: float
    price_output_per_mtok: float
    price_cached_input_per_mtok: float


# The teacher: what the simulated endpoint does. Prices are gpt-4o-mini's, so that the sim's
# own bill and distill's cost report can be compared to the cent.
SIM = _SimSettings(
    seed=0,
    latency_ms=(40, 160),
    rpm=3000,
    fault_429=0.01,
    fault_500=0.01,
    fault_503=0.005,
    fault_drop=0.005,
    fault_truncate=0.003,
    fault_refusal=0.003,
    fault_retry_after_s=0.2,
    answers="tickets",
    price_input_per_mtok=0.15,
    price_output_per_mtok=0.60,
    price_cached_input_per_mtok=0.075,
)

# The student and what the demo asks of each stage (see examples/support-tickets/config.yaml
# for the same task against a real teacher).
DEMO_SECTIONS: dict[str, Any] = {
    "filters": [
        {"name": "finish"},
        {"name": "refusal"},
        {"name": "labels"},
        {"name": "dedup"},
    ],
    # the student learns from the ticket alone: the teacher's long instructions would make
    # every sequence ~4x longer (and training ~3x slower) for a model that cannot read them
    "dataset": {"validation": 0.1, "test": 0.15, "seed": 0, "system_prompt": False},
    "student": {
        "base_model": "tiny",
        # the simulated teacher gives its answer token's top-20 log-probabilities
        # (teacher.logprobs below): learn its distribution over the labels too
        "distill": {"loss": "mix", "alpha": 0.5, "temperature": 1.0},
        "tiny": {"vocab_size": 4096, "hidden_size": 256, "layers": 2, "heads": 4},
        # a random-init model knows nothing: train every weight (LoRA alone learns little)
        "full_finetune": True,
        "epochs": 4,
        "batch_size": 16,
        "learning_rate": 1.0e-3,
        "warmup_ratio": 0.05,
        "max_length": 320,
        "seed": 0,
        # tickets are 22-135 tokens: batches of rows of similar length carry almost no padding,
        # about two thirds of the compute for the same agreement (benchmarks/demo_variants.py)
        "sft_overrides": {"train_sampling_strategy": "group_by_length"},
    },
    "eval": {
        "gold_field": "category",
        "student_cost_per_hour": 0.10,
        "training_cost_per_hour": 0.10,
        "monthly_requests": 1_000_000,
    },
}


# `distill demo --quick` and the test suite: the same pipeline, smaller and shorter
QUICK_STUDENT = {
    "tiny": {"vocab_size": 512, "hidden_size": 64, "layers": 1, "heads": 2},
    "epochs": 1,
    "max_length": 128,
}


def write_demo_config(run_dir: Path, base_url: str, items: int | None, quick: bool = False) -> Path:
    """<dir>/config.yaml: the example's config, pointed at the simulated teacher."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = yaml.safe_load((EXAMPLE / "config.yaml").read_text(encoding="utf-8"))
    inputs = EXAMPLE / "inputs.jsonl"
    if items is not None:
        inputs = run_dir / "inputs.jsonl"
        with (
            (EXAMPLE / "inputs.jsonl").open(encoding="utf-8") as src,
            inputs.open("w", encoding="utf-8") as dst,
        ):
            for i, line in enumerate(src):
                if i >= items:
                    break
                dst.write(line)
    cfg.update(
        name="support-tickets",
        runs_dir="runs",
        inputs=str(inputs),
        template="support-ticket",
        budget_usd=1.0,
    )
    cfg["teacher"].update(
        base_url=base_url,
        api_key_env=None,  # written out as null: the simulated teacher needs no key
        concurrency=16,
        rpm=2900,  # the endpoint allows 3000: stay just under, paced smoothly
        logprobs=20,  # its belief over the labels, for student.distill: mix
    )
    cfg.update({k: v for k, v in DEMO_SECTIONS.items() if k not in ("eval",)})
    cfg["eval"] = {**cfg.get("eval", {}), **DEMO_SECTIONS["eval"]}
    if quick:
        cfg["student"] = {**cfg["student"], **QUICK_STUDENT}
        cfg["teacher"]["rpm"] = None
    path = run_dir / "config.yaml"
    header = (
        "# Written by `distill demo`: the support-tickets example against the simulated teacher\n"
        "# (its base_url was a port of that demo run). Re-run all stages: distill run this-file\n"
    )
    path.write_text(
        header + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return path


def summary_table(result: PipelineResult, sim_bill: dict[str, Any]) -> Table:
    """The demo's last word: teacher cost, filter yield, agreement, cost per 1K, break-even."""
    r = result.report
    ev = r.get("eval") or {}
    summary = ev.get("summary") or {}
    cc = r.get("cost_comparison") or {}
    table = Table(title="distill demo: summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")

    def money(x: Any, digits: int = 4) -> str:
        return "n/a" if x is None else f"${float(x):,.{digits}f}"

    table.add_row(
        "teacher answers",
        f"{r['succeeded']:,} of {r['items']:,} ({r['retries']} retries, {r['rate_limited']} × 429)",
    )
    table.add_row("teacher cost (distill's report)", money(r["cost_usd"], 6))
    table.add_row("billed by the endpoint in this demo run", money(sim_bill.get("cost_usd"), 6))
    funnel = _read_json(result.cfg.paths.funnel)
    if funnel and funnel.get("items_in"):
        kept, total = funnel["kept"], funnel["items_in"]
        table.add_row("filter yield", f"{kept:,} of {total:,} kept ({kept / total:.1%})")
    for key, label in (
        (
            "agreement with teacher",
            f"student agreement with teacher ({ev.get('split', 'test')} split)",
        ),
        ("student accuracy vs gold", "student accuracy vs gold labels"),
        ("teacher accuracy vs gold", "teacher accuracy vs gold labels"),
    ):
        if summary.get(key) is not None:
            table.add_row(label, f"{float(summary[key]):.1%}")
    table.add_row(
        "teacher cost per 1K requests", money((cc.get("teacher") or {}).get("per_1k_usd"))
    )
    table.add_row(
        "student cost per 1K requests", money((cc.get("student") or {}).get("per_1k_usd"))
    )
    be = cc.get("break_even_requests")
    table.add_row(
        "break-even volume",
        "n/a (student not cheaper)" if be is None else f"{float(be):,.0f} requests",
    )
    monthly = cc.get("monthly") or {}
    if monthly.get("saving_usd") is not None:
        table.add_row(
            f"monthly saving at {monthly['requests']:,} requests", money(monthly["saving_usd"], 2)
        )
    student = result.cfg.student.full_finetune if result.cfg.student else False
    table.add_row("student", "tiny Llama, full fine-tune" if student else "LoRA adapter")
    trained = _read_json(result.cfg.paths.training_summary) or {}
    distill = trained.get("distill") or {}
    if distill:
        table.add_row("student loss", _loss_words(distill))
    if result.html_path:
        table.add_row("report", str(result.html_path))
    return table


def _loss_words(d: dict[str, Any]) -> str:
    if d.get("loss", "hard") == "hard":
        return "hard labels (cross-entropy on the answers)"
    rows = d["soft_rows"] + d["hard_rows"]
    how = "KL to the teacher's label distribution"
    if d["loss"] == "mix":
        how = f"mix: {d['alpha']:g} x KL to the teacher's labels + {1 - d['alpha']:g} x CE"
    return f"{how}, T={d['temperature']:g}; soft labels on {d['soft_rows']:,} of {rows:,} rows"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def run_demo(
    run_dir: Path, *, console: Console | None = None, items: int | None = None, quick: bool = False
) -> Table:
    """Run the demo in `run_dir`; `quick` trains a smaller student for one epoch against a
    faster teacher (what the test suite runs)."""
    from synth.sim.runner import SimServer

    console = console or Console(stderr=True)
    run_dir = run_dir.resolve()
    sim_config: _SimSettings = {**SIM, "latency_ms": (1, 5), "rpm": None} if quick else SIM
    with SimServer(**sim_config) as sim:
        console.print(f"simulated teacher (gpt-4o-mini prices, faults on) at {sim.openai_base_url}")
        config = write_demo_config(run_dir, sim.openai_base_url, items, quick)
        cfg = load_config(config)
        result = run_pipeline(cfg, console=console)
        bill = sim.ledger(entries=False)["totals"]
    console.print(stages_table(result))
    return summary_table(result, bill)
