"""`distill predict`: a tiny student trained here, given the test split's input records, answers
exactly as `distill eval` recorded, read the same way; one TEXT input works too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

import evalkit  # noqa: E402

from evals.run import evaluate  # noqa: E402
from synth.config import RunConfig  # noqa: E402
from tests.conftest import distill  # noqa: E402
from tests.test_eval_student import train_tiny_student  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = evalkit.dataset_rows(evalkit.records(60))["train"]
    return train_tiny_student(tmp_path_factory.mktemp("student") / "model", rows)


def _predict_the_test_split(
    cfg: RunConfig, tmp_path: Path
) -> tuple[list[Any], dict[str, Any], list[Any]]:
    """`distill predict --json` on the test split's inputs: (test rows, eval's predictions by
    key, predict's answers in input order)."""
    preds = [json.loads(line) for line in cfg.paths.eval_files["predictions"].open()]
    test_rows = evalkit.dataset_rows(evalkit.records(60))["test"]
    inputs = tmp_path / "new.jsonl"
    inputs.write_text("".join(r["input"] + "\n" for r in test_rows), encoding="utf-8")
    r = distill("predict", str(cfg.config_path), "--input", str(inputs), "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    got = [json.loads(line) for line in r.stdout.splitlines()]
    return test_rows, {p["key"]: p for p in preds}, got


def test_predict_answers_as_eval_did(tmp_path: Path, trained: Path) -> None:
    cfg = evalkit.make_run(tmp_path, eval_cfg={"batch_size": 5, "max_new_tokens": 6})
    shutil.copytree(trained, cfg.paths.student)
    evaluate(cfg)
    test_rows, by_key, got = _predict_the_test_split(cfg, tmp_path)
    assert len(got) == len(test_rows)
    for row, g in zip(test_rows, got, strict=True):
        p = by_key[row["key"]]
        assert g["input"] == json.loads(row["input"])
        assert g["text"] == p["student"]
        assert g["answer"] == p["student_label"], "read as the eval reads it"
    assert any(g["answer"] is not None for g in got)

    # one input as TEXT: the template's only field
    first = json.loads(test_rows[0]["input"])
    r = distill("predict", str(cfg.config_path), "-i", first["text"], timeout=300)
    assert r.returncode == 0, r.stderr
    expected = by_key[test_rows[0]["key"]]
    shown = expected["student_label"] or repr(expected["student"])
    assert r.stdout.startswith(f"1\t{shown}")

    r = distill("predict", str(cfg.config_path), "-i", '{"nope": 1}', timeout=300)
    assert r.returncode == 2 and "no field 'text'" in r.stderr and "Traceback" not in r.stderr


def test_a_lora_student_is_merged_by_default_and_predict_eval_and_card_agree(
    tmp_path: Path,
) -> None:
    """`merge: true` is the default: `distill train` writes merged/, and eval, predict and the
    model card all use that folder and agree on what the student answers."""
    pytest.importorskip("trl")
    from evals.model_card import write_model_card

    cfg = evalkit.train_lora_run(tmp_path, eval_cfg={"batch_size": 5, "max_new_tokens": 6})
    assert cfg.student is not None and cfg.student.merge is True
    summary = json.loads(cfg.paths.training_summary.read_text())
    assert summary["merged_dir"] == str(cfg.paths.merged) == summary["model_dir"]
    assert 0 < summary["merge_s"] < summary["wall_time_s"]
    assert (cfg.paths.merged / "config.json").exists()
    assert not (cfg.paths.merged / "adapter_config.json").exists()

    m = evaluate(cfg).metrics
    assert m["student"]["kind"] == "merged" and m["student"]["path"] == str(cfg.paths.merged)
    card = write_model_card(cfg).read_text()  # type: ignore[union-attr]
    assert "(merged into `merged/`)" in card and 'path = "./merged"' in card
    assert "library_name: transformers" in card

    test_rows, by_key, got = _predict_the_test_split(cfg, tmp_path)
    assert [g["text"] for g in got] == [by_key[row["key"]]["student"] for row in test_rows]
