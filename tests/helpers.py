"""Small builders shared by tests."""

import numpy as np

from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.data.vocab import Vocabulary
from rnnlm.nn.model import RNNLM
from rnnlm.training.loop import Trainer


def toy_stream(n: int = 2000, vocab: int = 12, seed: int = 0) -> np.ndarray:
    """A learnable stream: mostly a fixed cycle, with some noise."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) % (vocab - 1) + 1
    noise = rng.random(n) < 0.1
    ids[noise] = rng.integers(1, vocab, noise.sum())
    return ids.astype(np.int32)


def toy_trainer(
    run=None,
    seed: int = 0,
    dropout: float = 0.2,
    weight_drop: float = 0.0,
    cell: str = "rnn",
    device: str = "cpu",
    **train_kw,
) -> Trainer:
    V = 12
    vocab = Vocabulary(["<unk>", *[f"w{i}" for i in range(1, V)]])
    mcfg = ModelConfig(
        vocab_size=V, embed_dim=8, hidden=8, dropout=dropout, weight_drop=weight_drop, cell=cell
    )
    tcfg = TrainConfig(
        **{
            "batch_size": 4,
            "bptt": 5,
            "epochs": 3,
            "lr": 1.0,
            "clip": 5.0,
            "seed": seed,
            **train_kw,
        }
    )
    rng = np.random.default_rng(tcfg.seed)
    model = RNNLM(mcfg, rng, device=device)
    return Trainer(model, tcfg, toy_stream(), toy_stream(300, seed=1), vocab, "word", rng, run=run)
