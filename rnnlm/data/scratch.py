"""The first pass of ``rnnlm prepare``: a text's provisional ids into a scratch file, with the
count of each id, read on as many cores as help.

Every token gets the next provisional id when it first appears (``Provisional``). A large
regular file is cut at line ends into spans (``line_spans``), one per core: this process
numbers the first span with the shared ``Provisional`` while forked children (``Forked``) each
number one of the others with a new one, into scratch files of their own. Each child's tokens
are then added to the shared numbering, in file order, which gives every token the id it
would have had if the whole file had been read by one process; the child's ids are mapped to
those and appended. The scratch file and the counts are therefore exactly those of a read in
order (``_numbered``), which every other input gets. (Where no child can be made, this
process reads that span itself, after the first: ``start``.) When a span cannot be read (not UTF-8,
binary, a line too long) the file is read once more in order, so that the message names the
first problem with the byte and line numbers of the whole file.
"""

import mmap
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from rnnlm.data.encode import Provisional
from rnnlm.data.forked import Forked, Inline, cores, orphaned, start
from rnnlm.data.stream import line_spans, read_chunks
from rnnlm.errors import CorpusError

SPAN_BYTES = 16 << 20  # the least text worth a process of its own
WORKERS = 4  # processes at most (each holds a vocabulary of its own)
PIECE = 1 << 20  # ids read from a scratch file at a time


def scratch_ids(
    dest: Path,
    path: Path,
    unit: str,
    prov: Provisional,
    on_bytes: Callable[[int, int | None], None] | None,
    count: bool,
) -> tuple[int, np.ndarray]:
    """Provisional ids of the text ``path`` (``prov`` numbers new tokens) into ``dest``:
    (tokens, the count of each provisional id if ``count``, else an empty array)."""
    spans = line_spans(path, min(cores(), WORKERS), SPAN_BYTES)
    if spans is None:
        return _numbered(dest, read_chunks(path, on_bytes), unit, prov, count)
    try:
        return _in_spans(dest, path, spans, unit, prov, on_bytes, count)
    except CorpusError:
        for _ in read_chunks(path):  # (raises the same problem, as the file's first)
            pass
        raise


def _in_spans(
    dest: Path,
    path: Path,
    spans: list[tuple[int, int]],
    unit: str,
    prov: Provisional,
    on_bytes: Callable[[int, int | None], None] | None,
    count: bool,
) -> tuple[int, np.ndarray]:
    """``scratch_ids`` of a file cut into ``spans``: the first here, each other by a child."""
    size = spans[-1][1]
    # bytes each span's reader has read, in memory shared with the children (for progress)
    shared = mmap.mmap(-1, 8 * len(spans))
    done = np.frombuffer(shared, np.int64)
    parts = [dest.with_name(f"{dest.name}.{k}") for k in range(1, len(spans))]
    children: list[Forked | Inline] = []
    try:
        for k, part in enumerate(parts, 1):
            children.append(start(_number_span, path, spans[k], unit, part, count, done, k))

        def progress(read: int, _total: int | None) -> None:
            done[0] = read
            if on_bytes:
                on_bytes(int(done.sum()), size)

        pieces = read_chunks(path, progress, span=spans[0])
        n, counts = _numbered(dest, pieces, unit, prov, count)
        for child, part in zip(children, parts, strict=True):
            tokens, part_counts, part_n = child.result()
            ids = prov.encode(tokens)  # (their ids as read in order; new ones get the next)
            _append_mapped(dest, part, ids)
            part.unlink()
            n += part_n
            if count:
                mapped = np.zeros(len(prov), np.int64)
                mapped[ids[: len(part_counts)]] = part_counts
                counts = add_counts(counts, mapped)
            if on_bytes:
                on_bytes(int(done.sum()), size)
    finally:
        for child in children:
            child.kill()
    return n, counts


def _number_span(
    path: Path, span: tuple[int, int], unit: str, dest: Path, count: bool, done, k: int
) -> tuple[list[str], np.ndarray, int]:
    """In a child: a span's ids by a numbering of its own into ``dest``; (its tokens by id,
    the counts, the number of tokens). ``done[k]``: bytes read so far."""

    def progress(read: int, _total: int | None) -> None:
        done[k] = read

    prov = Provisional()
    n, counts = _numbered(dest, read_chunks(path, progress, span=span), unit, prov, count)
    return prov.tokens, counts, n


def _numbered(
    dest: Path, pieces: Iterable[str], unit: str, prov: Provisional, count: bool
) -> tuple[int, np.ndarray]:
    """The provisional ids of the text ``pieces`` into ``dest``: (tokens, their counts if
    ``count``). The ids are written and counted in a second thread while the next piece is
    read."""
    n, counts = 0, np.zeros(0, np.int64)

    def store(ids: np.ndarray) -> None:
        nonlocal counts
        f.write(ids.tobytes())
        if count:
            counts = add_counts(counts, np.bincount(ids))

    with open(dest, "wb") as f, ThreadPoolExecutor(1) as worker:
        behind = None
        for piece in pieces:
            if orphaned():  # (a child whose parent was killed)
                raise ChildProcessError("the parent process has ended")
            ids = prov.encode_piece(piece, unit)
            n += len(ids)
            behind = behind and behind.result()  # (one piece in flight at most)
            behind = worker.submit(store, ids)
        if behind:
            behind.result()
    return n, counts


def _append_mapped(dest: Path, part: Path, ids: np.ndarray) -> None:
    """Append the ids of the scratch file ``part`` to ``dest``, each id ``i`` as ``ids[i]``."""
    with open(part, "rb") as src, open(dest, "ab") as f:
        while (piece := np.fromfile(src, dtype=np.uint32, count=PIECE)).size:
            f.write(ids.take(piece).tobytes())


def add_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts ``a + b``, the shorter one padded with zeros."""
    if len(a) < len(b):
        a, b = b, a
    a = a.astype(np.int64)  # (a copy: never changes a caller's array)
    a[: len(b)] += b
    return a
