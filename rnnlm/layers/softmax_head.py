"""TimeSoftmaxHead: TimeAffine and TimeSoftmaxWithLoss fused, the fast full-softmax output layer.

The same mathematics as the pair ``TimeAffine -> TimeSoftmaxWithLoss`` (tests hold them equal),
arranged so the (N·T, V) score matrix crosses main memory as few times as possible:

- forward: one matmul writes the scores; then, in row chunks small enough to stay in a core's
  L2 cache, the bias is added and exp, row sum, loss and normalisation run while the chunk
  is cached (no max pass: see ``exp_rows``), in parallel blocks (``rnnlm.parallel``). The
  probabilities overwrite the scores: one (N·T, V) array in all.
- backward: ``p - onehot`` is made in place (N·T scattered subtractions). The 1/(N·T) scale of
  the mean goes onto the small matrices instead of the big one, and the bias gradient (column
  sums) comes out of the weight-gradient matmul as one extra row, from a ones column appended
  to the input: ``[x, 1]^T (p - onehot) = [dW; db]``. So backward adds no pass over the
  (N·T, V) matrix beyond the two matmuls themselves.
"""

import numpy as np

from rnnlm import parallel
from rnnlm.layers.buffers import Buffers
from rnnlm.layers.softmax import exp_rows
from rnnlm.parallel import for_blocks


class TimeSoftmaxHead:
    """``loss = mean_t -log softmax(h_t W + b)[target_t]`` over all N·T positions.

    ``params`` are ``[W (H, V), b (V,)]``; ``W`` may be a view (tied weights: the embedding
    transposed). ``grads`` are views into one (H + 1 + padding, V) array, written by one matmul.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.params = [W, b]
        H, V = W.shape
        # [dW; db], padded with zero rows to a multiple of 8: OpenBLAS is faster at such
        # shapes (D = H = 100: 104 rows take 10% less time than 101)
        self._rows = -(-(H + 1) // 8) * 8
        self._dWb = np.zeros((self._rows, V), dtype=W.dtype)
        self.grads = [self._dWb[:H], self._dWb[H]]
        self.token_nll: np.ndarray | None = None  # (N, T): per-token loss of the last forward
        self._x2: np.ndarray | None = None
        self._p: np.ndarray | None = None  # (N·T, V): probabilities, then p - onehot
        self._ts: np.ndarray | None = None
        self._shifted = False  # whether _p already holds p - onehot
        self._buf = Buffers()

    def scores(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T, H) -> logits (N, T, V), softmax-able (no loss, no cache for backward)."""
        W, b = self.params
        N, T, H = xs.shape
        out = self._buf.get("scores", (N * T, W.shape[1]), xs.dtype)
        np.matmul(xs.reshape(N * T, H), W, out=out)
        out += b
        return out.reshape(N, T, -1)

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """xs: (N, T, H) float, ts: (N, T) int -> mean NLL (nats) as a Python float."""
        W, b = self.params
        N, T, H = xs.shape
        M, V = N * T, W.shape[1]
        self._x2 = x2 = xs.reshape(M, H)
        t = ts.reshape(M)
        p = self._buf.get("p", (M, V), xs.dtype)
        nll = self._buf.get("nll", (M,), xs.dtype)
        np.matmul(x2, W, out=p)

        def rows(c: slice) -> None:
            pc = p[c]
            pc += b

            def rescore(bad: np.ndarray) -> np.ndarray:  # rows exp_rows must redo
                return x2[c][bad] @ W + b

            sums = exp_rows(pc, pc, t[c], nll[c], rescore)
            pc *= np.reciprocal(sums, out=sums)

        for_blocks(rows, M, M * V, chunk=max(1, parallel.CACHE_ELEMENTS // V))
        self._p, self._ts, self._shifted = p, t, False
        self.token_nll = nll.reshape(N, T)
        return float(np.mean(nll, dtype=np.float64))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """dout: scalar -> dxs (N, T, H); writes dW (H, V) and db (V,)."""
        W, _ = self.params
        p, t, x2 = self._p, self._ts, self._x2
        M, H = x2.shape
        if not self._shifted:  # p - onehot, once (backward may be called again)
            p[np.arange(M), t] -= 1
            self._shifted = True
        scale = dout / M
        xa = self._buf.get("x1", (M, self._rows), x2.dtype)  # [scale * x, scale, 0...]
        np.multiply(x2, scale, out=xa[:, :H])
        xa[:, H] = scale
        xa[:, H + 1 :] = 0
        np.matmul(xa.T, p, out=self._dWb)
        dx = self._buf.get("dx", (M, H), x2.dtype)
        np.matmul(p, W.T, out=dx)
        dx *= scale
        return dx.reshape(*self.token_nll.shape, H)
