"""TimeGRU: a gated recurrent unit over T steps (PyTorch's formulation), vectorised.

r = sigmoid(x_t Wx_r + b_r + h Wh_r)
z = sigmoid(x_t Wx_z + b_z + h Wh_z)
n = tanh(x_t Wx_n + b_n + r * (h Wh_n + bhn))
h_t = (1 - z) * n + z * h_{t-1}          (computed as (h_{t-1} - n) * z + n)
sigmoid(x) = 1 / (1 + exp(-x))

The input projection of all T steps is one matmul; the loop runs in the feature-major layout
of ``loop_layout.py``, rows (r, z, n) as in the parameters, r's and z's negated.
"""

import numpy as np

from rnnlm.backend import array_module
from rnnlm.nn.buffers import Buffers
from rnnlm.nn.cells.base import Cell
from rnnlm.nn.cells.loop_layout import (
    Blocks,
    loop_weights,
    padded,
    project_inputs,
    projection_buffer,
    sigmoid_rows,
    to_batch_major,
    to_feature_major,
)
from rnnlm.nn.cells.recurrent import initial_state, weight_grads
from rnnlm.nn.weight_drop import WeightDrop


def loop_blocks(H: int) -> Blocks:
    """The loop layout's rows (r, z, n), r's and z's negated (loop_layout.py)."""
    return (
        (slice(0, 2 * H), slice(0, 2 * H), True),
        (slice(2 * H, 3 * H), slice(2 * H, 3 * H), False),
    )


class TimeGRU(Cell):
    """GRU layer; ``stateful`` carries h to the next window, with the gradient cut."""

    gates = 3  # r, z, n
    # the input projection (later its gradient), the gates, h Wh_n + bhn and h in the loop
    # layout, hs, dhs moved, the gradient w.r.t. h Wh
    window_arrays = 13
    weight_copies = 1  # Wh in the loop layout (an upper bound: counted as (D + H) x 3H)
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
        self._cache: tuple | None = None

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T, D) -> hs (N, T, H), in xs' dtype."""
        xp = array_module(xs)
        Wx, Wh, b, bhn = self.params
        Wh = self.weight_drop.forward(Wh)
        N, T, D = xs.shape
        H = Wh.shape[0]
        G = 3 * H
        dt = xs.dtype
        carried = self.h.T if self.carries(N, H) else None
        h = h0 = initial_state(self._buf, "h0_l", carried, H, N, dt)  # (H, N): the loop layout
        blocks = loop_blocks(H)
        gates = project_inputs(self._buf, xs, Wx, b, blocks)  # r, z, n after activation
        # a short window (generation: N = T = 1) multiplies by Wh^T as it is, and subtracts
        # r's and z's products
        Wl = loop_weights(self._buf, Wh, N, T, D, blocks, extra_calls=0)
        add_rz = xp.subtract if Wl is None else xp.add
        bhn_l = self._buf.get("bhn_l", (H, N), dt)
        xp.copyto(bhn_l, bhn[:, None])
        hn = self._buf.get("hn_l", (T, H, N), dt)  # h Wh_n + bhn, needed by backward
        hs_l = self._buf.get("hs_l", (T, H, N), dt)
        rec = self._buf.get("rec", (G, N), dt)
        tmp = self._buf.get("tmp", (H, N), dt)
        with np.errstate(over="ignore"):  # exp(-a) is inf for a < -88 (float32): sigmoid 0
            for t in range(T):
                a = gates[t]
                xp.matmul(Wh.T if Wl is None else Wl, h, out=rec)
                rz = a[: 2 * H]
                add_rz(rz, rec[: 2 * H], out=rz)
                sigmoid_rows(rz)
                r, z, n = a[:H], a[H : 2 * H], a[2 * H :]
                xp.add(rec[2 * H :], bhn_l, out=hn[t])
                xp.multiply(r, hn[t], out=tmp)
                n += tmp
                xp.tanh(n, out=n)
                ht = hs_l[t]
                xp.subtract(h, n, out=ht)  # h_t = n + z * (h - n)
                ht *= z
                ht += n
                h = ht
        hs = self._buf.get("hs", (N, T, H), dt)
        to_batch_major(hs_l, hs)
        self._cache = (xs, h0, gates, hn, hs_l, hs, Wh)
        self.h = hs[:, -1].copy()
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        """dhs: (N, T, H) -> dxs (N, T, D); writes dWx, dWh, db, dbhn."""
        xp = array_module(dhs)
        Wx = self.params[0]
        dWx, dWh, db, dbhn = self.grads
        xs, h0, gates, hn, hs_l, hs, Wh = self._cache  # h0 (H, N); Wh: the one forward used
        N, T, H = dhs.shape
        dt = dhs.dtype
        dhs_l = self._buf.get("dhs_l", (T, H, N), dt)
        to_feature_major(dhs, dhs_l)
        # a step's gradients w.r.t. h Wh (+ bhn), and n's w.r.t. x Wx + b (r's and z's: as dah);
        # each step's moved at once to the layers' layout, (N, T, 3H) (forward's projection
        # is spent)
        d = self._buf.get("dah_l", (3 * H, N), dt)
        dan = self._buf.get("dan_l", (H, N), dt)
        dah = padded(self._buf, "dah", N, T, 3 * H, dt)
        dax = projection_buffer(self._buf, N, T, 3 * H, dt)
        dh = self._buf.zeros("dh_l", (H, N), dt)
        dht = self._buf.get("dht", (H, N), dt)
        tmp = self._buf.get("btmp", (H, N), dt)
        for t in reversed(range(T)):
            a = gates[t]
            r, z, n = a[:H], a[H : 2 * H], a[2 * H :]
            h_prev = hs_l[t - 1] if t > 0 else h0
            dar, daz, dnr = d[:H], d[H : 2 * H], d[2 * H :]
            xp.add(dhs_l[t], dh, out=dht)
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
            xp.multiply(dan, hn[t], out=dar)
            xp.subtract(1.0, r, out=tmp)
            tmp *= r
            dar *= tmp
            xp.multiply(dan, r, out=dnr)
            # dh_prev = dh * z + dah Wh^T
            xp.matmul(Wh, d, out=dh)
            xp.multiply(dht, z, out=tmp)
            dh += tmp
            xp.copyto(dah[:, t], d.T)
            xp.copyto(dax[:, t, 2 * H :], dan.T)
        self.dh = dh.T.copy()  # (a copy: never a view of a buffer)
        dax[:, :, : 2 * H] = dah[:, :, : 2 * H]
        xp.sum(dah[:, :, 2 * H :], axis=(0, 1), out=dbhn)
        return weight_grads(self._buf, xs, h0.T, hs, dax, dah, Wx, dWx, dWh, db, self.weight_drop)
