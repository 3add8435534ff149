"""WeightDrop: DropConnect on a recurrent weight matrix (Merity et al., 2017, "AWD-LSTM").

Dropout on activations (``TimeDropout``) leaves the recurrence ``h_{t-1} Wh`` alone, and that is
where a tanh RNN overfits. WeightDrop zeroes each entry of ``Wh`` with probability ``p`` and
scales the rest by 1/(1-p), one mask per forward (window), the same at every time step, so the
recurrence is regularised without noise that compounds over time. Every cell uses it the same
way: ``Wh = drop.forward(Wh)`` before the time loop, the same matrix in backward
(``drop.weights``), and ``drop.backward(dWh)`` on the weight gradient.
"""

import numpy as np

from rnnlm.layers.buffers import Buffers


class WeightDrop:
    """The identity for ``p == 0`` or at evaluation (``train = False``).

    ``reuse_mask`` keeps the last mask for every later forward: gradient checks need a fixed mask.
    """

    def __init__(self, p: float = 0.0, rng: np.random.Generator | None = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"weight drop must be in [0, 1), got {p}")
        if p > 0 and rng is None:
            raise ValueError("weight drop needs a random generator")
        self.p = p
        self.rng = rng
        self.train = True
        self.reuse_mask = False
        self.weights: np.ndarray | None = None  # the matrix the last forward used
        self._keep: np.ndarray | None = None
        self._dropped = False  # whether the last forward applied a mask
        self._buf = Buffers()

    @property
    def active(self) -> bool:
        return self.train and self.p > 0.0

    def forward(self, W: np.ndarray) -> np.ndarray:
        """W -> W with entries dropped and the rest scaled (a buffer), or W itself."""
        self._dropped = self.active
        if not self._dropped:
            self.weights = W
            return W
        if not (self.reuse_mask and self._keep is not None and self._keep.shape == W.shape):
            u = self._buf.get("u", W.shape, W.dtype)
            self.rng.random(out=u, dtype=u.dtype)
            self._keep = self._buf.get("keep", W.shape, np.bool_)
            np.greater_equal(u, self.p, out=self._keep)
        out = self._buf.get("W", W.shape, W.dtype)
        np.multiply(W, self._keep, out=out)
        out *= 1.0 / (1.0 - self.p)
        self.weights = out
        return out

    def backward(self, dW: np.ndarray) -> None:
        """Turn the gradient w.r.t. the dropped matrix into one w.r.t. W, in place."""
        if self._dropped:
            dW *= self._keep
            dW *= 1.0 / (1.0 - self.p)
