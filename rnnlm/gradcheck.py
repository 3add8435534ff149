"""Numerical gradient checking by central differences (run in float64)."""

from collections.abc import Callable

import numpy as np


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f() / d x, perturbing ``x`` in place one element at a time (restored afterwards)."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * eps)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|): 0 when equal, ~1 when unrelated."""
    denom = np.maximum(np.abs(a) + np.abs(b), 1e-8).max()
    return float(np.abs(a - b).max() / denom)
