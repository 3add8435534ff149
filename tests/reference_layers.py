"""Plain layers the fast ones are checked against, bit for bit in float64.

``TimeAffine`` then ``TimeSoftmaxWithLoss`` is the textbook pair the fused head replaces; the
tests hold the head equal to it, and gradient-check both. ``PlainLSTM`` is the LSTM one step
at a time, as the seed's book writes its ``LSTM`` layer, for ``TimeLSTM``.
"""

import numpy as np

from rnnlm.nn.buffers import Buffers
from rnnlm.nn.heads.softmax import exp_sum, finish_rows
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


class TimeSoftmaxWithLoss:
    """Mean negative log-likelihood of the targets; backward gives (p - onehot) / (N·T).

    Forward keeps ``exp(s - shift)`` (see ``finish_rows``) and its row sums; the division that
    makes probabilities happens once, in backward, fused with the scaling (one pass over the
    (N·T, V) array instead of two). Rows are processed in parallel blocks (``rnnlm.nn.parallel``).
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.token_nll: np.ndarray | None = None  # (N, T): per-token loss of the last forward
        self._exp: np.ndarray | None = None  # (N·T, V): exp(s - shift), shift per row
        self._sums: np.ndarray | None = None  # (N·T,): its row sums
        self._ts: np.ndarray | None = None
        self._buf = Buffers()

    def forward(self, scores: np.ndarray, ts: np.ndarray) -> float:
        """scores: (N, T, V) float, ts: (N, T) int -> mean NLL (nats) as a Python float."""
        N, T, V = scores.shape
        M = N * T
        s2 = scores.reshape(M, V)
        t = ts.reshape(M)
        e = self._buf.get("exp", (M, V), scores.dtype)
        sums = self._buf.get("sums", (M,), scores.dtype)
        nll = self._buf.get("nll", (M,), scores.dtype)

        target = s2[np.arange(M), t]  # s_t (a copy)

        def rows(b: slice) -> None:
            exp_sum(s2[b], e[b], sums[b])

        for_blocks(rows, M, M * V)
        finish_rows(e, sums, target, t, nll, s2.__getitem__)
        self._exp, self._sums, self._ts = e, sums, t
        self.token_nll = nll.reshape(N, T)
        return float(np.mean(nll, dtype=np.float64))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """dout: scalar -> dscores (N, T, V)."""
        e, sums, t = self._exp, self._sums, self._ts
        M, V = e.shape
        N, T = self.token_nll.shape
        dx = self._buf.get("dx", (M, V), e.dtype)
        scale = self._buf.get("scale", (M, 1), e.dtype)
        np.divide(dout / M, sums[:, None], out=scale)

        def rows(b: slice) -> None:
            np.multiply(e[b], scale[b], out=dx[b])
            dx[np.arange(b.start, b.stop), t[b]] -= dout / M

        for_blocks(rows, M, M * V)
        return dx.reshape(N, T, V)


def plain_sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function as the seed's book writes it."""
    return 1.0 / (1.0 + np.exp(-x))


class PlainLSTM:
    """An LSTM over T steps, one step at a time, gate order (f, g, i, o); no state carried.

    ``forward(xs, h0, c0)`` -> hs; ``backward(dhs)`` -> (dxs, dWx, dWh, db, dh0, dc0). Each
    step's input projection ``x_t Wx + b`` is added before ``h Wh``, as in ``TimeLSTM``.

    BLAS may round a product differently when it has fewer rows or is taken in the other
    orientation, so the products are written as TimeLSTM computes them, which is part of what
    "the same bits" means: ``x_t Wx`` for all T steps in one product, and the recurrent
    products with Wh on the left (``(Wh^T h^T)^T``, ``(Wh d^T)^T``).
    """

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray) -> None:
        self.Wx, self.Wh, self.b = Wx, Wh, b

    def forward(self, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> np.ndarray:
        N, T, _ = xs.shape
        H = self.Wh.shape[0]
        h, c = h0, c0
        self.steps = []
        hs = np.empty((N, T, H), xs.dtype)
        xw = (xs.reshape(N * T, -1) @ self.Wx).reshape(N, T, 4 * H)  # one product, as TimeLSTM
        for t in range(T):
            a = (xw[:, t] + self.b) + (self.Wh.T @ h.T).T
            f = plain_sigmoid(a[:, :H])
            g = np.tanh(a[:, H : 2 * H])
            i = plain_sigmoid(a[:, 2 * H : 3 * H])
            o = plain_sigmoid(a[:, 3 * H :])
            c_next = f * c + g * i
            tc = np.tanh(c_next)
            h_next = o * tc
            self.steps.append((xs[:, t], h, c, f, g, i, o, tc))
            h, c = h_next, c_next
            hs[:, t] = h
        return hs

    def backward(self, dhs: np.ndarray) -> tuple[np.ndarray, ...]:
        N, T, H = dhs.shape
        dWx, dWh, db = np.zeros_like(self.Wx), np.zeros_like(self.Wh), np.zeros_like(self.b)
        dxs = np.empty((N, T, self.Wx.shape[0]), dhs.dtype)
        da = np.empty((N, T, 4 * H), dhs.dtype)
        dh = np.zeros((N, H), dhs.dtype)
        dc = np.zeros((N, H), dhs.dtype)
        for t in reversed(range(T)):
            _, _, c_prev, f, g, i, o, tc = self.steps[t]
            dht = dhs[:, t] + dh
            do = (dht * tc) * ((1.0 - o) * o)
            dc = dc + ((1.0 - tc**2) * o) * dht
            di = (dc * g) * ((1.0 - i) * i)
            dg = dc * ((1.0 - g**2) * i)
            df = (dc * c_prev) * ((1.0 - f) * f)
            d = np.concatenate([df, dg, di, do], axis=1)
            da[:, t] = d
            dh = (self.Wh @ d.T).T
            dc = dc * f
        hprev = np.stack([s[1] for s in self.steps], axis=1)
        xs = np.stack([s[0] for s in self.steps], axis=1)
        da2 = da.reshape(N * T, 4 * H)
        dWx = xs.reshape(N * T, -1).T @ da2
        dWh = hprev.reshape(N * T, H).T @ da2
        db = da2.sum(axis=0)
        dxs = (da2 @ self.Wx.T).reshape(N, T, -1)
        return dxs, dWx, dWh, db, dh, dc


class PlainGRU:
    """A GRU over T steps, one step at a time, PyTorch's formulation, gates (r, z, n); no state
    carried. ``forward(xs, h0)`` -> hs; ``backward(dhs)`` -> (dxs, dWx, dWh, db, dbhn, dh0).
    The products are taken as ``PlainLSTM`` takes them, and as ``TimeGRU`` does."""

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, bhn: np.ndarray) -> None:
        self.Wx, self.Wh, self.b, self.bhn = Wx, Wh, b, bhn

    def forward(self, xs: np.ndarray, h0: np.ndarray) -> np.ndarray:
        N, T, _ = xs.shape
        H = self.Wh.shape[0]
        h = h0
        self.steps = []
        hs = np.empty((N, T, H), xs.dtype)
        xw = (xs.reshape(N * T, -1) @ self.Wx).reshape(N, T, 3 * H)
        for t in range(T):
            ax = xw[:, t] + self.b
            rec = (self.Wh.T @ h.T).T
            rz = plain_sigmoid(ax[:, : 2 * H] + rec[:, : 2 * H])
            r, z = rz[:, :H], rz[:, H:]
            hn = rec[:, 2 * H :] + self.bhn
            n = np.tanh(ax[:, 2 * H :] + r * hn)
            h_next = (h - n) * z + n
            self.steps.append((xs[:, t], h, r, z, n, hn))
            h = h_next
            hs[:, t] = h
        return hs

    def backward(self, dhs: np.ndarray) -> tuple[np.ndarray, ...]:
        N, T, H = dhs.shape
        dax = np.empty((N, T, 3 * H), dhs.dtype)
        dah = np.empty((N, T, 3 * H), dhs.dtype)
        dh = np.zeros((N, H), dhs.dtype)
        for t in reversed(range(T)):
            _, h_prev, r, z, n, hn = self.steps[t]
            dht = dhs[:, t] + dh
            daz = ((h_prev - n) * dht) * ((1.0 - z) * z)
            dan = ((1.0 - z) * dht) * (1.0 - n**2)
            dar = (dan * hn) * ((1.0 - r) * r)
            dax[:, t] = np.concatenate([dar, daz, dan], axis=1)
            dah[:, t] = np.concatenate([dar, daz, dan * r], axis=1)
            dh = (self.Wh @ dah[:, t].T).T + dht * z
        hprev = np.stack([s[1] for s in self.steps], axis=1)
        xs = np.stack([s[0] for s in self.steps], axis=1)
        dax2, dah2 = dax.reshape(N * T, 3 * H), dah.reshape(N * T, 3 * H)
        dWx = xs.reshape(N * T, -1).T @ dax2
        dWh = hprev.reshape(N * T, H).T @ dah2
        db = dax2.sum(axis=0)
        dbhn = dah[:, :, 2 * H :].sum(axis=(0, 1))
        dxs = (dax2 @ self.Wx.T).reshape(N, T, -1)
        return dxs, dWx, dWh, db, dbhn, dh
