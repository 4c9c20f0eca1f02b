"""The input pool of a rounds run: its records, their near-duplicate groups, their prompts
and what each would cost the teacher at worst.

Inputs are hashed and grouped the way the dataset builder does it (the template's fields,
normalised; MinHash LSH at `dataset.group_threshold`), so a pool item's hash is the hash of
its dataset row, and a pool group holds the paraphrases that the build's split keeps together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from synth.config import RunConfig
from synth.dataset.filters.dedup import input_text
from synth.dataset.neardup import band_hashes, digest64, group_ids, lsh_params, signature
from synth.dataset.spill import as_int64
from synth.errors import ConfigError
from synth.harvest.engine import plan as harvest_plan
from synth.harvest.pricing import max_prompt_tokens
from synth.inputs import render_records
from synth.templates import Template, load_template


@dataclass
class Pool:
    lines: np.ndarray  # 1-based line of each item in the pool file
    records: list[dict[str, Any]]
    messages: list[list[dict[str, str]]]  # the teacher's prompt
    hashes: np.ndarray  # int64: the dataset row's input hash
    groups: np.ndarray  # uint64: near-duplicate group
    worst_usd: list[Decimal]  # the most the teacher can bill for the item (every sample)
    template: Template

    def __len__(self) -> int:
        return len(self.records)

    def student_prompt(self, i: int, keep_system: bool) -> list[dict[str, str]]:
        """The prompt turns as the student sees them in training."""
        return [m for m in self.messages[i] if keep_system or m["role"] != "system"]


def load_pool(cfg: RunConfig) -> Pool:
    assert cfg.rounds is not None
    template = load_template(cfg.template, cfg.base_dir)
    p = harvest_plan(cfg)
    if p.max_output_tokens is None and cfg.budget_usd is not None:  # plan() checks this too
        raise ConfigError(f"{cfg.config_path}: teacher.params.max_tokens: needed with rounds")
    lines, records, messages, hashes, worst = [], [], [], [], []
    sigs: list[np.ndarray] = []
    threshold, num_perm = cfg.dataset.group_threshold, cfg.dataset.num_perm
    shape = lsh_params(threshold, num_perm) if threshold else None
    bands: list[list[int]] = []
    samples = cfg.teacher.samples_per_input
    worst_of: dict[int, Decimal] = {}  # by prompt length: pricing each of a big pool is slow
    for line, record, msgs in render_records(cfg.rounds.pool, template):
        text = input_text(record, template.fields or None)
        lines.append(line)
        records.append(record)
        messages.append(msgs)
        hashes.append(as_int64(digest64(text)))
        prompt = max_prompt_tokens(msgs, template.json_schema)
        if prompt not in worst_of:
            worst_of[prompt] = p.price.worst_case(prompt, p.max_output_tokens or 0) * samples
        worst.append(worst_of[prompt])
        if shape is not None:
            sig = signature(text, num_perm)
            sigs.append(sig)
            bands.append([as_int64(h) for h in band_hashes(sig, *shape)])
    ids = np.array(hashes, dtype=np.int64)
    if shape is not None and len(ids):
        band_cols = np.array(bands, dtype=np.int64).T
        sig_rows = np.stack(sigs)
        groups = group_ids(iter(band_cols), ids, lambda rows: sig_rows[rows], threshold or 1.0)
    else:
        groups = ids.view(np.uint64).copy()
    if not records:
        raise ConfigError(f"{cfg.rounds.pool}: rounds.pool: the pool file has no inputs")
    return Pool(np.array(lines), records, messages, ids, groups, worst, template)


def write_inputs(pool: Pool, pool_lines: list[int], path: Path) -> None:
    """The harvest's inputs file: the records of these pool lines, in this order. Written
    whole and swapped in, so a crash leaves the previous file."""
    index = {int(line): i for i, line in enumerate(pool.lines.tolist())}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for line in pool_lines:
            f.write(json.dumps(pool.records[index[line]], ensure_ascii=False) + "\n")
    tmp.replace(path)
