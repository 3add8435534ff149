"""ParamEMA: an exponential moving average of the parameters, for evaluation (``--ema``).

SGD and Adam leave the weights jittering around a minimum; an average of the recent weights
usually sits closer to it and scores a lower perplexity (Polyak averaging; averaged SGD in
AWD-LSTM). Training goes on with the raw weights; validation, ``best.npz`` and the final test
use the average. The decay warms up as ``min(decay, (1 + t) / (10 + t))`` after ``t`` updates
(as TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``), so the first windows' random
weights fade out quickly instead of weighing on the average for thousands of steps.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from rnnlm.backend import HOST, array_module, copy_into
from rnnlm.nn.parallel import for_blocks
from rnnlm.training.optimizers import UPDATE_CHUNK


def has_average(state: dict[str, np.ndarray]) -> bool:
    """Whether a stored optimizer state holds a weight average (``ema_t``, ``ema.NAME``)."""
    return any(k == "ema_t" or k.startswith("ema.") for k in state)


class ParamEMA:
    """``avg = d * avg + (1 - d) * param`` after every update, per parameter name."""

    def __init__(self, params: dict[str, np.ndarray], decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.t = 0  # updates averaged so far
        self.avg = {k: v.copy() for k, v in params.items()}  # where the parameters live
        self._tmp = {k: array_module(v).empty_like(v) for k, v in params.items()}

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.t) / (10 + self.t))

    def update(self, params: dict[str, np.ndarray]) -> None:
        """Fold the parameters after one optimizer step into the average."""
        d = self.current_decay()
        self.t += 1
        for name, W in params.items():
            w, a, tmp = W.reshape(-1), self.avg[name].reshape(-1), self._tmp[name].reshape(-1)
            xp = array_module(w)

            def blend(b: slice, w=w, a=a, tmp=tmp, xp=xp) -> None:  # a += (1 - d) (w - a)
                tb = tmp[b]
                xp.subtract(w[b], a[b], out=tb)
                tb *= 1.0 - d
                a[b] += tb

            for_blocks(blend, w.size, w.size, chunk=UPDATE_CHUNK, like=w)

    @contextmanager
    def swapped_in(self, params: dict[str, np.ndarray]) -> Iterator[None]:
        """Within the block the parameters hold the average (in place: layers keep their
        arrays); the raw values come back afterwards, bit for bit, even after an exception.

        Not re-entrant, and no ``update`` inside: the raw values wait in ``update``'s scratch.
        """
        swapped = []
        try:
            for name, W in params.items():
                xp = array_module(W)
                xp.copyto(self._tmp[name], W)
                xp.copyto(W, self.avg[name])
                swapped.append(name)
            yield
        finally:
            for name in swapped:
                array_module(params[name]).copyto(params[name], self._tmp[name])

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {f"ema.{k}": v for k, v in self.avg.items()}
        state["ema_t"] = HOST.array(self.t, dtype=np.int64)
        return state

    def check_state_dict(self, state: dict[str, np.ndarray]) -> str | None:
        """Why ``state`` cannot be loaded (a missing, misshapen or bad entry), or None."""
        t = state.get("ema_t")
        if t is None or t.shape != () or t.dtype.kind not in "iu" or int(t) < 0:
            return "no valid update count (ema_t)"
        for name, avg in self.avg.items():
            a = state.get(f"ema.{name}")
            if a is None or a.shape != avg.shape:
                return f"no average of '{name}' with shape {avg.shape}"
        return None

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if (why := self.check_state_dict(state)) is not None:
            raise ValueError(f"weight average: {why}")
        self.t = int(state["ema_t"])
        for name, avg in self.avg.items():
            copy_into(avg, state[f"ema.{name}"])  # (a stored state is on the host)
