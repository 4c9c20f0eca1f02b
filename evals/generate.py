"""The student answers the eval prompts in-process: batched greedy generation with transformers.

Which model is loaded from `<run>/student/` (the training stage's layout):

    merged/ exists              → that folder (a plain transformers model)
    adapter_config.json exists  → its base_model_name_or_path + the LoRA adapter (peft), merged
                                  in memory so that generation runs at the base model's speed
    otherwise                   → the folder itself (a fully fine-tuned model)

Prompts are the dataset's system and user messages through the student's own chat template,
sorted by length so that a batch holds similar lengths (less padding), padded on the left.
Two times per item, because a batch makes them differ:

    latency_s   the wait: every item of a batch waits for the whole batch, so it is the
                batch's wall time
    item_s      the item's share of that time (`share_batch_time`): the batch's time split
                evenly over its decoding steps, each step shared by the items still generating
                at it; the shares of a batch add up to its wall time

Throughput is items (and generated tokens) over the total wall time.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth.errors import StageError
from synth.paths import MERGED

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class Generation:
    text: str
    output_tokens: int
    latency_s: float  # the wait: a batch's wall time, or a request's round trip
    error: str | None = None
    item_s: float | None = None  # this item's share of its batch's time (None: latency_s)


def share_batch_time(batch_s: float, lengths: list[int]) -> list[float]:
    """Each item's fair share of a batch's wall time, from the tokens each one generated.

    Generation runs max(lengths) steps; the batch's time is spread evenly over them (the
    prompt's prefill rides on the first step, which every item shares), and each step's time
    is split between the items still generating at it. An item that stops early stops
    paying; the shares add up to `batch_s`. Lengths of 0 count as 1 (a step was run for it).
    """
    if not lengths:
        return []
    steps = [max(n, 1) for n in lengths]
    per_step = batch_s / max(steps)
    # alive[k]: how many items generate at step k
    alive = [sum(1 for n in steps if n > k) for k in range(max(steps))]
    return [per_step * sum(1 / alive[k] for k in range(n)) for n in steps]


@dataclass
class GenerationRun:
    generations: list[Generation]
    wall_s: float  # generation only: loading and warm-up are not counted
    source: dict[str, Any]  # what answered: kind, path or endpoint, device, hardware


def resolve_student(student_dir: Path) -> tuple[str, Path]:
    """("merged" | "adapter" | "full", the folder to load)."""
    if (student_dir / MERGED / "config.json").exists():
        return "merged", student_dir / MERGED
    if (student_dir / "adapter_config.json").exists():
        return "adapter", student_dir
    if (student_dir / "config.json").exists():
        return "full", student_dir
    raise StageError(f"{student_dir}: no student model there yet: run distill train first")


def _adapter_base(student_dir: Path) -> str:
    cfg = json.loads((student_dir / "adapter_config.json").read_text(encoding="utf-8"))
    base = cfg.get("base_model_name_or_path")
    if not base:
        raise StageError(
            f"{student_dir}/adapter_config.json: no base_model_name_or_path: retrain the student"
        )
    # a relative base (the tiny student's base/) is relative to the student folder
    local = student_dir / base
    return str(local) if not Path(base).is_absolute() and local.exists() else base


def pick_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def hardware_name(device: str) -> str:
    import os

    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    if device == "mps":
        return "Apple GPU (mps)"
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def load_student(student_dir: Path, device: str = "auto") -> tuple[Any, Any, dict[str, Any]]:
    """(model, tokenizer, source) ready for generation, in eval mode on `device`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kind, path = resolve_student(student_dir)
    device = pick_device(device)
    dtype = torch.float32
    if device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    source: dict[str, Any] = {
        "kind": kind,
        "path": str(path),
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
    }
    # transformers draws a "Loading weights" tqdm bar per load: not ours to show
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if kind == "adapter":
        from peft import PeftModel

        base = _adapter_base(student_dir)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", FutureWarning
            )  # peft reads a deprecated transformers flag
            model = PeftModel.from_pretrained(model, str(student_dir)).merge_and_unload()
        source["base_model"] = base
    else:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    # the training stage saves the tokenizer (with its chat template) beside the weights
    tok_dir = path if (path / "tokenizer_config.json").exists() else student_dir
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    if not tokenizer.chat_template:
        raise StageError(
            f"{tok_dir}: the student's tokenizer has no chat template: retrain the student"
        )
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = model.to(device)  # type: ignore[arg-type]  # a device string is what it takes
    model.eval()
    source["hardware"] = hardware_name(device)
    return model, tokenizer, source


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[list[dict[str, str]]],
    *,
    max_new_tokens: int,
    batch_size: int,
    progress: Progress | None = None,
) -> tuple[list[Generation], float]:
    """Greedy answers to `prompts` (chat messages without the answer), in order; and the wall time."""
    import torch
    from transformers import GenerationConfig

    texts = [
        tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
        for p in prompts
    ]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    eos = tokenizer.eos_token_id
    gen_cfg = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
    )
    device = next(model.parameters()).device

    def run(batch_texts: list[str], config: Any = gen_cfg) -> Any:
        enc = tokenizer(
            batch_texts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(device)
        with torch.inference_mode():
            out = model.generate(**enc, generation_config=config)
        return out[:, enc["input_ids"].shape[1] :]

    if texts:
        # warm-up on a full batch, a few tokens: first-call costs (kernel selection for these
        # shapes, allocator growth) are not the student's latency
        warm = GenerationConfig(
            max_new_tokens=2, do_sample=False, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id
        )
        run([texts[i] for i in order[:batch_size]], warm)
        if device.type == "cuda":
            torch.cuda.synchronize()

    results: list[Generation | None] = [None] * len(texts)
    started = time.perf_counter()
    done = 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        t0 = time.perf_counter()
        new = run([texts[i] for i in idx])
        if device.type == "cuda":
            torch.cuda.synchronize()
        latency = time.perf_counter() - t0
        answers = []
        for row in new.tolist():
            n = len(row)
            if eos is not None and eos in row:
                n = row.index(eos) + 1  # the end-of-turn token is generated too
            elif tokenizer.pad_token_id is not None and tokenizer.pad_token_id in row:
                n = row.index(tokenizer.pad_token_id)
            answers.append((tokenizer.decode(row[:n], skip_special_tokens=True).strip(), n))
        shares = share_batch_time(latency, [n for _, n in answers])
        for (text, n), share, i in zip(answers, shares, idx, strict=True):
            results[i] = Generation(text=text, output_tokens=n, latency_s=latency, item_s=share)
        done += len(idx)
        if progress is not None:
            progress(done, len(texts))
    wall = time.perf_counter() - started
    return [g for g in results if g is not None], wall


def generate_local(
    student_dir: Path,
    prompts: list[list[dict[str, str]]],
    *,
    max_new_tokens: int,
    batch_size: int,
    device: str = "auto",
    progress: Progress | None = None,
) -> GenerationRun:
    model, tokenizer, source = load_student(student_dir, device)
    generations, wall = generate(
        model,
        tokenizer,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        progress=progress,
    )
    source["batch_size"] = batch_size
    return GenerationRun(generations=generations, wall_s=wall, source=source)
