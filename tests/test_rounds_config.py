"""A rounds config's inputs: the pool is the input, so `inputs:` may go; without either the
config is refused, and `distill harvest` refuses a rounds config instead of sending `inputs`."""

from __future__ import annotations

from pathlib import Path

import yaml

from synth.cli.demo import EXAMPLE
from synth.config import load_config
from tests.conftest import distill

BASE = {
    "name": "r",
    "template": "support-ticket",
    "teacher": {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": "http://127.0.0.1:9/v1",  # nothing listens: a request would fail
        "api_key_env": "DISTILL_TEST_KEY",
        "params": {"max_tokens": 16},
    },
    "budget_usd": 1.0,
}


def _config(tmp_path: Path, **extra: object) -> Path:
    pool = tmp_path / "pool.jsonl"
    with (EXAMPLE / "inputs.jsonl").open(encoding="utf-8") as src:
        pool.write_text("".join(next(src) for _ in range(30)), encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**BASE, **extra}, sort_keys=False), encoding="utf-8")
    return path


ROUNDS = {"pool": "pool.jsonl", "first": 10, "per_round": 5}


def test_rounds_config_needs_no_inputs(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, rounds=ROUNDS))
    assert cfg.inputs is None
    assert cfg.rounds is not None and cfg.rounds.pool == (tmp_path / "pool.jsonl").resolve()


def test_neither_inputs_nor_rounds_is_one_line_naming_both(tmp_path: Path) -> None:
    config = _config(tmp_path)
    for verb in ("harvest", "run"):
        r = distill(verb, str(config))
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr
        assert "c.yaml" in lines[0] and "inputs:" in lines[0] and "rounds:" in lines[0]


def test_harvest_refuses_a_rounds_config_and_sends_nothing(tmp_path: Path) -> None:
    # inputs: given as well: harvesting it would spend the budget outside the rounds
    config = _config(tmp_path, rounds=ROUNDS, inputs="pool.jsonl")
    for extra in ((), ("--dry-run",)):
        r = distill("harvest", str(config), *extra)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr
        assert "rounds:" in lines[0] and "distill run" in lines[0]
    assert not load_config(config).journal_path.exists()  # nothing queued, nothing billed
