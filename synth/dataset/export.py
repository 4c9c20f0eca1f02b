"""`distill export CONFIG --format openai|gguf`: the run's work in other tools' formats.

    openai   <run>/export/openai/{train,validation}.jsonl: one `{"messages": [...]}` a line,
             roles and contents only, exactly the conversations the student was trained on
             (the built dataset's, so `dataset.system_prompt: false` drops the system turn here
             too), for hosted fine-tuning (OpenAI's and the services that read its format)
    gguf     not built in: llama.cpp's converter is not on PyPI (see GGUF_HELP)

The test split stays out: it is what `distill eval` holds back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from synth.errors import DependencyError, StageError

if TYPE_CHECKING:
    from synth.config import RunConfig

FORMATS = ("openai", "gguf")
SPLITS = ("train", "validation")

# the `gguf` package on PyPI writes and reads the file format, but the Hugging Face → GGUF
# converter (convert_hf_to_gguf.py) ships only in llama.cpp's source tree
GGUF_HELP = (
    "--format gguf needs llama.cpp's converter, which is not on PyPI (the gguf package there "
    "has the file format only): get llama.cpp's source, pip install -r its "
    "requirements/requirements-convert_hf_to_gguf.txt, and run "
    "`python convert_hf_to_gguf.py {model} --outfile student.gguf`"
)


@dataclass
class Exported:
    format: str
    files: dict[str, tuple[Path, int]]  # split → (file, lines)

    def describe(self) -> str:
        return "\n".join(
            f"{split}: {path}  ({n:,} conversations)" for split, (path, n) in self.files.items()
        )


def export(cfg: RunConfig, fmt: str, out_dir: Path | None = None) -> Exported:
    if fmt == "gguf":
        model = cfg.paths.merged if cfg.paths.merged.exists() else cfg.paths.student
        raise DependencyError(GGUF_HELP.format(model=model))
    if fmt != "openai":
        raise StageError(f"--format {fmt}: not a format (choose from {', '.join(FORMATS)})")
    return export_openai(cfg, out_dir or cfg.paths.export("openai"))


def export_openai(cfg: RunConfig, out_dir: Path) -> Exported:
    dataset = cfg.paths.dataset
    if not (dataset / "dataset_dict.json").exists():
        raise StageError(f"{dataset}: no dataset yet: run `distill build {cfg.config_path}` first")
    from datasets import load_from_disk

    splits = load_from_disk(str(dataset))
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[Path, int]] = {}
    for split in SPLITS:
        if split not in splits or not len(splits[split]):
            continue
        path = out_dir / f"{split}.jsonl"
        n = 0
        with path.open("w", encoding="utf-8") as f:
            for messages in splits[split]["messages"]:
                turns = [{"role": m["role"], "content": m["content"]} for m in messages]
                f.write(json.dumps({"messages": turns}, ensure_ascii=False) + "\n")
                n += 1
        files[split] = (path, n)
    return Exported("openai", files)
