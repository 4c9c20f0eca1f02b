"""The built dataset, as the trainer wants it: conversational `messages`, train/validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synth.errors import StageError


def load_splits(dataset_dir: str | Path) -> Any:
    """The `DatasetDict` that `distill build` saved; a StageError names the fix when absent."""
    from datasets import DatasetDict, load_from_disk

    path = Path(dataset_dir)
    if not (path / "dataset_dict.json").exists():
        raise StageError(f"{path}: no built dataset here: run `distill build CONFIG` first")
    splits = load_from_disk(str(path))
    if not isinstance(splits, DatasetDict) or "train" not in splits:
        raise StageError(
            f"{path}: the dataset has no train split: run `distill build CONFIG` again"
        )
    if "messages" not in splits["train"].column_names:
        raise StageError(
            f"{path}: rows have no `messages` column: run `distill build CONFIG` again"
        )
    if len(splits["train"]) == 0:
        raise StageError(
            f"{path}: the train split is empty: every item was filtered out (see the filter report)"
        )
    return splits


def conversations(split: Any) -> Any:
    """Only the `messages` column: the other columns (labels, costs, ...) are for the eval stage."""
    return split.select_columns(["messages"])
