"""`NearDupIndex`: is this input a near duplicate of one kept before? If not, keep it.

The dedup filter's streaming check (see synth.dataset.neardup for the MinHash and LSH behind it). Per
kept input, its signature goes to a file and each of its `b` band hashes, unless an earlier
input had it, goes to a key index on disk (synth.dataset.spill): memory does not grow with the number
of inputs. An input is a near duplicate when the first input of one of its bands has a
similar enough signature.
"""

from __future__ import annotations

from pathlib import Path

from synth.dataset.neardup import band_hashes, lsh_params, signature, similarity
from synth.dataset.spill import FixedRows, KeyIndex


class NearDupIndex:
    def __init__(self, threshold: float, num_perm: int, folder: Path) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands, self.rows = lsh_params(threshold, num_perm)
        folder.mkdir(parents=True, exist_ok=True)
        self._firsts = KeyIndex(folder / "bands.sqlite")  # band hash → first kept input
        self._sigs = FixedRows(folder / "signatures.u32", num_perm)
        self._n = 0

    def seen_or_add(self, normalised_text: str) -> bool:
        sig = signature(normalised_text, self.num_perm)
        keys = band_hashes(sig, self.bands, self.rows)
        firsts = self._firsts.get_many(keys)
        for j in dict.fromkeys(f for f in firsts if f is not None):
            if similarity(sig, self._sigs.read_one(j)) >= self.threshold:
                return True
        self._sigs.append(sig)
        for k, first in zip(keys, firsts, strict=True):
            if first is None:
                self._firsts.add(k, self._n)
        self._n += 1
        return False

    def close(self) -> None:
        self._firsts.close()
        self._sigs.close()
