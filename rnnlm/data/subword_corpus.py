"""A corpus as byte-level BPE ids: the tokenizer learned from the training split, then used.

Word and character corpora without validation text give its last ``valid_fraction`` of
*tokens* to validation; a BPE has no tokens before it is learned, and is learned from the
training split only, so here the last ``valid_fraction`` of *lines* is validation. The
training file is read three times (count its lines and characters, learn, encode), so it must
be a regular file. Only the ids are held; the text is read in pieces.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from rnnlm.data.limits import MemoryBudget
from rnnlm.data.splits import SPLITS, Corpus
from rnnlm.data.stream import read_chunks
from rnnlm.data.subword import BPE, SubwordVocabulary, auto_vocab_size, learn
from rnnlm.errors import CorpusError

OnBytes = Callable[[int, int | None], None] | None


def check_rereadable(path: Path) -> None:
    """CorpusError for a training text that cannot be read more than once (a pipe, a device)."""
    if str(path) == "-" or (path.exists() and not path.is_file()):
        raise CorpusError(
            f"{path}: --unit bpe reads the training text more than once; give a regular file"
        )


def count_text(path: Path, on_bytes: OnBytes = None) -> tuple[int, int]:
    """(lines, characters) of a text file; a last line without its newline counts."""
    lines = chars = 0
    last = "\n"
    for piece in read_chunks(path, on_bytes):
        lines += piece.count("\n")
        chars += len(piece)
        last = piece[-1:] or last
    return lines + (last != "\n"), chars


def valid_cut(path: Path, lines: int, fraction: float) -> int:
    """The first line of the validation part: the last ``fraction`` of the lines."""
    cut = lines - round(lines * fraction)
    if cut <= 0 or cut >= lines:
        raise CorpusError(f"{path}: too short to split off a validation part ({lines} lines)")
    return cut


def cut_pieces(path: Path, cut: int | None, on_bytes: OnBytes = None) -> Iterator[tuple[bool, str]]:
    """Pieces of the text, each with whether it lies before line ``cut`` (None: all do)."""
    seen = 0
    for piece in read_chunks(path, on_bytes):
        if cut is None:
            yield True, piece
            continue
        n = piece.count("\n") + (not piece.endswith("\n"))
        if seen >= cut or seen + n <= cut:
            yield seen < cut, piece
            seen += n
            continue
        at = -1
        for _ in range(cut - seen):  # the end of the last line before the cut
            at = piece.index("\n", at + 1)
        yield True, piece[: at + 1]
        yield False, piece[at + 1 :]
        seen += n


def learn_file(path: Path, cut: int | None, vocab_size: int) -> SubwordVocabulary:
    """A BPE learned from the lines of ``path`` before line ``cut`` (None: all of them)."""
    return learn((piece for before, piece in cut_pieces(path, cut) if before), vocab_size)


def encode_pieces(
    pieces: Iterator[tuple[bool, str]], vocab: SubwordVocabulary, budget: MemoryBudget
) -> tuple[np.ndarray, np.ndarray]:
    """(ids before the cut, ids after it), int32."""
    parts: dict[bool, list[np.ndarray]] = {True: [], False: []}
    n = 0
    for before, piece in pieces:
        ids = vocab.encode_text(piece)
        parts[before].append(ids)
        n += len(ids)
        budget.check(n)
    empty = np.zeros(0, np.int32)
    return tuple(np.concatenate(parts[k]) if parts[k] else empty for k in (True, False))  # type: ignore[return-value]


def encode_file(
    path: Path | str,
    vocab: SubwordVocabulary,
    budget: MemoryBudget | None = None,
    on_bytes: OnBytes = None,
    stdin: bool = False,
) -> tuple[np.ndarray, int]:
    """A text file's (int32 ids, 0: nothing is out of the vocabulary), read in pieces;
    ``stdin``: ``-`` is standard input."""
    budget = budget or MemoryBudget(str(path))
    if not (stdin and str(path) == "-"):
        budget.check_file(path, BPE)
    pieces = ((True, p) for p in read_chunks(path, on_bytes, stdin))
    return encode_pieces(pieces, vocab, budget)[0], 0


def load_bpe_corpus(
    files: dict[str, Path],
    subword_vocab: int = 0,
    valid_fraction: float = 0.1,
    budget: MemoryBudget | None = None,
) -> Corpus:
    """Learn a BPE of ``subword_vocab`` tokens (0: ``auto_vocab_size``) from the training split
    and encode every split with it."""
    train = Path(files["train"])
    check_rereadable(train)
    budget = budget or MemoryBudget(str(train))
    budget.check_file(train, BPE)
    lines, chars = count_text(train)
    cut = None if "valid" in files else valid_cut(train, lines, valid_fraction)
    vocab = learn_file(train, cut, subword_vocab or auto_vocab_size(chars))
    splits, sources = {}, {s: str(p) for s, p in files.items()}
    splits["train"], rest = encode_pieces(cut_pieces(train, cut), vocab, budget)
    if cut is not None:
        splits["valid"] = rest
        sources["valid"] = f"{train} (last {valid_fraction:.0%} of lines)"
        sources["train"] = f"{train} (first {1 - valid_fraction:.0%} of lines)"
    for split in SPLITS:
        if split in files and split != "train":
            splits[split], _ = encode_file(files[split], vocab, budget)
    return Corpus(unit=BPE, vocab=vocab, splits=splits, sources=sources,
                  oov={s: 0 for s in splits})  # fmt: skip
