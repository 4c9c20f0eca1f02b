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
  plus, per band, the first input that had it, in sorted numpy arrays (12 bytes each; b = 9
  at 0.85): under 400 bytes per kept input, 400 MB per million. Only the first input of a
  band is checked, which bounds the work per input at `b` comparisons (a near duplicate
  usually shares several bands, so another one finds it). `near_threshold: null` turns it off.
- `group_ids` (the split, after the filters): `N x b` band integers in memory (b = 16 at
  0.7: 128 bytes a row); the signatures are read from a memory-mapped file on disk.

The MinHash itself is datasketch's `affine32` scheme written out in numpy over whole arrays of
shingle hashes (about 30 µs an input instead of ~1 ms with a SHA-1 call per shingle). Everything
here is deterministic across processes (no Python `hash()`, fixed permutations).
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


def shingle_hashes(normalised_text: str) -> np.ndarray:
    """32-bit hashes of the text's distinct character 5-grams, in numpy: a rolling polynomial
    hash, then splitmix64's finaliser (a Python hash call per shingle would cost twenty times
    more and dominate the build)."""
    cp = np.frombuffer(normalised_text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    width = min(SHINGLE, len(cp))
    n = len(cp) - width + 1
    h = np.zeros(n, dtype=np.uint64)
    for k in range(width):
        h = h * np.uint64(1_000_003) + cp[k : k + n]
    return np.unique((splitmix(h) >> np.uint64(32)).astype(np.uint32))


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


class NearDupIndex:
    """Streaming: is this input a near duplicate of one added before? If not, add it.

    Band hash → first input with it: recent entries in a dict, older ones merged into sorted
    numpy arrays (12 bytes an entry instead of ~100 in a dict), searched with `searchsorted`.
    """

    MERGE_EVERY = 100_000  # dict entries before they move to the sorted arrays

    def __init__(self, threshold: float, num_perm: int) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands, self.rows = lsh_params(threshold, num_perm)
        self._recent: dict[int, int] = {}
        self._keys = np.empty(0, dtype=np.uint64)
        self._firsts = np.empty(0, dtype=np.uint32)
        self._sigs = np.empty((1024, num_perm), dtype=np.uint32)
        self._n = 0

    def seen_or_add(self, normalised_text: str) -> bool:
        sig = signature(normalised_text, self.num_perm)
        keys = band_hashes(sig, self.bands, self.rows)
        firsts = [self._recent.get(k) for k in keys]
        if len(self._keys):
            q = np.array(keys, dtype=np.uint64)
            pos = np.minimum(np.searchsorted(self._keys, q), len(self._keys) - 1)
            for i in np.flatnonzero(self._keys[pos] == q).tolist():
                firsts[i] = int(self._firsts[pos[i]])
        for j in firsts:
            if j is not None and similarity(sig, self._sigs[j]) >= self.threshold:
                return True
        if self._n == len(self._sigs):
            self._sigs = np.concatenate([self._sigs, np.empty_like(self._sigs)])
        self._sigs[self._n] = sig
        for k, j in zip(keys, firsts, strict=True):
            if j is None:
                self._recent[k] = self._n
        self._n += 1
        if len(self._recent) >= self.MERGE_EVERY:
            self._merge()
        return False

    def _merge(self) -> None:
        keys = np.concatenate([self._keys, np.fromiter(self._recent, dtype=np.uint64)])
        firsts = np.concatenate([self._firsts, np.fromiter(self._recent.values(), dtype=np.uint32)])
        order = np.argsort(keys, kind="stable")
        self._keys, self._firsts = keys[order], firsts[order]
        self._recent.clear()


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
