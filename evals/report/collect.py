"""Everything the report shows, gathered from the run folder; a stage not yet run is None.

`report_json_extras(cfg)` gives the eval and cost-comparison figures that `distill report
--json` adds to the harvest's cost report.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.report_rounds import collect_rounds
from synth.errors import StageError

if TYPE_CHECKING:
    from synth.config import RunConfig


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def collect(cfg: RunConfig) -> dict[str, Any]:
    """Everything the report shows, read from the run folder; a missing stage is None."""
    from evals.cost import cost_comparison
    from synth.harvest.cost_report import cost_report
    from synth.journal.store import Journal

    data: dict[str, Any] = {
        "run": cfg.name,
        "run_dir": str(cfg.run_dir),
        "config": str(cfg.config_path) if cfg.config_path else None,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "teacher": f"{cfg.teacher.provider}/{cfg.teacher.model}",
        "harvest": None,
        "attempts": [],
        "funnel": _read_json(cfg.paths.funnel),
        "training": _read_json(cfg.paths.training_summary),
        "eval": _read_json(cfg.paths.metrics),
        "cost": None,
        "rounds": collect_rounds(cfg),
    }
    try:
        data["harvest"] = cost_report(cfg)
    except StageError:
        return data
    with Journal(cfg.journal_path, readonly=True) as j:
        data["attempts"] = list(j.iter_attempts())
    data["cost"] = cost_comparison(cfg, data["eval"])
    return data


def report_json_extras(cfg: RunConfig) -> dict[str, Any]:
    """What `distill report --json` adds to the cost report: eval and cost comparison figures
    (None where that stage has not run yet)."""
    from evals.cost import cost_comparison

    metrics = _read_json(cfg.paths.metrics)
    extras: dict[str, Any] = {"eval": None, "cost_comparison": None}
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
    if cfg.journal_path.exists():
        extras["cost_comparison"] = cost_comparison(cfg, metrics)
    return extras


def funnel_steps(funnel: dict[str, Any]) -> list[tuple[str, int]]:
    """(step, items left after it), from `<run>/build/funnel.json` (synth.dataset.funnel.Funnel)."""
    left = funnel["items_in"]
    steps = [("items in", left)]
    for stage in funnel["stages"]:
        left -= stage["removed"]
        steps.append((f"after {stage['name']}", left))
    steps.append(("kept", funnel["kept"]))
    return steps
