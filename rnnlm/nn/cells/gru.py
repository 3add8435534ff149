"""TimeGRU: a gated recurrent unit over T steps (PyTorch's formulation), vectorised.

r = sigmoid(x_t Wx_r + b_r + h Wh_r)
z = sigmoid(x_t Wx_z + b_z + h Wh_z)
n = tanh(x_t Wx_n + b_n + r * (h Wh_n + bhn))
h_t = (1 - z) * n + z * h_{t-1}
"""

import numpy as np

from rnnlm.backend import array_module
from rnnlm.nn.buffers import Buffers
from rnnlm.nn.cells.base import Cell
from rnnlm.nn.cells.lstm import sigmoid
from rnnlm.nn.cells.recurrent import RecurrentProducts, initial_state, weight_grads
from rnnlm.nn.weight_drop import WeightDrop


class TimeGRU(Cell):
    """GRU layer; ``stateful`` carries h to the next window, with the gradient cut."""

    gates = 3  # r, z, n
    window_arrays = 11  # gates, candidates, hs, their gradients and the backward's buffers
    extra_params = ("bhn",)  # the n gate's recurrent bias, inside r * (h Wh_n + bhn)
    biases = ("b", "bhn")

    def __init__(
        self,
        Wx: np.ndarray,
        Wh: np.ndarray,
        b: np.ndarray,
        bhn: np.ndarray,
        stateful: bool = False,
        weight_drop: WeightDrop | None = None,
    ) -> None:
        super().__init__(Wx, Wh, b, bhn, stateful=stateful, weight_drop=weight_drop)
        self._buf = Buffers(array_module(Wx))
        self._products = RecurrentProducts(self._buf)
        self._cache: tuple | None = None

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T, D) -> hs (N, T, H), in xs' dtype."""
        xp = array_module(xs)
        Wx, Wh, b, bhn = self.params
        Wh = self.weight_drop.forward(Wh)
        N, T, D = xs.shape
        H = Wh.shape[0]
        dt = xs.dtype
        h0 = initial_state(self._buf, "h0", self.h if self.carries(N, H) else None, N, H, dt)
        gates = self._buf.get("gates", (N, T, 3 * H), dt)  # r, z, n after activation
        xp.matmul(xs.reshape(N * T, D), Wx, out=gates.reshape(N * T, 3 * H))
        gates += b
        hn = self._buf.get("hn", (N, T, H), dt)  # h Wh_n + bhn, needed by backward
        hs = self._buf.get("hs", (N, T, H), dt)
        rec = self._products.begin(Wh, N, T, dt)
        h = h0
        for t in range(T):
            a = gates[:, t]
            self._products.forward(h, rec)
            rz = a[:, : 2 * H]
            rz += rec[:, : 2 * H]
            sigmoid(rz, rz)
            r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            xp.add(rec[:, 2 * H :], bhn, out=hn[:, t])
            xp.multiply(r, hn[:, t], out=rec[:, :H])
            n += rec[:, :H]
            xp.tanh(n, out=n)
            ht = hs[:, t]
            xp.subtract(h, n, out=ht)  # h_t = n + z * (h - n)
            ht *= z
            ht += n
            h = ht
        self._cache = (xs, h0, gates, hn, hs)
        self.h = h.copy()
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        """dhs: (N, T, H) -> dxs (N, T, D); writes dWx, dWh, db, dbhn."""
        xp = array_module(dhs)
        Wx = self.params[0]  # (the loop's Wh, dropped or not, is the products' from forward)
        dWx, dWh, db, dbhn = self.grads
        xs, h0, gates, hn, hs = self._cache
        N, T, H = dhs.shape
        dt = dhs.dtype
        dax = self._buf.get("dax", (N, T, 3 * H), dt)  # w.r.t. x Wx + b
        dah = self._buf.get("dah", (N, T, 3 * H), dt)  # w.r.t. h Wh (+ bhn)
        dh = self._products.dh(N, H, dt)
        dht = self._buf.get("dht", (N, H), dt)
        tmp = self._buf.get("tmp", (N, H), dt)
        for t in reversed(range(T)):
            a = gates[:, t]
            r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            h_prev = hs[:, t - 1] if t > 0 else h0
            dx, dr_h = dax[:, t], dah[:, t]
            dar, daz, dan = dx[:, :H], dx[:, H : 2 * H], dx[:, 2 * H :]
            xp.add(dhs[:, t], dh, out=dht)
            # dz = dh * (h_prev - n) * z (1 - z)
            xp.subtract(h_prev, n, out=daz)
            daz *= dht
            xp.subtract(1.0, z, out=tmp)
            tmp *= z
            daz *= tmp
            # dan = dh * (1 - z) * (1 - n^2)
            xp.subtract(1.0, z, out=dan)
            dan *= dht
            xp.square(n, out=tmp)
            xp.subtract(1.0, tmp, out=tmp)
            dan *= tmp
            # dar = dan * hn * r (1 - r); the recurrent n part gets dan * r
            xp.multiply(dan, hn[:, t], out=dar)
            xp.subtract(1.0, r, out=tmp)
            tmp *= r
            dar *= tmp
            dr_h[:, : 2 * H] = dx[:, : 2 * H]
            xp.multiply(dan, r, out=dr_h[:, 2 * H :])
            # dh_prev = dh * z + dah Wh^T
            self._products.backward(dr_h, dh)
            xp.multiply(dht, z, out=tmp)
            dh += tmp
        self.dh = dh.copy()
        xp.sum(dah[:, :, 2 * H :], axis=(0, 1), out=dbhn)
        return weight_grads(self._buf, xs, h0, hs, dax, dah, Wx, dWx, dWh, db, self.weight_drop)
