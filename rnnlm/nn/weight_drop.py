"""WeightDrop: DropConnect on a recurrent weight matrix (Merity et al., 2017, "AWD-LSTM").

Dropout on activations (``TimeDropout``) leaves the recurrence ``h_{t-1} Wh`` alone; WeightDrop
regularises it (for the tanh RNN it did not pay: docs/results.md, "Tuning runs"). It zeroes each
entry of ``Wh`` with probability ``p`` and scales the rest by 1/(1-p), one mask per forward
(window), the same at every time step, so the recurrence is regularised without noise that
compounds over time. Every cell uses it the same way: ``Wh = drop.forward(Wh)`` before the time
loop (the loop's ``RecurrentProducts`` keep that matrix for backward; ``drop.weights`` holds it
too), and ``drop.backward(dWh)`` on the weight gradient (in ``weight_grads``).
"""

import numpy as np

from rnnlm.backend import array_module
from rnnlm.nn.dropout import Mask


class WeightDrop(Mask):
    """The identity for ``p == 0`` or at evaluation (``train = False``).

    ``reuse_mask`` keeps the last mask for every later forward: gradient checks need a fixed mask.
    """

    def __init__(self, p: float = 0.0, rng: np.random.Generator | None = None) -> None:
        super().__init__(p, rng, "weight drop")
        self.weights: np.ndarray | None = None  # the matrix the last forward used
        self._dropped = False  # whether the last forward applied a mask

    def forward(self, W: np.ndarray) -> np.ndarray:
        """W -> W with entries dropped and the rest scaled (a buffer), or W itself."""
        self._dropped = self.active
        if not self._dropped:
            self.weights = W
            return W
        xp = array_module(W)
        self._draw(W.shape, W.dtype, xp)
        self.weights = self._scale(W, self._buf.get("W", W.shape, W.dtype, xp))
        return self.weights

    def backward(self, dW: np.ndarray) -> None:
        """Turn the gradient w.r.t. the dropped matrix into one w.r.t. W, in place."""
        if self._dropped:
            self._scale(dW, dW)
