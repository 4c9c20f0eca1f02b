"""Builders for the eval and report tests: a run folder made with the project's own APIs.

`make_run` writes a config, a template, inputs, a journal (through the Journal API, with
retries, 429s and a failure in it), `<run>/build/funnel.json` and `<run>/dataset/` in the
shape `distill build` writes. No network, no hub: the student is trained locally by the test
that needs one.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from synth.config import RunConfig, load_config
from synth.harvest.providers.base import ChatRequest, ChatResponse, Usage
from synth.journal.store import Journal, NewItem, request_key

LABELS = ["billing", "shipping", "account"]
KEYWORDS = {
    "billing": ["invoice", "charged", "refund"],
    "shipping": ["package", "delivery", "courier"],
    "account": ["password", "login", "username"],
}
FILLER = "hello please help my the today again thanks urgent why is not working order".split()
SYSTEM = "You are a support triage assistant."
TEMPLATE = {
    "description": "Classify a support ticket",
    "system": SYSTEM,
    "user": "Ticket: {{ text }}\nAnswer with one category.",
    "params": {"temperature": 0, "max_tokens": 8},
    "output": {"labels": LABELS},
}
COST_PER_ANSWER = Decimal("0.000125")


def records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Input records: one keyword decides the label (`gold`) among filler words."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(out) < n:
        label = LABELS[len(out) % len(LABELS)]
        words = rng.sample(FILLER, 4) + [rng.choice(KEYWORDS[label])]
        rng.shuffle(words)
        text = " ".join(words)
        if text not in seen:  # one journal item per record
            seen.add(text)
            out.append({"id": len(out), "text": text, "gold": label})
    return out


def teacher_answer(i: int, record: dict[str, Any]) -> str:
    """The teacher is right except on every 7th item, and words its answers loosely."""
    label = record["gold"]
    if i % 7 == 6:
        label = LABELS[(LABELS.index(label) + 1) % len(LABELS)]
    return f"Category: {label.title()}" if i % 5 == 0 else label


def make_run(
    root: Path,
    *,
    n: int = 60,
    eval_cfg: dict[str, Any] | None = None,
    student: dict[str, Any] | None = None,
    price: dict[str, Any] | None = None,
    journal: bool = True,
    dataset: bool = True,
    funnel: bool = True,
) -> RunConfig:
    root.mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts" / "tickets.yaml").write_text(yaml.safe_dump(TEMPLATE), encoding="utf-8")
    recs = records(n)
    (root / "inputs.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8"
    )
    config: dict[str, Any] = {
        "name": "tickets",
        "runs_dir": "runs",
        "inputs": "inputs.jsonl",
        "template": "tickets",
        "teacher": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "price": price or {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
        },
        "eval": {"gold_field": "gold", **(eval_cfg or {})},
    }
    if student is not None:
        config["student"] = student
    (root / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    cfg = load_config(root / "config.yaml")
    if journal:
        fill_journal(cfg, recs)
    if dataset:
        write_dataset(cfg, recs)
    if funnel:
        write_funnel(cfg, n)
    return cfg


def _messages(record: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Ticket: {record['text']}\nAnswer with one category."},
    ]


def fill_journal(cfg: RunConfig, recs: list[dict[str, Any]]) -> None:
    """Every record answered (for COST_PER_ANSWER with per-token prices), except the last
    (failed); a few retries and 429s."""
    items = []
    for line, r in enumerate(recs, 1):
        req = ChatRequest(
            model=cfg.teacher.model,
            messages=_messages(r),
            params={"temperature": 0, "max_tokens": 8},
        )
        items.append(NewItem(request_key("openai", req, 0), line, 0, r, req, "openai"))
    price = cfg.teacher.price
    per_token = price is not None and price.input_per_mtok is not None
    cost = COST_PER_ANSWER if per_token else Decimal(0)  # per_hour and free: nothing per token
    with Journal(cfg.journal_path) as j:
        j.add_items(items)
        run_id = j.start_run(
            provider="openai",
            model=cfg.teacher.model,
            budget_usd=None,
            per_hour_usd=price.per_hour if price is not None else None,
        )
        for i, (it, r) in enumerate(zip(items, recs, strict=True)):
            started = time.time()
            j.mark_in_flight(it.key, Decimal("0.001"))
            if i % 9 == 4:
                j.record_attempt(it.key, run_id, started, "rate_limited", 429, "rate limited")
            if i % 11 == 3:
                j.record_attempt(it.key, run_id, started, "retry", 503, "server busy")
            if i == len(recs) - 1:
                j.mark_failed(
                    it.key, "HTTP 400: bad request", run_id=run_id, started_at=started, status=400
                )
                continue
            response = ChatResponse(
                text=teacher_answer(i, r),
                usage=Usage(input_tokens=40 + i % 5, output_tokens=2),
                finish_reason="stop",
                latency_s=0.05,
            )
            j.mark_done(it.key, response, cost, run_id=run_id, started_at=started)
        j.end_run(run_id, "finished")


def split_of(i: int) -> str:
    return "test" if i % 5 == 0 else "validation" if i % 5 == 1 else "train"


def dataset_rows(recs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows as `distill build` writes them, by split (the failed last record left out)."""
    from synth.answers import LabelMatcher

    matcher = LabelMatcher(LABELS)
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
    for i, r in enumerate(recs[:-1]):
        label = matcher.match(teacher_answer(i, r))
        assert label is not None
        splits[split_of(i)].append(
            {
                "messages": [*_messages(r), {"role": "assistant", "content": label}],
                "text": r["text"],
                "gold": r["gold"],
                "id": r["id"],
                "input": json.dumps(r),
                "label": label,
                "teacher_model": "gpt-4o-mini",
                "key": f"k{i}",
                "cost_usd": float(COST_PER_ANSWER),
            }
        )
    return splits


def write_dataset(cfg: RunConfig, recs: list[dict[str, Any]]) -> None:
    from datasets import Dataset, DatasetDict

    splits = dataset_rows(recs)
    DatasetDict({k: Dataset.from_list(v) for k, v in splits.items()}).save_to_disk(
        str(cfg.run_dir / "dataset")
    )


def write_funnel(cfg: RunConfig, n: int) -> None:
    from collections import Counter

    from synth.dataset.funnel import Funnel, Stage

    kept = n - 1
    sizes = Counter(split_of(i) for i in range(kept))
    f = Funnel(
        items_in=n,
        cost_usd=COST_PER_ANSWER * kept,
        teacher=Stage("teacher", 1, Decimal(0), Counter({"failed": 1})),
        filters=[Stage("finish"), Stage("labels")],
        kept=kept,
        kept_cost_usd=COST_PER_ANSWER * kept,
        splits={k: sizes[k] for k in ("train", "validation", "test")},
    )
    f.check()
    (cfg.run_dir / "build").mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "build" / "funnel.json").write_text(
        json.dumps(f.to_dict(), indent=2), encoding="utf-8"
    )


def student_is_wrong(ticket: str, wrong_every: int) -> bool:
    """Decided by the ticket's text alone, so that it does not depend on arrival order."""
    return zlib.crc32(ticket.encode()) % wrong_every == 0


def student_answer_fn(wrong_every: int = 4) -> Any:
    """An answer function for the simulated server standing in for a served student: the
    ticket's keyword label, but the next label for about one ticket in `wrong_every`."""

    def answer(req: Any, rng: random.Random) -> str:
        text = req.last_user
        ticket = text.removeprefix("Ticket: ").split("\n")[0]
        label = next(lab for lab, kws in KEYWORDS.items() if any(k in ticket.split() for k in kws))
        if student_is_wrong(ticket, wrong_every):
            label = LABELS[(LABELS.index(label) + 1) % len(LABELS)]
        return label

    return answer


# the LoRA student that `distill train` makes with its defaults (merge included), small
LORA_STUDENT: dict[str, Any] = {
    "base_model": "tiny",
    "tiny": {"vocab_size": 400, "hidden_size": 64, "layers": 2, "heads": 4},
    "lora": {"r": 4, "alpha": 8, "modules_to_save": ["embed_tokens", "lm_head"]},
    "max_steps": 8,
    "batch_size": 8,
    "learning_rate": 3e-3,
    "eval_steps": None,
}


def train_lora_run(root: Path, **run: Any) -> RunConfig:
    """A run folder whose tiny LoRA student was trained by `finetune.train.train` for real."""
    from finetune.train import train

    cfg = make_run(root, student=LORA_STUDENT, **run)
    train(cfg)
    return cfg
