"""Optimizers and gradient clipping; one interface: ``step(params, grads, scale)``.

Clipping does not rewrite the gradients: ``clip_scale`` measures their global norm and returns
the factor that clips them, and the optimizer applies that factor inside its own update (for
SGD it folds into the learning rate), so a step reads the gradients twice (the norm, the update)
instead of three or four times (time-sum scaling, norm, clipping, update). Updates run in
parallel blocks of each flattened parameter, walked in cache-sized pieces (``rnnlm.nn.parallel``),
into preallocated temporaries: no allocation per step beyond the small copies of sparse rows.

``rows`` (``RNNLM.grad_rows``) names gradients that are zero outside some rows (an embedding's:
the ids of one window, ~700 of 10,000 rows): the norm and SGD's update then touch those rows only.
Adam updates every row whatever the gradient (its moments decay everywhere), so it ignores them.
"""

import numpy as np

from rnnlm.nn.parallel import CACHE_ELEMENTS, for_blocks

UPDATE_CHUNK = CACHE_ELEMENTS // 4  # an update touches up to 5 arrays; keep a piece of each cached


def clip_scale(
    grads: dict[str, np.ndarray],
    max_norm: float,
    scale: float = 1.0,
    rows: dict[str, np.ndarray] | None = None,
) -> tuple[float, float]:
    """Global L2 norm of ``scale * grads``, and the factor that turns ``grads`` into the
    clipped gradient: ``scale`` times ``max_norm / norm`` when the norm exceeds ``max_norm``.

    ``max_norm <= 0`` only measures. The gradients themselves are not modified.
    """
    total = 0.0
    rows = rows or {}
    for name, g in grads.items():
        flat = (g[rows[name]] if name in rows else g).reshape(-1)
        sq = float(np.dot(flat, flat))
        if not np.isfinite(sq):  # float32 overflow: redo this one in float64
            sq = float(np.dot(flat.astype(np.float64), flat.astype(np.float64)))
        total += sq
    norm = abs(scale) * float(np.sqrt(total))
    if max_norm > 0 and norm > max_norm:
        return norm, scale * max_norm / (norm + 1e-6)
    return norm, scale


def clip_grads(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping; ``max_norm <= 0`` only measures it.
    """
    norm, scale = clip_scale(grads, max_norm)
    if scale != 1.0:
        for g in grads.values():
            g *= scale
    return norm


class SGD:
    """Plain stochastic gradient descent: ``W -= lr * dW``."""

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self._tmp: dict[str, np.ndarray] = {}

    def step(
        self,
        params: dict[str, np.ndarray],
        grads: dict[str, np.ndarray],
        scale: float = 1.0,
        rows: dict[str, np.ndarray] | None = None,
    ) -> None:
        """``W -= lr * scale * dW`` for every parameter (``scale``: from ``clip_scale``); for
        a parameter in ``rows``, only in those rows (the gradient is zero elsewhere)."""
        rate = self.lr * scale
        rows = rows or {}
        for name, W in params.items():
            if name in rows:
                r = rows[name]
                W[r] -= grads[name][r] * rate
                continue
            tmp = self._tmp.get(name)
            if tmp is None or tmp.shape != W.shape or tmp.dtype != W.dtype:
                tmp = self._tmp[name] = np.empty_like(W)
            w, g, t = W.reshape(-1), grads[name].reshape(-1), tmp.reshape(-1)

            def update(b: slice, w=w, g=g, t=t) -> None:
                np.multiply(g[b], rate, out=t[b])
                w[b] -= t[b]

            for_blocks(update, w.size, w.size, chunk=UPDATE_CHUNK)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays to store for an exact resume (SGD keeps none beyond the learning rate)."""
        return {"lr": np.array(self.lr, dtype=np.float64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.lr = float(state["lr"])


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction; state is kept per parameter name."""

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}
        self._tmp: dict[str, np.ndarray] = {}

    def step(
        self,
        params: dict[str, np.ndarray],
        grads: dict[str, np.ndarray],
        scale: float = 1.0,
        rows: dict[str, np.ndarray] | None = None,
    ) -> None:
        """One Adam update with the gradient ``scale * grads`` (``scale``: from ``clip_scale``).

        ``rows`` is accepted for one interface with SGD and ignored: every row moves."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # bias corrections folded into the step size and epsilon
        step = self.lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        eps = self.eps * np.sqrt(1 - b2**self.t)
        for name, W in params.items():
            if name not in self.m:
                self.m[name] = np.zeros_like(W)
                self.v[name] = np.zeros_like(W)
            if name not in self._tmp:
                self._tmp[name] = np.empty_like(W)
            w, g = W.reshape(-1), grads[name].reshape(-1)
            m, v = self.m[name].reshape(-1), self.v[name].reshape(-1)
            tmp = self._tmp[name].reshape(-1)

            def update(b: slice, w=w, g=g, m=m, v=v, tmp=tmp) -> None:
                mb, vb, tb, gb = m[b], v[b], tmp[b], g[b]
                # m = b1 m + (1 - b1) s g;  v = b2 v + (1 - b2) s^2 g^2
                np.multiply(gb, (1 - b1) * scale, out=tb)
                mb *= b1
                mb += tb
                np.multiply(gb, gb, out=tb)
                tb *= (1 - b2) * scale * scale
                vb *= b2
                vb += tb
                # w -= step * m / (sqrt(v) + eps)
                np.sqrt(vb, out=tb)
                tb += eps
                np.divide(mb, tb, out=tb)
                tb *= step
                w[b] -= tb

            for_blocks(update, w.size, w.size, chunk=UPDATE_CHUNK)

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {"lr": np.array(self.lr, dtype=np.float64), "t": np.array(self.t, dtype=np.int64)}
        state.update({f"m.{k}": v for k, v in self.m.items()})
        state.update({f"v.{k}": v for k, v in self.v.items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.lr = float(state["lr"])
        self.t = int(state.get("t", 0))
        self.m = {k[2:]: np.array(v) for k, v in state.items() if k.startswith("m.")}
        self.v = {k[2:]: np.array(v) for k, v in state.items() if k.startswith("v.")}


OPTIMIZERS = {"sgd": SGD, "adam": Adam}

# Keys of a stored optimizer state that hold one array per parameter (``NAME`` after the dot):
# Adam's moments and the weight average's (rnnlm/training/averaging.py), which shares the dict.
PER_PARAMETER = ("m.", "v.", "ema.")


def state_problem(state: dict[str, np.ndarray], params: dict[str, np.ndarray]) -> str | None:
    """The first key of a stored optimizer state that cannot be loaded for ``params``, or None.

    Per-parameter arrays must match a parameter's shape; scalars (the lr > 0, Adam's step count
    and the average's, whole numbers) must be finite numbers >= 0.
    """
    for key, value in state.items():
        name = key.partition(".")[2]
        if key.startswith(PER_PARAMETER):
            ok = name in params and value.shape == params[name].shape
        else:
            ok = value.shape == () and np.issubdtype(value.dtype, np.number)
            ok = ok and bool(np.isfinite(value) and value >= 0 and (key != "lr" or value > 0))
            ok = ok and (key != "t" or float(value).is_integer())
        if not ok:
            return key
    return None
