"""The feature-major layout the LSTM's and the GRU's loops run in.

A step's numbers are (G, N) and (H, N) arrays, features down and streams across, so that each
gate is a contiguous block of rows. At these sizes (N·H of a few thousand numbers) a numpy call
costs about as much as its arithmetic, and one on a strided block (a gate's columns of an
(N, G) row) up to twice one on a contiguous block. The recurrent product is then ``Wh^T h``,
with Wh on the left, where OpenBLAS splits it between its threads.

A cell's ``blocks`` say where each block of the parameters' G columns goes: (rows in the loop
layout, columns in the parameters, negated). Rows that feed a sigmoid hold the negated
pre-activation ``-a``, so ``sigmoid_rows`` makes ``1 / (1 + exp(-a))`` in three calls over
them all. Negation is exact, and so is moving numbers, so a cell in this layout gives the bits
of a plain step-by-step cell that takes its products in the same orientation
(``tests/reference_layers.py``).
"""

import numpy as np

from rnnlm.backend import array_module
from rnnlm.nn.buffers import Buffers

Blocks = tuple[tuple[slice, slice, bool], ...]

# (N, T, G) arrays get rows of G + PAD numbers: with G a multiple of 1024 (an LSTM with H = 256)
# the N rows of one step would sit a multiple of 4 KiB apart, in one set of the L1 cache, and
# the copies between the layouts ran 3-4x slower
PAD = 16


# A window may multiply by Wh^T as it is instead of by a copy in the loop layout, and then
# adds the products' blocks in three calls instead of one (two for the GRU). Copying costs
# about 1 ns a number of Wh, the two calls about 3.4 us a step (N = 1, as in evaluation).
CALLS_NS_PER_STEP = 3400


def copy_weights(N: int, T: int, D: int, H: int, G: int) -> bool:
    """Whether a window of N streams and T steps copies Wh (H, G) into the loop layout: when
    its steps' extra calls would cost more, or its elementwise work (N·T·G numbers) outweighs
    the copy's ((D + H)·G). Not for generation's N = T = 1."""
    return N * T >= D + H or T * CALLS_NS_PER_STEP >= H * G


def padded(buf: Buffers, name: str, N: int, T: int, G: int, dtype: np.dtype) -> np.ndarray:
    """An (N, T, G) view, from ``buf``, of rows G + PAD long (see PAD)."""
    return buf.get(name, (N * T, G + PAD), dtype)[:, :G].reshape(N, T, G)


def to_loop_layout(src: np.ndarray, out: np.ndarray, blocks: Blocks) -> None:
    """out (..., G, N) = ``src`` (N, ..., G), its columns placed and negated as ``blocks`` say
    (``src`` (H, G), a weight matrix: out (G, H), its transpose)."""
    xp = array_module(src)
    moved = xp.moveaxis(src, 0, -1)  # (..., G, N), a view
    for rows, cols, negated in blocks:
        if negated:
            xp.negative(moved[..., cols, :], out=out[..., rows, :])
        else:
            xp.copyto(out[..., rows, :], moved[..., cols, :])


def add_products(a: np.ndarray, rec: np.ndarray, blocks: Blocks) -> None:
    """a (G, N) += ``rec`` (G, N) in the parameters' order and signs, placed as ``blocks``
    say: how a short window adds ``Wh^T h`` without a copy of Wh in the loop layout."""
    xp = array_module(a)
    for rows, cols, negated in blocks:
        (xp.subtract if negated else xp.add)(a[rows], rec[cols], out=a[rows])


def sigmoid_rows(s: np.ndarray) -> None:
    """``s`` holds ``-a``; in place, ``sigmoid(a) = 1 / (1 + exp(-a))`` (an exp that
    overflows, for a < -88 in float32, gives 0: the caller ignores numpy's warning)."""
    xp = array_module(s)
    xp.exp(s, out=s)
    s += 1.0
    xp.reciprocal(s, out=s)


def to_batch_major(src: np.ndarray, out: np.ndarray) -> None:
    """out (N, T, X) = ``src`` (T, X, N): from the loop layout to the layers' one."""
    xp = array_module(src)
    xp.copyto(out, xp.moveaxis(src, 2, 0))


def to_feature_major(src: np.ndarray, out: np.ndarray) -> None:
    """out (T, X, N) = ``src`` (N, T, X): from the layers' layout to the loop one."""
    xp = array_module(src)
    xp.copyto(out, xp.moveaxis(src, 0, -1))
