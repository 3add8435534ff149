"""Simple n-gram baselines from the training split: a unigram and an add-k bigram model.

Printed beside a model's perplexity so a user can tell whether training worked: a trained RNN
should beat both by a wide margin.
"""

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class NGramStats:
    """Unigram counts (V,) and the non-zero bigram counts, as sorted codes ``a * V + b``."""

    unigram: np.ndarray  # int64 (V,)
    bigram_codes: np.ndarray  # int64 (K,), sorted
    bigram_counts: np.ndarray  # int64 (K,)

    @classmethod
    def from_ids(cls, ids: np.ndarray, vocab_size: int) -> "NGramStats":
        ids = ids.astype(np.int64)
        unigram = np.bincount(ids, minlength=vocab_size)
        codes, counts = np.unique(ids[:-1] * vocab_size + ids[1:], return_counts=True)
        return cls(unigram, codes, counts.astype(np.int64))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"unigram": self.unigram, "bigram_codes": self.bigram_codes,
                "bigram_counts": self.bigram_counts}  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "NGramStats | None":
        try:
            return cls(arrays["unigram"], arrays["bigram_codes"], arrays["bigram_counts"])
        except KeyError:
            return None

    def unigram_perplexity(self, ids: np.ndarray) -> float:
        """Add-one smoothed unigram perplexity of ``ids[1:]`` (the tokens a model predicts)."""
        V = self.unigram.size
        p = (self.unigram[ids[1:]] + 1.0) / (self.unigram.sum() + V)
        return math.exp(-float(np.mean(np.log(p))))

    def bigram_perplexity(self, ids: np.ndarray, k: float = 0.1) -> float:
        """Add-k smoothed bigram perplexity of ``ids[1:]`` given the token before each."""
        V = self.unigram.size
        ids = ids.astype(np.int64)
        codes = ids[:-1] * V + ids[1:]
        pos = np.searchsorted(self.bigram_codes, codes)
        pos = np.minimum(pos, max(self.bigram_codes.size - 1, 0))
        found = self.bigram_codes.size > 0 and self.bigram_codes[pos] == codes
        pair = np.where(found, self.bigram_counts[pos] if self.bigram_counts.size else 0, 0)
        p = (pair + k) / (self.unigram[ids[:-1]] + k * V)
        return math.exp(-float(np.mean(np.log(p))))
