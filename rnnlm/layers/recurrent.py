"""What every recurrent time layer shares once its backward loop has run."""

import numpy as np

from rnnlm.layers.buffers import Buffers
from rnnlm.layers.weight_drop import WeightDrop


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
    N, T, D = xs.shape
    H = hs.shape[2]
    G = dax.shape[2]
    dax2, dah2 = dax.reshape(N * T, G), dah.reshape(N * T, G)
    hprev = buf.get("hprev", (N, T, H), hs.dtype)  # h_{t-1} for every t
    hprev[:, 0] = h0
    hprev[:, 1:] = hs[:, :-1]
    np.matmul(xs.reshape(N * T, D).T, dax2, out=dWx)
    np.matmul(hprev.reshape(N * T, H).T, dah2, out=dWh)
    drop.backward(dWh)
    np.sum(dax2, axis=0, out=db)
    dxs = buf.get("dxs", (N * T, D), hs.dtype)
    np.matmul(dax2, Wx.T, out=dxs)
    return dxs.reshape(N, T, D)


class CarriedState:
    """``h`` carried from one window to the next (RNN and GRU; LSTM carries c too)."""

    h: np.ndarray | None = None

    @property
    def state(self) -> np.ndarray | None:
        """The carried state (N, H), a copy, or None."""
        return None if self.h is None else self.h.copy()

    def set_state(self, h: np.ndarray) -> None:
        """Start the next forward from ``h`` (N, H)."""
        self.h = h.copy()

    def reset_state(self) -> None:
        """Start the next forward from zeros."""
        self.h = None
