"""What every recurrent time layer shares: the initial state of a window, the products
inside its loop, and the weight gradients once its backward loop has run."""

import numpy as np

from rnnlm.backend import HOST, array_module
from rnnlm.nn.buffers import Buffers
from rnnlm.nn.parallel import blas_threads
from rnnlm.nn.weight_drop import WeightDrop

# Below this many elements of Wh (an RNN-256's 65,536) the loop's products are too small a
# share of a step for the layout to show (measured: transposed / plain 1.00–1.01).
TRANSPOSE_MIN = 1 << 17
TRANSPOSE_MIN_ROWS = 8
TRANSPOSE_MIN_STEPS = 16  # copying Wh^T (3 ms at 650 x 2600) costs ~11 products' savings


def initial_state(
    buf: Buffers, name: str, carried: np.ndarray | None, N: int, H: int, dtype: np.dtype
) -> np.ndarray:
    """A window's initial state ``name`` (N, H) in ``buf``, in ``dtype``: ``carried``'s values,
    or zeros where it is None. (A loop in the feature-major layout asks for (H, N), with
    ``carried`` transposed.)"""
    out = buf.get(name, (N, H), dtype)
    if carried is None:
        out.fill(0)
    else:
        out[...] = carried
    return out


def weight_grads(
    buf: Buffers,
    xs: np.ndarray,
    h0: np.ndarray,
    hs: np.ndarray,
    dax: np.ndarray,
    dah: np.ndarray,
    Wx: np.ndarray,
    dWx: np.ndarray,
    dWh: np.ndarray,
    db: np.ndarray,
    drop: WeightDrop,
) -> np.ndarray:
    """One matmul each for dWx, dWh, db and the input gradient, over all T steps.

    xs (N, T, D) inputs, h0 (N, H) initial state, hs (N, T, H) outputs; dax and dah (N, T, G)
    are the gradients of the pre-activations' input part ``x Wx + b`` and recurrent part
    ``h Wh`` (the same array for RNN and LSTM); ``drop`` is the cell's ``WeightDrop``, which
    turns the gradient of the (dropped) matrix the loop used into that of Wh. Returns dxs
    (N, T, D).
    """
    xp = array_module(xs)
    N, T, D = xs.shape
    H = hs.shape[2]
    G = dax.shape[2]
    dax2, dah2 = dax.reshape(N * T, G), dah.reshape(N * T, G)
    hprev = buf.get("hprev", (N, T, H), hs.dtype)  # h_{t-1} for every t
    hprev[:, 0] = h0
    hprev[:, 1:] = hs[:, :-1]
    xp.matmul(xs.reshape(N * T, D).T, dax2, out=dWx)
    xp.matmul(hprev.reshape(N * T, H).T, dah2, out=dWh)
    drop.backward(dWh)
    xp.sum(dax2, axis=0, out=db)
    dxs = buf.get("dxs", (N * T, D), hs.dtype)
    xp.matmul(dax2, Wx.T, out=dxs)
    return dxs.reshape(N, T, D)


class RecurrentProducts:
    """The two matrix products inside a recurrent loop: ``h Wh`` forward, ``da Wh^T`` backward.

    With N (20–64) rows against a (H, G) matrix, OpenBLAS splits a product between its
    threads by rows of the left operand, so each thread packs all of Wh and a second core
    adds little. Written transposed, ``Wh^T h^T`` and ``Wh da^T`` put Wh on the left, where
    the split halves it: for the LSTM-650's 20 x 650 by 650 x 2600, 23% (forward) and 29%
    (backward) faster on two threads, 10–15% slower on one (timed alternating in one run). So the
    transposed layout is taken only with several BLAS threads (``parallel.blas_threads()``),
    N ≥ 8 rows (one stream, as in evaluation, is a matrix-vector product: not measured,
    kept plain) and a Wh large enough to matter; the forward also needs Wh^T contiguous, a
    copy per window that only T ≥ 16 steps repay. Either way the caller sees (N, G) and
    (N, H) arrays; transposed, they are column-major views of (G, N) and (H, N). The two
    layouts agree to float rounding, not bit for bit, so a run resumed under another BLAS
    thread count continues within rounding of the uninterrupted one (same count: exactly).
    """

    def __init__(self, buf: Buffers) -> None:
        self._buf = buf
        self.forward_transposed = self.backward_transposed = False
        self._Wh: np.ndarray | None = None  # the window's matrix (dropped or not) ...
        self._WhT: np.ndarray | None = None  # ... and its contiguous transpose, if forward uses it

    def begin(self, Wh: np.ndarray, N: int, T: int, dtype: np.dtype) -> np.ndarray:
        """Use ``Wh`` (H, G) for a T-step window; returns the (N, G) array ``forward`` fills,
        in ``dtype`` (the activations', which need not be the weights')."""
        xp = array_module(Wh)
        H, G = Wh.shape
        self.backward_transposed = (  # an OpenBLAS matter: on a GPU, always plain
            xp is HOST and blas_threads() > 1 and N >= TRANSPOSE_MIN_ROWS and G * H >= TRANSPOSE_MIN
        )
        self.forward_transposed = self.backward_transposed and T >= TRANSPOSE_MIN_STEPS
        self._Wh = Wh
        if self.forward_transposed:
            # as a strided operand, Wh.T is slower than the plain layout
            self._WhT = self._buf.get("WhT", (G, H), Wh.dtype)
            self._WhT[...] = Wh.T
            return self._buf.get("recT", (G, N), dtype).T
        return self._buf.get("rec", (N, G), dtype)

    def forward(self, h: np.ndarray, out: np.ndarray) -> None:
        """out (N, G) = h (N, H) @ Wh, with ``out`` from ``begin``."""
        xp = array_module(h)
        if self.forward_transposed:
            xp.matmul(self._WhT, h.T, out=out.T)
        else:
            xp.matmul(h, self._Wh, out=out)

    def dh(self, N: int, H: int, dtype: np.dtype) -> np.ndarray:
        """A zeroed (N, H) array for ``backward`` to write into, in the layout it writes."""
        if self.backward_transposed:
            return self._buf.zeros("dhT", (H, N), dtype).T
        return self._buf.zeros("dh", (N, H), dtype)

    def backward(self, d: np.ndarray, out: np.ndarray) -> None:
        """out (N, H) = d (N, G) @ Wh^T for the Wh of the last ``begin``, with ``out`` from
        ``dh``."""
        xp = array_module(d)
        if self.backward_transposed:
            xp.matmul(self._Wh, d.T, out=out.T)
        else:
            xp.matmul(d, self._Wh.T, out=out)
