"""The softmax row work the output layers share: exponentials, row sums and the loss."""

from collections.abc import Callable

import numpy as np

from rnnlm.backend import HOST, array_module
from rnnlm.nn import parallel

# The unshifted path is kept for rows whose exponentials sum to between these. Above TINY_SUM
# the largest score is above about -55 (with V <= 1e4 tokens), so the terms that underflow are
# below e^-32 of it: the sum is exact to float32 rounding. Below HUGE_SUM, 1/sum and the
# backward's (1/(N·T))/sum stay normal floats (no subnormal loss of precision). Rows outside
# (rare: scores all below ~-46 or one above ~+46) take the max-shifted path.
TINY_SUM, HUGE_SUM = 1e-20, 1e20


def exp_sum(src: np.ndarray, dst: np.ndarray, sums: np.ndarray) -> None:
    """``dst = exp(src)`` unshifted (``dst`` may be ``src``) and ``sums`` (rows,) its row sums:
    the work per cached piece of rows. Rows that overflow or underflow as a whole are left to
    ``finish_rows``."""
    xp = array_module(src)
    with np.errstate(over="ignore", under="ignore"):  # (numpy's warnings; a GPU raises none)
        xp.exp(src, out=dst)
    row_sums(dst, sums)


def row_sums(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` (rows,) = the row sums of ``a`` (rows, V)."""
    xp = array_module(a)
    if xp is HOST:
        return xp.einsum("ij->i", a, out=out)  # ~3x faster than np.sum(axis=1) here
    return xp.sum(a, axis=1, out=out)  # (CuPy's einsum takes no out)


def finish_rows(
    e: np.ndarray,
    sums: np.ndarray,
    target: np.ndarray,
    t: np.ndarray,
    nll: np.ndarray,
    rescore: Callable[[np.ndarray], np.ndarray],
) -> None:
    """After ``exp_sum`` over all rows: ``nll = log(sums) - target`` (``target``: the targets'
    scores ``s_t``), with the rows whose sum fell outside (TINY_SUM, HUGE_SUM) redone first.

    Softmax is the same for any per-row shift, so the shift is 0 unless a row overflows or
    underflows as a whole; such a row gets the row max as its shift, as usual (log-sum-exp,
    finite even when a target's probability underflows to 0): its scores come from
    ``rescore(rows)`` (a new array), ``e``, ``sums`` and ``target`` are rewritten shifted. The
    rows are redone a cache-sized piece at a time, so even a diverging step that redoes every
    row needs no second (rows, V) array.
    """
    xp = array_module(e)
    ok = sums > TINY_SUM
    ok &= sums < HUGE_SUM  # also False for inf and NaN
    bad = xp.flatnonzero(~ok)  # (usually none; on a GPU, its count is read on the host)
    piece = max(1, parallel.CACHE_ELEMENTS // e.shape[1])
    for start in range(0, len(bad), piece):
        rows = bad[start : start + piece]
        s = rescore(rows)
        s -= xp.max(s, axis=1, keepdims=True)
        target[rows] = s[xp.arange(len(rows)), t[rows]]
        xp.exp(s, out=s)
        e[rows] = s
        sums[rows] = row_sums(s, xp.empty(len(rows), s.dtype))
    xp.subtract(xp.log(sums), target, out=nll)
