"""The demo's pipeline in a fast form (fewer tickets, a smaller student, one epoch), so a broken
demo cannot land; and `distill run` skipping what is current."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from synth.cli.demo import run_demo
from synth.cli.pipeline import run_pipeline
from synth.config import load_config


def test_quick_demo_runs_every_stage_then_skips_them(tmp_path: Path) -> None:
    console = Console(file=open(tmp_path / "log.txt", "w"), width=120)  # noqa: SIM115
    table = run_demo(tmp_path / "demo", console=console, items=240, quick=True)
    run = tmp_path / "demo" / "runs" / "support-tickets"
    rows = {str(c) for col in table.columns for c in col._cells}
    assert any("student agreement with teacher" in r for r in rows)
    assert any("break-even volume" in r for r in rows)
    for path in (
        "journal.sqlite",
        "build/funnel.json",
        "dataset/dataset_dict.json",
        "student/training_summary.json",
        "eval/metrics.json",
        "report.html",
        "report.md",
    ):
        assert (run / path).exists(), path
    # the teacher's log-probabilities reach the student: harvest → teacher_dist → mix loss
    trained = json.loads((run / "student" / "training_summary.json").read_text())
    assert trained["distill"]["loss"] == "mix"
    assert trained["distill"]["soft_rows"] > 0.9 * trained["train_rows"]
    assert any("soft labels on" in r for r in rows)
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["items"] > 0
    # the model card says how the student was prompted: the demo drops the system prompt
    card = (run / "student" / "README.md").read_text()
    assert "without the system prompt" in card and "## Eval: student vs teacher" in card
    # the config the demo wrote is a normal run config: everything is current now
    cfg = load_config(tmp_path / "demo" / "config.yaml")
    result = run_pipeline(cfg, console=console)
    assert [(r.stage, r.status) for r in result.records][:4] == [
        ("harvest", "skipped"),
        ("build", "skipped"),
        ("train", "skipped"),
        ("eval", "skipped"),
    ]
    # a changed eval section re-runs eval only
    cfg.eval.limit = 10
    result = run_pipeline(cfg, console=console)
    assert [r.status for r in result.records][:4] == ["skipped", "skipped", "skipped", "ran"]
