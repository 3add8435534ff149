"""TimeClassSoftmax: a class-factored output layer (Mikolov et al., 2011), exact probabilities.

Words are split into C classes of contiguous ids (the vocabulary is sorted by frequency, so
each class is a frequency band). Then

    P(w | h) = P(class(w) | h) * P(w | class(w), h)
             = softmax(h Wc + bc)[class(w)] * softmax(h Ww[:, class] + bw[class])[w]

Training and scoring a known target touch C + |class(w)| output units instead of V. The
probabilities are normalised over the whole vocabulary, so perplexities compare directly with
a full softmax's. ``scores`` gives log P(w | h) for every w (for sampling).
"""

from typing import TYPE_CHECKING

import numpy as np

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
    mass = np.sqrt(np.maximum(counts.astype(np.float64), 0) + 1.0)
    cum = np.cumsum(mass) / mass.sum()
    # a class ends where the cumulative mass passes k/C; bounds strictly increase
    cuts = np.searchsorted(cum, np.arange(1, n_classes) / n_classes, side="right") + 1
    bounds = np.unique(np.concatenate([[0], np.clip(cuts, 1, V - 1), [V]]))
    return bounds.astype(np.int64)


def _log_softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


class TimeClassSoftmax(Head):
    """Output layer and loss in one: hs (N, T, H) and targets (N, T) -> mean NLL."""

    param_names = ("cls.W", "cls.b", "out.W", "out.b")

    def __init__(
        self, Wc: np.ndarray, bc: np.ndarray, Ww: np.ndarray, bw: np.ndarray, bounds: np.ndarray
    ) -> None:
        self.params = [Wc, bc, Ww, bw]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.bounds = np.asarray(bounds, dtype=np.int64)
        V = Ww.shape[1]
        self.word_class = np.repeat(np.arange(self.bounds.size - 1), np.diff(self.bounds))
        assert self.word_class.size == V, "class bounds must cover the vocabulary"
        self.token_nll: np.ndarray | None = None
        self._cache: tuple | None = None
        self._buf = Buffers()

    @classmethod
    def param_shapes(cls, cfg: "ModelConfig") -> dict[str, tuple[int, ...]]:
        """The class layer ``cls.W`` (H, C) and ``cls.b`` (C,), then the output layer."""
        C = len(cfg.class_bounds) - 1
        return {"cls.W": (cfg.hidden, C), "cls.b": (C,), **super().param_shapes(cfg)}

    @classmethod
    def from_params(cls, params: dict[str, np.ndarray], cfg: "ModelConfig") -> "TimeClassSoftmax":
        W_out = output_matrix(params, cfg)
        bounds = np.asarray(cfg.class_bounds)
        return cls(params["cls.W"], params["cls.b"], W_out, params["out.b"], bounds)

    def forward(self, hs: np.ndarray, ts: np.ndarray) -> float:
        """hs: (N, T, H), ts: (N, T) int -> mean NLL (nats)."""
        Wc, bc, Ww, bw = self.params
        N, T, H = hs.shape
        M = N * T
        h2 = hs.reshape(M, H)
        t = ts.reshape(M)
        cls = self.word_class[t]
        pc = _log_softmax_rows(h2 @ Wc + bc)  # (M, C) class log-probs
        nll = -pc[np.arange(M), cls]
        groups = []  # per class present: (rows, start, end, word log-probs)
        order = np.argsort(cls, kind="stable")
        edges = np.flatnonzero(np.diff(cls[order])) + 1
        for rows in np.split(order, edges):
            c = int(cls[rows[0]])
            s, e = int(self.bounds[c]), int(self.bounds[c + 1])
            pw = _log_softmax_rows(h2[rows] @ Ww[:, s:e] + bw[s:e])
            nll[rows] -= pw[np.arange(rows.size), t[rows] - s]
            groups.append((rows, s, e, pw))
        self._cache = (h2, t, cls, pc, groups, hs.shape)
        self.token_nll = nll.reshape(N, T)
        return float(np.mean(nll, dtype=np.float64))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """-> dhs (N, T, H); writes dWc, dbc, dWw, dbw."""
        Wc, _, Ww, _ = self.params
        dWc, dbc, dWw, dbw = self.grads
        h2, t, cls, pc, groups, shape = self._cache
        M = h2.shape[0]
        k = dout / M
        dzc = np.exp(pc)
        dzc[np.arange(M), cls] -= 1.0
        dzc *= k
        np.matmul(h2.T, dzc, out=dWc)
        np.sum(dzc, axis=0, out=dbc)
        dh = dzc @ Wc.T
        dWw.fill(0)
        dbw.fill(0)
        for rows, s, e, pw in groups:
            dz = np.exp(pw)
            dz[np.arange(rows.size), t[rows] - s] -= 1.0
            dz *= k
            dWw[:, s:e] += h2[rows].T @ dz
            dbw[s:e] += dz.sum(axis=0)
            dh[rows] += dz @ Ww[:, s:e].T
        return dh.reshape(shape)

    def scores(self, hs: np.ndarray) -> np.ndarray:
        """hs: (N, T, H) -> log P(w | h) for every word, (N, T, V)."""
        Wc, bc, Ww, bw = self.params
        N, T, H = hs.shape
        h2 = hs.reshape(N * T, H)
        pc = _log_softmax_rows(h2 @ Wc + bc)
        z = h2 @ Ww + bw  # (M, V)
        starts = self.bounds[:-1]
        zmax = np.maximum.reduceat(z, starts, axis=1)
        z -= zmax[:, self.word_class]
        lse = np.log(np.add.reduceat(np.exp(z), starts, axis=1))  # (M, C)
        z += (pc - lse)[:, self.word_class]
        return z.reshape(N, T, -1)
