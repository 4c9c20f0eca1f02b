"""`distill run` with a `rounds:` section: active distillation over an input pool.

Round 1 sends a random sample of the pool, stratified by near-duplicate group; its build
fixes the test split for good. Each later round: the last round's student scores the pool
items not yet sent (and not near a test item), the least certain are picked (or a random
sample: `select: random`), cut to what the budget left can pay at worst, and recorded in the
journal; then harvest → build → train → eval on everything answered so far.

    round k:  select ─► journal ─► harvest ─► build ─► train ─► eval ─► rounds/<k>/student
              (state:  selected                 training  trained        done)

Every step resumes: the picks are read back from the journal, the harvest never pays twice,
training resumes from its checkpoints within a round, and a `done` round is skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from evals.generate import load_student
from evals.run import evaluate
from finetune.pool_scores import certainty
from finetune.train import train as train_student
from synth.cli.progress import harvest_progress, step_progress
from synth.config import RunConfig
from synth.dataset.builder import build as build_dataset
from synth.errors import ConfigError
from synth.harvest.engine import HarvestStats
from synth.harvest.engine import harvest as run_harvest
from synth.journal import rounds as journal_rounds
from synth.journal.store import Journal
from synth.paths import MERGED
from synth.rounds.pool import Pool, load_pool, write_inputs
from synth.rounds.select import affordable, least_certain, random_sample

OnEvent = Callable[[str, int], None]  # ("selected" | "done", round)


@dataclass
class RoundsResult:
    rounds: list[dict[str, Any]] = field(default_factory=list)  # each done round's figures
    stopped: str = ""  # why no further round ran


def round_config(cfg: RunConfig, k: int) -> RunConfig:
    """The run config that round k's stages see: the pool items sent so far as inputs, and a
    student that starts from round k-1's (start_from: previous) or from the base."""
    assert cfg.rounds is not None and cfg.student is not None
    update: dict[str, Any] = {"inputs": cfg.paths.rounds_inputs}
    if k > 1 and cfg.rounds.start_from == "previous":
        prev = cfg.paths.round_student(k - 1)
        model = next((d for d in (prev / MERGED, prev) if (d / "config.json").exists()), None)
        if model is None:
            raise ConfigError(
                f"{cfg.config_path}: rounds.start_from: previous needs a whole model from the "
                "last round: set student.merge: true (a LoRA adapter alone), or use start_from: base"
            )
        update["student"] = cfg.student.model_copy(update={"base_model": str(model), "tiny": None})
    return cfg.model_copy(update=update)


def run_rounds(
    cfg: RunConfig, *, console: Console | None = None, on_event: OnEvent | None = None
) -> RoundsResult:
    assert cfg.rounds is not None
    console = console or Console(stderr=True)
    rc = cfg.rounds
    pool = load_pool(cfg)
    result = RoundsResult()
    for k in range(1, rc.max_rounds + 1):
        with Journal(cfg.journal_path) as j:
            known = {r.round: r for r in journal_rounds.rounds(j)}
        r = known.get(k)
        if r is not None and r.state == "done":
            result.rounds.append(r.metrics or {})
            console.print(f"[dim]round {k}: done, skipped[/]")
            continue
        if r is None:
            if k > 1 and (why := _stop_reason(cfg, result.rounds)):
                result.stopped = why
                return result
            if _select(cfg, pool, k, console) is None:
                result.stopped = "nothing left to send (pool used up, or budget spent)"
                return result
            if on_event:
                on_event("selected", k)
        result.rounds.append(_run_round(cfg, pool, k, console))
        if on_event:
            on_event("done", k)
    result.stopped = _stop_reason(cfg, result.rounds) or f"max_rounds ({rc.max_rounds}) reached"
    return result


def _stop_reason(cfg: RunConfig, done: list[dict[str, Any]]) -> str:
    assert cfg.rounds is not None
    target = cfg.rounds.stop_at_agreement
    last = done[-1].get("agreement") if done else None
    if target is not None and last is not None and last >= target:
        return f"agreement {last:.1%} reached stop_at_agreement ({target:.0%})"
    return ""


def _select(cfg: RunConfig, pool: Pool, k: int, console: Console) -> list[int] | None:
    """Pick and record round k's pool items; None when none can be sent."""
    assert cfg.rounds is not None
    rc = cfg.rounds
    with Journal(cfg.journal_path) as j:
        sent = set(journal_rounds.sent_lines(j))
        fixed = journal_rounds.fixed_test(j)
        spent = j.spent_usd()
    remaining = None if cfg.budget_usd is None else max(cfg.budget_usd - spent, Decimal(0))
    open_ = ~np.isin(pool.lines, list(sent)) if sent else np.ones(len(pool), dtype=bool)
    if fixed is not None:  # a paraphrase of a test item would be a validation row at best
        open_ &= ~np.isin(pool.groups, pool.groups[np.isin(pool.hashes, fixed)])
    candidates = np.flatnonzero(open_)
    rng = np.random.default_rng([rc.seed, k])
    scores: np.ndarray | None = None
    scored_by: str | None = None
    if k == 1 or rc.select == "random":
        mode = "random"
        n = rc.first if k == 1 else rc.per_round
        order = random_sample(candidates, pool.groups[candidates], len(candidates), rng)
    else:
        mode = "uncertainty"
        n = rc.per_round
        if rc.score_at_most is not None and len(candidates) > rc.score_at_most:
            candidates = np.sort(
                random_sample(candidates, pool.groups[candidates], rc.score_at_most, rng)
            )
        student = cfg.paths.round_student(k - 1)
        scored_by = str(student)
        scores = _score(cfg, pool, candidates, student, console)
        order = least_certain(candidates, scores, pool.groups[candidates], len(candidates))
        scores_of = dict(zip(candidates.tolist(), scores.tolist(), strict=True))
    order = order[:n]
    cut = affordable([pool.worst_usd[i] for i in order.tolist()], remaining)
    if cut < len(order):
        console.print(f"round {k}: budget left ${remaining} pays for {cut} of {len(order)} items")
    order = order[:cut]
    if len(order) == 0:
        return None
    lines = pool.lines[order].tolist()
    picked_scores = (
        [scores_of[i] for i in order.tolist()] if scores is not None else [None] * len(lines)
    )
    with Journal(cfg.journal_path) as j:
        journal_rounds.record_selection(j, k, mode, scored_by, lines, picked_scores)
    console.print(f"round {k}: {len(lines):,} pool items selected ({mode})")
    return lines


def _score(
    cfg: RunConfig, pool: Pool, candidates: np.ndarray, student: Path, console: Console
) -> np.ndarray:
    assert cfg.rounds is not None
    model, tokenizer, _ = load_student(student)
    convs = [pool.student_prompt(i, cfg.dataset.system_prompt) for i in candidates.tolist()]
    labels = pool.template.labels
    with step_progress("score pool", console) as progress:
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            progress(done, len(convs))

        scores = certainty(
            model,
            tokenizer,
            convs,
            labels=labels,
            batch_size=cfg.rounds.score_batch_size,
            progress=tick,
        )
    return np.array(scores, dtype=np.float64)


def _run_round(cfg: RunConfig, pool: Pool, k: int, console: Console) -> dict[str, Any]:
    paths = cfg.paths
    with Journal(cfg.journal_path) as j:
        write_inputs(pool, journal_rounds.sent_lines(j, up_to_round=k), paths.rounds_inputs)
        state = next(r.state for r in journal_rounds.rounds(j) if r.round == k)
    rcfg = round_config(cfg, k)

    console.rule(f"[bold]round {k}: harvest")
    run_harvest(rcfg, stats=HarvestStats(), progress=lambda s: harvest_progress(s, console))
    console.rule(f"[bold]round {k}: build")
    built = build_dataset(rcfg)
    console.print(built.summary())
    with Journal(cfg.journal_path) as j:
        if k == 1:
            journal_rounds.fix_test_split(j, built.test_hashes)
        spent = j.spent_usd()

    if state == "selected":  # a new round's training: the last round's checkpoints are not its own
        shutil.rmtree(paths.checkpoints, ignore_errors=True)
        with Journal(cfg.journal_path) as j:
            journal_rounds.set_state(j, k, "training")
        state = "training"
    if state == "training":
        console.rule(f"[bold]round {k}: train")
        with step_progress("train", console) as progress:
            console.print(train_student(rcfg, progress=progress).describe())
        with Journal(cfg.journal_path) as j:
            journal_rounds.set_state(j, k, "trained")

    console.rule(f"[bold]round {k}: eval")
    with step_progress("eval", console) as progress:
        ev = evaluate(rcfg, progress=progress)
    m = ev.metrics["metrics"]
    gold = m.get("gold") or {}
    summary = m.get("summary") or {}
    metrics = {
        "round": k,
        "spend_usd": str(spent),
        "sent": _sent_count(cfg, k),
        "train_rows": built.funnel.splits.get("train", 0),
        "test_rows": built.funnel.splits.get("test", 0),
        "agreement": m.get("agreement", next(iter(summary.values()), None)),
        "accuracy": gold.get("student_accuracy"),
    }
    snapshot = paths.round_student(k)
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(paths.student, snapshot, ignore=shutil.ignore_patterns("checkpoints", "base"))
    with Journal(cfg.journal_path) as j:
        journal_rounds.set_state(j, k, "done", metrics)
    agreement = metrics["agreement"]
    console.print(
        f"round {k}: ${spent:.4f} spent so far, {metrics['train_rows']:,} training rows, "
        f"agreement {agreement:.1%} on the fixed test split"
        if isinstance(agreement, float)
        else f"round {k}: ${spent:.4f} spent so far"
    )
    return metrics


def _sent_count(cfg: RunConfig, k: int) -> int:
    with Journal(cfg.journal_path) as j:
        return len(journal_rounds.sent_lines(j, up_to_round=k))
