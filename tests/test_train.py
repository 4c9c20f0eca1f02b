"""`distill train`: a real tiny student trained for real with TRL + PEFT, on CPU, in seconds.

The dataset is a small synthetic classification task in the shape `distill build` writes
(`messages` with system/user/assistant, plus other columns): the label is decided by one
keyword among filler words, so a tiny model can learn it in a few dozen steps.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

import torch  # noqa: E402
from datasets import Dataset, DatasetDict  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402

from evals.generate import generate_local  # noqa: E402
from finetune.train import prepare, train  # noqa: E402
from synth.config import RunConfig  # noqa: E402
from synth.errors import ConfigError, StageError  # noqa: E402
from synth.student_config import StudentConfig  # noqa: E402

KEYWORDS = {
    "billing": ["invoice", "charged", "refund"],
    "shipping": ["package", "delivery", "courier"],
    "account": ["password", "login", "username"],
    "technical": ["crash", "error", "freeze"],
}
FILLER = "hello please help my the today again thanks urgent why is not working order".split()
SYSTEM = "Classify the support ticket."
TINY = {"vocab_size": 400, "hidden_size": 64, "layers": 2, "heads": 4}


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(sorted(KEYWORDS))
        words = rng.sample(FILLER, 5) + [rng.choice(KEYWORDS[label])]
        rng.shuffle(words)
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {
                        "role": "user",
                        "content": f"Ticket: {' '.join(words)}\nAnswer with one category.",
                    },
                    {"role": "assistant", "content": label},
                ],
                "text": " ".join(words),
                "label": label,
                "key": f"{seed}-{i}",
                "teacher_model": "sim",
                "cost_usd": 0.0001,
            }
        )
    return rows


def make_run(
    root: Path, student: dict[str, Any] | None, *, n: int = 320, name: str = "t"
) -> RunConfig:
    cfg = RunConfig.model_validate(
        {
            "name": name,
            "runs_dir": str(root),
            "inputs": "inputs.jsonl",
            "template": "x",
            "teacher": {"provider": "openai", "model": "sim"},
            "student": student,
        }
    )
    cfg.config_path = root / "config.yaml"
    DatasetDict(
        {
            "train": Dataset.from_list(_rows(n, 0)),
            "validation": Dataset.from_list(_rows(max(8, n // 10), 1)),
            "test": Dataset.from_list(_rows(40, 2)),
        }
    ).save_to_disk(str(cfg.run_dir / "dataset"))
    return cfg


def student(**kw: Any) -> dict[str, Any]:
    base = {
        "base_model": "tiny",
        "tiny": TINY,
        "batch_size": 16,
        "max_steps": 24,
        "learning_rate": 3e-3,
        "warmup_ratio": 0.1,
        "eval_steps": 8,
        "logging_steps": 4,
    }
    return {**base, **kw}


class Snapshot(TrainerCallback):
    """Copies of the weights at the start and the end of training."""

    def __init__(self) -> None:
        self.begin: dict[str, torch.Tensor] = {}
        self.end: dict[str, torch.Tensor] = {}

    @staticmethod
    def _copy(model: Any) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def on_train_begin(
        self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any
    ) -> None:
        self.begin = self._copy(model)

    def on_train_end(
        self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any
    ) -> None:
        self.end = self._copy(model)


# -- one LoRA run and one full fine-tune, shared by the tests below ------------------------------


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunConfig, Any, Snapshot]:
    # no merge: key: merging is the default for a LoRA student
    cfg = make_run(tmp_path_factory.mktemp("lora"), student(lora={"r": 8, "alpha": 16}))
    snap = Snapshot()
    result = train(cfg, callbacks=[snap])
    return cfg, result, snap


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunConfig, Any]:
    cfg = make_run(tmp_path_factory.mktemp("full"), student(full_finetune=True, max_steps=100))
    events: list[dict[str, Any]] = []
    result = train(cfg, progress=events.append)
    return cfg, result, events


def test_full_finetune_learns_the_task(full_run: Any) -> None:
    cfg, result, events = full_run
    s = result.summary
    assert s["method"] == "full" and s["steps"] == 100
    assert s["final_train_loss"] < s["first_train_loss"] / 3, s
    assert s["final_eval_loss"] is not None and s["final_eval_loss"] < 1.0
    assert s["tokens_seen"] > 0 and s["tokens_per_s"] > 0 and s["wall_time_s"] > 0
    assert s["precision"] == "fp32" and s["device"] == "cpu" and s["hardware"].startswith("CPU")
    assert s["best_checkpoint"] and s["best_eval_loss"] <= s["final_eval_loss"] + 1e-6
    assert "full fine-tune of tiny" in result.describe()
    on_disk = json.loads((result.student_dir / "training_summary.json").read_text())
    assert on_disk["steps"] == 100
    # the loss curve the report draws: train every logging_steps (4, and the first step),
    # validation every eval_steps (8) and at the last step
    curve = on_disk["loss_curve"]
    assert [step for step, _ in curve["train"]] == [1, *range(4, 101, 4)]
    assert [step for step, _ in curve["validation"]] == [*range(8, 100, 8), 100]
    assert curve["train"][-1][1] == pytest.approx(s["final_train_loss"])
    assert min(v for _, v in curve["validation"]) == pytest.approx(s["best_eval_loss"])
    # progress reports through the callback, not stdout
    kinds = {e["event"] for e in events}
    assert {"begin", "step", "log", "eval"} <= kinds
    assert max(e["step"] for e in events if e["event"] == "step") == 100

    # the student answers like the teacher on held-out rows (greedy, batched)
    test = _rows(40, 2)
    answered = generate_local(
        result.model_dir,
        [r["messages"][:-1] for r in test],
        max_new_tokens=6,
        batch_size=32,
        device="cpu",
    )
    replies = [g.text for g in answered.generations]
    agreement = sum(a == r["label"] for a, r in zip(replies, test, strict=True)) / len(test)
    assert agreement >= 0.8, replies


def test_lora_trains_the_adapter_and_leaves_the_base(lora_run: Any) -> None:
    cfg, result, snap = lora_run
    assert result.summary["method"] == "lora"
    assert (result.student_dir / "adapter_config.json").exists()
    assert (result.student_dir / "adapter_model.safetensors").exists()
    lora_b = [k for k in snap.end if "lora_B" in k]
    base = [k for k in snap.end if "lora_" not in k]
    assert lora_b and base
    # LoRA's B starts at zero: every B matrix moved
    for k in lora_b:
        assert not torch.equal(snap.begin[k], snap.end[k]), k
        assert snap.end[k].abs().sum() > 0
    for k in base:
        assert torch.equal(snap.begin[k], snap.end[k]), f"base weight {k} changed"
    assert result.summary["trainable_params"] < result.summary["total_params"] / 2
    assert result.summary["final_train_loss"] < result.summary["first_train_loss"]


def test_merged_model_loads_with_plain_transformers_and_matches_the_adapter(lora_run: Any) -> None:
    cfg, result, _ = lora_run
    merged_dir = result.student_dir / "merged"
    assert result.model_dir == merged_dir
    assert not (merged_dir / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    tok = AutoTokenizer.from_pretrained(merged_dir)
    # the adapter folder itself, through peft (not the merged model the eval would pick)
    from peft import AutoPeftModelForCausalLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft reads a deprecated transformers flag
        adapter = AutoPeftModelForCausalLM.from_pretrained(result.student_dir, dtype="auto")
    ids = tok.apply_chat_template(
        [_rows(1, 5)[0]["messages"][:-1]],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        a = merged(**ids).logits
        b = adapter(**ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    out = merged.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_labels_mask_everything_but_the_assistant(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, student(full_finetune=True), n=32)
    p = prepare(cfg)
    assert p.loss_mode == "assistant_only"
    batch = next(iter(p.trainer.get_train_dataloader()))
    tok = p.tokenizer
    for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
        text = tok.decode(ids[labels != -100])
        assert text in {f"{label}<|im_end|>" for label in KEYWORDS}, text
        assert SYSTEM in tok.decode(ids)  # the prompt is there, only unlabeled


def test_template_without_generation_markers_masks_the_prompt_all_the_same(tmp_path: Path) -> None:
    """A base whose template TRL cannot patch: rows become prompt/completion, same mask."""
    cfg = make_run(tmp_path, None, n=32)
    base = _tiny_base(tmp_path / "plain-base")
    tok = AutoTokenizer.from_pretrained(base)
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tok.save_pretrained(base)
    cfg.student = StudentConfig.model_validate(
        {**student(full_finetune=True), "base_model": str(base), "tiny": None}
    )
    p = prepare(cfg)
    assert p.loss_mode == "completion_only"
    batch = next(iter(p.trainer.get_train_dataloader()))
    for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
        text = p.tokenizer.decode(ids[labels != -100])
        assert text.strip() in {f"{label}<|im_end|>" for label in KEYWORDS}, text


def _tiny_base(path: Path) -> Path:
    from finetune.tiny import build_tiny_student, texts_of

    return build_tiny_student(path, texts_of(_rows(50, 0)), **TINY)


def test_interrupted_training_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, student(full_finetune=True, max_steps=20, eval_steps=5), n=160)

    class Crash(Exception):
        pass

    def crash_at_12(event: dict[str, Any]) -> None:
        if event["event"] == "step" and event["step"] == 12:
            raise Crash

    with pytest.raises(Crash):
        train(cfg, progress=crash_at_12)
    ckpts = cfg.run_dir / "student" / "checkpoints"
    assert (ckpts / "checkpoint-10").is_dir()
    assert not (cfg.run_dir / "student" / "training_summary.json").exists()
    state10 = json.loads((ckpts / "checkpoint-10" / "trainer_state.json").read_text())

    begins: list[int] = []
    result = train(
        cfg, progress=lambda e: begins.append(e["step"]) if e["event"] == "begin" else None
    )
    assert begins == [10]  # the trainer started from the checkpoint's global_step
    assert result.summary["resumed_from_step"] == 10
    assert result.summary["steps"] == 20
    # tokens counted across both sessions, not only the second
    assert result.summary["tokens_seen"] > state10["num_input_tokens_seen"] > 0


def test_resume_refuses_checkpoints_of_another_shape(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, student(full_finetune=True, max_steps=5, eval_steps=5), n=80)
    train(cfg)
    cfg.student = StudentConfig.model_validate(
        student(full_finetune=True, max_steps=5, max_length=64)
    )
    with pytest.raises(ConfigError, match=r"student\.max_length changed"):
        train(cfg)
    # --no-resume starts over with the new shape
    result = train(cfg, resume=False)
    assert result.summary["resumed_from_step"] is None and result.summary["steps"] == 5


# -- config errors: one clear line each ----------------------------------------------------------


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 300, msg
    return msg


def test_unknown_base_model_path_is_one_line(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, student(base_model="./models/nope", tiny=None), n=16)
    with pytest.raises(ConfigError) as err:
        train(cfg)
    assert "student.base_model" in _one_line(err) and "nope" in str(err.value)


def test_folder_without_a_model_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cfg = make_run(tmp_path, student(base_model="empty", tiny=None), n=16)
    with pytest.raises(ConfigError) as err:
        train(cfg)
    assert "config.json" in _one_line(err)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without a GPU"
)
def test_load_in_4bit_without_a_gpu_is_one_line(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, student(load_in_4bit=True), n=16)
    with pytest.raises(ConfigError) as err:
        train(cfg)
    assert "load_in_4bit" in _one_line(err) and "GPU" in str(err.value)


def test_unknown_sft_override_names_the_field(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, student(sft_overrides={"num_train_epoch": 2}), n=16)
    with pytest.raises(ConfigError) as err:
        train(cfg)
    assert "student.sft_overrides.num_train_epoch" in _one_line(err)


def test_missing_dataset_says_run_build_first(tmp_path: Path) -> None:
    cfg = RunConfig.model_validate(
        {
            "name": "nodata",
            "runs_dir": str(tmp_path),
            "inputs": "x.jsonl",
            "template": "x",
            "teacher": {"provider": "openai", "model": "sim"},
            "student": student(),
        }
    )
    with pytest.raises(StageError, match="distill build"):
        train(cfg)


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ({"base_model": "x", "lora": {"rank": 8}}, "rank"),
        ({"base_model": "x", "tiny": {"hidden_size": 64}}, "tiny"),
        ({"base_model": "tiny", "tiny": {"hidden_size": 64, "heads": 5}}, "heads"),
        ({"base_model": "x", "precision": "fp8"}, "precision"),
        ({"base_model": "x", "load_in_4bit": True, "full_finetune": True}, "load_in_4bit"),
    ],
)
def test_bad_student_sections_are_rejected_by_the_config(
    section: dict[str, Any], needle: str
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        StudentConfig.model_validate(section)
    assert needle in str(err.value)


def test_config_module_does_not_import_torch() -> None:
    code = (
        "import sys, synth.student_config, finetune.train, finetune.tiny, finetune.merge, evals.generate; "
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_lora_on_gpu(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, student(lora={"r": 8, "modules_to_save": ["embed_tokens", "lm_head"]}))
    result = train(cfg)
    s = result.summary
    assert s["device"] == "cuda" and s["precision"] in {"bf16", "fp16"}
    assert s["peak_gpu_memory_gib"] > 0 and s["tokens_per_s"] > 0
    assert s["final_train_loss"] < s["first_train_loss"]


def test_report_to_reaches_the_trainer_and_a_missing_tracker_is_one_line(tmp_path: Path) -> None:
    import importlib.util

    from finetune.train import sft_config

    def args(report_to: str) -> Any:
        s = StudentConfig(base_model="tiny", report_to=report_to)  # type: ignore[arg-type]
        return sft_config(s, tmp_path, precision="fp32", liger=False, has_eval=False)

    assert args("none").report_to == []
    missing = [t for t in ("wandb", "tensorboard", "trackio") if not importlib.util.find_spec(t)]
    for tracker in missing:
        with pytest.raises(ConfigError, match=f"student.report_to: {tracker} is not installed"):
            args(tracker)
    for tracker in {"wandb", "tensorboard", "trackio"} - set(missing):
        assert args(tracker).report_to == [tracker]


def test_a_finished_training_run_again_keeps_its_student(tmp_path: Path) -> None:
    cfg = make_run(tmp_path, student(full_finetune=True, max_steps=4, eval_steps=5), n=80)
    first = train(cfg)
    weights = next(cfg.paths.student.glob("*.safetensors"))
    written = weights.stat().st_mtime_ns
    again = train(cfg)
    # resuming from the last checkpoint would take a fifth step and rewrite the student
    assert again.summary["steps"] == first.summary["steps"] == 4
    assert again.summary["already_trained"] and "already trained" in again.describe()
    assert weights.stat().st_mtime_ns == written
    # asked for more steps, it resumes from the last checkpoint and trains on
    cfg.student = StudentConfig.model_validate(
        student(full_finetune=True, max_steps=6, eval_steps=5)
    )
    longer = train(cfg)
    assert longer.summary["resumed_from_step"] == 4 and longer.summary["steps"] == 6
    assert not longer.summary.get("already_trained")
