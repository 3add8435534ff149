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

import mmap
import os
from collections.abc import Iterator

import numpy as np

from rnnlm.errors import CorpusError


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
    loaded into memory. The windows of a memory-mapped corpus (``batchify`` of a prepared
    split) are read from its file with plain reads, a stream's inputs and targets at once:
    pages of a map, once touched, would count in the process's memory, so that training on
    a large prepared corpus would take more memory than on a small one.
    """
    steps = inputs.shape[1]
    dtype = np.int32 if inputs.dtype.kind == "u" else inputs.dtype
    rows = _file_rows(inputs, targets)
    if rows is None:
        for k in range(start, num_windows(steps, bptt)):
            lo, hi = k * bptt, min((k + 1) * bptt, steps)
            xs = np.ascontiguousarray(inputs[:, lo:hi], dtype=dtype)
            yield xs, np.ascontiguousarray(targets[:, lo:hi], dtype=dtype)
        return
    path, first, stride = rows
    size = inputs.itemsize
    with open(path, "rb", buffering=0) as f:
        for k in range(start, num_windows(steps, bptt)):
            lo, hi = k * bptt, min((k + 1) * bptt, steps)
            xs = np.empty((inputs.shape[0], hi - lo), dtype)
            ts = np.empty_like(xs)
            for i in range(inputs.shape[0]):
                want = (hi - lo + 1) * size
                raw = os.pread(f.fileno(), want, first + i * stride + lo * size)
                if len(raw) != want:
                    raise CorpusError(f"{path}: shorter than when it was opened")
                block = np.frombuffer(raw, inputs.dtype)
                xs[i], ts[i] = block[:-1], block[1:]
            yield xs, ts


def _file_rows(inputs: np.ndarray, targets: np.ndarray) -> tuple[str, int, int] | None:
    """(file, byte position of ``inputs[0, 0]``, bytes between rows) when both are views of
    one memory-mapped file with ``targets`` one token after ``inputs`` (as ``batchify``
    makes them) and rows of consecutive tokens; else None."""
    mapped = getattr(inputs, "_mmap", None)
    if (
        not hasattr(os, "pread")
        or not isinstance(mapped, mmap.mmap)
        or getattr(targets, "_mmap", None) is not mapped
        or inputs.ndim != 2
        or inputs.strides[1] != inputs.itemsize
        or targets.strides != inputs.strides
        or targets.dtype != inputs.dtype
        or not inputs.dtype.isnative
        or not inputs.filename
    ):
        return None
    base = np.frombuffer(mapped, np.uint8).ctypes.data  # (the map's first byte)
    at = inputs.ctypes.data - base
    if targets.ctypes.data - base != at + inputs.itemsize:
        return None
    offset = int(inputs.offset)
    return (
        str(inputs.filename),
        offset - offset % mmap.ALLOCATIONGRANULARITY + at,
        inputs.strides[0],
    )
