"""Text pieces -> token ids, without ever holding the text's tokens as a whole.

Two encoders: ``Provisional`` gives every new token the next id as it first appears (a
vocabulary is not known until the training text has been counted; the ids are mapped to the
final ones afterwards, ``remap_table``), and ``encode_fixed`` uses a known vocabulary.
Tokens are exactly those of ``tokenize`` on the whole text (``text.tokenize``).
"""

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from rnnlm.data.limits import MemoryBudget
from rnnlm.data.stream import read_chunks
from rnnlm.data.subword import BPE
from rnnlm.data.subword_corpus import encode_file as encode_subwords
from rnnlm.data.text import EOS
from rnnlm.data.vocab import Vocabulary
from rnnlm.data.wordids import WordTable

SPACED_EOS = f" {EOS} "


def piece_tokens(piece: str, unit: str) -> Iterable[str]:
    """The tokens of a piece of text that ends at a line end (or the text's end).

    word: whitespace-separated words, ``<eos>`` after every line, the last one too;
    char: every character.
    """
    if unit == "char":
        return piece
    if unit != "word":
        raise ValueError(f"unknown unit {unit!r}")
    if not piece.endswith("\n"):  # the text's last line, without its newline
        piece += "\n"
    return piece.replace("\n", SPACED_EOS).split()


class Provisional:
    """Ids in order of first appearance: ``tokens[i]`` is the token of provisional id i."""

    def __init__(self) -> None:
        self.ids: defaultdict[str, int] = defaultdict(itertools.count().__next__)
        self._words: WordTable | None = None  # (made on first use)

    @property
    def tokens(self) -> list[str]:
        return list(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Tokens -> uint32 provisional ids (new tokens get new ids)."""
        tokens = tokens if isinstance(tokens, (list, str)) else list(tokens)
        return np.fromiter(map(self.ids.__getitem__, tokens), np.uint32, count=len(tokens))

    def encode_piece(self, piece: str, unit: str) -> np.ndarray:
        """``encode(piece_tokens(piece, unit))``: word pieces mostly without making a string of
        each token (``WordTable``), which is what makes reading a large corpus fast."""
        if unit == "word":
            self._words = self._words or WordTable(self.ids)
            ids = self._words.encode(piece)
            if ids is not None:
                return ids
        return self.encode(piece_tokens(piece, unit))


def remap_table(prov: Provisional, vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """(final id of each provisional id, whether it is out of the vocabulary), both (P,)."""
    final = np.fromiter((vocab.index.get(t, -1) for t in prov.ids), np.int64, count=len(prov))
    oov = final < 0
    final[oov] = vocab.unk_id
    return final.astype(np.int32), oov


def encode_fixed(tokens: Iterable[str], vocab: Vocabulary) -> tuple[np.ndarray, int]:
    """Tokens -> (int32 ids, tokens not in the vocabulary), as ``Vocabulary.encode``."""
    tokens = tokens if isinstance(tokens, (list, str)) else list(tokens)
    found = map(vocab.index.get, tokens, itertools.repeat(-1))
    ids = np.fromiter(found, np.int64, count=len(tokens))
    missing = ids < 0
    ids[missing] = vocab.unk_id
    return ids.astype(np.int32), int(np.count_nonzero(missing))


def file_pieces(
    path: Path | str,
    unit: str,
    encode: Callable[[Iterable[str]], np.ndarray],
    on_bytes: Callable[[int, int | None], None] | None = None,
    stdin: bool = False,
) -> Iterator[np.ndarray]:
    """The ids of ``path``, piece by piece (``encode`` turns a piece's tokens into ids);
    ``stdin``: ``-`` is standard input."""
    for piece in read_chunks(path, on_bytes, stdin):
        yield encode(piece_tokens(piece, unit))


def load_ids(
    path: Path | str,
    unit: str,
    encode: Callable[[Iterable[str]], np.ndarray],
    budget: MemoryBudget | None = None,
    on_bytes: Callable[[int, int | None], None] | None = None,
    stdin: bool = False,
) -> np.ndarray:
    """All ids of ``path`` in memory, refused (``budget``) before they outgrow it."""
    budget = budget or MemoryBudget(str(path))
    if not (stdin and str(path) == "-"):
        budget.check_file(path, unit)
    pieces, n = [], 0
    for ids in file_pieces(path, unit, encode, on_bytes, stdin):
        pieces.append(ids)
        n += len(ids)
        budget.check(n)
    return np.concatenate(pieces) if pieces else np.zeros(0, np.uint32)


def encode_file(
    path: Path | str,
    vocab: Vocabulary,
    unit: str,
    budget: MemoryBudget | None = None,
    on_bytes: Callable[[int, int | None], None] | None = None,
    stdin: bool = False,
) -> tuple[np.ndarray, int]:
    """A text file's (int32 ids, OOV count) with a known vocabulary, read in pieces;
    ``stdin``: ``-`` is standard input."""
    if unit == BPE:  # the vocabulary's tokenizer splits the text (rnnlm/data/subword.py)
        return encode_subwords(path, vocab, budget, on_bytes, stdin)  # type: ignore[arg-type]
    oov = 0

    def encode(tokens: Iterable[str]) -> np.ndarray:
        nonlocal oov
        ids, missed = encode_fixed(tokens, vocab)
        oov += missed
        return ids

    ids = load_ids(path, unit, encode, budget, on_bytes, stdin)
    return ids.astype(np.int32, copy=False), oov
