"""Free-text soft labels: what share of a student's answer tokens the teacher's top-K reaches.

Free-text answers (a one-sentence reply to each support ticket; the simulated teacher's `echo`
answers) are harvested with `teacher.logprobs: 20` and built; a student tokenizer (the tiny student's
byte-level BPE, trained on the built train split, at several vocabulary sizes) tokenises each
answer, and `finetune.answer_targets` maps the teacher's tokens onto it by character offsets.
A student token gets a soft target where it starts where a teacher token starts (and, if it
merges several, ends where one ends); the others learn from cross-entropy alone. The figure is
that share, over all answer tokens of the train split, and the share of answers whose
teacher tokens spell the answer exactly (the others get no target at all).

The simulated teacher's free-text top-K values are a fixed function of each token, so this
measures the alignment, not what the soft targets would teach.

    python benchmarks/token_alignment.py
    python benchmarks/token_alignment.py --smoke     # 60 tickets, one vocabulary size

(A JSON-schema template is not measured: its build stores the canonical JSON, keys sorted,
which the teacher's tokens do not spell, so no position would get a target.)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, add_common_args, console, save, table  # noqa: E402

REPLY_TEMPLATE = """\
description: A one-sentence reply to a customer's ticket (free text, no label set)
system: |
  Reply to the customer's ticket in one short sentence.
user: |
  {{ text }}
params:
  temperature: 0
  max_tokens: 120
"""


def harvest_and_build(work: Path, items: int) -> Path:
    """The first `items` support tickets under a free-text reply template, harvested from the
    simulated teacher (its `echo` answers: text from the ticket) with logprobs 20, and built."""
    import yaml

    from synth.config import load_config
    from synth.dataset.builder import build
    from synth.harvest.engine import harvest
    from synth.sim.runner import SimServer

    source = REPO / "examples" / "support-tickets" / "inputs.jsonl"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[:items]
    inputs = work / "inputs.jsonl"
    inputs.write_text("".join(lines), encoding="utf-8")
    template = work / "reply.yaml"
    template.write_text(REPLY_TEMPLATE, encoding="utf-8")
    with SimServer(answers="echo", latency_ms=(0, 0)) as sim:
        cfg = {
            "name": "align",
            "runs_dir": str(work / "runs"),
            "inputs": str(inputs),
            "template": str(template),
            "teacher": {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": sim.openai_base_url,
                "api_key_env": None,  # a local endpoint needs no key
                "concurrency": 32,
                "logprobs": 20,
            },
            "budget_usd": 1.0,
            "filters": ["finish", "refusal", "dedup"],
            "dataset": {"validation": 0.1, "test": 0.1, "seed": 0, "system_prompt": False},
        }
        path = work / "config.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        harvest(load_config(path))
    build(load_config(path))
    return path


def measure(config: Path, vocab_sizes: list[int], work: Path) -> list[dict[str, Any]]:
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    from finetune.answer_targets import answer_targets, first_token_of
    from finetune.tiny import build_tiny_student, texts_of
    from synth.config import load_config

    cfg = load_config(config)
    train = load_from_disk(str(cfg.run_dir / "dataset"))["train"]
    rows = [
        (row["messages"][-1]["content"], json.loads(row["logprobs"]))
        for row in train
        if row.get("logprobs")
    ]
    out = []
    for vocab in vocab_sizes:
        base = build_tiny_student(
            work / f"tok-{vocab}",
            texts_of(train),
            vocab_size=vocab,
            hidden_size=32,
            layers=1,
            heads=2,
        )
        tokenizer = AutoTokenizer.from_pretrained(str(base))
        first = first_token_of(tokenizer)
        tokens = aligned = spelled = 0
        for answer, teacher in rows:
            ids, targets = answer_targets(tokenizer, answer, teacher, first)
            tokens += len(ids)
            aligned += sum(t is not None for t in targets)
            spelled += "".join(t["token"] for t in teacher) == answer
        teacher_tokens = sum(len(t) for _, t in rows)
        out.append(
            {
                "vocab_size": vocab,
                "answers": len(rows),
                "student_tokens": tokens,
                "teacher_tokens": teacher_tokens,
                "aligned_share": aligned / tokens if tokens else 0.0,
                "answers_spelled_by_teacher_tokens": spelled / len(rows) if rows else 0.0,
            }
        )
        console.print(
            f"  vocab {vocab}: {aligned}/{tokens} student tokens aligned "
            f"({out[-1]['aligned_share']:.3f}); teacher tokens {teacher_tokens}"
        )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(p)
    p.add_argument("--vocab-sizes", default="512,1024,4096")
    p.add_argument("--items", type=int, default=600, help="support tickets to harvest")
    a = p.parse_args(argv)
    vocab_sizes = [512] if a.smoke else [int(v) for v in a.vocab_sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = a.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        config = harvest_and_build(work, 60 if a.smoke else a.items)
        results = measure(config, vocab_sizes, work)
        wall = time.perf_counter() - t0
    console.print(
        table(
            "free-text answers: student tokens with a teacher soft target (ticket replies)",
            ["student vocabulary", "answers", "student tokens", "aligned share", "spelled"],
            [
                [
                    str(r["vocab_size"]),
                    str(r["answers"]),
                    str(r["student_tokens"]),
                    f"{r['aligned_share']:.3f}",
                    f"{r['answers_spelled_by_teacher_tokens']:.3f}",
                ]
                for r in results
            ],
        )
    )
    data = {"results": results, "wall_s": round(wall, 1)}
    path = save("token_alignment", data, a.out, argv)
    console.print(f"wrote {path}")
    return data


if __name__ == "__main__":
    main()
