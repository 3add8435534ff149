"""TimeRNN: the seed's vanilla tanh RNN over T steps, vectorised.

    h_t = tanh(h_{t-1} Wh + x_t Wx + b)

The input projection ``x_t Wx + b`` of all T steps is one (N·T, D) @ (D, H) matmul; only the
recurrence ``h_{t-1} Wh`` stays in a loop over t. Backward runs the loop in reverse for the
hidden-state gradients, then gets dWx, dWh, db and dxs with one matmul each.
"""

import numpy as np

from rnnlm.backend import array_module
from rnnlm.nn.buffers import Buffers
from rnnlm.nn.cells.base import Cell
from rnnlm.nn.cells.recurrent import RecurrentProducts, initial_state, weight_grads
from rnnlm.nn.weight_drop import WeightDrop


class TimeRNN(Cell):
    """Vanilla tanh RNN layer; ``stateful`` carries the last hidden state to the next window.

    Truncated BPTT is just this: with ``stateful=True`` the state ``h`` from the previous
    forward seeds the next one, but backward never sends gradient into it (``dh``, the
    gradient of the initial state, is kept for inspection and gradient checks only).
    """

    def __init__(
        self,
        Wx: np.ndarray,
        Wh: np.ndarray,
        b: np.ndarray,
        stateful: bool = False,
        weight_drop: WeightDrop | None = None,
    ) -> None:
        super().__init__(Wx, Wh, b, stateful=stateful, weight_drop=weight_drop)
        self._xs: np.ndarray | None = None
        self._h0: np.ndarray | None = None
        self._hs: np.ndarray | None = None
        self._buf = Buffers(array_module(Wx))
        self._products = RecurrentProducts(self._buf)

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T, D) -> hs (N, T, H), in xs' dtype."""
        xp = array_module(xs)
        Wx, Wh, b = self.params
        Wh = self.weight_drop.forward(Wh)
        N, T, D = xs.shape
        H = Wh.shape[0]
        dtype = xs.dtype
        h0 = initial_state(self._buf, "h0", self.h if self.carries(N, H) else None, N, H, dtype)
        hs = self._buf.get("hs", (N, T, H), dtype)
        xp.matmul(xs.reshape(N * T, D), Wx, out=hs.reshape(N * T, H))
        hs += b
        rec = self._products.begin(Wh, N, T, dtype)
        h = h0
        for t in range(T):
            self._products.forward(h, rec)
            ht = hs[:, t]
            ht += rec
            xp.tanh(ht, out=ht)
            h = ht
        self._xs, self._h0, self._hs = xs, h0, hs
        self.h = h.copy()
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        """dhs: (N, T, H) -> dxs (N, T, D); writes dWx (D, H), dWh (H, H), db (H,)."""
        xp = array_module(dhs)
        Wx = self.params[0]  # (the loop's Wh, dropped or not, is the products' from forward)
        dWx, dWh, db = self.grads
        xs, h0, hs = self._xs, self._h0, self._hs
        N, T, H = dhs.shape
        dtype = dhs.dtype
        # da_t: gradient of the pre-activation a_t, with tanh'(a_t) = 1 - h_t^2 for all t at once.
        da = self._buf.get("da", (N, T, H), dtype)
        xp.square(hs, out=da)
        xp.subtract(1, da, out=da)
        dh = self._products.dh(N, H, dtype)
        tmp = self._buf.get("tmp", (N, H), dtype)
        for t in reversed(range(T)):
            dat = da[:, t]
            xp.add(dhs[:, t], dh, out=tmp)
            dat *= tmp
            self._products.backward(dat, dh)
        self.dh = dh.copy()
        return weight_grads(self._buf, xs, h0, hs, da, da, Wx, dWx, dWh, db, self.weight_drop)
