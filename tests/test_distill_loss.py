"""Soft labels: the loss against a hand-computed KL, and a tiny student trained with it for real
through `distill train` (TRL's SFTTrainer, our loss)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from datasets import Dataset, DatasetDict  # noqa: E402

from finetune.distill_loss import soft_label_loss, teacher_targets  # noqa: E402
from finetune.train import train  # noqa: E402
from synth.config import RunConfig  # noqa: E402
from synth.errors import ConfigError  # noqa: E402
from synth.student_config import StudentConfig  # noqa: E402
from tests.conftest import torchrun_train  # noqa: E402


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


def test_loss_is_the_hand_computed_kl() -> None:
    teacher = [0.7, 0.2, 0.1]
    student = [0.5, 0.3, 0.2]
    # sequence log-probs need not sum to one over the labels: only their differences count
    logp = torch.tensor([[math.log(x) - 3.0 for x in student]])
    got = soft_label_loss(logp, torch.tensor([teacher]))
    assert float(got) == pytest.approx(_kl(teacher, student), rel=1e-5)


def test_temperature_softens_both_sides_and_scales_by_t_squared() -> None:
    teacher, student, t = [0.7, 0.2, 0.1], [0.5, 0.3, 0.2], 2.0

    def soften(d: list[float]) -> list[float]:
        w = [x ** (1 / t) for x in d]
        return [x / sum(w) for x in w]

    logp = torch.tensor([[math.log(x) for x in student]])
    got = soft_label_loss(logp, torch.tensor([teacher]), temperature=t)
    assert float(got) == pytest.approx(t * t * _kl(soften(teacher), soften(student)), rel=1e-5)


def test_rows_without_a_target_are_left_out_of_the_mean() -> None:
    logp = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    teacher = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 0.0]])
    got = soft_label_loss(logp, teacher, mask=torch.tensor([True, False]))
    assert float(got) == pytest.approx(_kl([0.7, 0.2, 0.1], [0.5, 0.3, 0.2]), rel=1e-5)
    nothing = soft_label_loss(logp.requires_grad_(), teacher, mask=torch.tensor([False, False]))
    assert float(nothing.detach()) == 0.0 and nothing.requires_grad


def test_targets_fall_back_to_the_hard_label() -> None:
    rows = Dataset.from_list(
        [
            {"label": "b", "teacher_dist": json.dumps({"a": 0.25, "b": 0.75})},
            {"label": "a", "teacher_dist": None},
            {"label": None, "teacher_dist": None},
        ]
    )
    probs, mask = teacher_targets(rows, ["a", "b"])
    assert probs == [[0.25, 0.75], [1.0, 0.0], [0.0, 0.0]]
    assert mask == [1, 1, 0]


# -- a real tiny student ----------------------------------------------------------------------

LABELS = ["account", "billing", "shipping", "technical"]
KEYWORDS = {
    "billing": ["invoice", "charged"],
    "shipping": ["package", "courier"],
    "account": ["password", "login"],
    "technical": ["crash", "error"],
}
FILLER = "hello please help my the today again thanks urgent why is not working order".split()


def _rows(n: int, seed: int, soft: bool) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(LABELS)
        words = rng.sample(FILLER, 5) + [rng.choice(KEYWORDS[label])]
        rng.shuffle(words)
        dist = {lab: (0.7 if lab == label else 0.1) for lab in LABELS}
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"Ticket: {' '.join(words)}"},
                    {"role": "assistant", "content": label},
                ],
                "label": label,
                # every third row has no soft label: it trains on its hard one
                "teacher_dist": json.dumps(dist) if soft and i % 3 else None,
            }
        )
    return rows


def config_dict(root: Path, distill: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "t",
        "runs_dir": str(root),
        "inputs": "inputs.jsonl",
        "template": "t.yaml",
        "teacher": {"provider": "openai", "model": "sim"},
        "student": {
            "base_model": "tiny",
            "tiny": {"vocab_size": 400, "hidden_size": 64, "layers": 2, "heads": 4},
            "full_finetune": True,
            "batch_size": 16,
            "max_steps": 20,
            "learning_rate": 3e-3,
            "eval_steps": 10,
            "logging_steps": 5,
            "distill": distill,
        },
    }


def make_run(root: Path, distill: dict[str, Any], *, soft: bool = True) -> RunConfig:
    (root / "t.yaml").write_text(
        "user: '{{ text }}'\noutput:\n  labels: [" + ", ".join(LABELS) + "]\n"
    )
    cfg = RunConfig.model_validate(config_dict(root, distill))
    cfg.config_path = root / "config.yaml"
    DatasetDict(
        {
            "train": Dataset.from_list(_rows(192, 0, soft)),
            "validation": Dataset.from_list(_rows(16, 1, soft)),
        }
    ).save_to_disk(str(cfg.run_dir / "dataset"))
    return cfg


def test_mix_trains_a_tiny_student_and_says_so(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, {"loss": "mix", "alpha": 0.5, "temperature": 2.0})
    result = train(cfg)
    s = result.summary
    assert s["distill"] == {
        "loss": "mix",
        "alpha": 0.5,
        "temperature": 2.0,
        "labels": 4,
        "soft_rows": 128,
        "hard_rows": 64,
    }
    assert s["steps"] == 20
    state = json.loads((result.student_dir / "training_summary.json").read_text())
    assert state["distill"]["loss"] == "mix"
    history = json.loads(
        (
            cfg.run_dir / "student" / "checkpoints" / "checkpoint-20" / "trainer_state.json"
        ).read_text()
    )["log_history"]
    soft = [h["soft_loss"] for h in history if "soft_loss" in h and "loss" in h]
    assert len(soft) >= 3 and soft[-1] < soft[0]  # the KL term is logged and falls
    assert any("eval_soft_loss" in h for h in history)


def test_soft_without_teacher_dist_is_one_clear_error(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, {"loss": "soft"}, soft=False)
    ds = DatasetDict.load_from_disk(str(cfg.run_dir / "dataset"))
    DatasetDict({k: v.remove_columns("teacher_dist") for k, v in ds.items()}).save_to_disk(
        str(tmp_path / "d2")
    )
    import shutil

    shutil.rmtree(cfg.run_dir / "dataset")
    shutil.copytree(tmp_path / "d2", cfg.run_dir / "dataset")
    with pytest.raises(ConfigError, match="teacher.logprobs"):
        train(cfg)


def test_soft_labels_need_packing_off() -> None:
    with pytest.raises(ValueError, match="packing: false"):
        StudentConfig.model_validate(
            {"base_model": "tiny", "packing": True, "distill": {"loss": "mix"}}
        )


@pytest.mark.slow  # two processes each load torch and train: over a minute on 2 cores
@pytest.mark.parametrize("loss", ["hard", "mix"])
def test_two_processes_train_through_the_distill_command(tmp_path: Path, loss: str) -> None:
    """`torchrun --nproc_per_node 2 $(which distill) train CONFIG` on CPU (gloo), which is
    what `accelerate launch --multi_gpu --num_processes N` runs (accelerate's own `--cpu`
    multi-process launch goes through mpirun)."""
    import yaml

    cfg = make_run(tmp_path, {"loss": loss})
    config = config_dict(tmp_path, {"loss": loss})
    config["student"].update(max_steps=6, batch_size=8, eval_steps=3)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = torchrun_train(tmp_path / "config.yaml")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    summary = json.loads((cfg.run_dir / "student" / "training_summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 6
    assert summary["distill"]["loss"] == loss
    assert summary["first_train_loss"] > summary["final_train_loss"]
