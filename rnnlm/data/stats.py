"""What training records about its training split, computed a piece at a time.

The unigram/bigram counts (a checkpoint's ``stats``, for ``rnnlm eval``'s baselines) and the
fingerprint a resumed run checks (``train_sha1``) equal those of the whole array
(``NGramStats.from_ids``, ``sha1(ids.astype(int32).tobytes())``) but need memory for one
piece and the distinct bigrams only, so that a memory-mapped corpus is never read whole. A
prepared corpus has them precomputed (rnnlm/data/prepared.py) and is not read at all.
"""

import hashlib

import numpy as np

from rnnlm.data.prepared import precomputed

PIECE = 1 << 20  # tokens per piece


class NGramCounter:
    """Accumulates unigram counts (V,) and sorted bigram codes ``a * V + b`` with counts."""

    def __init__(self, vocab_size: int) -> None:
        self.V = vocab_size
        self.unigram = np.zeros(vocab_size, np.int64)
        self.codes = np.zeros(0, np.int64)
        self.counts = np.zeros(0, np.int64)
        self.last: int | None = None  # the token before the next piece

    def add(self, ids: np.ndarray) -> None:
        """Count the next piece of the stream, (n,) ids."""
        if len(ids) == 0:
            return
        self.unigram += np.bincount(ids, minlength=self.V)
        # codes fit 32 bits for V <= 65536, which sort about twice as fast as 64
        dtype = np.uint32 if self.V <= 1 << 16 else np.int64
        ids = ids.astype(dtype)
        ext = ids if self.last is None else np.concatenate([np.array([self.last], dtype), ids])
        self.last = int(ids[-1])
        codes = np.sort(ext[:-1] * dtype(self.V) + ext[1:])
        starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
        counts = np.diff(np.append(starts, codes.size))
        self._merge(codes[starts].astype(np.int64), counts.astype(np.int64))

    def _merge(self, codes: np.ndarray, counts: np.ndarray) -> None:
        """Add sorted unique ``codes`` with their counts to the sorted accumulated ones."""
        if self.codes.size == 0:
            self.codes, self.counts = codes, counts
            return
        pos = np.searchsorted(self.codes, codes)
        found = pos < self.codes.size
        found[found] = self.codes[pos[found]] == codes[found]
        self.counts[pos[found]] += counts[found]  # (codes are unique: each position once)
        new = ~found
        self.codes = np.insert(self.codes, pos[new], codes[new])
        self.counts = np.insert(self.counts, pos[new], counts[new])

    def arrays(self) -> dict[str, np.ndarray]:
        """The checkpoint's ``stats``: unigram, bigram_codes, bigram_counts."""
        return {"unigram": self.unigram, "bigram_codes": self.codes, "bigram_counts": self.counts}


def ngram_arrays(ids: np.ndarray, vocab_size: int) -> dict[str, np.ndarray]:
    """``NGramStats.from_ids(ids, V).to_arrays()``, piece by piece (or precomputed)."""
    if (found := precomputed(ids, "stats")) is not None:
        return found
    counter = NGramCounter(vocab_size)
    for lo in range(0, len(ids), PIECE):
        counter.add(np.asarray(ids[lo : lo + PIECE]))
    return counter.arrays()


def unigram_counts(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """``np.bincount(ids, minlength=V)``, piece by piece (or precomputed)."""
    if (found := precomputed(ids, "stats")) is not None:
        return found["unigram"]
    counts = np.zeros(vocab_size, np.int64)
    for lo in range(0, len(ids), PIECE):
        counts += np.bincount(np.asarray(ids[lo : lo + PIECE]), minlength=vocab_size)
    return counts


class Sha1:
    """sha1 of the ids as int32 bytes, whatever their stored type, fed piece by piece."""

    def __init__(self) -> None:
        self.h = hashlib.sha1()

    def add(self, ids: np.ndarray) -> None:
        self.h.update(np.ascontiguousarray(ids, dtype=np.int32).tobytes())

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def ids_sha1(ids: np.ndarray) -> str:
    """The training split's fingerprint stored as ``train_sha1`` (or precomputed)."""
    if (found := precomputed(ids, "train_sha1")) is not None:
        return found
    h = Sha1()
    for lo in range(0, len(ids), PIECE):
        h.add(ids[lo : lo + PIECE])
    return h.hexdigest()
