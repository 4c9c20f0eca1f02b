"""Per-row data of a build, kept on disk so that memory stays flat however many rows there are.

- `FixedRows`: fixed-width numpy rows (MinHash signatures) appended to a file and read back by
  row number with `os.pread`. Not memory-mapped: the pages of a mapping that a process has
  read count as its memory (RSS) for as long as the mapping lives.
- `Columns`: one integer per row per column (an input hash, the LSH bands), appended in blocks
  to a file per column and read back one whole column at a time (8 bytes a row, in memory
  only while that column is processed).
- `KeyIndex`: 64-bit key → integer, first writer wins. Recent keys live in a dict; every
  `FLUSH_EVERY` they move to a SQLite table (a B-tree on disk with a bounded page cache), so
  memory stays at the dict's size while lookups stay a few microseconds.
"""

from __future__ import annotations

import os
import sqlite3
from array import array
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_SIGNED = 1 << 63


def as_int64(key: int) -> int:
    """SQLite integers are signed: the same 64 bits, read as a signed number."""
    return key - (1 << 64) if key >= _SIGNED else key


class FixedRows:
    """Rows of `width` values of `dtype`, appended; `read(rows)` returns them in that order."""

    def __init__(self, path: Path, width: int, dtype: type = np.uint32) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.width = width
        self.row_bytes = width * self.dtype.itemsize
        self._file = path.open("w+b")
        self._fd = self._file.fileno()
        self.count = 0
        self._unflushed = False

    def append(self, row: np.ndarray) -> None:
        self._file.write(row.tobytes())
        self.count += 1
        self._unflushed = True

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows numbered `rows` (any order, repeats allowed), as a `len(rows) x width` array."""
        if self._unflushed:
            self._file.flush()
            self._unflushed = False
        uniq, inverse = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
        size = self.row_bytes
        buf = bytearray(len(uniq) * size)
        view = memoryview(buf)
        for i, r in enumerate(uniq.tolist()):
            view[i * size : (i + 1) * size] = os.pread(self._fd, size, r * size)
        out = np.frombuffer(buf, dtype=self.dtype).reshape(len(uniq), self.width)
        return out[inverse.reshape(-1)]

    def read_one(self, row: int) -> np.ndarray:
        return self.read(np.array([row]))[0]

    def close(self) -> None:
        self._file.close()


class Columns:
    """`names` columns of signed 64-bit integers, one value each per row."""

    BLOCK = 65_536  # rows buffered in memory before they go to the column files

    def __init__(self, folder: Path, names: Sequence[str]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.names = list(names)
        self.paths = {name: folder / f"{name}.i64" for name in self.names}
        self._files = {name: self.paths[name].open("wb") for name in self.names}
        self._blocks = [array("q") for _ in self.names]
        self.count = 0

    def append(self, values: Sequence[int]) -> None:
        """One row: a value per column, in `names` order."""
        for block, v in zip(self._blocks, values, strict=True):
            block.append(v)
        self.count += 1
        if len(self._blocks[0]) >= self.BLOCK:
            self._flush()

    def _flush(self) -> None:
        for name, block in zip(self.names, self._blocks, strict=True):
            block.tofile(self._files[name])
            del block[:]

    def column(self, name: str) -> np.ndarray:
        """The whole column, in row order."""
        if not self._files[name].closed:
            self._flush()
            self._files[name].flush()
        return np.fromfile(self.paths[name], dtype=np.int64)

    def close(self) -> None:
        self._flush()
        for f in self._files.values():
            f.close()


class KeyIndex:
    """A 64-bit key → integer map on disk; `add` keeps the first value a key is given."""

    FLUSH_EVERY = 65_536  # dict entries before they move to SQLite

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode = OFF",  # scratch data: a crash discards the whole build anyway
            "synchronous = OFF",
            "locking_mode = EXCLUSIVE",
            "cache_size = -8192",  # 8 MiB of pages, whatever the table's size
            "temp_store = FILE",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("CREATE TABLE IF NOT EXISTS kv (key INTEGER PRIMARY KEY, value INTEGER)")
        self._recent: dict[int, int] = {}
        self._stored = False  # anything in SQLite yet
        self._queries: dict[int, str] = {}

    def get_many(self, keys: Sequence[int]) -> list[int | None]:
        out = [self._recent.get(k) for k in keys]
        if self._stored:
            missing = [k for k, v in zip(keys, out, strict=True) if v is None]
            if missing:
                found = dict(
                    self.db.execute(self._query(len(missing)), list(map(as_int64, missing)))
                )
                for i, k in enumerate(keys):
                    if out[i] is None:
                        out[i] = found.get(as_int64(k))
        return out

    def get(self, key: int) -> int | None:
        return self.get_many([key])[0]

    def add(self, key: int, value: int) -> None:
        """Callers add a key only after `get` found nothing for it."""
        self._recent.setdefault(key, value)
        if len(self._recent) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self._recent:
            return
        rows = sorted((as_int64(k), v) for k, v in self._recent.items())  # B-tree order
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR IGNORE INTO kv (key, value) VALUES (?, ?)", rows)
        self.db.execute("COMMIT")
        self._recent.clear()
        self._stored = True

    def _query(self, n: int) -> str:
        q = self._queries.get(n)
        if q is None:
            q = self._queries[n] = (
                "SELECT key, value FROM kv WHERE key IN (" + ",".join("?" * n) + ")"
            )
        return q

    def close(self) -> None:
        self.db.close()
