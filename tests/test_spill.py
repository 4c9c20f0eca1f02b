"""The build's on-disk structures give back exactly what was put in, across their flushes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.dataset.spill import Columns, FixedRows, KeyIndex, as_int64


def test_fixed_rows_read_back_in_any_order_with_repeats(tmp_path: Path) -> None:
    rows = FixedRows(tmp_path / "sigs", 4)
    data = np.arange(40, dtype=np.uint32).reshape(10, 4) * 3
    for r in data:
        rows.append(r)
    assert rows.read(np.array([7, 0, 7, 3])).tolist() == data[[7, 0, 7, 3]].tolist()
    rows.append(np.full(4, 99, dtype=np.uint32))  # read straight after a write: flushed first
    assert rows.read_one(10).tolist() == [99] * 4
    assert rows.read(np.array([], dtype=np.int64)).shape == (0, 4)
    rows.close()


def test_columns_keep_row_order_across_blocks(tmp_path: Path) -> None:
    cols = Columns(tmp_path / "cols", ["id", "band0"])
    cols.BLOCK = 7  # several flushes, and a partial block at the end
    for i in range(30):
        cols.append([i, as_int64((1 << 64) - 1 - i)])
    assert cols.column("id").tolist() == list(range(30))
    cols.close()
    assert cols.column("band0").view(np.uint64).tolist() == [(1 << 64) - 1 - i for i in range(30)]


def test_key_index_finds_keys_in_memory_and_on_disk_and_keeps_the_first_value(
    tmp_path: Path,
) -> None:
    index = KeyIndex(tmp_path / "kv.sqlite")
    index.FLUSH_EVERY = 10
    keys = [(i * 0x9E3779B97F4A7C15) % (1 << 64) for i in range(1, 36)]  # half of them >= 2**63
    assert any(k >= 1 << 63 for k in keys) and any(k < 1 << 63 for k in keys)
    for value, k in enumerate(keys):
        assert index.get(k) is None
        index.add(k, value)
    assert index._stored and index._recent  # some in SQLite, the last few still in the dict
    assert index.get_many(keys) == list(range(len(keys)))
    index.add(keys[0], 1000)  # first writer wins, in memory and after a flush
    index.flush()
    assert index.get(keys[0]) == 0
    assert index.get_many([12345, keys[-1]]) == [None, len(keys) - 1]
    index.close()
