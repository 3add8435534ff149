"""RNNLM: Embedding -> [dropout -> recurrent cell] x K -> dropout -> output layer and loss.

Regularisation: dropout on the non-recurrent connections (``TimeDropout``, optionally one mask
per sequence) and DropConnect on each cell's recurrent matrix (``WeightDrop``).

The cell is ``CELLS[cfg.cell]`` (rnnlm/nn/cells), the output layer and loss ``HEADS[cfg.softmax]``
(rnnlm/nn/heads): the full softmax ``TimeSoftmaxHead`` or the class-factored
``TimeClassSoftmax``. The model asks those classes for their parameters' names and shapes and
builds them from named arrays; it lists no cell or head itself.

One interface for every cell: ``forward(xs, ts) -> loss``, ``backward()``, ``scores(xs)``,
named ``params``/``grads`` (the names are the checkpoint keys), and the carried state.

A model lives on one device (``device``: rnnlm/backend.py): its weights are drawn on the host
with the run's generator, whatever the device, then moved, so a CPU and a GPU run from one seed
start from the same weights. Token ids and carried states given to it are moved to its device.
"""

import math

import numpy as np

from rnnlm.backend import HOST, to_device
from rnnlm.config import ModelConfig
from rnnlm.nn.cells import CELLS
from rnnlm.nn.dropout import TimeDropout
from rnnlm.nn.embedding import TimeEmbedding
from rnnlm.nn.heads import HEADS
from rnnlm.nn.weight_drop import WeightDrop


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter's checkpoint name and shape, e.g. ``embed.W``, ``lstm.1.Wh``, ``out.b``."""
    cell = CELLS[cfg.cell]
    shapes = {"embed.W": (cfg.vocab_size, cfg.embed_dim)}
    for i in range(cfg.layers):
        d_in = cfg.embed_dim if i == 0 else cfg.hidden
        own = cell.param_shapes(d_in, cfg.hidden)
        shapes.update({f"{cfg.cell}.{i}.{name}": shape for name, shape in own.items()})
    shapes.update(HEADS[cfg.softmax].param_shapes(cfg))
    return shapes


def init_params(
    cfg: ModelConfig, rng: np.random.Generator, dtype: type = np.float32
) -> dict[str, np.ndarray]:
    """Fresh parameters by name, host arrays drawn from ``rng``.

    ``init_scale > 0``: every parameter uniform in ±init_scale (Zaremba et al.). Otherwise:
    embedding and output uniform ±0.1, recurrent weights ±1/sqrt(H) (PyTorch's default, which
    keeps a tanh recurrence contractive at the start), biases zero (the cell's ``biases`` and
    the heads' ``.b``).
    """
    s = cfg.init_scale
    cell_biases = tuple("." + name for name in CELLS[cfg.cell].biases)
    params = {}
    for name, shape in param_shapes(cfg).items():
        recurrent = name.startswith(cfg.cell + ".")
        is_bias = name.endswith(cell_biases) if recurrent else name.endswith(".b")
        if s > 0:
            scale = s
        elif is_bias:
            scale = 0.0
        else:
            scale = 1.0 / math.sqrt(cfg.hidden) if recurrent else 0.1
        value = rng.uniform(-scale, scale, shape) if scale else HOST.zeros(shape)
        params[name] = value.astype(dtype)
    return params


class RNNLM:
    """The language model; ``dtype`` is float32 for training, float64 for gradient checks;
    ``device`` "cpu" (numpy) or "cuda" (CuPy, after ``backend.use_device("cuda")``).

    ``params`` (by name) become the model's own arrays, used in place: models built from one
    dict share them. An untied full-softmax layer's ``out.W`` and ``out.b`` are replaced in
    that dict, once, by same-valued rows of one ``[W; b]`` array (``with_bias_row``); arrays
    on another device than ``device`` are replaced in it by copies on ``device``.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        rng: np.random.Generator,
        dtype: type = np.float32,
        params: dict[str, np.ndarray] | None = None,
        device: str = "cpu",
    ) -> None:
        self.cfg = cfg
        self.device = device
        self.params = params if params is not None else init_params(cfg, rng, dtype)
        p = self.params
        for name, value in p.items():
            p[name] = to_device(value, device)  # (the array itself where it already is)
        cell = CELLS[cfg.cell]
        # tied: the output layer adds a dense gradient to the embedding's, so no sparse rows
        self.embed = TimeEmbedding(p["embed.W"], sparse_grad=not cfg.tie_weights)
        # DropConnect on the recurrent matrices (Merity et al. 2017): the recurrent connections
        self.weight_drops = [WeightDrop(cfg.weight_drop, rng) for _ in range(cfg.layers)]
        self.cells = []
        for i, wd in enumerate(self.weight_drops):
            prefix = f"{cfg.cell}.{i}."
            own = {k[len(prefix) :]: v for k, v in p.items() if k.startswith(prefix)}
            self.cells.append(cell.from_params(own, weight_drop=wd))
        # dropout before every cell and after the last one (Zaremba et al.: non-recurrent only)
        self.drops = [
            TimeDropout(cfg.dropout, rng, variational=cfg.variational_dropout)
            for _ in range(cfg.layers + 1)
        ]
        self.layers = [self.embed]  # the body: ids -> last hidden states
        for drop, cell_layer in zip(self.drops, self.cells, strict=False):
            self.layers += [drop, cell_layer]
        self.layers.append(self.drops[-1])
        # the head: hidden states -> scores and loss, over the full vocabulary or by class (an
        # untied full softmax joins out.W and out.b into one array, in the dict itself, so
        # models built from one dict share every array: TimeSoftmaxHead.from_params)
        self.head = HEADS[cfg.softmax].from_params(p, cfg)
        # The same gradient arrays, by parameter name, in layer order (a tied output matrix
        # has none of its own: the embedding's gets its gradient in backward)
        named = [("embed.W", self.embed.grads[0])]
        for i, cell_layer in enumerate(self.cells):
            prefix = f"{cfg.cell}.{i}."
            named += [
                (prefix + n, g) for n, g in zip(cell.param_names(), cell_layer.grads, strict=True)
            ]
        head_grads = zip(self.head.param_names, self.head.grads, strict=True)
        named += [(n, g) for n, g in head_grads if n in p]
        self.grads: dict[str, np.ndarray] = dict(named)

    @property
    def grad_rows(self) -> dict[str, np.ndarray]:
        """Parameters whose gradient is zero outside some rows, with those rows (for
        ``rnnlm.training.optimizers``: clip and SGD then read and update only them)."""
        rows = self.embed.touched
        return {} if rows is None else {"embed.W": rows}

    @property
    def dtype(self) -> np.dtype:
        return self.params["embed.W"].dtype

    def num_params(self) -> int:
        return sum(int(v.size) for v in self.params.values())

    def set_streams(self, lo: int, hi: int, total: int) -> None:
        """The batch holds streams [lo, hi) of ``total`` (one rank's share, rnnlm/training/
        distributed.py): dropout draws its masks for all streams and keeps these rows."""
        for drop in self.drops:
            drop.streams = None if (lo, hi) == (0, total) else (lo, hi, total)

    def train(self, mode: bool = True) -> None:
        """Dropout on (training) or off (evaluation, generation)."""
        for drop in [*self.drops, *self.weight_drops]:
            drop.train = mode

    def _body(self, xs: np.ndarray) -> np.ndarray:
        h = to_device(xs, self.device)
        for layer in self.layers:
            h = layer.forward(h)
        return h

    def scores(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T) int ids -> next-token scores (N, T, V), softmax-able; carries the state.

        Full softmax: logits. Class softmax: log-probabilities.
        """
        h = self._body(xs)
        return self.head.scores(h)

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        """xs, ts: (N, T) int ids (targets are inputs shifted by one) -> mean NLL in nats, a
        float (on a GPU a 0-d device array, read by ``float()``: ``backend.scalar``)."""
        return self.head.forward(self._body(xs), to_device(ts, self.device))

    @property
    def token_nll(self) -> np.ndarray:
        """(N, T) per-token NLL of the last forward."""
        return self.head.token_nll

    def backward(self) -> None:
        """Write every gradient of the last forward's loss into ``grads``."""
        d = self.head.backward()
        for layer in reversed(self.layers):
            d = layer.backward(d)
        if self.cfg.tie_weights:  # the output matrix is embed.W transposed
            self.grads["embed.W"] += self.head.grad("out.W").T

    def reset_state(self) -> None:
        for cell in self.cells:
            cell.reset_state()

    def get_state(self) -> list[np.ndarray | None]:
        """The carried state of every recurrent layer (copies; LSTM: h and c stacked)."""
        return [cell.state for cell in self.cells]

    def set_state(self, state: list[np.ndarray | None]) -> None:
        """Carry ``state`` (as ``get_state`` gives it, from either device) into the next forward."""
        for cell, h in zip(self.cells, state, strict=True):
            cell.reset_state() if h is None else cell.set_state(to_device(h, self.device))
