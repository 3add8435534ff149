"""Presets: published recipes as bundles of options; explicit flags override them.

``zaremba-*`` follow Zaremba, Sutskever & Vinyals (2014), "Recurrent Neural Network
Regularization", and their code: the learning rate applies to the loss summed over the T steps
and averaged over the batch (``loss="time-sum"``), weights start uniform in ±init_scale.
"""

from typing import Any

from rnnlm.errors import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    # The default `rnnlm train ptb` recipe for the seed's vanilla tanh RNN (see README).
    "ptb-rnn": {
        "cell": "rnn", "layers": 1, "embed_dim": 256, "hidden": 256, "dropout": 0.3,
        "batch_size": 20, "bptt": 35, "optimizer": "adam", "lr": 0.002, "clip": 0.25,
        "lr_decay": 4.0, "epochs": 10,
    },
    # 2 x 200 LSTM, no dropout: the paper's "small" model, test perplexity 114.5.
    "zaremba-small": {
        "cell": "lstm", "layers": 2, "embed_dim": 200, "hidden": 200, "dropout": 0.0,
        "init_scale": 0.1, "batch_size": 20, "bptt": 20, "optimizer": "sgd", "lr": 1.0,
        "loss": "time-sum", "clip": 5.0, "lr_decay": 2.0, "decay_after": 4, "epochs": 13,
    },
    # 2 x 650 LSTM, dropout 0.5: the paper's "medium" model, test perplexity 82.7; the lr is
    # divided by 1.2 per epoch after epoch 6, as the paper's text says (TensorFlow's PTB
    # tutorial multiplies by 0.8 instead, i.e. divides by 1.25).
    "zaremba-medium": {
        "cell": "lstm", "layers": 2, "embed_dim": 650, "hidden": 650, "dropout": 0.5,
        "init_scale": 0.05, "batch_size": 20, "bptt": 35, "optimizer": "sgd", "lr": 1.0,
        "loss": "time-sum", "clip": 5.0, "lr_decay": 1.2, "decay_after": 6, "epochs": 39,
    },
}  # fmt: skip


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown --preset '{name}' (choose from: {', '.join(PRESETS)})")
    return dict(PRESETS[name])
