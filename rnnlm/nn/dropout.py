"""TimeDropout: inverted dropout on non-recurrent connections (Zaremba et al., 2014).

``Mask`` is the part every dropout shares (drawing, reusing and applying the scaled keep-mask);
``WeightDrop`` (weight_drop.py) applies it to a recurrent matrix instead of activations.

Masks are drawn on the host with the run's random generator, in the same order whatever the
device, then moved to the arrays' device: a CPU run and a GPU run from one seed drop the same
units.
"""

from types import ModuleType

import numpy as np

from rnnlm.backend import HOST, array_module, copy_into
from rnnlm.nn.buffers import Buffers


class Mask:
    """What every dropout shares: a keep-mask drawn with probability 1 - ``p`` per entry and
    ``keep / (1 - p)`` applied, off at evaluation (``train = False``) or with ``p == 0``.

    ``reuse_mask`` keeps the last mask for every later draw: gradient checks need a fixed mask.
    """

    def __init__(self, p: float, rng: np.random.Generator | None, what: str = "dropout") -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"{what} must be in [0, 1), got {p}")
        if p > 0 and rng is None:
            raise ValueError(f"{what} needs a random generator")
        self.p = p
        self.rng = rng
        self.train = True
        self.reuse_mask = False
        self._keep: np.ndarray | None = None
        self._buf = Buffers()

    @property
    def active(self) -> bool:
        return self.train and self.p > 0.0

    def _draw(self, shape: tuple[int, ...], dtype: np.dtype, xp: ModuleType) -> np.ndarray:
        """The keep-mask for this forward, in array module ``xp``: a new one, unless
        ``reuse_mask`` keeps the last. Drawn on the host (the run's generator), then moved."""
        if not (self.reuse_mask and self._keep is not None and self._keep.shape == shape):
            u = self._buf.get("u", shape, dtype, HOST)
            self.rng.random(out=u, dtype=u.dtype)
            keep = self._buf.get("keep", shape, np.bool_, HOST)
            HOST.greater_equal(u, self.p, out=keep)
            if xp is not HOST:
                moved = self._buf.get("keep_device", shape, np.bool_, xp)
                copy_into(moved, keep)
                keep = moved
            self._keep = keep
        return self._keep

    def _scale(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out = x * keep / (1 - p)`` (``out`` may be ``x``)."""
        xp = array_module(x)
        xp.multiply(x, self._keep, out=out)
        out *= 1.0 / (1.0 - self.p)
        return out


class TimeDropout(Mask):
    """Zero each activation with probability ``p`` while training and scale the rest by 1/(1-p).

    At evaluation (``train = False``) or with ``p == 0`` it is the identity. ``reuse_mask``
    keeps the last mask for every later forward: gradient checks need a fixed mask.
    """

    def __init__(self, p: float, rng: np.random.Generator, variational: bool = False) -> None:
        super().__init__(p, rng)
        self.variational = variational  # one mask per sequence, the same at every time step
        # (lo, hi, N): the input holds streams [lo, hi) of N (data parallelism): the mask is
        # drawn for all N and these rows kept, so a stream's mask does not depend on the split
        self.streams: tuple[int, int, int] | None = None
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T, D) -> (N, T, D), same dtype."""
        if not self.active:
            return xs
        N, T, D = xs.shape
        xp = array_module(xs)
        if self.streams is None:
            self._draw((N, 1, D) if self.variational else (N, T, D), xs.dtype, xp)
        else:
            lo, hi, total = self.streams
            keep = self._draw((total, 1, D) if self.variational else (total, T, D), xs.dtype, xp)
            self._keep = keep[lo:hi]
        return self._scale(xs, self._buf.get("out", xs.shape, xs.dtype, xp))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (N, T, D) -> dxs (N, T, D)."""
        if not self.active:
            return dout
        xp = array_module(dout)
        return self._scale(dout, self._buf.get("dx", dout.shape, dout.dtype, xp))
