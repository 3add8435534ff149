"""TimeEmbedding: token ids to vectors, for all T steps at once."""

import numpy as np

from rnnlm.backend import array_module, scatter_add
from rnnlm.nn.buffers import Buffers


class TimeEmbedding:
    """Look up one row of ``W`` (V, D) per token id.

    ``sparse_grad``: the gradient is still the dense (V, D) array, but only the rows of the
    last window's ids (``touched``) can be nonzero, so backward clears just the rows it wrote
    last time, and clipping and SGD may read and update those rows alone
    (``rnnlm.training.optimizers``).
    Only for an embedding whose gradient nobody else adds to (not with tied weights).
    """

    def __init__(self, W: np.ndarray, sparse_grad: bool = False) -> None:
        xp = array_module(W)
        self.params = [W]
        self.grads = [xp.zeros(W.shape, W.dtype)]  # C order, whatever W's: backward flattens it
        self.sparse_grad = sparse_grad
        self.touched: np.ndarray | None = None  # sorted unique ids of the last backward
        self._ids: np.ndarray | None = None
        self._cols = xp.arange(W.shape[1], dtype=np.intp)
        self._buf = Buffers(xp)

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T) integer ids (on W's device) -> (N, T, D) in W's dtype."""
        (W,) = self.params
        xp = array_module(W)
        self._ids = xs
        out = self._buf.get("out", (*xs.shape, W.shape[1]), W.dtype)
        xp.take(W, xs, axis=0, out=out)
        return out

    def backward(self, dout: np.ndarray) -> None:
        """dout: (N, T, D) -> None (ids have no gradient); writes dW (V, D).

        Gradients of a repeated id accumulate, hence a scatter-add (``np.add.at``, on a GPU
        ``cupyx.scatter_add``: ``backend.scatter_add``) rather than ``dW[ids] = dout``; on the
        flattened arrays (one index per element), where numpy's add.at is ~3x faster than on
        rows, adding in the same order.
        """
        (dW,) = self.grads
        xp = array_module(dW)
        D = dW.shape[1]
        ids = self._ids.reshape(-1, 1)
        flat = self._buf.get("flat", (ids.shape[0], D), np.intp)  # ids * D + column
        xp.multiply(ids, D, out=flat, dtype=np.intp)  # in intp: int32 ids * D could overflow
        flat += self._cols
        if self.sparse_grad and self.touched is not None:
            dW[self.touched] = 0  # every other row is still zero
        else:
            dW.fill(0)
        scatter_add(dW.reshape(-1), flat.reshape(-1), dout.reshape(-1))
        self.touched = xp.unique(ids) if self.sparse_grad else None
