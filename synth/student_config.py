"""The `student:` section of the run config. No torch here: the harvest imports this.

    student:
      base_model: Qwen/Qwen2.5-0.5B-Instruct   # a Hugging Face name, a local folder, or "tiny"
      lora: {r: 16, alpha: 32}                  # LoRA on every linear layer by default
      epochs: 2
      learning_rate: 2.0e-4
      merge: true                               # the default: also write <run>/student/merged/

`base_model: tiny` builds a small random-init Llama-style model with a byte-level BPE tokenizer
trained on the run's own dataset (see `tiny:`), for tests and the offline demo. Such a model
knows nothing yet, so it wants `full_finetune: true` (or LoRA with
`modules_to_save: [embed_tokens, lm_head]`): LoRA alone on random weights learns little.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from synth.config_base import Strict

TINY = "tiny"


class LoraSpec(Strict):
    """PEFT `LoraConfig` for the adapter (ignored with `full_finetune: true`)."""

    r: int = Field(default=16, ge=1, le=1024, description="rank of the low-rank update")
    alpha: int = Field(
        default=32, gt=0, description="scaling: the update is multiplied by alpha / r"
    )
    dropout: float = Field(default=0.05, ge=0, lt=1, description="dropout on the adapter's input")
    target_modules: str | list[str] = Field(
        default="all-linear",
        description='"all-linear" (every linear layer but the output head) or module names, e.g. [q_proj, v_proj]',
    )
    modules_to_save: list[str] | None = Field(
        default=None,
        description="modules trained in full and saved with the adapter, e.g. [embed_tokens, lm_head]",
    )


class TinySpec(Strict):
    """Shape of the local tiny student built when `base_model: tiny`.

    The defaults are what the support-tickets demo was tuned with (about 4M parameters: it learns
    a 12-label triage from ~1,200 examples in about 100 s on 2 CPU cores). A larger vocabulary
    keeps whole words as single tokens, which a random-init model generalises from faster.
    """

    vocab_size: int = Field(
        default=4096,
        ge=300,
        le=65536,
        description="byte-level BPE vocabulary (256 bytes + merges + specials)",
    )
    hidden_size: int = Field(default=256, ge=16, le=4096, description="width of the model")
    layers: int = Field(default=2, ge=1, le=64, description="transformer blocks")
    heads: int = Field(
        default=4, ge=1, le=64, description="attention heads (must divide hidden_size)"
    )
    intermediate_size: int | None = Field(
        default=None, ge=16, description="MLP width (default 4 x hidden_size)"
    )
    max_position_embeddings: int = Field(
        default=1024, ge=64, description="longest sequence the model accepts"
    )
    texts: int = Field(
        default=5000, ge=1, description="dataset rows whose text trains the tokenizer, at most"
    )

    @model_validator(mode="after")
    def _heads_divide(self) -> TinySpec:
        if self.hidden_size % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide hidden_size ({self.hidden_size})")
        return self


class DistillSpec(Strict):
    """What the student learns from each answer (see finetune.distill_loss, token_distill).

    hard: cross-entropy on the teacher's answer text. soft: KL(teacher || student) from the
    teacher's top-K log-probabilities (`teacher.logprobs: K`): over the template's labels
    (read into the dataset's `teacher_dist`; rows without one use their hard label), or, for a
    template without labels, per answer token (the dataset's `logprobs` aligned to the
    student's tokens; tokens without a target use cross-entropy). mix:
    alpha * T^2 * KL + (1 - alpha) * cross-entropy.
    """

    loss: Literal["hard", "soft", "mix"] = Field(
        default="hard",
        description="hard labels, soft labels (the teacher's distribution over labels, or its top-K per answer token), or a mix",
    )
    alpha: float = Field(
        default=0.5, ge=0, le=1, description="mix: the weight of the soft (KL) term"
    )
    temperature: float = Field(
        default=1.0, gt=0, description="softens both distributions before the KL (scaled by T^2)"
    )


class StudentConfig(Strict):
    """The student and how it is trained (TRL `SFTTrainer` + PEFT LoRA)."""

    base_model: str = Field(
        description='a Hugging Face model name, a local model folder (relative to the config), or "tiny"'
    )
    tiny: TinySpec | None = Field(
        default=None, description='shape of the tiny student; only with base_model: "tiny"'
    )
    lora: LoraSpec = Field(
        default_factory=lambda: LoraSpec(), description="the adapter (ignored with full_finetune)"
    )
    full_finetune: bool = Field(
        default=False,
        description="train every weight instead of a LoRA adapter (what a random-init tiny student needs)",
    )
    epochs: float = Field(
        default=3.0, gt=0, description="passes over the training split (max_steps wins when set)"
    )
    max_steps: int | None = Field(
        default=None, ge=1, description="stop after this many optimizer steps"
    )
    learning_rate: float = Field(default=2e-4, gt=0, le=1, description="peak learning rate (AdamW)")
    lr_scheduler: str = Field(
        default="cosine",
        description="transformers scheduler name: linear, cosine, constant, constant_with_warmup, ...",
    )
    warmup_ratio: float = Field(
        default=0.03, ge=0, lt=1, description="fraction of the steps spent warming up"
    )
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay")
    batch_size: int = Field(default=8, ge=1, description="sequences per device per step")
    grad_accum: int = Field(default=1, ge=1, description="gradient accumulation steps")
    max_length: int = Field(
        default=1024, ge=8, description="tokens per sequence (truncation; block size when packing)"
    )
    packing: bool = Field(
        default=False,
        description="padding-free packing: a batch is one flat sequence with no pad tokens (best with flash attention on GPU)",
    )
    seed: int = Field(default=0, description="seed for initialisation, shuffling and dropout")
    report_to: Literal["none", "wandb", "tensorboard", "trackio"] = Field(
        default="none",
        description="where transformers logs the training curves (its package must be installed)",
    )
    merge: bool = Field(
        default=True,
        description="also write <run>/student/merged/: the adapter merged into the base (what predict, eval, export and vLLM load); false keeps the adapter alone",
    )
    push_to_hub: bool = Field(
        default=False,
        description="after distill train, push the merged model (or the adapter) with its model card to the Hub; the token is read from $HF_TOKEN",
    )
    hub_model_id: str | None = Field(
        default=None,
        description='the Hub repo to push to, "owner/name" (needed with push_to_hub)',
    )
    hub_private: bool = Field(
        default=True,
        description="create the Hub repo private (it holds what the teacher taught)",
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        default="auto",
        description="auto: bf16 on a GPU that has it, fp16 on other GPUs, fp32 on CPU",
    )
    gradient_checkpointing: bool = Field(
        default=False,
        description="recompute activations in the backward pass: less memory, about 20% slower",
    )
    load_in_4bit: bool = Field(
        default=False,
        description="QLoRA: load the base in 4 bits (needs a CUDA GPU and bitsandbytes)",
    )
    eval_steps: float | None = Field(
        default=0.2,
        gt=0,
        description="evaluate on the validation split every N steps (a number below 1 is a fraction of all steps)",
    )
    save_steps: float | None = Field(
        default=None,
        gt=0,
        description="checkpoint every N steps (default: eval_steps, so the best checkpoint can be kept)",
    )
    logging_steps: float = Field(
        default=10, gt=0, description="log the training loss every N steps"
    )
    use_liger: Literal["auto", True, False] = Field(
        default="auto",
        description="Liger Triton kernels: auto = on a CUDA GPU where liger-kernel is installed",
    )
    attn_implementation: str | None = Field(
        default=None,
        description="eager, sdpa, flash_attention_2, ... (default: transformers' choice)",
    )
    sft_overrides: dict[str, Any] = Field(
        default_factory=dict, description="any other trl.SFTConfig field, passed through as is"
    )
    distill: DistillSpec = Field(
        default_factory=lambda: DistillSpec(),
        description="hard, soft or mixed labels: soft ones need teacher.logprobs (over output.labels, or per token for free text)",
    )

    @model_validator(mode="after")
    def _coherent(self) -> StudentConfig:
        if self.tiny is not None and self.base_model != TINY:
            raise ValueError('tiny: is only read with base_model: "tiny"')
        if self.distill.loss != "hard" and self.packing:
            raise ValueError(
                f"distill.loss: {self.distill.loss} scores each row's labels after its prompt: "
                "set packing: false"
            )
        if self.push_to_hub and (
            self.hub_model_id is None or not re.fullmatch(r"[\w.-]+/[\w.-]+", self.hub_model_id)
        ):
            raise ValueError(
                'push_to_hub needs hub_model_id: "owner/name" (your user or organisation, then the repo)'
            )
        if self.load_in_4bit and self.full_finetune:
            raise ValueError(
                "load_in_4bit trains a LoRA adapter over a frozen 4-bit base: drop full_finetune"
            )
        return self

    @property
    def is_tiny(self) -> bool:
        return self.base_model == TINY

    @property
    def tiny_spec(self) -> TinySpec:
        return self.tiny or TinySpec()

    @property
    def method(self) -> str:
        """What is trained, in words for the summary: full / lora / lora+modules_to_save."""
        if self.full_finetune:
            return "full"
        return "lora+modules_to_save" if self.lora.modules_to_save else "lora"
