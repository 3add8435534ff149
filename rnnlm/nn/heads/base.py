"""Head: what every output layer declares, so the model asks the head class for its parameters.

An output layer turns the last hidden states into next-token scores and the loss. Every head has
the output layer ``out.W`` (H, V) and ``out.b`` (V,) (tied weights: ``out.W`` is the embedding
transposed, not a parameter of its own) and may add parameters of its own before them.
"""

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # (rnnlm.config may import the registries that import this module)
    from rnnlm.config import ModelConfig


def output_matrix(params: dict[str, np.ndarray], cfg: "ModelConfig") -> np.ndarray:
    """``out.W`` (H, V), or with tied weights the embedding ``embed.W`` (V, D = H) transposed."""
    return params["embed.W"].T if cfg.tie_weights else params["out.W"]


class Head:
    """``forward(hs (N, T, H), ts (N, T)) -> mean NLL``, ``backward() -> dhs (N, T, H)``,
    ``scores(hs) -> (N, T, V)`` and ``token_nll`` (N, T) of the last forward; ``params`` and
    ``grads`` as every layer, named by ``param_names`` (the checkpoint keys, in order)."""

    param_names: tuple[str, ...] = ("out.W", "out.b")
    params: list[np.ndarray]
    grads: list[np.ndarray]

    @classmethod
    def param_shapes(cls, cfg: "ModelConfig") -> dict[str, tuple[int, ...]]:
        """The head's parameters that the model stores, by name (a tied ``out.W`` is not one)."""
        H, V = cfg.hidden, cfg.vocab_size
        shapes: dict[str, tuple[int, ...]] = {} if cfg.tie_weights else {"out.W": (H, V)}
        shapes["out.b"] = (V,)
        return shapes

    @classmethod
    def from_params(cls, params: dict[str, np.ndarray], cfg: "ModelConfig") -> "Head":
        """The head on the model's arrays (by name), used in place."""
        raise NotImplementedError

    def grad(self, name: str) -> np.ndarray:
        """The gradient array of the parameter ``name`` (one of ``param_names``)."""
        return self.grads[self.param_names.index(name)]
