"""Resolving a CORPUS argument into train/valid/test token streams and a vocabulary.

CORPUS is a text file (split contiguously: the last ``valid_fraction`` is validation unless a
validation file is given), a folder holding ``train``/``valid``/``test`` files (``train.txt``,
``ptb.train.txt``, ``wiki.train.tokens`` ...), a registered name such as ``ptb``, or a folder
written by ``rnnlm prepare`` (read in place, prepared.py).
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np

from rnnlm.data.encode import Provisional, encode_file, load_ids, remap_table
from rnnlm.data.limits import MemoryBudget
from rnnlm.data.named import data_dir, data_dir_origin, named_corpus_files, registry
from rnnlm.data.prepared import is_prepared, load_prepared, load_split, prepared_split, read_meta
from rnnlm.data.splits import SPLITS, VALID_FRACTION, Corpus
from rnnlm.data.subword import BPE, NEWLINE
from rnnlm.data.subword_corpus import load_bpe_corpus
from rnnlm.data.text import EOS
from rnnlm.data.vocab import Vocabulary
from rnnlm.errors import ConfigError, CorpusError, DownloadError

__all__ = [
    "SPLITS",
    "VALID_FRACTION",
    "Corpus",
    "eval_ids",
    "load_corpus",
    "resolve_files",
    "scored",
]


def find_split_files(folder: Path) -> dict[str, Path]:
    """``train.txt``-style or ``ptb.train.txt``-style files of a folder, by split.

    Several candidates for a split are refused, except in one layout, that of Mikolov's
    ``simple-examples/data``: ``ptb.train.txt`` beside ``ptb.char.train.txt`` (the same
    ``ptb.`` prefix, one name extending the other). There the shortest name's prefix is taken
    for every split, and a split without a file of that prefix is refused.
    """
    hits = {split: _split_files(folder, split) for split in SPLITS}
    if not hits["train"]:
        raise CorpusError(f"{folder}: no training file (expected train.txt or NAME.train.txt)")
    prefix = _shared_prefix(hits["train"]) if len(hits["train"]) > 1 else None
    found: dict[str, Path] = {}
    for split, paths in hits.items():
        if prefix is not None and paths:
            names = ", ".join(p.name for p in paths)
            dots = prefix.count(".") + 1
            paths = [p for p in paths if p.name.startswith(prefix) and p.name.count(".") == dots]
            if len(paths) != 1:
                raise CorpusError(
                    f"{folder}: no {split} file named {prefix}{split}.* to go with the training "
                    f"file {prefix}train.* (found {names}); keep one set"
                )
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            raise CorpusError(f"{folder}: several {split} files ({names}); keep one")
        if paths:
            found[split] = paths[0]
    return found


def _split_files(folder: Path, split: str) -> list[Path]:
    """The files of ``folder`` that look like ``split``'s, sorted by name."""
    patterns = (f"{split}.txt", f"*.{split}.txt", f"{split}.tokens", f"*.{split}.tokens")
    return sorted(p for pattern in patterns for p in folder.glob(pattern) if p.is_file())


def _shared_prefix(train: list[Path]) -> str | None:
    """``ptb.`` for ``ptb.train.txt`` and ``ptb.char.train.txt``: the shortest name's prefix,
    when it is not empty and every other candidate's name starts with it; else None."""
    shortest = min(train, key=lambda p: p.name.count("."))
    prefix = shortest.name[: shortest.name.rindex("train")]
    others = [p for p in train if p != shortest]
    if not prefix or any(p.name.count(".") == shortest.name.count(".") for p in others):
        return None
    return prefix if all(p.name.startswith(prefix) for p in others) else None


def resolve_files(
    corpus: str,
    root: Path | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> tuple[dict[str, Path], str | None]:
    """CORPUS -> (split -> path, the unit a named corpus implies or None)."""
    path = Path(corpus).expanduser()
    known = registry()
    if is_prepared(path):  # (rnnlm prepare's output: its own unit)
        return {"train": path}, read_meta(path)["unit"]
    if path.is_dir():
        # a folder named like a corpus but holding no training text (a run folder, say) does
        # not hide that corpus
        if corpus not in known or _split_files(path, "train"):
            return find_split_files(path), None
    elif path.exists():
        return {"train": path}, None
    if corpus in known:
        folder = data_dir(root)
        try:
            files = named_corpus_files(corpus, folder, known[corpus], on_progress)
        except DownloadError as exc:
            origin = data_dir_origin(root)
            raise DownloadError(f"{exc} (looked for {corpus} in {folder}, {origin})") from None
        return files, known[corpus]["unit"]
    names = ", ".join(sorted(known))
    raise CorpusError(f"{corpus}: no such file or folder, and not a known corpus ({names})")


def load_corpus(
    files: dict[str, Path],
    unit: str,
    max_vocab: int = 0,
    min_count: int = 1,
    valid_fraction: float = VALID_FRACTION,
    budget: MemoryBudget | None = None,
    subword_vocab: int = 0,
) -> Corpus:
    """Read and tokenise each file, split off validation if needed, build vocab, encode.

    The text is read in pieces and only the ids are held (``budget`` refuses a corpus whose
    ids would not fit in memory). A prepared folder as ``files["train"]`` is opened instead
    (memory-mapped); text files for the other splits are then encoded with its vocabulary.
    ``unit`` bpe: a byte-level BPE of ``subword_vocab`` tokens learned from the training split
    (rnnlm/data/subword_corpus.py).
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ConfigError(f"--valid-fraction must be in (0, 1), got {valid_fraction}")
    if is_prepared(files["train"]):
        data = load_prepared(
            files["train"], unit, max_vocab, min_count, valid_fraction, subword_vocab
        )
        for split, path in files.items():
            if split != "train":
                data.splits[split], data.oov[split] = encode_file(path, data.vocab, unit, budget)
                data.sources[split] = str(path)
        return data
    if unit == BPE:
        return load_bpe_corpus(files, subword_vocab, valid_fraction, budget)
    prov = Provisional()
    ids = {s: load_ids(p, unit, prov.encode, budget) for s, p in files.items()}
    sources = {split: str(p) for split, p in files.items()}
    if "valid" not in ids:
        train = ids["train"]
        cut = len(train) - round(len(train) * valid_fraction)
        if cut <= 0 or cut >= len(train):
            raise CorpusError(f"{files['train']}: too short to split off a validation part")
        ids["train"], ids["valid"] = train[:cut], train[cut:]
        sources["valid"] = f"{files['train']} (last {valid_fraction:.0%})"
        sources["train"] = f"{files['train']} (first {1 - valid_fraction:.0%})"
    counts = np.bincount(ids["train"], minlength=len(prov))
    vocab = Vocabulary.from_counts(dict(zip(prov.tokens, counts.tolist(), strict=True)),
                                   max_vocab, min_count)  # fmt: skip
    final, missing = remap_table(prov, vocab)
    splits, oov = {}, {}
    for split in SPLITS:
        if split in ids:
            splits[split] = final[ids[split]]
            oov[split] = int(np.count_nonzero(missing[ids[split]]))
    return Corpus(unit=unit, vocab=vocab, splits=splits, sources=sources, oov=oov)


def boundary_id(vocab: Vocabulary, unit: str) -> int | None:
    """The token that precedes a text: ``<eos>`` (word) or newline (char, bpe), if in the
    vocab (a BPE's always is)."""
    return vocab.index.get({"word": EOS, BPE: NEWLINE}.get(unit, "\n"))


def scored(ids: np.ndarray, vocab: Vocabulary, unit: str) -> np.ndarray:
    """``ids`` with the boundary token first, as context only, so that scoring predicts every
    token of a text, the first from a line start (``rnnlm eval`` and training alike)."""
    start = boundary_id(vocab, unit)
    if start is None:
        return ids
    return np.concatenate([np.array([start], dtype=ids.dtype), ids])


def eval_ids(path: Path | str, vocab: Vocabulary, unit: str) -> tuple[np.ndarray, int]:
    """What ``rnnlm eval`` scores, boundary token first (``scored``), and its OOV count.

    ``path``: a text file, read in pieces (``-``: standard input), or a prepared folder (its
    test split, else valid) or one of its id files (``DIR/valid.ids``), which must have been
    prepared with the checkpoint's vocabulary and unit.
    """
    found = prepared_split(path)
    if found is None:
        ids, oov = encode_file(path, vocab, unit, stdin=True)
        return scored(ids, vocab, unit), oov
    folder, split = found
    data, ids = load_split(folder, split)
    if data.vocab.tokens != vocab.tokens or data.unit != unit:
        raise CorpusError(
            f"{path}: prepared with another vocabulary or unit than the checkpoint's; "
            "score its text files instead"
        )
    return scored(ids, vocab, unit), data.oov[split]
