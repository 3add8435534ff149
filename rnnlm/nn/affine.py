"""TimeAffine: the same affine map applied at every time step, as one matmul."""

import numpy as np

from rnnlm.nn.buffers import Buffers
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
