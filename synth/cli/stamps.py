"""What `distill run` reads to skip a stage: <run>/stamps/<stage>.json, the fingerprint of
what the stage's output was made from (the stage before it and its own config section).

`distill run` writes a stamp after each stage it runs, and so do `distill harvest`, `build`,
`train` and `eval`, so that a `distill run` after them skips what they made. Light: the
harvest verb imports it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synth.config import RunConfig
from synth.journal import queries
from synth.journal.store import Journal
from synth.templates import find_template


def _digest(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _inputs_digest(cfg: RunConfig) -> str:
    """The inputs file's bytes; an hf: dataset by its name, split and column mapping."""
    inputs = cfg.input_file
    source = str(inputs)
    if source.startswith("hf:") and not Path(source[3:]).is_file():
        return _digest(source, cfg.input_split, json.dumps(cfg.input_columns, sort_keys=True))
    if not cfg.input_columns:
        return _file_digest(inputs)
    return _digest(_file_digest(inputs), json.dumps(cfg.input_columns, sort_keys=True))


def _section(cfg: RunConfig, name: str) -> Any:
    value = getattr(cfg, name)
    if isinstance(value, list):
        return [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _journal_digest(cfg: RunConfig) -> str:
    with Journal(cfg.journal_path, readonly=True) as j:
        return _digest(*queries.digest(j))


class Stamps:
    """<run>/stamps/<stage>.json: the fingerprint a stage's output was made from."""

    def __init__(self, stamps_dir: Path) -> None:
        self.dir = stamps_dir

    def read(self, stage: str) -> str | None:
        try:
            return json.loads((self.dir / f"{stage}.json").read_text())["fingerprint"]
        except (FileNotFoundError, KeyError, json.JSONDecodeError):
            return None

    def write(self, stage: str, fingerprint: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / f"{stage}.json").write_text(
            json.dumps({"fingerprint": fingerprint, "at": time.time()})
        )


def fingerprints(cfg: RunConfig, stamps: Stamps) -> dict[str, Callable[[], str]]:
    """What each stage depends on, computed lazily (after the stage before it ran)."""

    def harvest() -> str:
        return _digest(
            _inputs_digest(cfg),
            _file_digest(find_template(cfg.template, cfg.base_dir)),
            _section(cfg, "teacher"),
            str(cfg.budget_usd),
        )

    def build() -> str:
        return _digest(
            _journal_digest(cfg),
            _section(cfg, "filters"),
            _section(cfg, "dataset"),
            _file_digest(find_template(cfg.template, cfg.base_dir)),
        )

    def train() -> str:
        return _digest(stamps.read("build"), _section(cfg, "student"))

    def evaluate() -> str:
        return _digest(stamps.read("train"), _section(cfg, "eval"))

    return {"harvest": harvest, "build": build, "train": train, "eval": evaluate}


def record_stage(cfg: RunConfig, stage: str) -> None:
    """Stamp a stage a verb has just completed, as `distill run` would have."""
    stamps = Stamps(cfg.paths.stamps)
    stamps.write(stage, fingerprints(cfg, stamps)[stage]())
