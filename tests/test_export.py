"""`distill export --format openai`: after a real harvest from the simulated teacher and a real
build, every line is one conversation, roles and contents only, in the order training saw them:
the template's system and user prompts as rendered, then the teacher's answer."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from synth.answers import LabelMatcher
from synth.sim.runner import SimConfig, SimServer
from tests.conftest import CLASSIFY_TEMPLATE, distill, make_run

LABELS: list[str] = CLASSIFY_TEMPLATE["output"]["labels"]  # type: ignore[index]
WORDS = ["invoice", "parcel", "money back", "password", "crash"]  # one a label, in order


def _teacher(req: Any, rng: random.Random) -> str:
    """A teacher that words its answer loosely: the build reads the label out of it."""
    text = req.last_user
    return f"Category: {next(lab for w, lab in zip(WORDS, LABELS, strict=True) if w in text)}."


@pytest.fixture
def teacher() -> Iterator[SimServer]:
    with SimServer(
        SimConfig(answers=_teacher, price_input_per_mtok=0.15, price_output_per_mtok=0.60)
    ) as s:
        yield s


def test_openai_export_is_the_training_conversations(tmp_path: Path, teacher: SimServer) -> None:
    run = make_run(
        tmp_path,
        teacher.openai_base_url,
        records=[{"id": i, "text": f"ticket {i}: about my {WORDS[i % 5]}"} for i in range(40)],
        dataset={"validation": 0.2, "test": 0.2, "seed": 0},
        filters=[{"name": "finish"}, {"name": "labels"}],
    )
    for verb in ("harvest", "build"):
        r = distill(verb, str(run.config))
        assert r.returncode == 0, r.stderr
    logs = distill("logs", str(run.config), "-n", "1000", "--json")
    assert logs.returncode == 0, logs.stderr
    answers = {e["input"]["text"]: e["answer"] for e in map(json.loads, logs.stdout.splitlines())}
    labels = LabelMatcher(LABELS)

    r = distill("export", str(run.config), "--format", "openai")
    assert r.returncode == 0, r.stderr
    out = run.run_dir / "export" / "openai"
    seen = 0
    for split in ("train", "validation"):
        lines = (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        assert lines and f"{split}: " in r.stdout and f"({len(lines):,} conversations)" in r.stdout
        for line in lines:
            conv = json.loads(line)
            assert list(conv) == ["messages"]
            msgs = conv["messages"]
            assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
            assert all(set(m) == {"role", "content"} for m in msgs)
            assert msgs[0]["content"] == CLASSIFY_TEMPLATE["system"]
            text = msgs[1]["content"].removeprefix("Ticket: ")
            assert msgs[1]["content"] == f"Ticket: {text}" and text in answers
            assert msgs[2]["content"] == labels.match(answers[text]), "the teacher's answer"
            seen += 1
    assert not (out / "test.jsonl").exists(), "the eval's held-out split stays out"
    assert 0 < seen < 40

    # without the system prompt in training, the export drops it too; --out is honoured
    cfg = yaml.safe_load(run.config.read_text())
    cfg["dataset"]["system_prompt"] = False
    run.config.write_text(yaml.safe_dump(cfg))
    assert distill("build", str(run.config)).returncode == 0
    r = distill("export", str(run.config), "-f", "openai", "--out", str(tmp_path / "x"))
    assert r.returncode == 0, r.stderr
    first = json.loads((tmp_path / "x" / "train.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]


def test_export_errors_are_one_line(tmp_path: Path) -> None:
    run = make_run(tmp_path, "http://127.0.0.1:9/v1", n=3)
    r = distill("export", str(run.config), "--format", "openai")
    assert r.returncode == 2 and "run `distill build" in r.stderr and "Traceback" not in r.stderr
    r = distill("export", str(run.config), "--format", "gguf")
    assert r.returncode == 2 and "convert_hf_to_gguf.py" in r.stderr
    assert "Traceback" not in r.stderr
    r = distill("export", str(run.config), "--format", "onnx")
    assert r.returncode == 2 and "Traceback" not in r.stderr
