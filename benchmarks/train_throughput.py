"""Training throughput: tokens/s of `distill train` against a plain TRL `SFTTrainer`.

Same model, same data, same batch size, one epoch each:

- the baseline: `SFTTrainer(model=PATH, args=SFTConfig(...defaults...), train_dataset=...)`,
  what the TRL docs show; the only settings given are the ones it cannot run without
  (`bf16=False` on a CPU, no reporting), the batch size, and the LoRA config when the
  student is trained with LoRA (so both train the same parameters); a second row turns off
  the one default that costs speed (TRL's `gradient_checkpointing=True`);
- `distill train` (`finetune.train.train(cfg)`) as a user runs it, with and without
  padding-free packing (`student.packing`); Liger kernels come on by themselves where they can
  (`use_liger: auto`: a CUDA GPU with `liger-kernel` installed), and the table says whether.

tokens/s counts the same thing for every row: the training split's tokens (chat template
applied, truncated at max_length) divided by the trainer's `train_runtime` (distill's includes
its periodic evaluation and checkpoints, which a user gets too).

    python benchmarks/train_throughput.py                              # CPU, the tiny student
    python benchmarks/train_throughput.py --rows 4000 --hidden-size 256 --layers 4
    python benchmarks/train_throughput.py --device cuda --model Qwen/Qwen2.5-0.5B-Instruct
    python benchmarks/train_throughput.py --device cuda --hidden-size 1024 --layers 16 --heads 16

`--model tiny` (the default) builds the local random-init student (finetune.tiny) with the
shape given; any other value is a Hugging Face name or a local folder, trained with LoRA.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

KEYWORDS = {
    "billing": ["invoice", "charged", "refund", "payment", "receipt"],
    "shipping": ["package", "delivery", "courier", "tracking", "parcel"],
    "account": ["password", "login", "username", "email", "profile"],
    "technical": ["crash", "error", "freeze", "bug", "slow"],
}
FILLER = (
    "hello please help my the today again thanks urgent why is not working order since "
    "yesterday still waiting app website phone i we you your it this that a an on in for"
).split()
SYSTEM = "You are a support triage assistant. Answer with one category."


def rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Tickets of varied length (8-60 words) in the shape `distill build` writes."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = rng.choice(sorted(KEYWORDS))
        words = rng.choices(FILLER, k=rng.randint(8, 60)) + [rng.choice(KEYWORDS[label])]
        rng.shuffle(words)
        text = " ".join(words)
        out.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"Ticket: {text}"},
                    {"role": "assistant", "content": label},
                ],
                "label": label,
                "text": text,
                "key": f"{seed}-{i}",
                "line": i + 1,
            }
        )
    return out


def write_dataset(dataset_dir: Path, n: int) -> None:
    from datasets import Dataset, DatasetDict

    DatasetDict(
        {
            "train": Dataset.from_list(rows(n, 0)),
            "validation": Dataset.from_list(rows(max(16, n // 20), 1)),
            "test": Dataset.from_list(rows(32, 2)),
        }
    ).save_to_disk(str(dataset_dir))


def split_tokens(tokenizer: Any, dataset_dir: Path, max_length: int) -> int:
    """Tokens of the train split as the trainers see them (chat template, truncated)."""
    from datasets import load_from_disk

    total = 0
    for row in load_from_disk(str(dataset_dir))["train"]:
        ids = tokenizer.apply_chat_template(row["messages"], tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        total += min(len(ids), max_length)
    return total


# --------------------------------------------------------------------------- the two trainers


def baseline(
    model: str, dataset_dir: Path, out: Path, a: argparse.Namespace, **overrides: Any
) -> dict[str, Any]:
    """A plain SFTTrainer with TRL's defaults (`overrides`: SFTConfig fields changed)."""
    import warnings

    from datasets import load_from_disk
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    train = load_from_disk(str(dataset_dir))["train"].select_columns(["messages"])
    peft_config = None
    if a.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            task_type="CAUSAL_LM", r=16, lora_alpha=32, target_modules="all-linear"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = SFTConfig(
            output_dir=str(out),
            num_train_epochs=1,
            per_device_train_batch_size=a.batch_size,
            max_length=a.max_length,
            bf16=a.device == "cuda",  # TRL's default; a CPU refuses it
            report_to="none",
            save_strategy="no",  # the baseline writes no checkpoints (distill does)
            model_init_kwargs=(
                {"attn_implementation": a.attn_implementation} if a.attn_implementation else None
            ),
            disable_tqdm=True,
            seed=0,
            **overrides,
        )
        trainer = SFTTrainer(model=model, args=args, train_dataset=train, peft_config=peft_config)
        trainer.remove_callback(PrinterCallback)  # the table says it all
        t0 = time.perf_counter()
        result = trainer.train()
    return {
        "train_runtime_s": float(result.metrics["train_runtime"]),
        "wall_s": time.perf_counter() - t0,
        "steps": trainer.state.global_step,
        "packing": False,
        "liger": False,
        "final_loss": result.training_loss,
    }


def distill(
    model: str, dataset_dir: Path, root: Path, name: str, packing: bool, a: argparse.Namespace
) -> dict[str, Any]:
    import shutil

    from finetune.train import train
    from synth.config import RunConfig

    student: dict[str, Any] = {
        "base_model": model,
        "epochs": 1,
        "batch_size": a.batch_size,
        "max_length": a.max_length,
        "packing": packing,
        "full_finetune": not a.lora,
        "learning_rate": 1e-3 if not a.lora else 2e-4,
        "attn_implementation": a.attn_implementation,
    }
    cfg = RunConfig.model_validate(
        {
            "name": name,
            "runs_dir": str(root),
            "inputs": "inputs.jsonl",
            "template": "bench",
            "teacher": {"provider": "openai", "model": "sim-teacher"},
            "student": student,
        }
    )
    cfg.config_path = root / "config.yaml"
    run_dataset = cfg.paths.dataset
    if not run_dataset.exists():
        shutil.copytree(dataset_dir, run_dataset)
    t0 = time.perf_counter()
    result = train(cfg, resume=False)
    s = result.summary
    return {
        "train_runtime_s": float(s["train_runtime_s"]),
        "wall_s": time.perf_counter() - t0,
        "steps": s["steps"],
        "packing": packing,
        "liger": s["liger"],
        "final_loss": s["final_train_loss"],
        "summary_tokens_per_s": s["tokens_per_s"],
        "precision": s["precision"],
    }


def base_model(a: argparse.Namespace, dataset_dir: Path, work: Path) -> str:
    if a.model != "tiny":
        return a.model
    from datasets import load_from_disk

    from finetune.tiny import build_tiny_student, texts_of

    train = load_from_disk(str(dataset_dir))["train"]
    return str(
        build_tiny_student(
            work / "tiny-base",
            texts_of(train.select(range(min(5000, len(train))))),
            vocab_size=a.vocab_size,
            hidden_size=a.hidden_size,
            layers=a.layers,
            heads=a.heads,
            max_position_embeddings=max(a.max_length, 64),
        )
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help='"tiny", a Hugging Face name or a folder')
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--rows", type=int, default=2000, help="training rows")
    parser.add_argument("--batch-size", type=int, default=8, help="TRL's default")
    parser.add_argument("--max-length", type=int, default=1024, help="TRL's default")
    parser.add_argument(
        "--lora",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="LoRA in both (default: full fine-tune for tiny, LoRA otherwise)",
    )
    parser.add_argument(
        "--attn-implementation",
        default=None,
        help="eager, sdpa, flash_attention_2, ... (default: transformers')",
    )
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    common.add_common_args(parser)
    a = parser.parse_args(argv)
    if a.lora is None:
        a.lora = a.model != "tiny"
    if a.smoke:
        a.rows, a.hidden_size, a.layers, a.vocab_size, a.max_length = 48, 32, 1, 300, 256

    import torch

    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU here")
    if a.device == "cpu":
        # finetune.device picks CUDA whenever it sees one: hide it for a CPU measurement
        import os

        os.environ["CUDA_VISIBLE_DEVICES"] = ""

    import datasets
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        work = a.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        dataset_dir = work / "dataset"
        write_dataset(dataset_dir, a.rows)
        model = base_model(a, dataset_dir, work)
        tokenizer = AutoTokenizer.from_pretrained(model)
        tokens = split_tokens(tokenizer, dataset_dir, a.max_length)
        runs: dict[str, dict[str, Any]] = {}
        runs["TRL SFTTrainer, defaults"] = baseline(model, dataset_dir, work / "baseline", a)
        # TRL's SFTConfig turns gradient checkpointing on by default (less memory, more
        # compute); distill leaves it off unless asked: this row shows what that alone is worth
        runs["TRL SFTTrainer, gradient_checkpointing off"] = baseline(
            model, dataset_dir, work / "baseline-nogc", a, gradient_checkpointing=False
        )
        runs["distill train, packing off"] = distill(
            model, dataset_dir, work / "runs", "nopack", False, a
        )
        runs["distill train, packing on (padding-free)"] = distill(
            model, dataset_dir, work / "runs", "pack", True, a
        )
    for r in runs.values():
        r["tokens_per_s"] = tokens / r["train_runtime_s"] if r["train_runtime_s"] else None
    base_tps = runs["TRL SFTTrainer, defaults"]["tokens_per_s"]
    for r in runs.values():
        r["ratio"] = r["tokens_per_s"] / base_tps if base_tps and r["tokens_per_s"] else None

    hardware = (
        torch.cuda.get_device_name(0)
        if a.device == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    liger_installed = importlib.util.find_spec("liger_kernel") is not None
    model_label = (
        f"tiny random-init Llama (hidden {a.hidden_size}, {a.layers} layers, vocab {a.vocab_size})"
        if a.model == "tiny"
        else a.model
    )
    common.console.print(
        common.table(
            f"train throughput: {model_label}, {'LoRA r16' if a.lora else 'full fine-tune'}, "
            f"{a.rows:,} rows ({tokens:,} tokens), 1 epoch, batch {a.batch_size}, {hardware}",
            [
                "trainer",
                "steps",
                "train s",
                "tokens/s",
                "vs TRL defaults",
                "packing",
                "liger",
                "final loss",
            ],
            [
                (
                    k,
                    r["steps"],
                    r["train_runtime_s"],
                    r["tokens_per_s"],
                    r["ratio"],
                    "yes" if r["packing"] else "no",
                    "yes" if r["liger"] else "no",
                    r["final_loss"],
                )
                for k, r in runs.items()
            ],
        )
    )
    common.console.print(
        "Liger kernels: "
        + ("installed" if liger_installed else "not installed (pip install liger-kernel)")
        + ("" if a.device == "cuda" else "; they need a CUDA GPU (Triton), so none on a CPU")
    )
    data = {
        "model": model_label,
        "device": a.device,
        "hardware": hardware,
        "rows": a.rows,
        "train_tokens": tokens,
        "batch_size": a.batch_size,
        "max_length": a.max_length,
        "lora": a.lora,
        "liger_installed": liger_installed,
        "runs": runs,
    }
    name = "train_throughput" if a.device == "cpu" else "train_throughput_cuda"
    path = common.save(name, data, a.out, argv, script="train_throughput")
    common.console.print(f"figures: {path}")
    print(json.dumps({k: round(r["tokens_per_s"] or 0, 1) for k, r in runs.items()}))
    return data


if __name__ == "__main__":
    main()
