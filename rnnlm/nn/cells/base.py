"""Cell: what every recurrent cell declares and shares, so the model, the trainer and the
checkpoint code ask the cell class instead of listing cells.

A cell class states its parameters (``gates`` blocks of H columns in ``Wx``, ``Wh`` and ``b``,
plus ``extra_params`` of shape (H,)), which of them are biases (initialised to zero by default),
and the shape of the state it carries from one window to the next (``state_shape``). Its
constructor takes the parameter arrays in ``param_names`` order, then ``stateful`` and the
``WeightDrop`` applied to its recurrent matrix.
"""

import numpy as np

from rnnlm.backend import array_module
from rnnlm.nn.weight_drop import WeightDrop


class Cell:
    """A time layer ``xs (N, T, D) -> hs (N, T, H)`` that carries a state between windows.

    The layer contract of ``rnnlm.nn`` holds (``params``/``grads``, ``forward``/``backward``);
    this base adds the carried state ``h`` (N, H) with ``state``/``set_state``/``reset_state``
    (a cell that carries more, like the LSTM's memory, overrides them and ``state_shape``).
    """

    gates: int = 1  # blocks of H columns in Wx (D, gates·H), Wh (H, gates·H) and b (gates·H,)
    extra_params: tuple[str, ...] = ()  # further parameters of shape (H,), after Wx, Wh, b
    biases: tuple[str, ...] = ("b",)  # parameters a default initialisation sets to zero
    # (N, T, H) float arrays a training window keeps and its backward adds (the memory estimate)
    window_arrays: int = 2
    # copies of Wx and Wh a forward keeps (the LSTM's and GRU's Wh in their loop layout)
    weight_copies: int = 0

    h: np.ndarray | None = None

    def __init__(
        self, *params: np.ndarray, stateful: bool = False, weight_drop: WeightDrop | None = None
    ) -> None:
        names = self.param_names()
        if len(params) != len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} arrays: {names}")
        self.params = list(params)
        xp = array_module(*params)
        self.grads = [xp.zeros_like(p) for p in self.params]
        self.stateful = stateful
        # DropConnect on Wh (the identity unless the model gives one with p > 0)
        self.weight_drop = weight_drop if weight_drop is not None else WeightDrop()
        self.h = None
        self.dh: np.ndarray | None = None  # (N, H): gradient of the initial state (for checks)

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """The parameters' names, in ``params`` order; the checkpoint keys' last part."""
        return ("Wx", "Wh", "b", *cls.extra_params)

    @classmethod
    def param_shapes(cls, d_in: int, H: int) -> dict[str, tuple[int, ...]]:
        """Each parameter's shape for input width ``d_in`` and hidden size ``H``."""
        G = cls.gates * H
        shapes = {"Wx": (d_in, G), "Wh": (H, G), "b": (G,)}
        shapes.update({name: (H,) for name in cls.extra_params})
        return shapes

    @classmethod
    def state_shape(cls, N: int, H: int) -> tuple[int, ...]:
        """The carried state's shape for N streams (as stored in checkpoints): it ends in (N, H)."""
        return (N, H)

    @classmethod
    def from_params(
        cls, params: dict[str, np.ndarray], weight_drop: WeightDrop | None = None
    ) -> "Cell":
        """A stateful cell on the arrays of ``params`` (by ``param_names``), used in place."""
        return cls(*(params[n] for n in cls.param_names()), stateful=True, weight_drop=weight_drop)

    def carries(self, N: int, H: int) -> bool:
        """Whether the next forward of N streams starts from the carried state (the cell is
        stateful and holds a state of this batch size) rather than from zeros."""
        return self.stateful and self.h is not None and self.h.shape == (N, H)

    @property
    def state(self) -> np.ndarray | None:
        """The carried state, a copy (``state_shape``), or None."""
        return None if self.h is None else self.h.copy()

    def set_state(self, h: np.ndarray) -> None:
        """Start the next forward from ``h`` (``state_shape``)."""
        self.h = h.copy()

    def reset_state(self) -> None:
        """Start the next forward from zeros."""
        self.h = None
