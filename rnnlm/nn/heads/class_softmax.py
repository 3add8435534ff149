"""TimeClassSoftmax: a class-factored output layer (Mikolov et al., 2011), exact probabilities.

Words are split into C classes of contiguous ids (the vocabulary is sorted by frequency, so
each class is a frequency band). Then

    P(w | h) = P(class(w) | h) * P(w | class(w), h)
             = softmax(h Wc + bc)[class(w)] * softmax(h Ww[:, class] + bw[class])[w]

Training and scoring a known target touch C + |class(w)| output units instead of V. The
probabilities are normalised over the whole vocabulary, so perplexities compare directly with
a full softmax's. ``scores`` gives log P(w | h) for every w (for sampling).

Which positions fall in which class is worked out on the host from the window's targets (on a
GPU, one copy of its N·T ids per forward); the arithmetic runs where the arrays live.
"""

import itertools
from typing import TYPE_CHECKING

import numpy as np

from rnnlm.backend import HOST, array_module, device_of, scalar, to_device, to_host
from rnnlm.nn.buffers import Buffers
from rnnlm.nn.heads.base import Head, output_matrix

if TYPE_CHECKING:
    from rnnlm.config import ModelConfig


def frequency_classes(counts: np.ndarray, n_classes: int) -> np.ndarray:
    """Class boundaries (C+1,) over ids 0..V-1: each class holds about 1/C of the token mass.

    ``counts`` (V,) are unigram counts in id order. Bands are cut on the cumulative share of
    sqrt(count), which keeps rare-word classes from growing huge (Mikolov's RNNLM toolkit).
    """
    V = counts.size
    n_classes = max(1, min(n_classes, V))
    mass = HOST.sqrt(HOST.maximum(counts.astype(np.float64), 0) + 1.0)
    cum = HOST.cumsum(mass) / mass.sum()
    # a class ends where the cumulative mass passes k/C; bounds strictly increase
    cuts = HOST.searchsorted(cum, HOST.arange(1, n_classes) / n_classes, side="right") + 1
    bounds = HOST.unique(HOST.concatenate([[0], HOST.clip(cuts, 1, V - 1), [V]]))
    return bounds.astype(np.int64)


def _log_softmax_rows(z: np.ndarray) -> np.ndarray:
    xp = array_module(z)
    z = z - z.max(axis=1, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))


class TimeClassSoftmax(Head):
    """Output layer and loss in one: hs (N, T, H) and targets (N, T) -> mean NLL."""

    param_names = ("cls.W", "cls.b", "out.W", "out.b")

    def __init__(
        self, Wc: np.ndarray, bc: np.ndarray, Ww: np.ndarray, bw: np.ndarray, bounds: np.ndarray
    ) -> None:
        xp = array_module(Ww)
        self.params = [Wc, bc, Ww, bw]
        self.grads = [xp.zeros_like(p) for p in self.params]
        self.bounds = HOST.asarray(bounds, dtype=np.int64)  # on the host: slice ends
        V = Ww.shape[1]
        # class of each word id: on the host (grouping a window's targets) and on Ww's device
        self.host_class = HOST.repeat(HOST.arange(self.bounds.size - 1), HOST.diff(self.bounds))
        assert self.host_class.size == V, "class bounds must cover the vocabulary"
        self.word_class = to_device(self.host_class, device_of(Ww))
        self.token_nll: np.ndarray | None = None
        self._cache: tuple | None = None
        self._buf = Buffers(xp)

    @classmethod
    def param_shapes(cls, cfg: "ModelConfig") -> dict[str, tuple[int, ...]]:
        """The class layer ``cls.W`` (H, C) and ``cls.b`` (C,), then the output layer."""
        C = len(cfg.class_bounds) - 1
        return {"cls.W": (cfg.hidden, C), "cls.b": (C,), **super().param_shapes(cfg)}

    @classmethod
    def from_params(cls, params: dict[str, np.ndarray], cfg: "ModelConfig") -> "TimeClassSoftmax":
        W_out = output_matrix(params, cfg)
        bounds = HOST.asarray(cfg.class_bounds)
        return cls(params["cls.W"], params["cls.b"], W_out, params["out.b"], bounds)

    def forward(self, hs: np.ndarray, ts: np.ndarray) -> float:
        """hs: (N, T, H), ts: (N, T) int -> mean NLL (nats) (on a GPU, a 0-d device array)."""
        xp = array_module(hs)
        Wc, bc, Ww, bw = self.params
        N, T, H = hs.shape
        M = N * T
        h2 = hs.reshape(M, H)
        t = ts.reshape(M)
        cls = self.word_class[t]
        pc = _log_softmax_rows(h2 @ Wc + bc)  # (M, C) class log-probs
        nll = -pc[xp.arange(M), cls]
        groups = []  # per class present: (rows, start, end, word log-probs)
        # the positions of each class, found on the host; ``order`` moved once, then sliced
        host_cls = self.host_class[to_host(t)]
        host_order = HOST.argsort(host_cls, kind="stable")
        edges = [0, *(HOST.flatnonzero(HOST.diff(host_cls[host_order])) + 1).tolist(), M]
        order = to_device(host_order, device_of(hs))
        for a, z in itertools.pairwise(edges):
            rows = order[a:z]
            c = int(host_cls[host_order[a]])
            s, e = int(self.bounds[c]), int(self.bounds[c + 1])
            pw = _log_softmax_rows(h2[rows] @ Ww[:, s:e] + bw[s:e])
            nll[rows] -= pw[xp.arange(z - a), t[rows] - s]
            groups.append((rows, s, e, pw))
        self._cache = (h2, t, cls, pc, groups, hs.shape)
        self.token_nll = nll.reshape(N, T)
        return scalar(xp.mean(nll, dtype=np.float64))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """-> dhs (N, T, H); writes dWc, dbc, dWw, dbw."""
        Wc, _, Ww, _ = self.params
        dWc, dbc, dWw, dbw = self.grads
        h2, t, cls, pc, groups, shape = self._cache
        xp = array_module(h2)
        M = h2.shape[0]
        k = dout / M
        dzc = xp.exp(pc)
        dzc[xp.arange(M), cls] -= 1.0
        dzc *= k
        xp.matmul(h2.T, dzc, out=dWc)
        xp.sum(dzc, axis=0, out=dbc)
        dh = dzc @ Wc.T
        dWw.fill(0)
        dbw.fill(0)
        for rows, s, e, pw in groups:
            dz = xp.exp(pw)
            dz[xp.arange(rows.size), t[rows] - s] -= 1.0
            dz *= k
            dWw[:, s:e] += h2[rows].T @ dz
            dbw[s:e] += dz.sum(axis=0)
            dh[rows] += dz @ Ww[:, s:e].T
        return dh.reshape(shape)

    def scores(self, hs: np.ndarray) -> np.ndarray:
        """hs: (N, T, H) -> log P(w | h) for every word, (N, T, V)."""
        xp = array_module(hs)
        Wc, bc, Ww, bw = self.params
        N, T, H = hs.shape
        h2 = hs.reshape(N * T, H)
        pc = _log_softmax_rows(h2 @ Wc + bc)
        z = h2 @ Ww + bw  # (M, V)
        zmax = self._per_class("max", z)
        z -= zmax[:, self.word_class]
        lse = xp.log(self._per_class("sum", xp.exp(z)))  # (M, C)
        z += (pc - lse)[:, self.word_class]
        return z.reshape(N, T, -1)

    def _per_class(self, op: str, z: np.ndarray) -> np.ndarray:
        """(M, C): the ``op`` ("max" or "sum") of each class's columns of z (M, V)."""
        xp = array_module(z)
        if xp is HOST:
            ufunc = HOST.maximum if op == "max" else HOST.add
            return ufunc.reduceat(z, self.bounds[:-1], axis=1)
        out = xp.empty((z.shape[0], self.bounds.size - 1), z.dtype)
        ends = self.bounds.tolist()
        for c in range(len(ends) - 1):  # one reduction per class (C kernels, not reduceat)
            out[:, c] = getattr(z[:, ends[c] : ends[c + 1]], op)(axis=1)
        return out
