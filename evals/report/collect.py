"""Everything the report shows, gathered from the run folder; a stage not yet run is None.

`report_json_extras(cfg)` gives the eval and cost-comparison figures that `distill report
--json` adds to the harvest's cost report.

Beside the stages' own files (journal, funnel.json, training_summary.json, metrics.json),
`<run>/eval/predictions.jsonl` gives the disagreement examples and the student's per-item
times, and the journal the teacher's per-answer round trips.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.latency import distribution
from evals.report_rounds import collect_rounds
from synth.errors import StageError

if TYPE_CHECKING:
    from synth.config import RunConfig


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _shown(path: Path, base: Path | None) -> str:
    """A path as the report prints it: relative to `base` (the config's folder, or the run
    folder) where it lies inside it, so that the page names no machine's absolute paths."""
    if base is not None:
        try:
            return str(Path(path).resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(path)


def _shown_paths(metrics: dict[str, Any] | None, cfg: RunConfig) -> dict[str, Any] | None:
    """metrics.json with its file and student paths as the pages print them (`_shown`)."""
    if metrics is None:
        return None
    base = cfg.config_path.parent if cfg.config_path else None
    out = dict(metrics)
    out["files"] = {k: _shown(Path(v), base) for k, v in (metrics.get("files") or {}).items()}
    student = dict(metrics.get("student") or {})
    for key in ("path", "base_model"):
        if isinstance(student.get(key), str) and Path(student[key]).is_absolute():
            student[key] = _shown(Path(student[key]), base)
    out["student"] = student
    return out


EXAMPLES_SHOWN = 20  # disagreement examples on the page; the rest are in predictions.jsonl
TEACHER_LATENCY_IS = (
    "per answer bought online: its successful request's round trip, send to response "
    "(retries and rate-limit waits not counted)"
)


def read_predictions(path: Path, most: int = EXAMPLES_SHOWN) -> dict[str, Any] | None:
    """From predictions.jsonl: the first `most` items where the student and the teacher
    disagree, how many there are in all, and every answered item's time (`item_s`; None for
    a file written before it was recorded)."""
    if not path.exists():
        return None
    examples: list[dict[str, Any]] = []
    disagreements = 0
    item_s: list[float] | None = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            p = json.loads(line)
            if item_s is not None and p.get("error") is None:
                if p.get("item_s") is None:
                    item_s = None
                else:
                    item_s.append(float(p["item_s"]))
            if p.get("agree"):
                continue
            disagreements += 1
            if len(examples) < most:
                examples.append(
                    {k: p.get(k) for k in ("key", "input", "teacher", "student", "gold", "error")}
                )
    return {"disagreements": disagreements, "examples": examples, "item_s": item_s}


def collect(cfg: RunConfig) -> dict[str, Any]:
    """Everything the report shows, read from the run folder; a missing stage is None."""
    from evals.cost import cost_comparison
    from synth.harvest.cost_report import cost_report
    from synth.journal.store import Journal

    data: dict[str, Any] = {
        "run": cfg.name,
        "run_dir": _shown(cfg.run_dir, cfg.config_path.parent if cfg.config_path else None),
        "run_dir_abs": str(cfg.run_dir.resolve()),
        "config": str(cfg.config_path) if cfg.config_path else None,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "teacher": f"{cfg.teacher.provider}/{cfg.teacher.model}",
        "harvest": None,
        "attempts": [],
        "funnel": _read_json(cfg.paths.funnel),
        "training": _read_json(cfg.paths.training_summary),
        "eval": _shown_paths(_read_json(cfg.paths.metrics), cfg),
        "cost": None,
        "rounds": collect_rounds(cfg),
        "predictions": read_predictions(cfg.paths.eval_files["predictions"])
        if cfg.paths.metrics.exists()
        else None,
        "teacher_latency": None,  # the distribution (evals.latency)
        "teacher_latencies": [],  # its values, for the histogram
    }
    try:
        data["harvest"] = cost_report(cfg)
    except StageError:
        return data
    from synth.journal.queries import answer_latencies

    with Journal(cfg.journal_path, readonly=True) as j:
        data["attempts"] = list(j.iter_attempts())
        data["teacher_latencies"] = answer_latencies(j)
    data["teacher_latency"] = distribution(data["teacher_latencies"], TEACHER_LATENCY_IS)
    data["cost"] = cost_comparison(cfg, data["eval"])
    return data


def report_json_extras(cfg: RunConfig) -> dict[str, Any]:
    """What `distill report --json` adds to the cost report: eval and cost comparison figures
    (None where that stage has not run yet)."""
    from evals.cost import cost_comparison

    metrics = _read_json(cfg.paths.metrics)
    extras: dict[str, Any] = {"eval": None, "cost_comparison": None, "teacher_latency": None}
    if metrics is not None:
        extras["eval"] = {
            "task": metrics["task"],
            "split": metrics["split"],
            "items": metrics["items"],
            "summary": metrics["metrics"]["summary"],
            "gap": metrics["gap"],
            "performance": metrics["performance"],
            "disagreements": metrics.get("disagreements"),
            "failures": metrics["failures"],
            "failures_file": metrics.get("files", {}).get("failures"),
            "student": metrics["student"],
            "metrics": metrics["metrics"],
        }
        preds = read_predictions(cfg.paths.eval_files["predictions"])
        extras["eval"]["disagreement_examples"] = preds["examples"] if preds else None
    if cfg.journal_path.exists():
        extras["cost_comparison"] = cost_comparison(cfg, metrics)
        extras["teacher_latency"] = teacher_latency(cfg)
    return extras


def teacher_latency(cfg: RunConfig) -> dict[str, Any] | None:
    """The distribution of the teacher's per-answer round trips (journal), None before a harvest."""
    from synth.journal.queries import answer_latencies
    from synth.journal.store import Journal

    if not cfg.journal_path.exists():
        return None
    with Journal(cfg.journal_path, readonly=True) as j:
        return distribution(answer_latencies(j), TEACHER_LATENCY_IS)
