"""`distill eval CONFIG`: the student answers the held-out split; we compare it with the teacher.

    <run>/dataset/ (test split) ─► student (in-process, or eval.student_endpoint) ─► task metrics
                                                                                  ─► <run>/eval/

What lands in `<run>/eval/`:

    metrics.json       task metrics, the distillation gap, latency and throughput, cost comparison
    metrics.md         the same for people
    predictions.jsonl  one line per item: input, teacher, student, gold, agree, per-item scores
    failures.jsonl     the input records where the student disagrees with the teacher, in the
                       inputs format: `distill harvest CONFIG --inputs <run>/eval/failures.jsonl`
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.latency import distribution, percentile
from evals.tasks.base import Example
from evals.tasks.registry import task_for
from synth.dataset.rows import COLUMNS
from synth.errors import StageError

if TYPE_CHECKING:
    from evals.generate import GenerationRun
    from synth.config import RunConfig

Progress = Callable[[int, int], None]  # (items answered, total)

DEFAULT_MAX_NEW_TOKENS = 256


@dataclass
class EvalResult:
    eval_dir: Path
    metrics: dict[str, Any]  # the content of metrics.json

    paths: dict[str, Path]  # RunPaths.eval_files

    def describe(self) -> str:
        m = self.metrics
        perf = m["performance"]
        gap = m["gap"]
        head = ", ".join(f"{k} {_short(v)}" for k, v in m["metrics"]["summary"].items())
        frac = "–" if gap["fraction"] is None else f"{100 * gap['fraction']:.1f}%"
        return (
            f"eval ({m['task']}, {m['items']:,} {m['split']} items): {head}\n"
            f"distillation gap: the student reaches {frac} of the teacher ({gap['metric']}, vs {gap['basis']})\n"
            f"student: {perf['items_per_s']:.2f} items/s, {perf['tokens_per_s']:.1f} tokens/s, "
            f"wait p50 {perf['latency_p50_s']:.3f} s, p95 {perf['latency_p95_s']:.3f} s"
            f"{_per_item(perf.get('item_latency'))} on {m['student'].get('hardware')}\n"
            f"{m['failures']:,} disagreements → {self.paths['failures']}\n"
            f"metrics → {self.paths['metrics']}"
        )


def _per_item(d: dict[str, Any] | None) -> str:
    return "" if not d else f", per item p50 {d['p50_s']:.4f} s, p99 {d['p99_s']:.4f} s"


def _short(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def load_split(cfg: RunConfig) -> Any:
    from datasets import DatasetDict, load_from_disk

    path = cfg.paths.dataset
    if not (path / "dataset_dict.json").exists():
        raise StageError(f"{path}: no built dataset yet: run distill build first")
    splits = load_from_disk(str(path))
    split = cfg.eval.split
    if not isinstance(splits, DatasetDict) or split not in splits:
        raise StageError(
            f"{path}: the dataset has no '{split}' split: set eval.split, or run distill build again"
        )
    rows = splits[split]
    if len(rows) == 0:
        raise StageError(
            f"{path}: the '{split}' split is empty: raise dataset.{split} (its fraction) and build again, "
            "or set eval.split"
        )
    if cfg.eval.limit is not None:
        rows = rows.select(range(min(cfg.eval.limit, len(rows))))
    return rows


def _input_record(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("input")
    if isinstance(raw, str):
        return json.loads(raw)
    if isinstance(raw, dict):
        return raw
    return {k: v for k, v in row.items() if k not in COLUMNS}


def _split_messages(messages: list[dict[str, str]]) -> tuple[list[dict[str, str]], str]:
    """(the prompt: every message before the last assistant turn, the teacher's answer)."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        raise StageError("a dataset row has no assistant message: run distill build again")
    prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:last]]
    return prompt, messages[last]["content"]


def _max_new_tokens(cfg: RunConfig, template: Any) -> int:
    if cfg.eval.max_new_tokens is not None:
        return cfg.eval.max_new_tokens
    teacher_max = cfg.teacher.params.get("max_tokens") or template.params.get("max_tokens")
    return int(teacher_max) if teacher_max else DEFAULT_MAX_NEW_TOKENS


def _answer(
    cfg: RunConfig,
    prompts: list[list[dict[str, str]]],
    max_new_tokens: int,
    progress: Progress | None,
) -> GenerationRun:
    if cfg.eval.student_endpoint is not None:
        from evals.served import generate_served

        return generate_served(
            cfg.eval.student_endpoint, prompts, max_new_tokens=max_new_tokens, progress=progress
        )
    from evals.generate import generate_local, resolve_student

    student_dir = cfg.paths.student
    resolve_student(student_dir)  # a clear "run distill train first" before torch loads
    return generate_local(
        student_dir,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=cfg.eval.batch_size,
        device=cfg.eval.device,
        progress=progress,
    )


def evaluate(cfg: RunConfig, *, progress: Progress | None = None) -> EvalResult:
    """Run the student on the eval split and write `<run>/eval/` (see the module docstring)."""
    from synth.templates import load_template

    template = load_template(cfg.template, cfg.base_dir)
    task = task_for(labels=template.labels, json_schema=template.json_schema)
    rows = load_split(cfg)
    gold_field = cfg.eval.gold_field
    notes: list[str] = []

    prompts: list[list[dict[str, str]]] = []
    examples: list[Example] = []
    teacher_models: Counter[str] = Counter()
    for i, row in enumerate(rows):
        prompt, teacher_text = _split_messages(row["messages"])
        record = _input_record(row)
        prompts.append(prompt)
        examples.append(
            Example(
                key=str(row.get("key") or i),
                input=record,
                teacher=teacher_text,
                student="",
                gold=record.get(gold_field) if gold_field else None,
                teacher_parsed=row.get("label")
                if task.kind == "classification"
                else row.get("parsed"),
            )
        )
        if row.get("teacher_model"):
            teacher_models[row["teacher_model"]] += 1
    if gold_field and all(ex.gold is None for ex in examples):
        notes.append(
            f"eval.gold_field '{gold_field}': no input record has it; measured against the teacher only"
        )

    max_new_tokens = _max_new_tokens(cfg, template)
    gen = _answer(cfg, prompts, max_new_tokens, progress)
    for ex, g in zip(examples, gen.generations, strict=True):
        ex.student = g.text

    scores = [task.score(ex) for ex in examples]
    summary = task.summarize(examples, scores)

    latencies = [g.latency_s for g in gen.generations if g.error is None]
    item_times = [
        g.item_s if g.item_s is not None else g.latency_s
        for g in gen.generations
        if g.error is None
    ]
    served = gen.source.get("kind") == "endpoint"
    tokens = sum(g.output_tokens for g in gen.generations)
    n = len(examples)
    wall = max(gen.wall_s, 1e-9)
    failed_requests = sum(1 for g in gen.generations if g.error is not None)
    if failed_requests:
        notes.append(
            f"{failed_requests} student requests failed: their items count as disagreements"
        )
    disagreements = [ex for ex, s in zip(examples, scores, strict=True) if not s.agree]

    eval_dir = cfg.paths.eval
    eval_dir.mkdir(parents=True, exist_ok=True)
    paths = cfg.paths.eval_files
    metrics: dict[str, Any] = {
        "run": cfg.name,
        "task": task.kind,
        "split": cfg.eval.split,
        "items": n,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "teacher_model": teacher_models.most_common(1)[0][0]
        if teacher_models
        else cfg.teacher.model,
        "student": gen.source,
        "gold_field": gold_field,
        "max_new_tokens": max_new_tokens,
        "metrics": summary["metrics"],
        "gap": summary["gap"],
        "performance": {
            "latency_p50_s": percentile(latencies, 50),
            "latency_p95_s": percentile(latencies, 95),
            "items_per_s": n / wall,
            "tokens_per_s": tokens / wall,
            "output_tokens": tokens,
            "wall_s": gen.wall_s,
            "latency_is": "per request" if served else "per batch (each item waits for its batch)",
            # the per-item distribution: what one answer takes (see evals.generate)
            "item_latency": distribution(
                item_times,
                "per request: the round trip the eval's client saw, "
                f"{gen.source.get('concurrency', 1)} in flight at most"
                if served
                else "per item: its share of its batch's generation time (the batch's time "
                "over its decoding steps, each step shared by the items still generating)",
            ),
        },
        "disagreements": len(disagreements),
        "failures": _write_failures(paths["failures"], disagreements),  # unique input records
        "failed_requests": failed_requests,
        "notes": notes,
        "files": {name: str(p) for name, p in paths.items()},
    }
    _write_predictions(paths["predictions"], examples, scores, gen)

    from evals.cost import cost_comparison

    metrics["cost"] = cost_comparison(cfg, metrics)
    _write_json(paths["metrics"], metrics)
    paths["markdown"].write_text(metrics_markdown(metrics), encoding="utf-8")
    return EvalResult(eval_dir=eval_dir, metrics=metrics, paths=paths)


def metrics_markdown(metrics: dict[str, Any]) -> str:
    from evals.markdown import cost_section, eval_section

    parts = [
        f"# Eval of run {metrics['run']}",
        "",
        f"_{metrics['created_at']}_",
        "",
        eval_section(metrics),
    ]
    parts += [f"- {n}" for n in metrics.get("notes", [])]
    if metrics.get("cost"):
        parts += ["", cost_section(metrics["cost"])]
    return "\n".join(parts).rstrip() + "\n"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(
        json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    tmp.replace(path)


def _write_predictions(
    path: Path, examples: list[Example], scores: list[Any], gen: GenerationRun
) -> None:
    with path.open("w", encoding="utf-8") as f:
        for ex, s, g in zip(examples, scores, gen.generations, strict=True):
            line = {
                "key": ex.key,
                "input": ex.input,
                "teacher": ex.teacher,
                "student": ex.student,
                "gold": ex.gold,
                "agree": s.agree,
                "latency_s": round(g.latency_s, 6),
                "item_s": round(g.item_s if g.item_s is not None else g.latency_s, 6),
                "output_tokens": g.output_tokens,
                "error": g.error,
                **s.detail,
            }
            f.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")


def _write_failures(path: Path, disagreements: list[Example]) -> int:
    """The original input records, once each, one JSON object per line: a harvest's inputs."""
    seen: set[str] = set()
    with path.open("w", encoding="utf-8") as f:
        for ex in disagreements:
            line = json.dumps(ex.input, ensure_ascii=False, sort_keys=False)
            if line in seen:
                continue
            seen.add(line)
            f.write(line + "\n")
    return len(seen)
