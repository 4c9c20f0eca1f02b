"""Token-level soft labels for free text, trained for real on a tiny student through
`distill train`: where the targets land, that the KL is in the gradient, and the errors."""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from datasets import Dataset, DatasetDict  # noqa: E402

from finetune.token_distill import TARGETS, place  # noqa: E402
from finetune.token_targets import ANSWER, AT, IDS, PROBS, TAIL, answer_start  # noqa: E402
from finetune.train import prepare, train  # noqa: E402
from synth.config import RunConfig  # noqa: E402
from synth.errors import ConfigError  # noqa: E402
from tests.conftest import torchrun_train  # noqa: E402

WORDS = "we will send your refund today please check the invoice again soon thanks".split()
PIECES = re.compile(r" ?\w+| ?[^\w\s]+|\s+")


def teacher_tokens(answer: str, rng: random.Random) -> list[dict[str, Any]]:
    """A teacher that splits `answer` into words and puts 0.6 on its word, 0.3 on another."""
    out = []
    for piece in PIECES.findall(answer):
        other = (" " if piece.startswith(" ") else "") + rng.choice(WORDS)
        top = (
            {piece: math.log(0.6)}
            if other == piece
            else {piece: math.log(0.6), other: math.log(0.3)}
        )
        out.append({"token": piece, "logprob": math.log(0.6), "top": top})
    return out


def rows(n: int, seed: int, *, logprobs: bool = True) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        question = " ".join(rng.sample(WORDS, 4))
        answer = " ".join(rng.sample(WORDS, 5)) + "."
        row: dict[str, Any] = {
            "messages": [
                {"role": "user", "content": f"Ticket: {question}"},
                {"role": "assistant", "content": answer},
            ]
        }
        if logprobs:
            row["logprobs"] = json.dumps(teacher_tokens(answer, rng))
        out.append(row)
    return out


def make_run(
    root: Path, distill: dict[str, Any], *, logprobs: bool = True, **student: Any
) -> RunConfig:
    root.mkdir(parents=True, exist_ok=True)
    (root / "t.yaml").write_text("user: '{{ text }}'\n")
    raw = {
        "name": "t",
        "runs_dir": str(root),
        "inputs": "inputs.jsonl",
        "template": "t.yaml",
        "teacher": {"provider": "openai", "model": "sim"},
        "student": {
            "base_model": "tiny",
            "tiny": {"vocab_size": 300, "hidden_size": 32, "layers": 1, "heads": 2},
            "full_finetune": True,
            "batch_size": 8,
            "max_steps": 6,
            "learning_rate": 3e-3,
            "logging_steps": 1,
            "distill": distill,
            **student,
        },
    }
    (root / "config.yaml").write_text(json.dumps(raw))  # JSON is YAML: for `distill train`
    cfg = RunConfig.model_validate(raw)
    cfg.config_path = root / "config.yaml"
    DatasetDict(
        {
            "train": Dataset.from_list(rows(48, 0, logprobs=logprobs)),
            "validation": Dataset.from_list(rows(8, 1, logprobs=logprobs)),
        }
    ).save_to_disk(str(cfg.run_dir / "dataset"))
    return cfg


def test_targets_land_on_the_logit_that_predicts_each_answer_token() -> None:
    # a row: 3 prompt tokens, the answer [7, 8, 9] and an end-of-turn token 2
    labels = [-100, -100, -100, 7, 8, 9, 2, -100]
    row = {
        ANSWER: [7, 8, 9],
        AT: [0, 2],
        IDS: [[7, 5], [9]],
        PROBS: [[0.6, 0.3], [0.9]],
        TAIL: [0.1, 0.1],
    }
    # the same answer tokenised differently in context (the chat template merged its start)
    other = {**row, ANSWER: [7, 8, 9]}
    placed = place([labels, [-100, -100, 6, 8, 9, 2, -100, -100]], [row, other])
    assert placed["row"].tolist() == [0, 0]  # the second row gets none: CE alone
    assert placed["pos"].tolist() == [2, 4]  # token j = 3 and 5 are predicted at j - 1
    assert placed["ids"].tolist() == [[7, 5], [9, -1]]
    assert placed["probs"].flatten().tolist() == pytest.approx([0.6, 0.3, 0.9, 0.0])
    assert answer_start(labels, [7, 8, 9]) == 3
    # with few-shot turns, the answer is the last trained run
    assert answer_start([-100, 7, 2, -100, -100, 7, 8, 9, 2], [7, 8, 9]) == 5
    assert answer_start([-100, 7, 8], []) is None


def test_a_real_template_that_trims_the_answer_leaves_that_row_without_targets(
    tmp_path: Path,
) -> None:
    """Llama 3's template (TRL's training copy) trims each message: an answer ending in a
    newline is not its own tokens in context, so it gets no target; one without, does."""
    import trl
    from transformers import AutoTokenizer

    from finetune.tiny import build_tiny_student

    texts = [m["content"] for r in rows(48, 0) for m in r["messages"]]
    base = build_tiny_student(tmp_path / "b", texts, vocab_size=300, hidden_size=32, layers=1)
    tok = AutoTokenizer.from_pretrained(str(base))
    special = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok.add_special_tokens({"additional_special_tokens": special})
    tok.bos_token = special[0]
    template = (Path(trl.__file__).parent / "chat_templates" / "llama3_training.jinja").read_text()

    def start(answer: str) -> int | None:
        messages = [
            {"role": "user", "content": "Ticket: refund"},
            {"role": "assistant", "content": answer},
        ]
        enc = tok.apply_chat_template(
            messages,
            chat_template=template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        labels = [
            t if m else -100 for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True)
        ]
        return answer_start(labels, tok(answer, add_special_tokens=False)["input_ids"])

    assert start("we will send your refund.") is not None
    assert start("we will send your refund.\n") is None


def test_a_real_batch_carries_targets_on_its_answer_tokens(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, {"loss": "mix"})
    p = prepare(cfg)
    batch = next(iter(p.trainer.get_train_dataloader()))
    t = batch[TARGETS]
    assert t["row"].numel() > 0
    labels = batch["labels"]
    ids = t["ids"]
    for r, pos, bucket in zip(t["row"].tolist(), t["pos"].tolist(), ids.tolist(), strict=True):
        token = int(labels[r, pos + 1])
        assert token != -100  # an answer token, predicted by the logit at pos
        assert token in bucket  # the teacher's chosen word begins with that very token
    c = p.soft.train  # type: ignore[union-attr]
    assert c.rows == 48 and 0 < c.fraction <= 1 and c.rows_without_targets == 0


def test_soft_lowers_the_token_kl_and_mix_at_alpha_zero_is_hards_loss(tmp_path: Path) -> None:
    # LoRA here (the others train fully): the adapter path goes through the same loss
    soft = train(make_run(tmp_path / "soft", {"loss": "soft"}, max_steps=12, full_finetune=False))
    history = json.loads(
        (
            tmp_path
            / "soft"
            / "t"
            / "student"
            / "checkpoints"
            / "checkpoint-12"
            / "trainer_state.json"
        ).read_text()
    )["log_history"]
    kl = [h["soft_loss"] for h in history if "soft_loss" in h and "loss" in h]
    assert len(kl) >= 10 and sum(kl[-3:]) < sum(kl[:3])  # the KL term is in the gradient
    d = soft.summary["distill"]
    assert d["targets"] == "tokens" and d["aligned_fraction"] > 0.2

    hard = train(make_run(tmp_path / "hard", {"loss": "hard"}))
    mix0 = train(make_run(tmp_path / "mix0", {"loss": "mix", "alpha": 0.0}))
    h, m = hard.summary, mix0.summary
    assert m["first_train_loss"] == pytest.approx(h["first_train_loss"], rel=1e-4)
    assert m["final_train_loss"] == pytest.approx(h["final_train_loss"], rel=1e-3)
    assert m["final_eval_loss"] == pytest.approx(h["final_eval_loss"], rel=1e-3)


def test_free_text_soft_without_logprobs_is_one_clear_error(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, {"loss": "soft"}, logprobs=False)
    with pytest.raises(ConfigError, match="no logprobs column.*teacher.logprobs: 20") as e:
        train(cfg)
    assert "\n" not in str(e.value)


def test_answers_the_teacher_tokens_do_not_spell_get_no_target_and_a_warning(
    tmp_path: Path,
) -> None:
    cfg = make_run(tmp_path, {"loss": "mix"})
    ds = DatasetDict.load_from_disk(str(cfg.run_dir / "dataset"))

    def rewrite(row: dict[str, Any]) -> dict[str, Any]:  # as the build's canonical JSON does
        messages = row["messages"]
        messages[-1]["content"] = json.dumps({"reply": messages[-1]["content"]}, sort_keys=True)
        return {"messages": messages}

    other = tmp_path / "rewritten"
    DatasetDict({k: v.map(rewrite) for k, v in ds.items()}).save_to_disk(str(other))
    import shutil

    shutil.rmtree(cfg.run_dir / "dataset")
    shutil.copytree(other, cfg.run_dir / "dataset")
    result = train(cfg)
    d = result.summary["distill"]
    assert d["aligned_fraction"] == 0 and d["rows_unspelled"] == 48
    assert "warning: no answer token carried a soft target" in result.describe()


REPLY = {
    "description": "A one-sentence reply to a ticket (free text)",
    "system": "Reply to the customer's ticket in one short sentence.",
    "user": "{{ text }}",
    "params": {"temperature": 0, "max_tokens": 40},
}


def test_harvest_with_logprobs_build_mix_train_and_eval(tmp_path: Path) -> None:
    """The user's path: the simulated teacher answers a free-text template with its top-20,
    `distill build`, `distill train` with `loss: mix`, `distill eval`."""
    from conftest import REPO, distill
    from conftest import make_run as make_harvest_run

    from synth.harvest.engine import harvest
    from synth.sim.runner import SimServer

    source = REPO / "examples" / "support-tickets" / "inputs.jsonl"
    records = [json.loads(line) for line in source.read_text().splitlines()[:40]]
    with SimServer(answers="echo", latency_ms=(0, 0)) as sim:
        run = make_harvest_run(
            tmp_path,
            sim.openai_base_url,
            template=REPLY,
            records=records,
            teacher={"logprobs": 20},
            filters=["finish", "refusal"],
            dataset={"validation": 0.1, "test": 0.2, "seed": 0},
            student={
                "base_model": "tiny",
                "tiny": {"vocab_size": 400, "hidden_size": 32, "layers": 1, "heads": 2},
                "max_steps": 4,
                "batch_size": 8,
                "logging_steps": 1,
                "distill": {"loss": "mix", "alpha": 0.5},
            },
            eval={"max_new_tokens": 8, "batch_size": 16},
        )
        harvest(run.cfg())
    built = distill("build", str(run.config))
    assert built.returncode == 0, built.stdout + built.stderr
    trained = distill("train", str(run.config), timeout=300)
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-3000:]
    summary = json.loads((run.run_dir / "student" / "training_summary.json").read_text())
    d = summary["distill"]
    assert d["loss"] == "mix" and d["targets"] == "tokens"
    assert d["aligned_fraction"] > 0 and d["aligned_tokens"] > 0
    assert summary["steps"] == 4
    assert f"soft targets on {d['aligned_fraction']:.1%}" in trained.stdout
    evaluated = distill("eval", str(run.config), timeout=300)
    assert evaluated.returncode == 0, evaluated.stdout[-2000:] + evaluated.stderr[-3000:]
    metrics = json.loads((run.run_dir / "eval" / "metrics.json").read_text())
    assert metrics["task"] == "text" and metrics["items"] > 0
    assert metrics["metrics"]["chrf_vs_teacher"] is not None


@pytest.mark.slow  # two processes each load torch and train: over a minute on 2 cores
def test_two_processes_train_the_token_loss_through_the_distill_command(tmp_path: Path) -> None:
    """`torchrun --nproc_per_node 2 $(which distill) train CONFIG` on CPU (gloo) with `mix`
    on free text: every rank gathers the same metrics each step, and the loss falls."""
    cfg = make_run(tmp_path, {"loss": "mix"}, max_steps=6, batch_size=4)
    proc = torchrun_train(tmp_path / "config.yaml")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    summary = json.loads((cfg.run_dir / "student" / "training_summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 6
    assert summary["distill"]["targets"] == "tokens" and summary["distill"]["aligned_tokens"] > 0
    assert summary["first_train_loss"] > summary["final_train_loss"]
