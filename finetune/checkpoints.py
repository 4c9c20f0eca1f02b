"""Checkpoints under `<run>/student/checkpoints/`: which one to resume from, and the fingerprint
of the student fields that make old checkpoints useless when they change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synth.errors import ConfigError
from synth.student_config import StudentConfig

FINGERPRINT = "student_config.json"
# changing these makes old checkpoints useless; epochs, max_steps, eval/save cadence may change
SHAPE_FIELDS = (
    "base_model",
    "tiny",
    "lora",
    "full_finetune",
    "max_length",
    "packing",
    "load_in_4bit",
)


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest complete checkpoint (a save cut short has no trainer_state.json)."""
    if not ckpt_dir.is_dir():
        return None
    found = [
        p
        for p in ckpt_dir.glob("checkpoint-*")
        if p.is_dir() and (p / "trainer_state.json").exists()
    ]
    return max(found, key=lambda c: step_of(c) or 0, default=None)


def step_of(checkpoint: Path | None) -> int | None:
    if checkpoint is None:
        return None
    tail = checkpoint.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def tokens_in(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return int(state.get("num_input_tokens_seen") or 0)


def fingerprint(s: StudentConfig) -> dict[str, Any]:
    return {k: v for k, v in s.model_dump(mode="json").items() if k in SHAPE_FIELDS}


def check_fingerprint(ckpt_dir: Path, s: StudentConfig, *, resuming: bool) -> None:
    path = ckpt_dir / FINGERPRINT
    if not (resuming and path.exists()):
        return
    old = json.loads(path.read_text())
    new = fingerprint(s)
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if changed:
        raise ConfigError(
            f"student.{changed[0]} changed since the checkpoints in {ckpt_dir} were written: "
            f"delete that folder to start again (or run with --no-resume), or restore the old value"
        )


def write_fingerprint(ckpt_dir: Path, s: StudentConfig) -> None:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    (ckpt_dir / FINGERPRINT).write_text(json.dumps(fingerprint(s), indent=2) + "\n")
