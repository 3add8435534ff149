"""Vocabulary: the token <-> id mapping, built from the training split only."""

from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

from rnnlm.data.text import EOS, UNK
from rnnlm.errors import ConfigError


class Vocabulary:
    """Tokens by id. ``<unk>`` is always present (id 0) so unseen tokens never crash."""

    def __init__(self, tokens: list[str]) -> None:
        if not tokens or tokens[0] != UNK:
            raise ValueError("a vocabulary starts with <unk>")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        self.tokens = list(tokens)
        self.index = {tok: i for i, tok in enumerate(self.tokens)}
        self.unk_id = 0

    @classmethod
    def build(cls, tokens: Iterable[str], max_size: int = 0, min_count: int = 1) -> "Vocabulary":
        """Most frequent tokens first (ties by token), ``<unk>`` first of all.

        ``max_size`` (0: no limit) counts ``<unk>``; ``<eos>``, if the corpus has it, is always
        kept. Tokens seen fewer than ``min_count`` times map to ``<unk>``.
        """
        return cls.from_counts(Counter(tokens), max_size, min_count)

    @classmethod
    def from_counts(
        cls, counts: Mapping[str, int], max_size: int = 0, min_count: int = 1
    ) -> "Vocabulary":
        """As ``build``, from each token's count in the training split."""
        if max_size < 0 or (0 < max_size < 2):
            raise ConfigError(f"--max-vocab must be 0 (no limit) or at least 2, got {max_size}")
        if min_count < 1:
            raise ConfigError(f"--min-count must be at least 1, got {min_count}")
        counts = {tok: n for tok, n in counts.items() if n > 0}
        counts.pop(UNK, None)
        kept = [UNK]
        if EOS in counts:
            kept.append(EOS)
            counts.pop(EOS)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        for tok, n in ranked:
            if n < min_count or (max_size and len(kept) >= max_size):
                break
            kept.append(tok)
        return cls(kept)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Iterable[str]) -> tuple[np.ndarray, int]:
        """Tokens -> (int32 ids, number of tokens that were not in the vocabulary)."""
        get, unk = self.index.get, self.unk_id
        ids = np.fromiter((get(t, -1) for t in tokens), dtype=np.int64)
        oov = int(np.count_nonzero(ids < 0))
        ids[ids < 0] = unk
        return ids.astype(np.int32), oov

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]

    def token_text(self, i: int) -> str:
        """The text token ``i`` stands for, for people to read: a word or character is its own
        text (``<eos>``, ``<unk>`` too)."""
        return self.tokens[int(i)]
