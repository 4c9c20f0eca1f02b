"""`distill run`: harvest → build → train → eval → report, each stage skipped when current.

A stage is current when its output exists and the fingerprint of what it was made from (the
stage before it and its own config section) is unchanged; the fingerprint is written last,
so a crash at any point re-runs just that stage, which resumes on its own (the harvest from
its journal, training from its last checkpoint).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evals.model_card import write_model_card
from evals.report import report_json_extras, write_report
from evals.run import evaluate
from finetune.push import hub_token, push_student
from finetune.train import train as train_student
from synth.cli.progress import harvest_progress, step_progress
from synth.cli.rounds import OnEvent, run_rounds
from synth.cli.stamps import Stamps, fingerprints
from synth.config import RunConfig
from synth.dataset.builder import build as build_dataset
from synth.errors import ConfigError
from synth.harvest.cost_report import cost_report
from synth.harvest.engine import HarvestStats
from synth.harvest.engine import harvest as run_harvest
from synth.journal.lock import run_lock

STAGES = ("harvest", "build", "train", "eval", "report")


@dataclass
class StageRecord:
    stage: str
    status: str  # ran | skipped
    seconds: float
    detail: str = ""


@dataclass
class PipelineResult:
    cfg: RunConfig
    records: list[StageRecord] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    html_path: Path | None = None


def run_pipeline(
    cfg: RunConfig,
    *,
    console: Console | None = None,
    force: bool = False,
    harvest_stats: Any = None,
    on_round: OnEvent | None = None,
) -> PipelineResult:
    """Run every stage that is not current; returns what ran and the final report figures.
    With a `rounds:` section, the rounds (synth.cli.rounds) take the stages' place. The run
    folder is held for the whole pipeline (synth.journal.lock)."""
    with run_lock(cfg.run_dir, "run"):
        return _run_pipeline(
            cfg, console=console, force=force, harvest_stats=harvest_stats, on_round=on_round
        )


def _run_pipeline(
    cfg: RunConfig,
    *,
    console: Console | None = None,
    force: bool = False,
    harvest_stats: Any = None,
    on_round: OnEvent | None = None,
) -> PipelineResult:
    console = console or Console(stderr=True)
    if cfg.student is None:
        raise ConfigError(
            f"{cfg.config_path}: student: required by distill run (the model to train)"
        )
    push = cfg.student.push_to_hub
    if push:
        hub_token()  # before anything is sent or trained: a missing token is one line now
    result = PipelineResult(cfg)
    if cfg.rounds is not None:
        t0 = time.monotonic()
        rounds = run_rounds(cfg, console=console, on_event=on_round)
        result.records.append(
            StageRecord(
                "rounds",
                "ran",
                time.monotonic() - t0,
                f"{len(rounds.rounds)} rounds; {rounds.stopped}",
            )
        )
        return _report(cfg, result)
    stamps = Stamps(cfg.paths.stamps)
    fps = fingerprints(cfg, stamps)

    def stage(name: str, fn: Callable[[], str]) -> None:
        fp = fps[name]()
        if not force and stamps.read(name) == fp:
            result.records.append(StageRecord(name, "skipped", 0.0, "current"))
            console.print(f"[dim]{name}: current, skipped[/]")
            return
        console.rule(f"[bold]{name}")
        t0 = time.monotonic()
        detail = fn()
        stamps.write(name, fps[name]())  # recomputed: a stage may change its own inputs' state
        result.records.append(StageRecord(name, "ran", time.monotonic() - t0, detail))

    def do_harvest() -> str:
        stats = harvest_stats or HarvestStats()
        r = run_harvest(cfg, stats=stats, progress=lambda s: harvest_progress(s, console))
        return f"{r.stats.done} answered now, {r.stats.failed} failed"

    def do_build() -> str:
        r = build_dataset(cfg)
        return r.summary()

    def do_train() -> str:
        with step_progress("train", console) as progress:
            described = train_student(cfg, progress=progress).describe()
        write_model_card(cfg)
        return described

    def do_eval() -> str:
        with step_progress("eval", console) as progress:
            described = evaluate(cfg, progress=progress).describe()
        write_model_card(cfg)
        return described

    stage("harvest", do_harvest)
    stage("build", do_build)
    stage("train", do_train)
    stage("eval", do_eval)
    if push and any(r.status == "ran" for r in result.records if r.stage in ("train", "eval")):
        # after eval, so the card that goes with the student carries its metrics
        console.print(f"pushed: {push_student(cfg)}")
    return _report(cfg, result)


def _report(cfg: RunConfig, result: PipelineResult) -> PipelineResult:
    t0 = time.monotonic()
    html = cfg.paths.report_html
    write_report(cfg, html_path=html, md_path=cfg.paths.report_md)
    result.records.append(StageRecord("report", "ran", time.monotonic() - t0, str(html)))
    result.html_path = html
    result.report = {**cost_report(cfg), **report_json_extras(cfg)}
    return result


def stages_table(result: PipelineResult) -> Table:
    table = Table("stage", "status", "seconds", title="distill run", title_justify="left")
    table.add_column("detail", overflow="fold")  # paths wrap, never cut with "…"
    for r in result.records:
        table.add_row(r.stage, r.status, f"{r.seconds:.1f}", r.detail)
    return table
