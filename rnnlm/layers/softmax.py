"""TimeSoftmaxWithLoss: softmax over the vocabulary and mean cross-entropy over N·T tokens."""

import numpy as np

from rnnlm.layers.buffers import Buffers


class TimeSoftmaxWithLoss:
    """Mean negative log-likelihood of the targets; backward gives (p - onehot) / (N·T)."""

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.token_nll: np.ndarray | None = None  # (N, T): per-token loss of the last forward
        self._probs: np.ndarray | None = None
        self._ts: np.ndarray | None = None
        self._buf = Buffers()

    def forward(self, scores: np.ndarray, ts: np.ndarray) -> float:
        """scores: (N, T, V) float, ts: (N, T) int -> mean NLL (nats) as a Python float."""
        N, T, V = scores.shape
        M = N * T
        s2 = scores.reshape(M, V)
        t = ts.reshape(M)
        rows = np.arange(M)
        probs = self._buf.get("probs", (M, V), scores.dtype)
        smax = np.max(s2, axis=1, keepdims=True)
        np.subtract(s2, smax, out=probs)
        target_shifted = probs[rows, t]  # s_t - max, read before probs is exponentiated
        np.exp(probs, out=probs)
        sums = np.sum(probs, axis=1, keepdims=True)
        # log-sum-exp form: stays finite even when a target's probability underflows to 0.
        nll = np.log(sums[:, 0]) - target_shifted
        probs *= 1.0 / sums
        self._probs, self._ts = probs, t
        self.token_nll = nll.reshape(N, T)
        return float(np.mean(nll, dtype=np.float64))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """dout: scalar -> dscores (N, T, V)."""
        probs, t = self._probs, self._ts
        M, V = probs.shape
        N, T = self.token_nll.shape
        dx = self._buf.get("dx", (M, V), probs.dtype)
        np.multiply(probs, dout / M, out=dx)
        dx[np.arange(M), t] -= dout / M
        return dx.reshape(N, T, V)
