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
DENSE = 1024  # bigrams of two ids below this are counted in a dense table (8 MiB)


class NGramCounter:
    """Accumulates unigram counts (V,) and sorted bigram codes ``a * V + b`` with counts.

    The bigrams of two ids below ``DENSE`` are counted in a dense (K, K) table: vocabulary ids
    are ranked by count, so these are most of a text's bigrams (about 60% of PTB's), which
    then need no sorting. The rest are sorted a piece at a time and merged.
    """

    def __init__(self, vocab_size: int) -> None:
        self.V = vocab_size
        self.K = min(vocab_size, DENSE)
        self.unigram = np.zeros(vocab_size, np.int64)
        self.dense = np.zeros(self.K * self.K + 1, np.int64)  # (a * K + b; one bin for the rest)
        self.codes = np.zeros(0, np.int64)
        self.counts = np.zeros(0, np.int64)
        self.last: int | None = None  # the token before the next piece

    def add(self, ids: np.ndarray, before: int | None = None) -> None:
        """Count the next piece of the stream, (n,) ids; ``before``: the token before it, if
        not the end of the last piece counted here."""
        if len(ids) == 0:
            return
        self.last = self.last if before is None else before
        self.unigram += np.bincount(ids, minlength=self.V)
        # codes fit 32 bits for V <= 65536, which sort about twice as fast as 64
        dtype = np.uint32 if self.V <= 1 << 16 else np.int64
        ids = ids.astype(dtype)
        ext = ids if self.last is None else np.concatenate([np.array([self.last], dtype), ids])
        self.last = int(ids[-1])
        a, b = ext[:-1], ext[1:]
        rest = np.flatnonzero((a >= self.K) | (b >= self.K))
        dense = a * dtype(self.K) + b
        dense[rest] = self.K**2  # (the table's last bin: not a bigram)
        np.add.at(self.dense, dense, 1)  # (in place: faster than a bincount of K * K bins)
        codes = np.sort(a.take(rest) * dtype(self.V) + b.take(rest))
        self._merge(*_runs(codes))

    def merge(self, other: "NGramCounter") -> None:
        """Add the counts of ``other`` (of other pieces of the same stream)."""
        self.unigram += other.unigram
        self.dense += other.dense
        self._merge(other.codes, other.counts)

    def _merge(self, codes: np.ndarray, counts: np.ndarray) -> None:
        """Add sorted unique ``codes`` with their counts to the sorted accumulated ones."""
        self.codes, self.counts = _merged(self.codes, self.counts, codes, counts)

    def arrays(self) -> dict[str, np.ndarray]:
        """The checkpoint's ``stats``: unigram, bigram_codes, bigram_counts."""
        seen = np.flatnonzero(self.dense[:-1])
        dense = (seen // self.K) * self.V + seen % self.K  # (sorted: a, then b, ascending)
        codes, counts = _merged(self.codes, self.counts, dense, self.dense[seen])
        return {"unigram": self.unigram, "bigram_codes": codes, "bigram_counts": counts}


def _runs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``codes`` -> (their distinct values, how often each occurs), both int64."""
    if codes.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
    counts = np.diff(np.append(starts, codes.size))
    return codes[starts].astype(np.int64), counts.astype(np.int64)


def _merged(codes: np.ndarray, counts: np.ndarray, more: np.ndarray, more_counts: np.ndarray):
    """Two sorted sets of unique codes with counts, as one (the inputs are not changed)."""
    if codes.size == 0:
        return more, more_counts
    pos = np.searchsorted(codes, more)
    found = pos < codes.size
    found[found] = codes[pos[found]] == more[found]
    counts = counts.copy()
    counts[pos[found]] += more_counts[found]  # (codes are unique: each position once)
    new = ~found
    return np.insert(codes, pos[new], more[new]), np.insert(counts, pos[new], more_counts[new])


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
