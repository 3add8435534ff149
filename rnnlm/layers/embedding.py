"""TimeEmbedding: token ids to vectors, for all T steps at once."""

import numpy as np

from rnnlm.layers.buffers import Buffers


class TimeEmbedding:
    """Look up one row of ``W`` (V, D) per token id."""

    def __init__(self, W: np.ndarray) -> None:
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self._ids: np.ndarray | None = None
        self._buf = Buffers()

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T) integer ids -> (N, T, D) in W's dtype."""
        (W,) = self.params
        self._ids = xs
        out = self._buf.get("out", (*xs.shape, W.shape[1]), W.dtype)
        np.take(W, xs, axis=0, out=out)
        return out

    def backward(self, dout: np.ndarray) -> None:
        """dout: (N, T, D) -> None (ids have no gradient); writes dW (V, D).

        Gradients of a repeated id accumulate, hence ``np.add.at`` rather than ``dW[ids] = dout``;
        on the flattened arrays (one index per element), where numpy's add.at is ~3x faster
        than on rows, adding in the same order.
        """
        (dW,) = self.grads
        D = dW.shape[1]
        flat = (self._ids.reshape(-1, 1).astype(np.intp) * D + np.arange(D)).reshape(-1)
        dW.fill(0)
        np.add.at(dW.reshape(-1), flat, dout.reshape(-1))
