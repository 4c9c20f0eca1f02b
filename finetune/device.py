"""Where training runs and in what precision: the `auto` choices, and the checks that say no early."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from synth.errors import ConfigError, DependencyError


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda" or "cpu"
    name: str  # "NVIDIA H100 80GB HBM3", "CPU (2 cores)"
    bf16: bool  # whether the device computes in bfloat16 natively
    count: int  # GPUs visible (1 for CPU)


def detect() -> Hardware:
    import torch

    if torch.cuda.is_available():
        return Hardware(
            device="cuda",
            name=torch.cuda.get_device_name(0),
            bf16=torch.cuda.is_bf16_supported(),
            count=torch.cuda.device_count(),
        )
    return Hardware(
        device="cpu",
        name=f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)",
        bf16=False,
        count=1,
    )


def resolve_precision(precision: str, hw: Hardware) -> str:
    """auto: bf16 on a GPU that has it, fp16 on an older GPU, fp32 on CPU (CPU autocast is slower there)."""
    if precision == "auto":
        if hw.device == "cuda":
            return "bf16" if hw.bf16 else "fp16"
        return "fp32"
    if precision == "fp16" and hw.device != "cuda":
        raise ConfigError("student.precision: fp16 needs a CUDA GPU: use auto or fp32 on CPU")
    if precision == "bf16" and hw.device == "cuda" and not hw.bf16:
        raise ConfigError(f"student.precision: {hw.name} has no bf16: use fp16 or auto")
    return precision


def check_4bit(hw: Hardware) -> None:
    """QLoRA needs bitsandbytes and a CUDA GPU; say which is missing before anything loads."""
    if hw.device != "cuda":
        raise ConfigError(
            "student.load_in_4bit needs a CUDA GPU (none found): set load_in_4bit: false to train on CPU"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise DependencyError("student.load_in_4bit needs bitsandbytes: pip install bitsandbytes")


def liger_available(hw: Hardware) -> bool:
    return hw.device == "cuda" and importlib.util.find_spec("liger_kernel") is not None


def resolve_liger(use_liger: str | bool, hw: Hardware) -> bool:
    if use_liger == "auto":
        return liger_available(hw)
    if use_liger and not liger_available(hw):
        need = "a CUDA GPU" if hw.device != "cuda" else "liger-kernel (pip install liger-kernel)"
        raise DependencyError(f"student.use_liger needs {need}: set use_liger: auto")
    return bool(use_liger)
