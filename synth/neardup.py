"""Near-duplicate inputs: MinHash signatures over character 5-grams, LSH bands, and a check.

Two inputs are near duplicates when the estimated Jaccard similarity of their 5-gram sets
(the share of equal MinHash values) reaches a threshold. LSH finds the candidates: bands of
`r` signature values, `b` bands, chosen so that a pair at the threshold shares a band with
probability >= 0.95; every candidate is then checked against the threshold on the full
signatures, so chance band collisions between merely similar inputs (templated text, say)
never count. Character 5-grams catch typos, case, punctuation and small edits; a paraphrase
in other words is not a near duplicate in this sense.

Memory, the trade-off (64 permutations, `uint32` values):

- `NearDupIndex` (the dedup filter, streaming): the signature of every kept input (256 bytes)
  plus one dict entry per band pointing at the first input that had it (b = 9 at 0.85):
  about 1 KB per kept input, 1 GB per million. Only the first input of a band is checked,
  which bounds the work per input at `b` comparisons. `near_threshold: null` turns it off.
- `group_ids` (the split, after the filters): `N x b` band integers in memory (b = 16 at
  0.7: 128 bytes a row); the signatures are read from a memory-mapped file on disk.

Everything here is deterministic across processes (no Python `hash()`, fixed permutations).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
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


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=1, scheme="affine32").permutations


@lru_cache(maxsize=256)  # the dedup filter and the split ask for the same input back to back
def signature(normalised_text: str, num_perm: int) -> np.ndarray:
    from datasketch import MinHash

    t = normalised_text
    shingles = sorted({t[i : i + SHINGLE] for i in range(max(len(t) - SHINGLE + 1, 1))})
    m = MinHash(num_perm=num_perm, permutations=_permutations(num_perm), scheme="affine32")
    m.update_batch([s.encode() for s in shingles])
    sig = m.hashvalues.astype(np.uint32)
    sig.flags.writeable = False
    return sig


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> list[int]:
    """One 64-bit integer per band, salted by the band's index so bands never collide."""
    cut = np.ascontiguousarray(sig[: bands * rows]).reshape(bands, rows)
    return [
        int.from_bytes(
            hashlib.blake2b(cut[i].tobytes(), digest_size=8, salt=i.to_bytes(2, "big")).digest(),
            "big",
        )
        for i in range(bands)
    ]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity: the share of equal MinHash values."""
    return float(np.count_nonzero(a == b)) / len(a)


class NearDupIndex:
    """Streaming: is this input a near duplicate of one added before? If not, add it."""

    def __init__(self, threshold: float, num_perm: int) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands, self.rows = lsh_params(threshold, num_perm)
        self._first: dict[int, int] = {}  # band hash → the first input that had it
        self._sigs = np.empty((1024, num_perm), dtype=np.uint32)
        self._n = 0

    def seen_or_add(self, normalised_text: str) -> bool:
        sig = signature(normalised_text, self.num_perm)
        keys = band_hashes(sig, self.bands, self.rows)
        for k in keys:
            j = self._first.get(k)
            if j is not None and similarity(sig, self._sigs[j]) >= self.threshold:
                return True
        if self._n == len(self._sigs):
            self._sigs = np.concatenate([self._sigs, np.empty_like(self._sigs)])
        self._sigs[self._n] = sig
        for k in keys:
            self._first.setdefault(k, self._n)
        self._n += 1
        return False


def group_ids(
    bands: np.ndarray, ids: np.ndarray, sigs: np.ndarray | None = None, threshold: float = 1.0
) -> np.ndarray:
    """Rows that are near duplicates end up in one group, transitively.

    `bands` (N x b band integers) proposes candidates: rows with equal values in a column,
    taken as neighbours in sorted order; `sigs` (N x num_perm, may be a memmap) checks them
    against `threshold`; rows with equal `ids` (the same input) always match. A group's id is
    the smallest of its rows' `ids`, so it does not depend on the order of the rows.
    """
    n = len(ids)
    parent = np.arange(n)

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    for col in bands.T if n else ():
        order = np.argsort(col, kind="stable")
        k = np.flatnonzero(col[order][1:] == col[order][:-1])
        a, b = order[k], order[k + 1]
        if sigs is not None and len(a):
            same = ids[a] == ids[b]
            for s in range(0, len(a), 65536):  # chunks: bounded memory for the comparison
                sa, sb = a[s : s + 65536], b[s : s + 65536]
                sim = np.count_nonzero(sigs[sa] == sigs[sb], axis=1) / sigs.shape[1]
                same[s : s + 65536] |= sim >= threshold
            a, b = a[same], b[same]
        for i, j in zip(a.tolist(), b.tolist(), strict=True):  # matches only: few in practice
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    while True:  # pointer jumping: every row straight to its root
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    gid = np.full(n, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(gid, parent, ids.astype(np.uint64))
    return gid[parent]
