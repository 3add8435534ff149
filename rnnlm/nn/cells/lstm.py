"""TimeLSTM: an LSTM over T steps, vectorised like TimeRNN.

    a_t = x_t Wx + h_{t-1} Wh + b                     (N, 4H): gates f, g, i, o
    f, i, o = sigmoid(a_f, a_i, a_o);  g = tanh(a_g)
    c_t = f * c_{t-1} + g * i;        h_t = o * tanh(c_t)

The input projection of all T steps is one matmul; the loop holds only ``h_{t-1} Wh`` and
the elementwise gate arithmetic. Parameters keep the seed's book's gate order (f, g, i, o).

Each numpy call in the loop costs about as much as its arithmetic at these sizes (N·H of a
few thousand numbers), so forward makes few: it halves the sigmoid gates' (f, i, o)
pre-activations, through a copy of the weights with those columns halved (or, for a short
window, the products themselves). Halving is exact, and with
``sigmoid(x) = (1 + tanh(x / 2)) / 2`` one tanh and one multiply-add over the whole row
activate all four gates (``t * 1 + 0`` leaves g's tanh as it is): 10 calls a step instead of
16, and not one rounding changed (``tests/reference_layers.py``'s step-by-step LSTM gives the
same bits, either way).
"""

import functools
from types import ModuleType

import numpy as np

from rnnlm.backend import array_module
from rnnlm.nn.buffers import Buffers
from rnnlm.nn.cells.base import Cell
from rnnlm.nn.cells.recurrent import RecurrentProducts, initial_state, weight_grads
from rnnlm.nn.weight_drop import WeightDrop


def sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Logistic function via tanh (no overflow): 0.5 * (1 + tanh(x / 2))."""
    xp = array_module(x)
    xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


@functools.cache
def gate_scale(xp: ModuleType, H: int, dtype: np.dtype) -> np.ndarray:
    """(4H,) in the array module ``xp``: 1/2 on the sigmoid gates' columns (f, i, o), 1 on g's
    (made once for each size and dtype, shared: never written to)."""
    scale = xp.full(4 * H, 0.5, dtype=dtype)
    scale[H : 2 * H] = 1.0
    return scale


@functools.cache
def gate_shift(xp: ModuleType, H: int, dtype: np.dtype) -> np.ndarray:
    """(4H,): 1/2 on the sigmoid gates' columns, 0 on g's (``1 - gate_scale``)."""
    return xp.subtract(1.0, gate_scale(xp, H, dtype), dtype=dtype)


class TimeLSTM(Cell):
    """LSTM layer; ``stateful`` carries (h, c) to the next window, with the gradient cut."""

    gates = 4  # f, g, i, o
    window_arrays = 11  # gates, hs, cs, tanh(c), the gate gradients and the backward's buffers
    weight_copies = 1  # Wx and Wh with the sigmoid gates' columns halved (recurrent.py: Wh's)

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
        self._products = RecurrentProducts(self._buf)
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
        dt = xs.dtype
        keep = self.carries(N, H)  # h and c are carried together
        h0 = initial_state(self._buf, "h0", self.h if keep else None, N, H, dt)
        c0 = initial_state(self._buf, "c0", self.c if keep else None, N, H, dt)
        # gates: (N, T, 4H) pre-activations with f, i, o halved, then activations in place.
        # Halving a copy of the weights costs (D + H)·4H products a window; halving the
        # products themselves, N·T·4H and one more call a step: the first pays on training
        # windows, the second on short ones (generation: N = T = 1). Either is exact.
        half_w = gate_scale(xp, H, Wx.dtype)  # for the weights
        half, shift = gate_scale(xp, H, dt), gate_shift(xp, H, dt)  # for the activations
        halved_weights = N * T >= D + H
        gates = self._buf.get("gates", (N, T, 4 * H), dt)
        gates2 = gates.reshape(N * T, 4 * H)
        if halved_weights:
            WxL = xp.multiply(Wx, half_w, out=self._buf.get("WxL", Wx.shape, Wx.dtype))
            xp.matmul(xs.reshape(N * T, D), WxL, out=gates2)
            gates2 += xp.multiply(b, half_w, out=self._buf.get("bL", b.shape, b.dtype))
        else:
            xp.matmul(xs.reshape(N * T, D), Wx, out=gates2)
            gates2 += b
            gates2 *= half
        hs = self._buf.get("hs", (N, T, H), dt)
        cs = self._buf.get("cs", (N, T, H), dt)
        tc = self._buf.get("tc", (N, T, H), dt)  # tanh(c_t)
        rec = self._products.begin(Wh, N, T, dt, column_scale=half_w if halved_weights else None)
        tmp = self._buf.get("tmp", (N, H), dt)
        h, c = h0, c0
        for t in range(T):
            a = gates[:, t]
            self._products.forward(h, rec)
            if not halved_weights:
                rec *= half
            a += rec
            xp.tanh(a, out=a)
            a *= half  # f, i, o: sigmoid(x) = tanh(x / 2) / 2 + 1 / 2 (bit for bit (1 + t) / 2)
            a += shift
            f, g, i, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            ct = cs[:, t]
            xp.multiply(f, c, out=ct)
            xp.multiply(g, i, out=tmp)
            ct += tmp
            xp.tanh(ct, out=tc[:, t])
            xp.multiply(o, tc[:, t], out=hs[:, t])
            h, c = hs[:, t], ct
        self._cache = (xs, h0, c0, gates, hs, cs, tc)
        self.h, self.c = h.copy(), c.copy()
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        """dhs: (N, T, H) -> dxs (N, T, D); writes dWx (D, 4H), dWh (H, 4H), db (4H,)."""
        xp = array_module(dhs)
        Wx = self.params[0]  # (the loop's Wh, dropped or not, is the products' from forward)
        dWx, dWh, db = self.grads
        xs, h0, c0, gates, hs, cs, tc = self._cache
        N, T, H = dhs.shape
        dt = dhs.dtype
        da = self._buf.get("da", (N, T, 4 * H), dt)
        dh = self._products.dh(N, H, dt)
        dc = self._buf.zeros("dc", (N, H), dt)
        dht = self._buf.get("dht", (N, H), dt)
        tmp = self._buf.get("btmp", (N, H), dt)
        sd = self._buf.get("sd", (N, 4 * H), dt)  # s (1 - s) of every gate (g's unused)
        for t in reversed(range(T)):
            a = gates[:, t]
            f, g, i, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            c_prev = cs[:, t - 1] if t > 0 else c0
            d = da[:, t]
            df, dg, di, do = d[:, :H], d[:, H : 2 * H], d[:, 2 * H : 3 * H], d[:, 3 * H :]
            xp.add(dhs[:, t], dh, out=dht)
            xp.subtract(1.0, a, out=sd)  # the sigmoids' derivatives, one pass over the row
            sd *= a
            # do = dh * tanh(c) * o (1 - o)
            xp.multiply(dht, tc[:, t], out=do)
            do *= sd[:, 3 * H :]
            # dc += dh * o * (1 - tanh(c)^2)
            xp.square(tc[:, t], out=tmp)
            xp.subtract(1.0, tmp, out=tmp)
            tmp *= o
            tmp *= dht
            dc += tmp
            # di = dc * g * i (1 - i);  dg = dc * i * (1 - g^2);  df = dc * c_prev * f (1 - f)
            xp.multiply(dc, g, out=di)
            di *= sd[:, 2 * H : 3 * H]
            xp.square(g, out=tmp)
            xp.subtract(1.0, tmp, out=tmp)
            tmp *= i
            xp.multiply(dc, tmp, out=dg)
            xp.multiply(dc, c_prev, out=df)
            df *= sd[:, :H]
            dc *= f  # gradient flowing to c_{t-1}
            self._products.backward(d, dh)
        self.dh, self.dc = dh.copy(), dc.copy()
        return weight_grads(self._buf, xs, h0, hs, da, da, Wx, dWx, dWh, db, self.weight_drop)
