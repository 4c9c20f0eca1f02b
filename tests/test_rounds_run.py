"""Active distillation end to end: two rounds on the tiny student against the simulated
teacher, the run killed after round 2's selection and resumed; and the fixed test split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from rich.console import Console

from synth.cli.demo import EXAMPLE, SIM, write_demo_config
from synth.cli.pipeline import run_pipeline
from synth.config import load_config
from synth.dataset.filters.dedup import input_text
from synth.dataset.neardup import digest64
from synth.dataset.spill import as_int64
from synth.dataset.splits import TEST, TRAIN, VALIDATION, keep_fixed_test
from synth.journal import rounds as journal_rounds
from synth.journal.store import Journal
from synth.sim.runner import SimServer
from synth.templates import load_template


class Killed(Exception):
    pass


def test_keep_fixed_test_keeps_round_one_test_rows_and_no_others() -> None:
    split = np.array([TEST, TRAIN, TEST, TRAIN, VALIDATION], dtype=np.uint8)
    groups = np.array([1, 2, 3, 3, 5], dtype=np.uint64)
    hashes = np.array([10, 20, 30, 40, 50], dtype=np.int64)
    fixed = np.array([20, 30], dtype=np.int64)  # round 1's test: rows 1 and 2
    out = keep_fixed_test(split, groups, hashes, fixed)
    # row 0 was test by hash but is not round 1's: train; row 3 shares row 2's group: validation
    assert out.tolist() == [TRAIN, TEST, TEST, VALIDATION, VALIDATION]


def _rounds_config(tmp_path: Path, base_url: str) -> Path:
    config = write_demo_config(tmp_path, base_url, items=40, quick=True)
    pool = tmp_path / "pool.jsonl"
    with (EXAMPLE / "inputs.jsonl").open(encoding="utf-8") as src:
        pool.write_text("".join(next(src) for _ in range(360)), encoding="utf-8")
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    del cfg["inputs"]  # the pool is the input
    cfg["rounds"] = {
        "pool": str(pool),
        "first": 160,
        "per_round": 60,
        "max_rounds": 2,
        "select": "uncertainty",
        "start_from": "previous",
    }
    config.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return config


def _test_hashes(run: Path, fields: list[str]) -> set[int]:
    rows = (run / "dataset" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    return {
        as_int64(digest64(input_text(json.loads(json.loads(r)["input"]), fields))) for r in rows
    }


def test_two_rounds_killed_after_the_selection_and_resumed(tmp_path: Path) -> None:
    console = Console(file=open(tmp_path / "log.txt", "w"), width=120)  # noqa: SIM115
    sim_settings = {**SIM, "latency_ms": (1, 3), "rpm": None}
    with SimServer(**sim_settings) as sim:
        cfg = load_config(_rounds_config(tmp_path, sim.openai_base_url))
        cfg.dataset.export_jsonl = True

        def kill(event: str, k: int) -> None:
            if (event, k) == ("selected", 2):
                raise Killed

        with pytest.raises(Killed):
            run_pipeline(cfg, console=console, on_round=kill)
        billed_round_1 = sim.ledger(entries=False)["totals"]["requests"]
        with Journal(cfg.journal_path) as j:
            states = [(r.round, r.state) for r in journal_rounds.rounds(j)]
            picked = journal_rounds.selection(j, 2)
            scored_by = journal_rounds.rounds(j)[1].scored_by
            round_1 = {line for line, _ in journal_rounds.selection(j, 1)}
            fixed = set(journal_rounds.fixed_test(j).tolist())
        assert states == [(1, "done"), (2, "selected")]
        assert len(round_1) == 160 and len(picked) == 60
        assert not round_1 & {line for line, _ in picked}  # never sent twice
        assert all(s is not None and 0 <= s <= 1 for _, s in picked)  # margins
        assert scored_by == str(cfg.paths.round_student(1))
        fields = load_template(cfg.template, cfg.base_dir).fields
        assert _test_hashes(cfg.run_dir, fields) == fixed and fixed

        # resumed: round 1 is not run again, round 2 runs on its recorded picks
        result = run_pipeline(cfg, console=console)
        billed = sim.ledger(entries=False)["totals"]["requests"]
        with Journal(cfg.journal_path) as j:
            done = journal_rounds.rounds(j)
            assert journal_rounds.selection(j, 2) == picked
        assert [(r.round, r.state) for r in done] == [(1, "done"), (2, "done")]
        assert billed_round_1 < billed <= billed_round_1 + 60 * 2  # round 2's items only (+retries)
        assert _test_hashes(cfg.run_dir, fields) == fixed  # the test split did not move
        assert done[1].metrics and done[1].metrics["sent"] == 220
        assert done[1].metrics["train_rows"] > done[0].metrics["train_rows"]
        assert (cfg.paths.round_student(2) / "config.json").exists()
        assert result.html_path and result.html_path.exists()

        # a finished run: nothing is selected, sent or trained again
        run_pipeline(cfg, console=console)
        assert sim.ledger(entries=False)["totals"]["requests"] == billed
    log = (tmp_path / "log.txt").read_text()
    assert "round 1: done, skipped" in log and "round 2: done, skipped" in log
