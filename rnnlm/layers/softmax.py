"""TimeSoftmaxWithLoss: softmax over the vocabulary and mean cross-entropy over N·T tokens."""

import numpy as np

from rnnlm.layers.buffers import Buffers
from rnnlm.parallel import for_blocks


def exp_rows(src: np.ndarray, dst: np.ndarray, t: np.ndarray, nll: np.ndarray) -> np.ndarray:
    """The row work of a softmax loss, shared by the plain and the fused layer.

    ``dst = exp(src - rowmax)`` (``dst`` may be ``src``), ``nll = log(rowsum) - (src_t - max)``
    for the targets ``t``; returns the row sums, shape (rows, 1). The log-sum-exp form stays
    finite even when a target's probability underflows to 0.
    """
    np.subtract(src, np.max(src, axis=1, keepdims=True), out=dst)
    target = dst[np.arange(dst.shape[0]), t]  # s_t - max, before exponentiation
    np.exp(dst, out=dst)
    sums = np.sum(dst, axis=1, keepdims=True)
    np.subtract(np.log(sums[:, 0]), target, out=nll)
    return sums


class TimeSoftmaxWithLoss:
    """Mean negative log-likelihood of the targets; backward gives (p - onehot) / (N·T).

    Forward keeps ``exp(s - max)`` and its row sums; the division that makes probabilities
    happens once, in backward, fused with the scaling (one pass over the (N·T, V) array
    instead of two). Rows are processed in parallel blocks (``rnnlm.parallel``).
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.token_nll: np.ndarray | None = None  # (N, T): per-token loss of the last forward
        self._exp: np.ndarray | None = None  # (N·T, V): exp(s - rowmax)
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

        def rows(b: slice) -> None:
            sums[b] = exp_rows(s2[b], e[b], t[b], nll[b])[:, 0]

        for_blocks(rows, M, M * V)
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
