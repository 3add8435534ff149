"""Preallocated work arrays, so a training step allocates nothing once shapes are steady."""

from types import ModuleType

import numpy as np

from rnnlm.backend import HOST, array_module


class Buffers:
    """A small pool of named arrays, reallocated only when a shape, dtype or array module
    changes. The pool allocates with the array module it is given (numpy by default; a layer
    passes its parameters', so a GPU layer's buffers are GPU arrays); ``xp`` on a call
    overrides it for that array."""

    def __init__(self, xp: ModuleType = HOST) -> None:
        self.xp = xp
        self._arrays: dict[str, np.ndarray] = {}

    def get(
        self, name: str, shape: tuple[int, ...], dtype: np.dtype, xp: ModuleType | None = None
    ) -> np.ndarray:
        """Return the array called ``name`` with this shape and dtype (contents undefined)."""
        xp = xp or self.xp
        arr = self._arrays.get(name)
        if arr is None or arr.shape != shape or arr.dtype != dtype or array_module(arr) is not xp:
            arr = xp.empty(shape, dtype=dtype)
            self._arrays[name] = arr
        return arr

    def zeros(
        self, name: str, shape: tuple[int, ...], dtype: np.dtype, xp: ModuleType | None = None
    ) -> np.ndarray:
        """Like ``get``, filled with zeros."""
        arr = self.get(name, shape, dtype, xp)
        arr.fill(0)
        return arr

    def clear(self) -> None:
        """Free every array (e.g. before saving memory between training and generation)."""
        self._arrays.clear()
