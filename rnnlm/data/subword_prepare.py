"""``rnnlm prepare --unit bpe``: a byte-level BPE learned from the training split, its ids on disk.

The same folder as for words and characters (prepare.py, prepared.py), format version 2: its
``meta.json`` also holds the tokenizer (``tokenizer``, its JSON text), so that training from
the folder puts it in every checkpoint. The tokenizer is known before any id is written, so
the ids written first are final (the second pass of prepare.py, which writes the split files,
their sha256 and the training split's n-gram counts, maps them through an identity table).
A corpus without validation text gives its last ``valid_fraction`` of lines to validation
(subword_corpus.py).
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rnnlm.data.prepared import FORMAT, STATS, write_meta
from rnnlm.data.subword import BPE, SubwordVocabulary, auto_vocab_size
from rnnlm.data.subword_corpus import (
    check_rereadable,
    count_text,
    cut_pieces,
    learn_file,
    valid_cut,
)
from rnnlm.errors import ConfigError

VERSION = 2  # of the prepared format (prepared.READ_VERSION reads it)

Progress = Callable[[str, int, int | None], None]


def check_options(unit: str, subword_vocab: int, max_vocab: int, min_count: int) -> None:
    """The vocabulary options that apply to ``unit`` (named as the CLI's flags)."""
    if unit != BPE and subword_vocab:
        raise ConfigError(f"--subword-vocab needs --unit bpe (got --unit {unit})")
    if unit == BPE and (max_vocab or min_count != 1):
        raise ConfigError(
            "--max-vocab and --min-count do not apply to --unit bpe; size it with --subword-vocab"
        )
    if subword_vocab and not 257 <= subword_vocab <= 1 << 20:
        raise ConfigError(
            f"--subword-vocab must be 0 (auto) or in [257, 1048576], got {subword_vocab}"
        )


def write_bpe(
    tmp: Path,
    files: dict[str, Path],
    subword_vocab: int,
    valid_fraction: float,
    report: Progress | None,
    write_splits: Callable[..., tuple[dict, str]],
) -> dict[str, Any]:
    """Learn, encode and write every split into ``tmp``, the meta last; return the meta.

    ``write_splits``: prepare.py's second pass, the final ids of every split from scratch files.
    """
    report = report or (lambda what, done, total: None)
    train = Path(files["train"])
    check_rereadable(train)
    lines, chars = count_text(train, lambda d, t: report(f"counting {train}", d, t))
    cut = None if "valid" in files else valid_cut(train, lines, valid_fraction)
    vocab = learn_file(train, cut, subword_vocab or auto_vocab_size(chars))
    sources = {s: str(p) for s, p in files.items()}
    segments = {}
    for split, path in files.items():
        on_bytes = lambda d, t, n=str(path): report(f"reading {n}", d, t)  # noqa: E731
        pieces = cut_pieces(path, cut if split == "train" else None, on_bytes)
        scratch = tmp / f"{split}.prov"
        before, total = _scratch(scratch, pieces, vocab)
        segments[split] = (scratch, 0, before)
        if split == "train" and cut is not None:
            segments["valid"] = (scratch, before, total)
            sources["valid"] = f"{train} (last {valid_fraction:.0%} of lines)"
            sources["train"] = f"{train} (first {1 - valid_fraction:.0%} of lines)"
    V = len(vocab)
    table = (np.arange(V, dtype=np.int32), np.zeros(V, dtype=bool), V)
    dtype = np.dtype("<u2" if V <= 1 << 16 else "<u4")
    splits, train_sha1 = write_splits(tmp, segments, sources, table, dtype, report)
    options: dict[str, Any] = {"subword_vocab": subword_vocab}
    if cut is not None:
        options["valid_fraction"] = valid_fraction
    paths = {s: str(Path(p).resolve()) for s, p in files.items()}
    meta = {"format": FORMAT, "version": VERSION, "unit": BPE, "dtype": dtype.str,
            "vocab_size": V, "options": options, "splits": splits, "train_sha1": train_sha1,
            "stats": STATS, "sources": paths, "vocab": vocab.tokens,
            "tokenizer": vocab.json}  # fmt: skip
    write_meta(tmp, meta)
    return meta


def _scratch(
    dest: Path, pieces: Iterator[tuple[bool, str]], vocab: SubwordVocabulary
) -> tuple[int, int]:
    """Ids of ``pieces`` into ``dest`` (uint32): (ids before the cut, all ids)."""
    before = total = 0
    with open(dest, "wb") as f:
        for is_before, piece in pieces:
            ids = vocab.encode_text(piece).astype(np.uint32)
            f.write(ids.tobytes())
            total += len(ids)
            before += len(ids) if is_before else 0
    return before, total
