"""Scores comparable across units: bits per character and word perplexity (docs/metrics.md).

Per-token perplexity depends on what a token is. The same total negative log-likelihood
(NLL) divided over the characters, or the words, of the text scored does not:

- ``bits_per_char`` = total NLL in bits / characters of the text scored (every character,
  spaces and newlines included, after reading normalised line ends to ``\\n``);
- ``word_perplexity`` = exp(total NLL in nats / words), where words are the whitespace-split
  words plus one per line, as PTB counts ``<eos>``: exactly the tokens of a word model.

The text scored is the whole text: ``rnnlm eval`` puts the line-end token (``<eos>``, ``\\n``
or the BPE's newline byte) before it as context only, so every token of the text is
predicted. Only a model whose vocabulary lacks that token (a character model trained on a
single line) uses the text's first token as context: the text scored is then the rest, and
the characters and words are counted on the rest.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlm.data.corpus import boundary_id
from rnnlm.data.prepared import prepared_split
from rnnlm.data.stream import read_chunks
from rnnlm.data.subword import BPE, SubwordVocabulary
from rnnlm.data.text import detokenize
from rnnlm.data.vocab import Vocabulary

DECODE_IDS = 1 << 20  # ids decoded at a time when counting the text of ids


@dataclass(frozen=True)
class TextCounts:
    """What a text holds: characters, and words as PTB counts them (one more per line)."""

    chars: int = 0
    words: int = 0


class Counter:
    """Counts characters and words of a text given in consecutive pieces (cut anywhere)."""

    def __init__(self, skip: int = 0) -> None:
        self.chars = self.words = self.lines = 0
        self.skip = skip  # characters at the start not to count (context only)
        self.last = ""  # the last character counted

    def add(self, piece: str) -> None:
        if self.skip:
            piece, self.skip = piece[self.skip :], max(0, self.skip - len(piece))
        if not piece:
            return
        self.chars += len(piece)
        self.words += len(piece.split())
        # a word cut between two pieces was counted twice
        if self.last and not self.last.isspace() and not piece[0].isspace():
            self.words -= 1
        self.lines += piece.count("\n")
        self.last = piece[-1]

    def result(self) -> TextCounts:
        open_line = bool(self.last) and self.last != "\n"  # a last line without its newline
        return TextCounts(self.chars, self.words + self.lines + open_line)


def count_text(text: str) -> TextCounts:
    counter = Counter()
    counter.add(text)
    return counter.result()


def count_file(path: Path | str, skip: int = 0) -> TextCounts:
    """Counts of a text file read in pieces (``-``: standard input cannot be read twice, so it
    counts nothing), without its first ``skip`` characters."""
    if str(path) == "-":
        return TextCounts()
    counter = Counter(skip)
    for piece in read_chunks(path):
        counter.add(piece)
    return counter.result()


def count_ids(ids: np.ndarray, vocab: Vocabulary, unit: str) -> TextCounts:
    """Counts of the text ``ids`` stand for (as scored: the first id is the line-end context
    that ``corpus.scored`` puts first, or the text's first token, context only).

    Exact for char and bpe ids (an unknown character counts as one). Word ids have lost the
    spacing: the words count exactly, the characters as if words were one space apart and
    ``<unk>`` were 5 characters; score the text file for exact characters.
    """
    rest = ids[1:]
    counter = Counter()
    for lo in range(0, len(rest), DECODE_IDS):
        chunk = rest[lo : lo + DECODE_IDS].tolist()
        for piece in _texts(chunk, vocab, unit, counter.last):
            counter.add(piece)
    return counter.result()


def _texts(ids: list[int], vocab: Vocabulary, unit: str, before: str) -> Iterable[str]:
    if unit == BPE and isinstance(vocab, SubwordVocabulary):
        return [b"".join(vocab.bytes[i] for i in ids).decode("utf-8", errors="replace")]
    tokens = vocab.decode(ids)
    if unit == "word":  # spaced from what came before, <eos> as a newline
        return [detokenize(tokens, unit, before=before)]
    return ["".join(t if i else "?" for t, i in zip(tokens, ids, strict=True))]  # <unk>: 1 char


def scored_counts(path: Path | str, ids: np.ndarray, vocab: Vocabulary, unit: str) -> TextCounts:
    """Counts of the text ``rnnlm eval`` scores as ``ids`` (``corpus.eval_ids``): from the
    text file itself, or from the ids for standard input and prepared folders (``count_ids``).
    Without a line-end token in the vocabulary (only a character model trained on one line),
    the first character is context only and not counted."""
    if str(path) == "-" or prepared_split(path) is not None:
        return count_ids(ids, vocab, unit)
    return count_file(path, skip=0 if boundary_id(vocab, unit) is not None else 1)


def comparable(nll: float, counts: TextCounts) -> dict[str, float | int | None]:
    """``bits_per_char``, ``word_perplexity``, ``chars`` and ``words`` of a total NLL (nats)
    over a text of ``counts`` (None where the text has no character or word)."""
    bits = nll / math.log(2)
    return {
        "bits_per_char": bits / counts.chars if counts.chars else None,
        "word_perplexity": math.exp(min(nll / counts.words, 700.0)) if counts.words else None,
        "chars": counts.chars,
        "words": counts.words,
    }


def valid_comparable(nll: float, counts: TextCounts | None) -> dict[str, float | None]:
    """The validation's ``valid_bits_per_char`` and ``valid_word_ppl`` (metrics.jsonl)."""
    if counts is None:
        return {}
    scores = comparable(nll, counts)
    return {"valid_bits_per_char": scores["bits_per_char"],
            "valid_word_ppl": scores["word_perplexity"]}  # fmt: skip


def oov_note(name: str, oov: int) -> str | None:
    """The warning for a text with tokens out of the vocabulary (scored as ``<unk>``, whose
    probability is shared by every unknown): its scores do not compare with other models'."""
    if not oov:
        return None
    return (
        f"{name}: {oov:,} token(s) not in the vocabulary, scored as <unk>: its bits per "
        "character and word perplexity are not comparable with other models' (see "
        "docs/metrics.md)"
    )
