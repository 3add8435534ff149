"""TimeLSTM: an LSTM over T steps, vectorised like TimeRNN.

    a_t = x_t Wx + b + h_{t-1} Wh                     (N, 4H): gates f, g, i, o
    f, i, o = sigmoid(a_f, a_i, a_o);  g = tanh(a_g)
    c_t = f * c_{t-1} + g * i;        h_t = o * tanh(c_t)
    sigmoid(x) = 1 / (1 + exp(-x))

The parameters keep the seed's book's gate order (f, g, i, o). The input projection of all T
steps is one matmul; the loop holds only the recurrent product and the gates' elementwise
work, in the feature-major layout of ``loop_layout.py``: rows (f, i, o, g), the sigmoid gates'
negated, so one exp, one add and one reciprocal over the first 3H rows give the three sigmoids.
Copies move between the layouts: the input projection and hs once a window forward, dhs once
backward and each step's gate gradients as the step makes them (faster than once a window at
H = 256); the weight gradients are then one matmul each, as in TimeRNN.
"""

import numpy as np

from rnnlm.backend import array_module
from rnnlm.nn.buffers import Buffers
from rnnlm.nn.cells.base import Cell
from rnnlm.nn.cells.loop_layout import (
    Blocks,
    add_products,
    loop_weights,
    project_inputs,
    projection_buffer,
    sigmoid_rows,
    to_batch_major,
    to_feature_major,
)
from rnnlm.nn.cells.recurrent import initial_state, weight_grads
from rnnlm.nn.weight_drop import WeightDrop


def loop_blocks(H: int) -> Blocks:
    """The loop layout's rows (f, i, o, g), the sigmoid gates' negated (loop_layout.py)."""
    return (
        (slice(0, H), slice(0, H), True),
        (slice(H, 3 * H), slice(2 * H, 4 * H), True),
        (slice(3 * H, 4 * H), slice(H, 2 * H), False),
    )


class TimeLSTM(Cell):
    """LSTM layer; ``stateful`` carries (h, c) to the next window, with the gradient cut."""

    gates = 4  # f, g, i, o
    # the input projection (later the gates' gradients), the gates, h, c and tanh(c) in the
    # loop layout, hs, dhs moved
    window_arrays = 13
    weight_copies = 1  # Wh in the loop layout (an upper bound: counted as (D + H) x 4H)

    def __init__(
        self,
        Wx: np.ndarray,
        Wh: np.ndarray,
        b: np.ndarray,
        stateful: bool = False,
        weight_drop: WeightDrop | None = None,
    ) -> None:
        super().__init__(Wx, Wh, b, stateful=stateful, weight_drop=weight_drop)
        self.c: np.ndarray | None = None  # (N, H) carried memory cell, beside h
        self.dc: np.ndarray | None = None  # gradient of the initial c (for checks)
        self._buf = Buffers(array_module(Wx))
        self._cache: tuple | None = None

    @classmethod
    def state_shape(cls, N: int, H: int) -> tuple[int, ...]:
        """(2, N, H): h and c stacked."""
        return (2, N, H)

    @property
    def state(self) -> np.ndarray | None:
        """(2, N, H): h and c stacked, or None."""
        xp = array_module(self.h)
        return None if self.h is None else xp.stack([self.h, self.c])

    def set_state(self, state: np.ndarray) -> None:
        """``state``: (2, N, H), h then c."""
        self.h, self.c = state[0].copy(), state[1].copy()

    def reset_state(self) -> None:
        self.h = self.c = None

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T, D) -> hs (N, T, H), in xs' dtype."""
        xp = array_module(xs)
        Wx, Wh, b = self.params
        Wh = self.weight_drop.forward(Wh)
        N, T, D = xs.shape
        H = Wh.shape[0]
        G = 4 * H
        dt = xs.dtype
        keep = self.carries(N, H)  # h and c are carried together
        # the initial state, (H, N) in the loop layout
        h = h0 = initial_state(self._buf, "h0_l", self.h.T if keep else None, H, N, dt)
        c = c0 = initial_state(self._buf, "c0_l", self.c.T if keep else None, H, N, dt)
        blocks = loop_blocks(H)
        gates = project_inputs(self._buf, xs, Wx, b, blocks)
        # a short window (generation: N = T = 1) multiplies by Wh^T as it is and pays for two
        # more calls a step instead of a copy
        Wl = loop_weights(self._buf, Wh, N, T, D, blocks, extra_calls=2)
        rec = self._buf.get("rec", (G, N), dt)
        hs_l = self._buf.get("hs_l", (T, H, N), dt)
        cs = self._buf.get("cs", (T, H, N), dt)
        tc = self._buf.get("tc", (T, H, N), dt)  # tanh(c_t)
        tmp = self._buf.get("tmp", (H, N), dt)
        with np.errstate(over="ignore"):  # exp(-a) is inf for a < -88 (float32): sigmoid 0
            for t in range(T):
                a = gates[t]
                if Wl is not None:
                    xp.matmul(Wl, h, out=rec)
                    a += rec
                else:
                    xp.matmul(Wh.T, h, out=rec)
                    add_products(a, rec, blocks)
                sigmoid_rows(a[: 3 * H])
                f, i, o, g = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
                xp.tanh(g, out=g)
                ct = cs[t]
                xp.multiply(f, c, out=ct)
                xp.multiply(g, i, out=tmp)
                ct += tmp
                xp.tanh(ct, out=tc[t])
                xp.multiply(o, tc[t], out=hs_l[t])
                h, c = hs_l[t], ct
        hs = self._buf.get("hs", (N, T, H), dt)
        to_batch_major(hs_l, hs)
        self._cache = (xs, h0, c0, gates, hs, cs, tc, Wh)
        self.h, self.c = hs[:, -1].copy(), c.T.copy()  # (copies: never a view of a buffer)
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        """dhs: (N, T, H) -> dxs (N, T, D); writes dWx (D, 4H), dWh (H, 4H), db (4H,)."""
        xp = array_module(dhs)
        Wx = self.params[0]
        dWx, dWh, db = self.grads
        # h0, c0 (H, N) in the loop layout; Wh: the matrix forward used (dropped or not)
        xs, h0, c0, gates, hs, cs, tc, Wh = self._cache
        N, T, H = dhs.shape
        dt = dhs.dtype
        dhs_l = self._buf.get("dhs_l", (T, H, N), dt)
        to_feature_major(dhs, dhs_l)
        d = self._buf.get("d_l", (4 * H, N), dt)  # a step's, in parameter order (f, g, i, o)
        dh = self._buf.zeros("dh_l", (H, N), dt)
        dc = self._buf.zeros("dc_l", (H, N), dt)
        dht = self._buf.get("dht", (H, N), dt)
        tmp = self._buf.get("btmp", (H, N), dt)
        sd = self._buf.get("sd", (3 * H, N), dt)  # s (1 - s) of f, i, o
        da = projection_buffer(self._buf, N, T, 4 * H, dt)
        for t in reversed(range(T)):
            a = gates[t]
            f, i, o, g = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
            c_prev = cs[t - 1] if t > 0 else c0
            df, dg, di, do = d[:H], d[H : 2 * H], d[2 * H : 3 * H], d[3 * H :]
            xp.add(dhs_l[t], dh, out=dht)
            xp.subtract(1.0, a[: 3 * H], out=sd)  # the sigmoids' derivatives in one pass
            sd *= a[: 3 * H]
            # do = dh * tanh(c) * o (1 - o)
            xp.multiply(dht, tc[t], out=do)
            do *= sd[2 * H :]
            # dc += dh * o * (1 - tanh(c)^2)
            xp.square(tc[t], out=tmp)
            xp.subtract(1.0, tmp, out=tmp)
            tmp *= o
            tmp *= dht
            dc += tmp
            # di = dc * g * i (1 - i);  dg = dc * i * (1 - g^2);  df = dc * c_prev * f (1 - f)
            xp.multiply(dc, g, out=di)
            di *= sd[H : 2 * H]
            xp.square(g, out=tmp)
            xp.subtract(1.0, tmp, out=tmp)
            tmp *= i
            xp.multiply(dc, tmp, out=dg)
            xp.multiply(dc, c_prev, out=df)
            df *= sd[:H]
            dc *= f  # gradient flowing to c_{t-1}
            xp.matmul(Wh, d, out=dh)
            xp.copyto(da[:, t], d.T)
        self.dh, self.dc = dh.T.copy(), dc.T.copy()
        return weight_grads(self._buf, xs, h0.T, hs, da, da, Wx, dWx, dWh, db, self.weight_drop)
