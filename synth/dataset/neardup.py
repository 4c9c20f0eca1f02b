"""Near-duplicate inputs: MinHash signatures over character 5-grams, LSH bands, and a check.

Two inputs are near duplicates when the estimated Jaccard similarity of their 5-gram sets
(the share of equal MinHash values) reaches a threshold. LSH finds the candidates: bands of
`r` signature values, `b` bands, chosen so that a pair at the threshold shares a band with
probability >= 0.95; every candidate is then checked against the threshold on the full
signatures, so chance band collisions between merely similar inputs (templated text, say)
never count. Character 5-grams catch typos, case, punctuation and small edits; a paraphrase
in other words is not a near duplicate in this sense.

Memory: nothing here grows with the data in memory (see synth.dataset.spill):

- `synth.dataset.neardup_index.NearDupIndex` (the dedup filter, streaming): the signature of every
  kept input (256 bytes) in a file, and per band the first input that had it in a SQLite table;
  only the first input of a band is checked, which bounds the work per input at `b`
  comparisons (a near duplicate usually shares several bands, so another one finds it).
  `near_threshold: null` turns it off.
- `group_ids` (the split, after the filters): one band column at a time (b = 16 at 0.7),
  about 40 bytes a row while it runs; signatures of candidate pairs are read from disk.

The MinHash itself is datasketch's `affine32` scheme written out in numpy over whole arrays of
shingle hashes (about 30 µs an input instead of ~1 ms with a SHA-1 call per shingle). Everything
here is deterministic across processes (no Python `hash()`, fixed permutations).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np

SHINGLE = 5  # characters per shingle
RECALL = 0.95  # P(a pair at the threshold becomes a candidate)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Case, Unicode forms, punctuation and spacing do not make two inputs different."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub(" ", text).strip()


def digest64(text: str) -> int:
    """A stable 64-bit hash (the same in every process, unlike `hash()`)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band): the widest bands (fewest candidates) that still make a pair at
    `threshold` a candidate with probability >= RECALL."""
    for r in range(num_perm, 0, -1):
        b = num_perm // r
        if 1 - (1 - threshold**r) ** b >= RECALL:
            return b, r
    return num_perm, 1


def shingle_hashes(normalised_text: str) -> np.ndarray:
    """32-bit hashes of the text's character 5-grams, in numpy: a rolling polynomial hash, then
    splitmix64's finaliser (a Python hash call per shingle would cost twenty times more and
    dominate the build). Repeats stay: a minimum over them is the minimum over the distinct
    ones, and removing them (a sort) cost a quarter of the signature's time."""
    cp = np.frombuffer(normalised_text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    width = min(SHINGLE, len(cp))
    n = len(cp) - width + 1
    h = np.zeros(n, dtype=np.uint64)
    for k in range(width):
        h = h * np.uint64(1_000_003) + cp[k : k + n]
    return (splitmix(h) >> np.uint64(32)).astype(np.uint32)


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the permutations h → a·h + b mod 2^32, a odd (datasketch's `affine32` scheme);
    from numpy's legacy RandomState, whose stream is frozen: the same in every version."""
    rng = np.random.RandomState(1)
    a = rng.randint(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
    b = rng.randint(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


@lru_cache(maxsize=256)  # the dedup filter and the split ask for the same input back to back
def signature(normalised_text: str, num_perm: int) -> np.ndarray:
    """The MinHash signature: per permutation, the smallest permuted shingle hash."""
    a, b = _permutations(num_perm)
    h = shingle_hashes(normalised_text)[:, None]
    sig = (h * a + b).min(axis=0)  # uint32 arithmetic wraps: mod 2^32
    sig.flags.writeable = False
    return sig


@lru_cache(maxsize=8)
def _band_keys(rows: int) -> np.ndarray:
    return np.random.RandomState(2).randint(0, 2**63, size=rows, dtype=np.uint64) * 2 + 1


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> list[int]:
    """One 64-bit integer per band (a multilinear hash of its values, salted by the band's
    index so that bands never collide, then mixed): equal bands, equal integers."""
    cut = sig[: bands * rows].reshape(bands, rows).astype(np.uint64)
    h = (cut * _band_keys(rows)).sum(axis=1, dtype=np.uint64)  # wraps: mod 2^64
    h += np.arange(1, bands + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return splitmix(h).tolist()


def splitmix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, a well-spread bijection of 64-bit integers (wraps by design)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the share of equal MinHash values."""
    return float(np.count_nonzero(a == b)) / len(a)


def group_ids(
    columns: Iterable[np.ndarray],
    ids: np.ndarray,
    read_sigs: Callable[[np.ndarray], np.ndarray] | None = None,
    threshold: float = 1.0,
) -> np.ndarray:
    """Rows that are near duplicates end up in one group, transitively.

    `columns` yields the band columns one at a time (N 64-bit band integers each, read from
    disk when their turn comes): rows with equal values in a column are candidates, taken as
    neighbours in sorted order. `read_sigs(rows)` returns those rows' signatures, to check the
    candidates against `threshold` (None: every candidate matches); rows with equal `ids` (the
    same input) always match. A group's id is the smallest of its rows' `ids` (as uint64), so
    it does not depend on the order of the rows. Memory: `ids`, the groups, and one column
    with its sort order at a time; the union-find holds matched rows only.
    """
    ids = ids.view(np.uint64)
    parent: dict[int, int] = {}  # matched rows only: every other row is its own group

    def find(i: int) -> int:
        root = i
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(i, i) != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    for col in columns:
        if len(ids) == 0:
            break
        order = np.argsort(col, kind="stable")
        ranked = col[order]
        k = np.flatnonzero(ranked[1:] == ranked[:-1])
        del ranked
        a, b = order[k], order[k + 1]
        del order, k
        if read_sigs is not None and len(a):
            same = ids[a] == ids[b]
            for s in range(0, len(a), 65536):  # chunks: bounded memory for the comparison
                todo = np.flatnonzero(~same[s : s + 65536]) + s
                if len(todo):
                    sa, sb = read_sigs(a[todo]), read_sigs(b[todo])
                    same[todo] = np.count_nonzero(sa == sb, axis=1) / sa.shape[1] >= threshold
            a, b = a[same], b[same]
        for i, j in zip(a.tolist(), b.tolist(), strict=True):  # matches only: few in practice
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
                parent.setdefault(min(ri, rj), min(ri, rj))
    groups = ids.copy()
    if parent:
        rows = np.fromiter(parent, dtype=np.int64, count=len(parent))
        roots, which = np.unique([find(i) for i in rows.tolist()], return_inverse=True)
        smallest = np.full(len(roots), np.iinfo(np.uint64).max, dtype=np.uint64)
        np.minimum.at(smallest, which, ids[rows])
        groups[rows] = smallest[which]
    return groups
