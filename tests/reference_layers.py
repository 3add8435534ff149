"""Plain layers the fused output layer (``TimeSoftmaxHead``) is checked against.

``TimeAffine`` then ``TimeSoftmaxWithLoss`` is the textbook pair the fused head replaces; the
tests hold the head equal to it, and gradient-check both.
"""

import numpy as np

from rnnlm.nn.buffers import Buffers
from rnnlm.nn.heads.softmax import exp_sum, finish_rows
from rnnlm.nn.parallel import MIN_ELEMENTS, REDUCE_PARTS, blocks, for_blocks


class TimeAffine:
    """``y_t = x_t W + b`` for all N·T positions in one (N·T, H) @ (H, V) product."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self._x2: np.ndarray | None = None
        self._buf = Buffers()

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T, H) -> (N, T, V) in xs' dtype."""
        W, b = self.params
        N, T, H = xs.shape
        self._x2 = x2 = xs.reshape(N * T, H)
        out = self._buf.get("out", (N * T, W.shape[1]), xs.dtype)
        np.matmul(x2, W, out=out)

        def add_bias(rows: slice) -> None:
            out[rows] += b

        for_blocks(add_bias, N * T, out.size)
        return out.reshape(N, T, -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (N, T, V) -> dxs (N, T, H); writes dW (H, V) and db (V,)."""
        W, _ = self.params
        dW, db = self.grads
        N, T, V = dout.shape
        d2 = dout.reshape(N * T, V)
        np.matmul(self._x2.T, d2, out=dW)
        # db = column sums of d2: partial sums over row blocks, in parallel, then added
        # a fixed split (not the core count), so results do not depend on the machine
        parts = blocks(N * T, REDUCE_PARTS if d2.size >= MIN_ELEMENTS else 1)
        partial = self._buf.get("db_parts", (len(parts), V), dout.dtype)

        def col_sums(k: slice) -> None:
            for i in range(k.start, k.stop):
                np.sum(d2[parts[i]], axis=0, out=partial[i])

        for_blocks(col_sums, len(parts), d2.size)
        np.sum(partial, axis=0, out=db)
        dx = self._buf.get("dx", (N * T, W.shape[0]), dout.dtype)
        np.matmul(d2, W.T, out=dx)
        return dx.reshape(N, T, -1)


class TimeSoftmaxWithLoss:
    """Mean negative log-likelihood of the targets; backward gives (p - onehot) / (N·T).

    Forward keeps ``exp(s - shift)`` (see ``finish_rows``) and its row sums; the division that
    makes probabilities happens once, in backward, fused with the scaling (one pass over the
    (N·T, V) array instead of two). Rows are processed in parallel blocks (``rnnlm.nn.parallel``).
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.token_nll: np.ndarray | None = None  # (N, T): per-token loss of the last forward
        self._exp: np.ndarray | None = None  # (N·T, V): exp(s - shift), shift per row
        self._sums: np.ndarray | None = None  # (N·T,): its row sums
        self._ts: np.ndarray | None = None
        self._buf = Buffers()

    def forward(self, scores: np.ndarray, ts: np.ndarray) -> float:
        """scores: (N, T, V) float, ts: (N, T) int -> mean NLL (nats) as a Python float."""
        N, T, V = scores.shape
        M = N * T
        s2 = scores.reshape(M, V)
        t = ts.reshape(M)
        e = self._buf.get("exp", (M, V), scores.dtype)
        sums = self._buf.get("sums", (M,), scores.dtype)
        nll = self._buf.get("nll", (M,), scores.dtype)

        target = s2[np.arange(M), t]  # s_t (a copy)

        def rows(b: slice) -> None:
            exp_sum(s2[b], e[b], sums[b])

        for_blocks(rows, M, M * V)
        finish_rows(e, sums, target, t, nll, s2.__getitem__)
        self._exp, self._sums, self._ts = e, sums, t
        self.token_nll = nll.reshape(N, T)
        return float(np.mean(nll, dtype=np.float64))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """dout: scalar -> dscores (N, T, V)."""
        e, sums, t = self._exp, self._sums, self._ts
        M, V = e.shape
        N, T = self.token_nll.shape
        dx = self._buf.get("dx", (M, V), e.dtype)
        scale = self._buf.get("scale", (M, 1), e.dtype)
        np.divide(dout / M, sums[:, None], out=scale)

        def rows(b: slice) -> None:
            np.multiply(e[b], scale[b], out=dx[b])
            dx[np.arange(b.start, b.stop), t[b]] -= dout / M

        for_blocks(rows, M, M * V)
        return dx.reshape(N, T, V)
