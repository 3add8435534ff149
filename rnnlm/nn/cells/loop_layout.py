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
(``tests/reference_layers.py``, at the sizes it tests).
"""

import numpy as np

from rnnlm.backend import HOST, array_module
from rnnlm.nn.buffers import Buffers

Blocks = tuple[tuple[slice, slice, bool], ...]

# (N, T, G) arrays get rows of G + PAD numbers: with G a multiple of 1024 (an LSTM with H = 256)
# the N rows of one step would sit a multiple of 4 KiB apart, in one set of the L1 cache, and
# the copies between the layouts ran 3-4x slower
PAD = 16


# A window may multiply by Wh^T as it is instead of by a copy in the loop layout; a cell whose
# blocks are reordered then adds the products' blocks in more calls a step (the LSTM: three
# instead of one). Copying costs about 1 ns a number of Wh; a numpy call on a short window's
# vectors about 1.7 us (N = 1, as in evaluation).
CALL_NS = 1700


def copy_weights(N: int, T: int, D: int, H: int, G: int, extra_calls: int) -> bool:
    """Whether a window of N streams and T steps copies Wh (H, G) into the loop layout: when
    its elementwise work (N·T·G numbers) outweighs the copy's ((D + H)·G, as the weights'
    products are measured against their copies), or when the ``extra_calls`` a step it would
    make without the copy cost more than the copy. Generation's N = T = 1 copies only for a
    tiny model."""
    return N * T >= D + H or T * extra_calls * CALL_NS >= H * G


def padded(buf: Buffers, name: str, N: int, T: int, G: int, dtype: np.dtype) -> np.ndarray:
    """An (N, T, G) view, from ``buf``, of rows G + PAD long (see PAD) on the host; on a GPU
    not padded (there a strided matmul output costs a copy, and the cache sets are not ours)."""
    pad = PAD if buf.xp is HOST else 0
    return buf.get(name, (N * T, G + pad), dtype)[:, :G].reshape(N, T, G)


def project_inputs(
    buf: Buffers, xs: np.ndarray, Wx: np.ndarray, b: np.ndarray, blocks: Blocks
) -> np.ndarray:
    """``x Wx + b`` for all T steps of ``xs`` (N, T, D) in one product, in the parameters'
    layout, then moved into the loop layout: (T, G, N), in ``buf``."""
    xp = array_module(xs)
    N, T, D = xs.shape
    G = Wx.shape[1]
    gx = projection_buffer(buf, N, T, G, xs.dtype)
    gx2 = gx.reshape(N * T, G)
    xp.matmul(xs.reshape(N * T, D), Wx, out=gx2)
    gx2 += b
    gates = buf.get("gates", (T, G, N), xs.dtype)
    to_loop_layout(gx, gates, blocks)
    return gates


def projection_buffer(buf: Buffers, N: int, T: int, G: int, dtype: np.dtype) -> np.ndarray:
    """The (N, T, G) array ``project_inputs`` writes before moving it; spent after that, so a
    backward writes its gate gradients there (the layers' layout, for ``weight_grads``)."""
    return padded(buf, "gx", N, T, G, dtype)


def loop_weights(
    buf: Buffers, Wh: np.ndarray, N: int, T: int, D: int, blocks: Blocks, extra_calls: int
) -> np.ndarray | None:
    """Wh^T (G, H) in the loop layout, copied once a window, in ``buf``; None for a window
    that multiplies by Wh^T as it is (``copy_weights``, with the cell's ``extra_calls``)."""
    H, G = Wh.shape
    if not copy_weights(N, T, D, H, G, extra_calls):
        return None
    Wl = buf.get("Wl", (G, H), Wh.dtype)
    to_loop_layout(Wh, Wl, blocks)
    return Wl


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
