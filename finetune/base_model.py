"""The student's base model: a Hugging Face name, a local folder, or a tiny one built from the
dataset; loaded with its tokenizer in the precision training wants."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synth.errors import ConfigError
from synth.student_config import StudentConfig

if TYPE_CHECKING:
    from synth.config import RunConfig


def resolve_base_model(name: str, base_dir: Path) -> str:
    """A local folder (relative to the config) if there is one, else a Hub name; a ConfigError
    names what is wrong with a path that does not exist."""
    candidate = (base_dir / Path(name).expanduser()).resolve()
    if candidate.is_dir():
        if not (candidate / "config.json").exists():
            raise ConfigError(
                f"student.base_model: {candidate} has no config.json: point it at a model folder"
            )
        return str(candidate)
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or candidate.exists()
    if looks_like_path:
        raise ConfigError(f"student.base_model: {candidate}: no such model folder (check the path)")
    return name


def prepare_base(cfg: RunConfig, s: StudentConfig, splits: Any, student_dir: Path) -> str:
    if not s.is_tiny:
        return resolve_base_model(s.base_model, cfg.base_dir)
    from finetune.tiny import build_tiny_student, texts_of

    spec = s.tiny_spec
    base = student_dir / "base"
    marker = base / "tiny_spec.json"
    wanted = {**spec.model_dump(), "seed": s.seed}
    if not (marker.exists() and json.loads(marker.read_text()) == wanted):
        train_rows = splits["train"].select(range(min(spec.texts, len(splits["train"]))))
        build_tiny_student(
            base,
            texts_of(train_rows),
            vocab_size=spec.vocab_size,
            hidden_size=spec.hidden_size,
            layers=spec.layers,
            heads=spec.heads,
            intermediate_size=spec.intermediate_size,
            max_position_embeddings=spec.max_position_embeddings,
            seed=s.seed,
        )
        marker.write_text(json.dumps(wanted, indent=2) + "\n")
    return str(base)


def load_model(base: str, s: StudentConfig, precision: str) -> tuple[Any, Any, str, list[str]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finetune.chat_template import choose_loss_mode

    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError) as e:
        raise ConfigError(f"student.base_model: cannot load {base!r}: {first_line(e)}") from None
    loss_mode, added = choose_loss_mode(tokenizer)

    # LoRA keeps the frozen base in the training precision (half the memory); a full fine-tune
    # keeps fp32 master weights and computes in bf16/fp16 under autocast.
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    dtype = half if (half is not None and not s.full_finetune) else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if s.attn_implementation:
        kwargs["attn_implementation"] = s.attn_implementation
    if s.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=half or torch.bfloat16,
        )
        # each process of a multi-GPU launch holds its own copy on its own GPU
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    try:
        model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    except (OSError, ValueError) as e:
        raise ConfigError(f"student.base_model: cannot load {base!r}: {first_line(e)}") from None
    if added:
        model.resize_token_embeddings(len(tokenizer))
    eos = tokenizer.eos_token_id
    model.generation_config.eos_token_id = eos
    model.config.eos_token_id = eos
    return tokenizer, model, loss_mode, added


def first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
