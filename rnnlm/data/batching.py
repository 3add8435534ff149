"""Batching for stateful truncated BPTT: N streams, windows of T steps.

The token ids are cut into N equal streams that start at evenly spaced offsets; stream i is
row i. Inputs and targets are the same rows shifted by one token::

    ids:      a b c d e f g h i j k l m n o p q r s t u v w x y z      (N = 2, T = 4)

    inputs    | a b c d | e f g h | i j k l |        window 0, 1, 2 (the last may be shorter)
              | m n o p | q r s t | u v w x |
    targets   | b c d e | f g h i | j k l m |
              | n o p q | r s t u | v w x y |

Window k+1 of stream i continues window k of stream i, which is what lets the hidden state be
carried from one window to the next. Tokens that do not fill the last column are dropped.

Nothing is copied but the window being used: ``batchify`` returns views of ``ids``, an array in
memory or a prepared corpus's ``np.memmap``, so stream i's window is read from its own
stretch of the file when ``windows`` takes it.
"""

import contextlib
import mmap
from collections.abc import Iterator

import numpy as np

from rnnlm.errors import CorpusError

RELEASE_EVERY = 64  # windows between releases of a memory-mapped corpus's pages


def batchify(ids: np.ndarray, n_streams: int) -> tuple[np.ndarray, np.ndarray]:
    """ids (L,) -> inputs (N, S), targets (N, S), with S = (L - 1) // N steps per stream.

    Both are views of ``ids`` (of a contiguous ``ids``: a memmap stays a memmap).
    """
    steps = (len(ids) - 1) // n_streams
    if steps < 1:
        raise CorpusError(
            f"corpus of {len(ids)} tokens is too short for {n_streams} streams; "
            "use a smaller --batch-size or a longer corpus"
        )
    used = n_streams * steps
    inputs = ids[:used].reshape(n_streams, steps)
    targets = ids[1 : used + 1].reshape(n_streams, steps)
    return inputs, targets


def num_windows(steps: int, bptt: int) -> int:
    return -(-steps // bptt)


def windows(
    inputs: np.ndarray, targets: np.ndarray, bptt: int, start: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (xs, ts), each (N, T) and contiguous, for windows ``start``, ``start + 1``, ...

    Ids stored unsigned (a prepared corpus's uint16/uint32) come out as int32, like those
    loaded into memory.
    """
    steps = inputs.shape[1]
    dtype = np.int32 if inputs.dtype.kind == "u" else None
    mapped = getattr(inputs, "_mmap", None)
    for k in range(start, num_windows(steps, bptt)):
        lo, hi = k * bptt, min((k + 1) * bptt, steps)
        xs = np.ascontiguousarray(inputs[:, lo:hi], dtype=dtype)
        yield xs, np.ascontiguousarray(targets[:, lo:hi], dtype=dtype)
        if mapped is not None and k % RELEASE_EVERY == RELEASE_EVERY - 1:
            _release(mapped)


def _release(mapped: mmap.mmap) -> None:
    """Unmap the pages of a memory-mapped corpus read so far (they stay in the page cache):
    without this, the pages of every window read stay in the process's resident memory."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        mapped.madvise(mmap.MADV_DONTNEED)
