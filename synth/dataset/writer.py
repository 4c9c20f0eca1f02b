"""Write a `DatasetDict` in `save_to_disk`'s layout in one pass over the rows, and export JSONL.

`Dataset.from_generator` followed by `save_to_disk` writes every row twice and reads the first
copy back through a memory map, and the pages a process reads through a map count as its
memory: about 0.8 GB of RSS for a million rows. Here each split gets the library's own
`ArrowWriter` (the one `save_to_disk` uses), each row goes straight to its split's shard, and
the two small files `save_to_disk` puts beside the data (state.json, dataset_info.json) come
from the library's `DatasetInfo`. `load_from_disk` reads the folder like any saved dataset.

    out/dataset_dict.json                      {"splits": ["train", "validation", "test"]}
    out/train/data-00000-of-00002.arrow        shards of at most `datasets.config.MAX_SHARD_SIZE`
    out/train/state.json, dataset_info.json

The JSONL exports read the Arrow streams back in batches through `pyarrow.OSFile` (plain reads,
nothing mapped), so they hold the values exactly as `load_from_disk` returns them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

BATCH_ROWS = 1000  # rows per Arrow record batch; the shard's size is checked after each


class _SplitWriter:
    def __init__(self, folder: Path, features: Any, max_shard_bytes: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.features = features
        self.max_shard_bytes = max_shard_bytes
        self.shards: list[Path] = []
        self._writer: Any = None
        self._since_check = 0

    def _open(self) -> None:
        from datasets.arrow_writer import ArrowWriter

        path = self.folder / f".shard-{len(self.shards):05d}.arrow"
        self.shards.append(path)
        self._writer = ArrowWriter(
            features=self.features, path=str(path), writer_batch_size=BATCH_ROWS
        )

    def add(self, row: dict[str, Any]) -> None:
        if self._writer is None:
            self._open()
        self._writer.write(row)
        self._since_check += 1
        if self._since_check >= BATCH_ROWS:  # the batch is on disk now: is the shard full?
            self._since_check = 0
            if self.shards[-1].stat().st_size >= self.max_shard_bytes:
                self._writer.finalize()
                self._writer = None

    def close(self, split: str) -> list[Path]:
        """Finish the shards (one, with the schema only, when the split is empty), name them
        as `save_to_disk` does and write its state.json and dataset_info.json."""
        from datasets import DatasetInfo, config

        if self._writer is None and not self.shards:
            self._open()
        if self._writer is not None:
            self._writer.finalize()
            self._writer = None
        n = len(self.shards)
        final = [self.folder / f"data-{i:05d}-of-{n:05d}.arrow" for i in range(n)]
        fingerprint = hashlib.blake2b(split.encode(), digest_size=8)
        for tmp, path in zip(self.shards, final, strict=True):
            os.replace(tmp, path)
            with path.open("rb") as f:  # read(), not mapped: these pages are not our memory
                while chunk := f.read(1 << 20):
                    fingerprint.update(chunk)
        state: dict[str, Any] = {
            "_data_files": [{"filename": p.name} for p in final],
            "_fingerprint": fingerprint.hexdigest(),  # the content's: same rows, same print
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": split,
        }
        info = asdict(DatasetInfo(features=self.features))
        with (self.folder / config.DATASET_STATE_JSON_FILENAME).open("w", encoding="utf-8") as f:
            json.dump(state, f, indent=2, sort_keys=True)
        with (self.folder / config.DATASET_INFO_FILENAME).open("w", encoding="utf-8") as f:
            json.dump({k: info[k] for k in sorted(info)}, f, indent=2)
        self.shards = final
        return final


class DatasetDictWriter:
    """`add(split, row)` for every row, then `close()`; rows must match `features`."""

    def __init__(self, out: Path, features: Any, splits: Sequence[str]) -> None:
        from datasets import config
        from datasets.utils.py_utils import convert_file_size_to_int

        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.splits = list(splits)
        max_bytes = convert_file_size_to_int(config.MAX_SHARD_SIZE)
        self._writers = {s: _SplitWriter(out / s, features, max_bytes) for s in self.splits}

    def add(self, split: str, row: dict[str, Any]) -> None:
        self._writers[split].add(row)

    def close(self) -> dict[str, list[Path]]:
        """Finish every split; returns each split's Arrow shards, in order."""
        from datasets import config

        shards = {s: w.close(s) for s, w in self._writers.items()}
        with (self.out / config.DATASETDICT_JSON_FILENAME).open("w", encoding="utf-8") as f:
            json.dump({"splits": self.splits}, f)
        return shards


def export_jsonl(shards: Sequence[Path], path: Path) -> None:
    """The rows of `shards` (one split), one JSON object a line, as `load_from_disk` reads them."""
    import pyarrow as pa

    with path.open("w", encoding="utf-8") as out:
        for shard in shards:
            with pa.OSFile(str(shard)) as source:
                for batch in pa.ipc.open_stream(source):
                    for row in batch.to_pylist():
                        out.write(json.dumps(row, ensure_ascii=False) + "\n")
