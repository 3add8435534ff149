"""Optimizers and gradient clipping; one interface: ``step(params, grads)`` over named arrays."""

import numpy as np


def clip_grads(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping; ``max_norm <= 0`` only measures it.
    """
    total = 0.0
    for g in grads.values():
        flat = g.reshape(-1)
        total += float(np.dot(flat, flat))
    norm = float(np.sqrt(total))
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm


class SGD:
    """Plain stochastic gradient descent: ``W -= lr * dW``."""

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self._tmp: dict[str, np.ndarray] = {}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        for name, W in params.items():
            tmp = self._tmp.get(name)
            if tmp is None or tmp.shape != W.shape or tmp.dtype != W.dtype:
                tmp = self._tmp[name] = np.empty_like(W)
            np.multiply(grads[name], self.lr, out=tmp)
            W -= tmp

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays to store for an exact resume (SGD keeps none beyond the learning rate)."""
        return {"lr": np.array(self.lr, dtype=np.float64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.lr = float(state["lr"])
