"""Merge a LoRA adapter into its base: a plain transformers model folder (vLLM serves it too)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from synth.errors import StageError


def merge_adapter(student_dir: str | Path, out_dir: str | Path) -> Path:
    """Load `student_dir` (an adapter saved by `distill train`) over its base, merge, save to `out_dir`.

    The base is loaded again in its own dtype (not the 4-bit or training copy), so the merged
    weights are exact; the tokenizer and its chat template are copied along.
    """
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its "Loading weights" bar is not ours to show

    src, out = Path(student_dir), Path(out_dir)
    if not (src / "adapter_config.json").exists():
        raise StageError(
            f"{src}: no LoRA adapter here (adapter_config.json): run `distill train CONFIG` first"
        )
    base = json.loads((src / "adapter_config.json").read_text()).get("base_model_name_or_path")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft reads a deprecated transformers flag
        model = AutoPeftModelForCausalLM.from_pretrained(str(src), dtype="auto")
    merged = model.merge_and_unload()
    # peft leaves the adapter's name on the config; the merged model is a plain one
    merged.config.name_or_path = str(out)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(str(out))
    (out / "merged_from.json").write_text(
        json.dumps({"adapter": str(src), "base_model": base}, indent=2) + "\n"
    )
    return out
