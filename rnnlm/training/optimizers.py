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

Updates run where the parameters live (rnnlm/backend.py); the norm's squares come to the host
in one copy per step, and a stored state (host arrays) moves to the parameters' device when
first used.
"""

import math

import numpy as np

from rnnlm.backend import HOST, array_module, like, to_host
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
    rows = rows or {}
    flats = [(g[rows[name]] if name in rows else g).reshape(-1) for name, g in grads.items()]
    xp = array_module(*flats)
    squares = to_host(xp.stack([xp.dot(flat, flat) for flat in flats]))  # one copy to the host
    total = 0.0
    for flat, sq in zip(flats, squares.tolist(), strict=True):
        if not math.isfinite(sq):  # float32 overflow: redo this one in float64
            sq = float(xp.dot(flat.astype(np.float64), flat.astype(np.float64)))
        total += sq
    norm = abs(scale) * math.sqrt(total)
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


class Optimizer:
    """What SGD and Adam share: the learning rate, the walk over the parameters in ``step``, and
    a preallocated temporary per parameter. A subclass sets up one step in ``_begin`` and
    updates one parameter in ``_update``."""

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
        """One update of every parameter with the gradient ``scale * grads`` (``scale``: from
        ``clip_scale``); ``rows``: a parameter's rows where its gradient can be nonzero."""
        self._begin(scale)
        rows = rows or {}
        for name, W in params.items():
            self._update(name, W, grads[name], rows.get(name))

    def _begin(self, scale: float) -> None:
        raise NotImplementedError

    def _update(self, name: str, W: np.ndarray, dW: np.ndarray, rows: np.ndarray | None) -> None:
        raise NotImplementedError

    def _scratch(self, name: str, W: np.ndarray) -> np.ndarray:
        """The temporary of parameter ``name``, shaped and typed like ``W``, flattened."""
        tmp = self._tmp.get(name)
        xp = array_module(W)
        if tmp is None or (tmp.shape, tmp.dtype, array_module(tmp)) != (W.shape, W.dtype, xp):
            tmp = self._tmp[name] = xp.empty_like(W)
        return tmp.reshape(-1)


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``W -= lr * scale * dW``; for a parameter in
    ``rows``, only in those rows (the gradient is zero elsewhere)."""

    def _begin(self, scale: float) -> None:
        self._rate = self.lr * scale

    def _update(self, name: str, W: np.ndarray, dW: np.ndarray, rows: np.ndarray | None) -> None:
        rate = self._rate
        if rows is not None:
            W[rows] -= dW[rows] * rate
            return
        w, g, t = W.reshape(-1), dW.reshape(-1), self._scratch(name, W)

        xp = array_module(w)

        def update(b: slice) -> None:
            xp.multiply(g[b], rate, out=t[b])
            w[b] -= t[b]

        for_blocks(update, w.size, w.size, chunk=UPDATE_CHUNK, like=w)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays to store for an exact resume (SGD keeps none beyond the learning rate)."""
        return {"lr": HOST.array(self.lr, dtype=np.float64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.lr = float(state["lr"])


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction; state is kept per parameter name.

    ``rows`` is accepted for one interface with SGD and ignored: every row moves."""

    def __init__(
        self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def _begin(self, scale: float) -> None:
        self.t += 1
        b2 = self.beta2
        # bias corrections folded into the step size and epsilon (numpy float64 scalars)
        self._step = self.lr * HOST.sqrt(1 - b2**self.t) / (1 - self.beta1**self.t)
        self._eps = self.eps * HOST.sqrt(1 - b2**self.t)
        self._scale = scale

    def _update(self, name: str, W: np.ndarray, dW: np.ndarray, rows: np.ndarray | None) -> None:
        xp = array_module(W)
        if name not in self.m:
            self.m[name] = xp.zeros_like(W)
            self.v[name] = xp.zeros_like(W)
        # a loaded state (host arrays) moves to W's device once; then these are no-ops
        self.m[name], self.v[name] = like(self.m[name], W), like(self.v[name], W)
        b1, b2, step, eps, scale = self.beta1, self.beta2, self._step, self._eps, self._scale
        w, g, tmp = W.reshape(-1), dW.reshape(-1), self._scratch(name, W)
        m, v = self.m[name].reshape(-1), self.v[name].reshape(-1)

        def update(b: slice) -> None:
            mb, vb, tb, gb = m[b], v[b], tmp[b], g[b]
            # m = b1 m + (1 - b1) s g;  v = b2 v + (1 - b2) s^2 g^2
            xp.multiply(gb, (1 - b1) * scale, out=tb)
            mb *= b1
            mb += tb
            xp.multiply(gb, gb, out=tb)
            tb *= (1 - b2) * scale * scale
            vb *= b2
            vb += tb
            # w -= step * m / (sqrt(v) + eps)
            xp.sqrt(vb, out=tb)
            tb += eps
            xp.divide(mb, tb, out=tb)
            tb *= step
            w[b] -= tb

        for_blocks(update, w.size, w.size, chunk=UPDATE_CHUNK, like=w)

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {
            "lr": HOST.array(self.lr, dtype=np.float64),
            "t": HOST.array(self.t, dtype=np.int64),
        }
        state.update({f"m.{k}": v for k, v in self.m.items()})
        state.update({f"v.{k}": v for k, v in self.v.items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.lr = float(state["lr"])
        self.t = int(state.get("t", 0))
        self.m = {k[2:]: HOST.array(to_host(v)) for k, v in state.items() if k.startswith("m.")}
        self.v = {k[2:]: HOST.array(to_host(v)) for k, v in state.items() if k.startswith("v.")}


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
            ok = value.shape == () and HOST.issubdtype(value.dtype, np.number)
            ok = ok and bool(HOST.isfinite(value) and value >= 0 and (key != "lr" or value > 0))
            ok = ok and (key != "t" or float(value).is_integer())
        if not ok:
            return key
    return None
