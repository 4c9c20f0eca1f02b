"""The dataset writer's folders are what `save_to_disk` writes: `load_from_disk` reads them,
with every row, its types, empty splits and several shards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Features, List, Value, load_from_disk

import synth.dataset.writer as dw

FEATURES = Features(
    {
        "messages": List({"role": Value("string"), "content": Value("string")}),
        "label": Value("string"),
        "score": Value("float64"),
        "line": Value("int64"),
    }
)


def row(i: int) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"ticket {i} ✓"},
            {"role": "assistant", "content": "ok"},
        ],
        "label": None if i % 5 == 0 else f"l{i % 3}",
        "score": i / 2,
        "line": i,
    }


def test_written_folders_load_with_every_row(tmp_path: Path) -> None:
    writer = dw.DatasetDictWriter(tmp_path / "ds", FEATURES, ["train", "validation", "test"])
    for i in range(50):
        writer.add("train" if i % 4 else "test", row(i))
    shards = writer.close()
    dd = load_from_disk(str(tmp_path / "ds"))
    assert {name: len(ds) for name, ds in dd.items()} == {"train": 37, "validation": 0, "test": 13}
    assert list(dd) == ["train", "validation", "test"]
    assert dd["train"].features == FEATURES and len(dd["validation"]) == 0
    assert dd["train"][0] == row(1) and dd["test"]["line"] == [i for i in range(50) if i % 4 == 0]
    assert dd["test"][0]["label"] is None

    # the export holds the rows exactly as load_from_disk returns them
    dw.export_jsonl(shards["train"], tmp_path / "train.jsonl")
    lines = (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == dd["train"].to_list()


def test_rows_roll_over_into_several_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dw, "BATCH_ROWS", 10)
    monkeypatch.setattr("datasets.config.MAX_SHARD_SIZE", "2KB")
    writer = dw.DatasetDictWriter(tmp_path / "ds", FEATURES, ["train"])
    for i in range(200):
        writer.add("train", row(i))
    shards = writer.close()["train"]
    assert len(shards) > 1
    assert [p.name for p in shards][-1] == f"data-{len(shards) - 1:05d}-of-{len(shards):05d}.arrow"
    ds = load_from_disk(str(tmp_path / "ds"))["train"]
    assert ds["line"] == list(range(200))


def test_the_same_rows_give_the_same_fingerprint(tmp_path: Path) -> None:
    prints = []
    for name in ("a", "b"):
        writer = dw.DatasetDictWriter(tmp_path / name, FEATURES, ["train"])
        for i in range(20):
            writer.add("train", row(i))
        writer.close()
        prints.append(load_from_disk(str(tmp_path / name))["train"]._fingerprint)
    assert prints[0] == prints[1]
