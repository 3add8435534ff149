"""``rnnlm prepare``: a corpus's token ids written once to disk, for corpora of any size.

The text is read once, in pieces: each token gets a provisional id in order of first
appearance (written to a scratch file) and the training split's tokens are counted, so memory
holds the distinct tokens, never the text (a large file is read in spans by several processes,
with the same result: scratch.py). The vocabulary is then built from the counts
exactly as ``load_corpus`` builds it, and a second pass over the scratch ids (not the text)
writes the final ids, their sha256 and the training split's n-gram counts. Everything is
written into a temporary folder beside the destination and renamed into place at the end, so
an interrupted or failed prepare leaves nothing that looks prepared (prepared.py reads it).
"""

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rnnlm.data.corpus import resolve_files
from rnnlm.data.encode import Provisional, remap_table
from rnnlm.data.forked import cores, orphaned, start
from rnnlm.data.limits import check_disk
from rnnlm.data.prepared import FORMAT, STATS, VERSION, id_file, is_prepared, write_meta
from rnnlm.data.scratch import add_counts, scratch_ids
from rnnlm.data.splits import SPLITS, VALID_FRACTION
from rnnlm.data.stats import PIECE, NGramCounter, Sha1
from rnnlm.data.subword import BPE
from rnnlm.data.subword_prepare import check_options, write_bpe
from rnnlm.data.vocab import Vocabulary
from rnnlm.errors import ConfigError, CorpusError

# on_progress(what, done, total): bytes of text read, then tokens written; total None if unknown
Progress = Callable[[str, int, int | None], None]
TMP_TAG = ".tmp-"


def prepare_corpus(
    corpus: str,
    out: Path | str,
    *,
    unit: str | None = None,
    max_vocab: int = 0,
    min_count: int = 1,
    valid: Path | None = None,
    test: Path | None = None,
    valid_fraction: float = VALID_FRACTION,
    data_dir: Path | None = None,
    force: bool = False,
    on_progress: Progress | None = None,
    subword_vocab: int = 0,
) -> dict[str, Any]:
    """Prepare CORPUS (as ``rnnlm train`` takes it) into the folder ``out``; return its meta.

    Refuses an existing ``out`` unless it is a prepared folder and ``force`` is set.
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ConfigError(f"--valid-fraction must be in (0, 1), got {valid_fraction}")
    Vocabulary.from_counts({}, max_vocab, min_count)  # bad options: named before any reading
    out = Path(out)
    _check_out(out, force)
    if is_prepared(corpus):
        raise ConfigError(f"{corpus}: is already a prepared corpus")
    files, named_unit = resolve_files(corpus, data_dir)
    files.update({k: v for k, v in (("valid", valid), ("test", test)) if v is not None})
    if "valid" in files and valid_fraction != VALID_FRACTION:
        raise ConfigError(
            "--valid-fraction splits validation text off a corpus that has none; this one "
            f"has {files['valid']}"
        )
    unit = unit or named_unit or "word"
    check_options(unit, subword_vocab, max_vocab, min_count)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusError(f"cannot create {out.parent}: {exc.strerror or exc}") from None
    _clean_stale(out)
    check_disk(out.parent, sum(_size(p) for p in files.values()), unit)
    tmp = out.with_name(f".{out.name}{TMP_TAG}{os.getpid()}")
    try:
        tmp.mkdir()
        if unit == BPE:  # learned from the training split, then written (subword_prepare.py)
            meta = write_bpe(tmp, files, subword_vocab, valid_fraction, on_progress, _write_splits)
        else:
            meta = _write(tmp, files, unit, max_vocab, min_count, valid_fraction, on_progress)
        _move_into_place(tmp, out)
    except OSError as exc:
        raise CorpusError(f"cannot write {tmp}: {exc.strerror or exc}") from None
    finally:  # (also on Ctrl-C: nothing half-written stays)
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def _write(
    tmp: Path,
    files: dict[str, Path],
    unit: str,
    max_vocab: int,
    min_count: int,
    valid_fraction: float,
    on_progress: Progress | None,
) -> dict[str, Any]:
    """Both passes into ``tmp``; the meta, written last."""
    report = on_progress or (lambda what, done, total: None)
    prov = Provisional()
    counts = np.zeros(0, np.int64)
    sizes, sources = {}, {s: str(p) for s, p in files.items()}
    for split, path in files.items():
        on_bytes = lambda done, total, n=str(path): report(f"reading {n}", done, total)  # noqa: E731
        dest, count = tmp / f"{split}.prov", split == "train"
        sizes[split], c = scratch_ids(dest, path, unit, prov, on_bytes, count)
        counts = add_counts(counts, c)
    segments = {s: (tmp / f"{s}.prov", 0, n) for s, n in sizes.items()}
    if "valid" not in files:  # the last valid_fraction of the training text
        counts = _split_off_valid(tmp, files["train"], valid_fraction, counts, segments, sources)
    counts = add_counts(counts, np.zeros(len(prov), np.int64))
    by_token = dict(zip(prov.tokens, counts.tolist(), strict=True))
    vocab = Vocabulary.from_counts(by_token, max_vocab, min_count)
    del by_token, counts
    final, missing = remap_table(prov, vocab)
    dtype = np.dtype("<u2" if len(vocab) <= 1 << 16 else "<u4")
    table = (final, missing, len(vocab))
    splits, train_sha1 = _write_splits(tmp, segments, sources, table, dtype, report)
    options = {"max_vocab": max_vocab, "min_count": min_count}
    if "valid" not in files:
        options["valid_fraction"] = valid_fraction
    paths = {s: str(p) if str(p) == "-" else str(Path(p).resolve()) for s, p in files.items()}
    meta = {"format": FORMAT, "version": VERSION, "unit": unit, "dtype": dtype.str,
            "vocab_size": len(vocab), "options": options, "splits": splits,
            "train_sha1": train_sha1, "stats": STATS, "sources": paths,
            "vocab": vocab.tokens}  # fmt: skip
    write_meta(tmp, meta)
    return meta


def _write_splits(
    tmp: Path, segments: dict, sources: dict, table: tuple, dtype: np.dtype, report: Progress
) -> tuple[dict[str, Any], str]:
    """The second pass, for every unit: each split's final ids from its ``segments`` of scratch
    ids (``_final_ids``), the scratch files removed; (split -> its meta entry, the training
    split's sha1)."""
    total = sum(hi - lo for _, lo, hi in segments.values())
    done, splits, train_sha1 = 0, {}, ""
    for split in (s for s in SPLITS if s in segments):
        on_ids = lambda d, base=done: report("writing ids", base + d, total)  # noqa: E731
        info, extra = _final_ids(tmp, split, segments[split], table, dtype, on_ids)
        done += info["tokens"]
        splits[split] = {**info, "source": sources[split]}
        if split == "train":
            np.savez(tmp / STATS, **extra["stats"])
            train_sha1 = extra["sha1"]
    for path in {seg[0] for seg in segments.values()}:
        path.unlink()
    return splits, train_sha1


def _split_off_valid(
    tmp: Path, train: Path, fraction: float, counts: np.ndarray, segments: dict, sources: dict
) -> np.ndarray:
    """Make the training text's last ``fraction`` the valid split (``segments``, ``sources``);
    return the counts of the rest."""
    path, _, n = segments["train"]
    cut = n - round(n * fraction)
    if cut <= 0 or cut >= n:
        raise CorpusError(f"{train}: too short to split off a validation part")
    segments["train"], segments["valid"] = (path, 0, cut), (path, cut, n)
    sources["valid"] = f"{train} (last {fraction:.0%})"
    sources["train"] = f"{train} (first {1 - fraction:.0%})"
    return add_counts(counts, -_counts_of(path, cut, n))


def _counts_of(path: Path, lo: int, hi: int) -> np.ndarray:
    counts = np.zeros(0, np.int64)
    for piece in _pieces(path, lo, hi):
        counts = add_counts(counts, np.bincount(piece))
    return counts


def _pieces(path: Path, lo: int, hi: int):
    """Provisional ids ``lo:hi`` of a scratch file, ``PIECE`` at a time (plain reads, not a
    memory map, whose pages would stay resident)."""
    with open(path, "rb") as f:
        for a in range(lo, hi, PIECE):
            f.seek(a * 4)
            yield np.fromfile(f, dtype=np.uint32, count=min(PIECE, hi - a))


def _final_ids(
    tmp: Path, split: str, segment: tuple, table: tuple, dtype: np.dtype, report: Callable
) -> tuple[dict, dict]:
    """Write one split's final ids; (its meta entry, {"sha1", "stats"} for train).

    ``table``: (final id, out of vocabulary) of each provisional id (``remap_table``), V.
    The training split's n-grams are counted beside the writing: its first half in a second
    thread (numpy lets go of the interpreter), the second half in a forked child where a
    second core is ours (else in that thread too), and the counts added up at the end.
    """
    (path, lo, hi), (final, missing, vocab_size) = segment, table
    sha, sha1, ngrams = hashlib.sha256(), Sha1(), NGramCounter(vocab_size)
    half = lo + PIECE * (-(-(hi - lo) // PIECE) // 2)  # (where a piece starts)
    stored = final.astype(dtype)
    child = None
    if split == "train" and lo < half and cores() > 1:
        child = start(_count_ngrams, path, half, hi, final, vocab_size)
    oov = done = 0
    try:
        with open(tmp / id_file(split), "wb") as f, ThreadPoolExecutor(1) as worker:
            behind = None
            for piece in _pieces(path, lo, hi):
                oov += int(np.count_nonzero(missing[piece]))
                data = stored[piece].tobytes()
                f.write(data)
                sha.update(data)
                if split == "train":
                    ids = final[piece]
                    sha1.add(ids)
                    if child is None or lo + done < half:  # (where this piece starts)
                        behind = behind and behind.result()  # (one piece in flight at most)
                        behind = worker.submit(ngrams.add, ids)
                done += len(piece)
                report(done)
            if behind:
                behind.result()
        if child is not None:
            ngrams.merge(child.result())
    finally:
        if child is not None:
            child.kill()
    info = {"file": id_file(split), "tokens": hi - lo, "oov": oov, "sha256": sha.hexdigest()}
    return info, {"sha1": sha1.hexdigest(), "stats": ngrams.arrays()}


def _count_ngrams(path: Path, lo: int, hi: int, final: np.ndarray, vocab_size: int):
    """In a child: the n-grams of the scratch ids ``lo:hi`` as ``final`` ids, the first bigram
    being the one from the id before ``lo``."""
    counter = NGramCounter(vocab_size)
    with open(path, "rb") as f:
        f.seek((lo - 1) * 4)
        before = int(final[np.fromfile(f, dtype=np.uint32, count=1)[0]])
    for piece in _pieces(path, lo, hi):
        if orphaned():  # (this prepare was killed)
            raise ChildProcessError("the parent process has ended")
        counter.add(final[piece], before)
        before = None
    return counter


def _size(path: Path | str) -> int:
    try:
        return os.stat(path).st_size if str(path) != "-" and Path(path).is_file() else 0
    except OSError:
        return 0


def _check_out(out: Path, force: bool) -> None:
    if is_prepared(out):
        if not force:
            raise CorpusError(f"{out}: already holds a prepared corpus; --force replaces it")
    elif out.is_dir():
        if any(out.iterdir()):
            raise CorpusError(f"{out}: exists and is not a prepared corpus; choose another --out")
    elif out.exists() or out.is_symlink():
        raise CorpusError(f"{out}: exists and is not a folder; choose another --out")


def _clean_stale(out: Path) -> None:
    """Remove temporary folders left by prepares that were killed (their process is gone)."""
    for tmp in out.parent.glob(f".{out.name}{TMP_TAG}*"):
        pid = tmp.name.rpartition(TMP_TAG)[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process
        return True
    return True


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an old prepared ``out`` (``--force``) is removed after."""
    old = None
    if out.exists():
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        else:
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows
        fd = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
