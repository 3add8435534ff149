"""TimeSoftmaxHead: an affine map and softmax with loss fused, the fast full-softmax output layer.

The same mathematics as an affine layer followed by a softmax with loss (tests hold it equal to
the plain pair in tests/reference_layers.py),
arranged so the (N·T, V) score matrix crosses main memory as few times as possible:

- forward: one matmul writes the scores, the bias included when ``b`` is stored as the row
  after ``W`` (``with_bias_row``, as the model stores an untied output layer: the product
  runs on ``[x, 1]``, one input column more, instead of adding b in a pass of its own). Then,
  in row chunks small enough to stay in a core's L2 cache, exp and row sum run while the
  chunk is cached (no max pass: see ``finish_rows``), in parallel blocks (``rnnlm.nn.parallel``);
  the loss follows, once for all rows. The exponentials ``e`` overwrite the scores: one
  (N·T, V) array in all. They are not normalised: ``p = e / s`` row by row (``s`` the row
  sums), and the division is left to the small matrices of backward.
- backward: ``p - onehot = (e - s onehot) / s``, so ``e - s onehot`` is made in place (N·T
  scattered subtractions, undone afterwards from a copy of those N·T entries: the cache stays
  as forward left it) and the rows' 1/s, with the 1/(N·T) of the mean, go onto the small
  matrices instead of the big one: onto the rows of ``x`` in ``x^T (p - onehot)``, and onto
  the rows of the (N·T, H) product ``(e - s onehot) W^T``. The bias gradient (column sums)
  comes out of the weight-gradient matmul as one extra row, from a column of those factors
  appended to the input: ``[x, 1]^T (p - onehot) = [dW; db]``. So backward adds no pass over
  the (N·T, V) matrix beyond the two matmuls themselves.
"""

from typing import TYPE_CHECKING

import numpy as np

from rnnlm.backend import array_module, data_pointer, scalar
from rnnlm.nn import parallel
from rnnlm.nn.buffers import Buffers
from rnnlm.nn.heads.base import Head, output_matrix
from rnnlm.nn.heads.softmax import exp_sum, finish_rows
from rnnlm.nn.parallel import for_blocks

if TYPE_CHECKING:
    from rnnlm.config import ModelConfig


def with_bias_row(W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``W`` (H, V) and ``b`` (V,) as views of one (H + 1, V) array ``[W; b]``, which
    ``TimeSoftmaxHead`` multiplies by ``[x, 1]`` in one product."""
    Wb = array_module(W).empty((W.shape[0] + 1, W.shape[1]), W.dtype)
    Wb[:-1], Wb[-1] = W, b
    return Wb[:-1], Wb[-1]


def joined(W: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """``[W; b]`` as one (H + 1, V) array when ``with_bias_row`` made them, else None."""
    base = W.base
    if (
        isinstance(base, array_module(W).ndarray)
        and b.base is base
        and base.shape == (W.shape[0] + 1, W.shape[1])
        and base.flags.c_contiguous
        and data_pointer(W) == data_pointer(base)
        and data_pointer(b) == data_pointer(base[-1])
    ):
        return base
    return None


class TimeSoftmaxHead(Head):
    """``loss = mean_t -log softmax(h_t W + b)[target_t]`` over all N·T positions.

    ``params`` are ``[W (H, V), b (V,)]``; ``W`` may be a view (tied weights: the embedding
    transposed), or ``W`` and ``b`` the rows of one array (``with_bias_row``), which saves the
    forward a pass. ``grads`` are views into one (H + 1, V) array ``[dW; db]``, written by one
    matmul.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.params = [W, b]
        self._Wb = joined(W, b)
        H, V = W.shape
        # [dW; db], not padded: on the AVX2 machine 104 rows took 10% less time than 101 (D =
        # H = 100); on the AVX-512 one 101 and 104 rows take the same, and 257 rows 0.5–2 ms
        # less than 264 (M)
        self._dWb = array_module(W).zeros((H + 1, V), dtype=W.dtype)
        self.grads = [self._dWb[:H], self._dWb[H]]
        self.token_nll: np.ndarray | None = None  # (N, T): per-token loss of the last forward
        self._x2: np.ndarray | None = None
        self._e: np.ndarray | None = None  # (N·T, V): exp(scores - shift), then e - s onehot
        self._sums: np.ndarray | None = None  # (N·T,): s, the row sums of e
        self._ts: np.ndarray | None = None
        self._buf = Buffers(array_module(W))

    @classmethod
    def from_params(cls, params: dict[str, np.ndarray], cfg: "ModelConfig") -> "TimeSoftmaxHead":
        """Untied, ``out.W`` and ``out.b`` are replaced in ``params``, once, by same-valued rows
        of one ``[W; b]`` array (``with_bias_row``), so models built from one dict share it."""
        if not cfg.tie_weights and joined(params["out.W"], params["out.b"]) is None:
            params["out.W"], params["out.b"] = with_bias_row(params["out.W"], params["out.b"])
        return cls(output_matrix(params, cfg), params["out.b"])

    def scores(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T, H) -> logits (N, T, V), softmax-able (no loss, no cache for backward)."""
        N, T, H = xs.shape
        out = self._buf.get("scores", (N * T, self.params[0].shape[1]), xs.dtype)
        if not self._affine(xs.reshape(N * T, H), out):
            out += self.params[1]
        return out.reshape(N, T, -1)

    def _affine(self, x2: np.ndarray, out: np.ndarray) -> bool:
        """out = x2 W, plus b if W and b are joined (then returns True)."""
        xp = array_module(x2)
        if self._Wb is None:
            xp.matmul(x2, self.params[0], out=out)
            return False
        M, H = x2.shape
        xa = self._buf.get("x_one", (M, H + 1), x2.dtype)  # [x, 1]
        xa[:, :H] = x2
        xa[:, H] = 1
        xp.matmul(xa, self._Wb, out=out)
        return True

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """xs: (N, T, H) float, ts: (N, T) int -> mean NLL (nats) as a Python float (on a GPU, a
        0-d device array: ``backend.scalar``)."""
        xp = array_module(xs)
        W, b = self.params
        N, T, H = xs.shape
        M, V = N * T, W.shape[1]
        self._x2 = x2 = xs.reshape(M, H)
        t = ts.reshape(M)
        e = self._buf.get("e", (M, V), xs.dtype)
        sums = self._buf.get("sums", (M,), xs.dtype)
        nll = self._buf.get("nll", (M,), xs.dtype)
        biased = self._affine(x2, e)
        target = e[xp.arange(M), t]  # s_t, before exponentiation (a copy)
        if not biased:
            target += b[t]

        def rows(c: slice) -> None:
            ec = e[c]
            if not biased:
                ec += b
            exp_sum(ec, ec, sums[c])

        for_blocks(rows, M, M * V, chunk=max(1, parallel.CACHE_ELEMENTS // V), like=e)
        # the rows' scalar work once for all rows, not per piece
        finish_rows(e, sums, target, t, nll, lambda bad: x2[bad] @ W + b)
        self._e, self._sums, self._ts = e, sums, t
        self.token_nll = nll.reshape(N, T)
        return scalar(xp.mean(nll, dtype=np.float64))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """dout: scalar -> dxs (N, T, H); writes dW (H, V) and db (V,). The forward's cache is
        as it was afterwards (the targets' entries of ``e`` are changed, then put back)."""
        W, _ = self.params
        e, sums, t, x2 = self._e, self._sums, self._ts, self._x2
        xp = array_module(e)
        M, H = x2.shape
        at = (xp.arange(M), t)
        target = e[at]  # (a copy) the entries e - s onehot changes
        e[at] = target - sums
        try:
            r = self._buf.get("r", (M, 1), x2.dtype)  # dout / (M s): the mean's and rows' 1/s
            xp.divide(dout / M, sums[:, None], out=r)
            xa = self._buf.get("x1", (M, H + 1), x2.dtype)  # [r x, r]
            xp.multiply(x2, r, out=xa[:, :H])
            xa[:, H:] = r
            xp.matmul(xa.T, e, out=self._dWb)
            dx = self._buf.get("dx", (M, H), x2.dtype)
            xp.matmul(e, W.T, out=dx)
            dx *= r
        finally:
            e[at] = target
        return dx.reshape(*self.token_nll.shape, H)
