"""The `rounds:` section of the run config: active distillation over an input pool.

No heavy imports here: `distill harvest` imports this module through synth.config.

With `rounds:`, `distill run` does not send `inputs` to the teacher; it draws from `pool`:

    rounds:
      pool: tickets_all.jsonl   # every raw input the user holds (JSONL, one object per line)
      first: 500                # round 1: a random sample, stratified by near-duplicate group
      per_round: 300            # each later round: the items the student is least sure of
      max_rounds: 4
      select: uncertainty       # uncertainty | random (the baseline)
      stop_at_agreement: 0.95   # stop early once the student agrees this often on the test split
      start_from: previous      # round k trains from round k-1's student, or from the base

The test split is fixed by round 1's build and never changes, so rounds are comparable and
no item selected later is tested on. `budget_usd` covers all rounds together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RoundsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool: Path = Field(description="JSONL of every input the teacher may be asked about")
    first: int = Field(ge=1, description="pool items sent in round 1 (random, stratified)")
    per_round: int = Field(ge=1, description="pool items sent in each later round")
    max_rounds: int = Field(2, ge=1, le=100, description="rounds at most, round 1 included")
    select: Literal["uncertainty", "random"] = Field(
        "uncertainty", description="how rounds after the first pick their items"
    )
    stop_at_agreement: float | None = Field(
        None, gt=0, le=1, description="stop once test-split agreement reaches this"
    )
    start_from: Literal["previous", "base"] = Field(
        "previous", description="round k trains from round k-1's student, or from the base model"
    )
    seed: int = Field(0, description="seeds round 1's sample and random selection")
    score_at_most: int | None = Field(
        None,
        ge=1,
        description="score a random sample of this many unsent pool items per round (a large "
        "pool's scoring time); none: score them all",
    )
    score_batch_size: int = Field(64, ge=1, description="pool items the student scores at once")
