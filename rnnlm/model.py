"""RNNLM: Embedding -> dropout -> TimeRNN (x layers) -> dropout -> TimeAffine -> softmax loss.

One interface for every cell: ``forward(xs, ts) -> loss``, ``backward()``, ``scores(xs)``,
named ``params``/``grads`` (the names are the checkpoint keys), and the carried state.
"""

from collections.abc import Callable

import numpy as np

from rnnlm.config import CELLS, ModelConfig
from rnnlm.errors import ConfigError
from rnnlm.layers import TimeAffine, TimeDropout, TimeEmbedding, TimeRNN, TimeSoftmaxWithLoss


def _init_rnn(cfg: ModelConfig, d_in: int, rng: np.random.Generator, dtype) -> dict:
    """Uniform ±1/sqrt(H), as PyTorch's nn.RNN: keeps the recurrence contractive at the start."""
    H = cfg.hidden
    s = 1.0 / np.sqrt(H)
    return {
        "Wx": rng.uniform(-s, s, (d_in, H)).astype(dtype),
        "Wh": rng.uniform(-s, s, (H, H)).astype(dtype),
        "b": np.zeros(H, dtype=dtype),
    }


# cell name -> (parameter initialiser, time layer built from those parameters in order)
CELL_BUILDERS: dict[str, tuple[Callable, Callable]] = {
    "rnn": (_init_rnn, lambda p: TimeRNN(p["Wx"], p["Wh"], p["b"], stateful=True)),
}
assert set(CELL_BUILDERS) == set(CELLS)


def init_params(cfg: ModelConfig, rng: np.random.Generator, dtype=np.float32) -> dict:
    """Fresh parameters, by checkpoint name, e.g. ``embed.W``, ``rnn.0.Wh``, ``out.b``."""
    V, D, H, s = cfg.vocab_size, cfg.embed_dim, cfg.hidden, cfg.init_scale
    params = {"embed.W": rng.uniform(-s, s, (V, D)).astype(dtype)}
    init_cell, _ = CELL_BUILDERS[cfg.cell]
    for i in range(cfg.layers):
        for name, value in init_cell(cfg, D if i == 0 else H, rng, dtype).items():
            params[f"{cfg.cell}.{i}.{name}"] = value
    params["out.W"] = rng.uniform(-s, s, (H, V)).astype(dtype)
    params["out.b"] = np.zeros(V, dtype=dtype)
    return params


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every parameter (for checkpoint validation)."""
    return {k: v.shape for k, v in init_params(cfg, np.random.default_rng(0)).items()}


class RNNLM:
    """The language model; ``dtype`` is float32 for training, float64 for gradient checks."""

    def __init__(
        self,
        cfg: ModelConfig,
        rng: np.random.Generator,
        dtype=np.float32,
        params: dict[str, np.ndarray] | None = None,
    ) -> None:
        cfg.validate()
        if cfg.cell not in CELL_BUILDERS:
            raise ConfigError(f"unknown cell '{cfg.cell}' (choose from: {', '.join(CELLS)})")
        self.cfg = cfg
        self.params = params if params is not None else init_params(cfg, rng, dtype)
        p = self.params
        _, build_cell = CELL_BUILDERS[cfg.cell]
        self.embed = TimeEmbedding(p["embed.W"])
        self.drop_in = TimeDropout(cfg.dropout, rng)
        self.cells = []
        for i in range(cfg.layers):
            prefix = f"{cfg.cell}.{i}."
            self.cells.append(
                build_cell({k[len(prefix) :]: v for k, v in p.items() if k.startswith(prefix)})
            )
        self.drop_out = TimeDropout(cfg.dropout, rng)
        self.affine = TimeAffine(p["out.W"], p["out.b"])
        self.loss_layer = TimeSoftmaxWithLoss()
        self.layers = [self.embed, self.drop_in, *self.cells, self.drop_out, self.affine]
        # The same arrays, by name: each layer's grads list, in the order of its params.
        self.grads: dict[str, np.ndarray] = {}
        by_id = {id(v): k for k, v in self.params.items()}
        for layer in self.layers:
            for param, grad in zip(layer.params, layer.grads, strict=True):
                self.grads[by_id[id(param)]] = grad

    @property
    def dtype(self) -> np.dtype:
        return self.params["embed.W"].dtype

    def num_params(self) -> int:
        return sum(int(v.size) for v in self.params.values())

    def train(self, mode: bool = True) -> None:
        """Dropout on (training) or off (evaluation, generation)."""
        self.drop_in.train = self.drop_out.train = mode

    def scores(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T) int ids -> unnormalised next-token scores (N, T, V); carries the state."""
        h = xs
        for layer in self.layers:
            h = layer.forward(h)
        return h

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """xs, ts: (N, T) int ids (targets are inputs shifted by one) -> mean NLL in nats."""
        return self.loss_layer.forward(self.scores(xs), ts)

    def backward(self) -> None:
        """Write every gradient of the last forward's loss into ``grads``."""
        d = self.loss_layer.backward()
        for layer in reversed(self.layers):
            d = layer.backward(d)

    def reset_state(self) -> None:
        for cell in self.cells:
            cell.reset_state()

    def get_state(self) -> list[np.ndarray | None]:
        """The carried hidden state of every recurrent layer (copies)."""
        return [None if c.h is None else c.h.copy() for c in self.cells]

    def set_state(self, state: list[np.ndarray | None]) -> None:
        for cell, h in zip(self.cells, state, strict=True):
            cell.reset_state() if h is None else cell.set_state(h)
