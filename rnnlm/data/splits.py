"""A corpus as training sees it: the token ids of each split and the vocabulary."""

from dataclasses import dataclass, field

import numpy as np

from rnnlm.data.vocab import Vocabulary

SPLITS = ("train", "valid", "test")
VALID_FRACTION = 0.1  # of a corpus without validation text, split off its end


@dataclass
class Corpus:
    """Token ids of each split, encoded with a vocabulary built from the training split.

    The ids are int32 arrays in memory, or read-only ``np.memmap`` views (uint16 or uint32)
    of a prepared corpus's files (rnnlm/data/prepared.py).
    """

    unit: str
    vocab: Vocabulary
    splits: dict[str, np.ndarray]  # split -> ids (L,)
    sources: dict[str, str]  # split -> where it came from
    oov: dict[str, int] = field(default_factory=dict)  # split -> tokens mapped to <unk>

    def __getitem__(self, split: str) -> np.ndarray:
        return self.splits[split]

    def __contains__(self, split: str) -> bool:
        return split in self.splits
