"""TimeDropout: inverted dropout on non-recurrent connections (Zaremba et al., 2014)."""

import numpy as np

from rnnlm.layers.buffers import Buffers


class TimeDropout:
    """Zero each activation with probability ``p`` while training and scale the rest by 1/(1-p).

    At evaluation (``train = False``) or with ``p == 0`` it is the identity. ``reuse_mask``
    keeps the last mask for every later forward: gradient checks need a fixed mask.
    """

    def __init__(self, p: float, rng: np.random.Generator, variational: bool = False) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng
        self.variational = variational  # one mask per sequence, the same at every time step
        self.train = True
        self.reuse_mask = False
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self._keep: np.ndarray | None = None
        self._buf = Buffers()

    @property
    def active(self) -> bool:
        return self.train and self.p > 0.0

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T, D) -> (N, T, D), same dtype."""
        if not self.active:
            return xs
        N, T, D = xs.shape
        mask_shape = (N, 1, D) if self.variational else (N, T, D)
        if not (self.reuse_mask and self._keep is not None and self._keep.shape == mask_shape):
            u = self._buf.get("u", mask_shape, xs.dtype)
            self.rng.random(out=u, dtype=u.dtype)
            self._keep = self._buf.get("keep", mask_shape, np.bool_)
            np.greater_equal(u, self.p, out=self._keep)
        out = self._buf.get("out", xs.shape, xs.dtype)
        np.multiply(xs, self._keep, out=out)
        out *= 1.0 / (1.0 - self.p)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (N, T, D) -> dxs (N, T, D)."""
        if not self.active:
            return dout
        dx = self._buf.get("dx", dout.shape, dout.dtype)
        np.multiply(dout, self._keep, out=dx)
        dx *= 1.0 / (1.0 - self.p)
        return dx
