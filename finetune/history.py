"""The loss curve that `training_summary.json` carries, from the trainer's log history.

transformers' `TrainerState.log_history` is a list of dicts, one per log event:

    {"loss": 2.31, "learning_rate": ..., "epoch": 0.1, "step": 10}     training loss, every
                                                                        `logging_steps`
    {"eval_loss": 2.05, "eval_runtime": ..., "epoch": 0.2, "step": 20}  validation loss, every
                                                                        `eval_steps` (when the
                                                                        dataset has a
                                                                        validation split)
    {"train_runtime": ..., "train_loss": ..., "step": 100}              the end of training

`loss_curve` keeps the first two as [step, loss] pairs, at most `most` points each (a long
run's curve thinned evenly, its first and last points kept), so that the report can draw it.
"""

from __future__ import annotations

import math
from typing import Any

MOST_POINTS = 1000


def _thin(points: list[list[float]], most: int) -> list[list[float]]:
    if len(points) <= most:
        return points
    step = (len(points) - 1) / (most - 1)
    return [points[round(i * step)] for i in range(most)]


def loss_curve(log_history: list[dict[str, Any]], most: int = MOST_POINTS) -> dict[str, Any]:
    """{"train": [[step, loss], ...], "validation": [[step, eval_loss], ...]}; a NaN or
    infinite loss (a diverged step) is left out of the curve."""
    train: list[list[float]] = []
    validation: list[list[float]] = []
    for entry in log_history:
        step = entry.get("step")
        if step is None:
            continue
        for key, points in (("loss", train), ("eval_loss", validation)):
            value = entry.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                points.append([int(step), float(value)])
    return {"train": _thin(train, most), "validation": _thin(validation, most)}
