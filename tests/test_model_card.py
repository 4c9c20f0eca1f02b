"""The student's model card: after an eval of a tiny student trained here, `student/README.md`
holds metrics.json's figures, the dataset's sizes, the prompt format it was trained on, and a
loading snippet that runs and answers as the eval did."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("transformers")

import evalkit  # noqa: E402

from evals.model_card import TERMS_NOTE, fmt_metric, split_sizes, usd, write_model_card  # noqa: E402
from evals.run import evaluate  # noqa: E402
from tests.test_eval_student import train_tiny_student  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = evalkit.dataset_rows(evalkit.records(60))["train"]
    return train_tiny_student(tmp_path_factory.mktemp("student") / "model", rows)


def test_card_numbers_equal_metrics_json(
    tmp_path: Path, trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = evalkit.make_run(tmp_path, eval_cfg={"batch_size": 5, "max_new_tokens": 6})
    shutil.copytree(trained, cfg.paths.student)
    (cfg.paths.student / "README.md").write_text("fine-tuned version of [None]")
    assert write_model_card(cfg) is not None
    assert "Not evaluated yet" in (cfg.paths.student / "README.md").read_text()

    evaluate(cfg)
    card = write_model_card(cfg).read_text()  # type: ignore[union-attr]
    metrics = json.loads(cfg.paths.eval_files["metrics"].read_text())

    assert "[None]" not in card and TERMS_NOTE in card
    assert "gpt-4o-mini" in card and "`tickets` (classification)" in card
    summary = metrics["metrics"]["summary"]
    assert summary, "the eval has metrics to show"
    for name, value in summary.items():
        assert f"| {name} | {fmt_metric(value)} |" in card, name
    sizes = split_sizes(cfg.paths.dataset)
    rows = evalkit.dataset_rows(evalkit.records(60))
    assert sizes == {k: len(v) for k, v in rows.items()}
    for name, n in sizes.items():
        assert f"{name}: {n:,} rows" in card
    cost = metrics["cost"]
    assert f"{usd(cost['one_off']['harvest_usd'])} for {cost['teacher']['succeeded']:,}" in card
    assert f"| teacher per 1K requests | {usd(cost['teacher']['per_1k_usd'])} |" in card
    assert "system prompt" in card and evalkit.TEMPLATE["user"].strip() in card

    # the card's snippet loads the student and answers the first test item as the eval did
    snippet = re.search(r"```python\n(.*?)\n```", card, re.S)
    assert snippet is not None
    monkeypatch.chdir(cfg.paths.student)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet.group(1), {})
    preds = [json.loads(line) for line in cfg.paths.eval_files["predictions"].open()]
    first = rows["test"][0]
    pred = next(p for p in preds if p["key"] == first["key"])
    assert printed.getvalue().strip() == pred["student"].strip()
