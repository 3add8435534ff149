"""RNNLM: Embedding -> [dropout -> recurrent cell] x K -> dropout -> affine -> softmax loss.

Regularisation: dropout on the non-recurrent connections (``TimeDropout``, optionally one mask
per sequence) and DropConnect on each cell's recurrent matrix (``WeightDrop``).

The output layer and loss are one fused layer, ``TimeSoftmaxHead`` (equal to ``TimeAffine``
followed by ``TimeSoftmaxWithLoss``), or the class-factored ``TimeClassSoftmax``.

One interface for every cell (``rnn``, ``lstm``, ``gru``): ``forward(xs, ts) -> loss``,
``backward()``, ``scores(xs)``, named ``params``/``grads`` (the names are the checkpoint keys),
and the carried state. A cell is a time layer with params/grads, ``stateful``, ``state``,
``set_state``/``reset_state``; adding one means one entry in ``CELLS`` below.
"""

from collections.abc import Callable

import numpy as np

from rnnlm.config import ModelConfig
from rnnlm.nn import (
    TimeClassSoftmax,
    TimeDropout,
    TimeEmbedding,
    TimeGRU,
    TimeLSTM,
    TimeRNN,
    TimeSoftmaxHead,
    WeightDrop,
)
from rnnlm.nn.heads.full_softmax import joined, with_bias_row

# cell -> (gate blocks per hidden unit, extra params beyond Wx/Wh/b, layer constructor)
CELLS: dict[str, tuple[int, tuple[str, ...], Callable]] = {
    "rnn": (1, (), lambda p: TimeRNN(p["Wx"], p["Wh"], p["b"], stateful=True)),
    "lstm": (4, (), lambda p: TimeLSTM(p["Wx"], p["Wh"], p["b"], stateful=True)),
    "gru": (3, ("bhn",), lambda p: TimeGRU(p["Wx"], p["Wh"], p["b"], p["bhn"], stateful=True)),
}


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter's checkpoint name and shape, e.g. ``embed.W``, ``lstm.1.Wh``, ``out.b``."""
    V, D, H = cfg.vocab_size, cfg.embed_dim, cfg.hidden
    gates, extra, _ = CELLS[cfg.cell]
    shapes = {"embed.W": (V, D)}
    for i in range(cfg.layers):
        d_in = D if i == 0 else H
        p = f"{cfg.cell}.{i}."
        shapes.update(
            {p + "Wx": (d_in, gates * H), p + "Wh": (H, gates * H), p + "b": (gates * H,)}
        )
        shapes.update({p + name: (H,) for name in extra})
    if cfg.softmax == "class":  # class layer of the factored softmax
        C = len(cfg.class_bounds) - 1
        shapes.update({"cls.W": (H, C), "cls.b": (C,)})
    if not cfg.tie_weights:  # tied: the output matrix is embed.W transposed
        shapes["out.W"] = (H, V)
    shapes["out.b"] = (V,)
    return shapes


def init_params(
    cfg: ModelConfig, rng: np.random.Generator, dtype: type = np.float32
) -> dict[str, np.ndarray]:
    """Fresh parameters by name.

    ``init_scale > 0``: every parameter uniform in ±init_scale (Zaremba et al.). Otherwise:
    embedding and output uniform ±0.1, recurrent weights ±1/sqrt(H) (PyTorch's default, which
    keeps a tanh recurrence contractive at the start), biases zero.
    """
    s = cfg.init_scale
    params = {}
    for name, shape in param_shapes(cfg).items():
        is_bias = name.endswith((".b", ".bhn"))
        recurrent = name.startswith(cfg.cell + ".")
        if s > 0:
            scale = s
        elif is_bias:
            scale = 0.0
        else:
            scale = 1.0 / np.sqrt(cfg.hidden) if recurrent else 0.1
        value = rng.uniform(-scale, scale, shape) if scale else np.zeros(shape)
        params[name] = value.astype(dtype)
    return params


class RNNLM:
    """The language model; ``dtype`` is float32 for training, float64 for gradient checks.

    ``params`` (by name) become the model's own arrays, used in place: models built from one
    dict share them. An untied full-softmax layer's ``out.W`` and ``out.b`` are replaced in
    that dict, once, by same-valued rows of one ``[W; b]`` array (``with_bias_row``).
    """

    def __init__(
        self,
        cfg: ModelConfig,
        rng: np.random.Generator,
        dtype: type = np.float32,
        params: dict[str, np.ndarray] | None = None,
    ) -> None:
        cfg.validate()
        self.cfg = cfg
        self.params = params if params is not None else init_params(cfg, rng, dtype)
        p = self.params
        build_cell = CELLS[cfg.cell][2]
        # tied: the output layer adds a dense gradient to the embedding's, so no sparse rows
        self.embed = TimeEmbedding(p["embed.W"], sparse_grad=not cfg.tie_weights)
        self.cells = []
        for i in range(cfg.layers):
            prefix = f"{cfg.cell}.{i}."
            own = {k[len(prefix) :]: v for k, v in p.items() if k.startswith(prefix)}
            self.cells.append(build_cell(own))
        # DropConnect on the recurrent matrices (Merity et al. 2017): the recurrent connections
        self.weight_drops = [WeightDrop(cfg.weight_drop, rng) for _ in self.cells]
        for cell, wd in zip(self.cells, self.weight_drops, strict=True):
            cell.weight_drop = wd
        # dropout before every cell and after the last one (Zaremba et al.: non-recurrent only)
        self.drops = [
            TimeDropout(cfg.dropout, rng, variational=cfg.variational_dropout)
            for _ in range(cfg.layers + 1)
        ]
        # an untied full-softmax output layer as one [W; b] array (one product for x W + b):
        # joined once, in the dict itself, so models built from one dict share every array
        untied_full = cfg.softmax != "class" and not cfg.tie_weights
        if untied_full and joined(p["out.W"], p["out.b"]) is None:
            p["out.W"], p["out.b"] = with_bias_row(p["out.W"], p["out.b"])
        W_out = p["embed.W"].T if cfg.tie_weights else p["out.W"]
        self.layers = [self.embed]  # the body: ids -> last hidden states
        for drop, cell in zip(self.drops, self.cells, strict=False):
            self.layers += [drop, cell]
        self.layers.append(self.drops[-1])
        # the head: hidden states -> scores and loss, over the full vocabulary or by class
        # (full: TimeAffine and TimeSoftmaxWithLoss fused into one layer, see softmax_head.py)
        if cfg.softmax == "class":
            bounds = np.asarray(cfg.class_bounds)
            self.head = TimeClassSoftmax(p["cls.W"], p["cls.b"], W_out, p["out.b"], bounds)
            self.out_grad = self.head.grads[2]
        else:
            self.head = TimeSoftmaxHead(W_out, p["out.b"])
            self.out_grad = self.head.grads[0]
        # The same gradient arrays, by parameter name (a tied output matrix has none of its own).
        by_id = {id(v): k for k, v in self.params.items()}
        self.grads: dict[str, np.ndarray] = {}
        for layer in [*self.layers, self.head]:
            for param, grad in zip(layer.params, layer.grads, strict=True):
                if id(param) in by_id:
                    self.grads[by_id[id(param)]] = grad

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

    def train(self, mode: bool = True) -> None:
        """Dropout on (training) or off (evaluation, generation)."""
        for drop in [*self.drops, *self.weight_drops]:
            drop.train = mode

    def _body(self, xs: np.ndarray) -> np.ndarray:
        h = xs
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
        """xs, ts: (N, T) int ids (targets are inputs shifted by one) -> mean NLL in nats."""
        return self.head.forward(self._body(xs), ts)

    @property
    def token_nll(self) -> np.ndarray:
        """(N, T) per-token NLL of the last forward."""
        return self.head.token_nll

    def backward(self) -> None:
        """Write every gradient of the last forward's loss into ``grads``."""
        d = self.head.backward()
        for layer in reversed(self.layers):
            d = layer.backward(d)
        if self.cfg.tie_weights:
            self.grads["embed.W"] += self.out_grad.T

    def reset_state(self) -> None:
        for cell in self.cells:
            cell.reset_state()

    def get_state(self) -> list[np.ndarray | None]:
        """The carried state of every recurrent layer (copies; LSTM: h and c stacked)."""
        return [cell.state for cell in self.cells]

    def set_state(self, state: list[np.ndarray | None]) -> None:
        for cell, h in zip(self.cells, state, strict=True):
            cell.reset_state() if h is None else cell.set_state(h)
