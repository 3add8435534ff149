"""A prepared corpus: token ids on disk, read through ``np.memmap`` (written by prepare.py).

A prepared folder holds one flat file of ids per split, ``train.ids``, ``valid.ids``,
``test.ids`` (little-endian ``uint16`` when the vocabulary has at most 65,536 tokens, ids up to
65,535, else ``uint32``), ``stats.npz`` (the training split's n-gram counts) and
``meta.json``: format and version, unit, the vocabulary, the options it was prepared with,
and per split its token count, OOV count, sha256 and source. ``meta.json`` is written last
and the folder renamed into place, so a folder with it is complete.
"""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rnnlm.data.splits import SPLITS, VALID_FRACTION, Corpus
from rnnlm.data.subword import BPE, SubwordVocabulary
from rnnlm.data.vocab import Vocabulary
from rnnlm.errors import ConfigError, CorpusError

FORMAT = "rnnlm-prepared"
VERSION = 1  # written for word and char units
READ_VERSION = 2  # 2: a bpe folder, whose meta holds the tokenizer (rnnlm/data/subword.py)
META = "meta.json"
STATS = "stats.npz"
ID_SUFFIX = ".ids"

# memmap file -> (its token count, what prepare computed from it): see ``precomputed``
_PRECOMPUTED: dict[str, tuple[int, dict[str, Any]]] = {}


def id_file(split: str) -> str:
    return f"{split}{ID_SUFFIX}"


def is_prepared(path: Path | str) -> bool:
    path = Path(path)
    return path.is_dir() and (path / META).is_file()


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Write ``meta.json`` into ``folder`` (last: its presence marks the folder complete)."""
    with open(folder / META, "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False)
        f.write("\n")


def read_meta(folder: Path) -> dict[str, Any]:
    """``meta.json`` of a prepared folder, checked; CorpusError if it is not one."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{folder}: not a readable prepared corpus ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CorpusError(f"{folder}/{META}: not written by rnnlm prepare")
    if not isinstance(meta.get("version"), int) or meta["version"] > READ_VERSION:
        raise CorpusError(
            f"{folder}: prepared by a newer rnnlm (format {meta.get('version')}); "
            "upgrade rnnlm or prepare it again"
        )
    return meta


def load_prepared(
    folder: Path | str,
    unit: str | None = None,
    max_vocab: int = 0,
    min_count: int = 1,
    valid_fraction: float = VALID_FRACTION,
    subword_vocab: int = 0,
) -> Corpus:
    """A prepared folder as a Corpus of memmaps; the options, if given, must be its own."""
    folder = Path(folder)
    meta = read_meta(folder)
    own = {**meta.get("options", {}), "unit": meta["unit"]}
    given = {"unit": (unit, None), "max_vocab": (max_vocab, 0), "min_count": (min_count, 1),
             "valid_fraction": (valid_fraction, VALID_FRACTION),
             "subword_vocab": (subword_vocab, 0)}  # fmt: skip
    for name, (value, default) in given.items():
        if value != default and value != own.get(name, default):
            flag = "--" + name.replace("_", "-")
            raise ConfigError(
                f"{folder} was prepared with {flag} {own.get(name)}; {flag} {value} needs another "
                "`rnnlm prepare`"
            )
    vocab = meta_vocabulary(folder, meta)
    splits, sources, oov = {}, {}, {}
    for split in SPLITS:
        info = meta["splits"].get(split)
        if info is not None:
            splits[split] = open_ids(folder, split, info, meta["dtype"])
            sources[split], oov[split] = info["source"], info["oov"]
    if "train" not in splits or "valid" not in splits:
        raise CorpusError(f"{folder}: prepared corpus has no train or no valid split")
    _PRECOMPUTED[os.path.realpath(folder / id_file("train"))] = (
        meta["splits"]["train"]["tokens"],
        {"train_sha1": meta["train_sha1"], "stats": folder / STATS},
    )
    return Corpus(unit=meta["unit"], vocab=vocab, splits=splits, sources=sources, oov=oov)


def meta_vocabulary(folder: Path, meta: dict[str, Any]) -> Vocabulary:
    """The vocabulary of a prepared folder: a bpe folder's tokenizer must define its tokens."""
    if meta["unit"] != BPE:
        return Vocabulary(meta["vocab"])
    try:
        vocab = SubwordVocabulary(meta.get("tokenizer"))
    except (TypeError, ValueError) as exc:
        raise CorpusError(f"{folder}/{META}: tokenizer is not valid ({exc})") from None
    if vocab.tokens != meta["vocab"]:
        raise CorpusError(f"{folder}/{META}: tokenizer does not match the vocabulary")
    return vocab


def open_ids(folder: Path, split: str, info: dict[str, Any], dtype: str) -> np.ndarray:
    """A split's ids as a read-only memmap (L,), checked against its recorded size."""
    path = folder / id_file(split)
    n, dt = int(info["tokens"]), np.dtype(dtype)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size != n * dt.itemsize or n < 1:
        raise CorpusError(
            f"{path}: holds {size:,} bytes, expected {n:,} tokens of {dt.itemsize} bytes; "
            "prepare the corpus again"
        )
    return np.memmap(path, dtype=dt, mode="r", shape=(n,))


def precomputed(ids: np.ndarray, key: str) -> Any:
    """What prepare computed from a whole prepared training split (``train_sha1``, ``stats``),
    when ``ids`` is that split's memmap; else None."""
    if not isinstance(ids, np.memmap) or ids.ndim != 1 or ids.strides != (ids.itemsize,):
        return None
    entry = _PRECOMPUTED.get(os.path.realpath(str(ids.filename))) if ids.filename else None
    if entry is None or entry[0] != len(ids) or ids.offset != 0:
        return None
    value = entry[1][key]
    if key == "stats":
        with np.load(value) as z:
            return {k: z[k] for k in ("unigram", "bigram_codes", "bigram_counts")}
    return value


def prepared_split(path: Path | str) -> tuple[Path, str] | None:
    """(folder, split) for a prepared folder (its test split, else valid) or one of its id
    files (``DIR/valid.ids``); None for anything else."""
    path = Path(path)
    if is_prepared(path):
        meta = read_meta(path)
        return path, "test" if "test" in meta["splits"] else "valid"
    split = path.name.removesuffix(ID_SUFFIX)
    if path.name.endswith(ID_SUFFIX) and split in SPLITS and is_prepared(path.parent):
        return path.parent, split
    return None


def load_split(folder: Path, split: str) -> tuple[Corpus, np.ndarray]:
    """One split of a prepared folder: (the corpus, its ids)."""
    corpus = load_prepared(folder)
    if split not in corpus:
        raise CorpusError(f"{folder}: prepared corpus has no {split} split")
    return corpus, corpus[split]
