"""Preallocated work arrays, so a training step allocates nothing once shapes are steady."""

import numpy as np


class Buffers:
    """A small pool of named arrays, reallocated only when a shape or dtype changes."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Return the array called ``name`` with this shape and dtype (contents undefined)."""
        arr = self._arrays.get(name)
        if arr is None or arr.shape != shape or arr.dtype != dtype:
            arr = np.empty(shape, dtype=dtype)
            self._arrays[name] = arr
        return arr

    def zeros(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Like ``get``, filled with zeros."""
        arr = self.get(name, shape, dtype)
        arr.fill(0)
        return arr

    def clear(self) -> None:
        """Free every array (e.g. before saving memory between training and generation)."""
        self._arrays.clear()
