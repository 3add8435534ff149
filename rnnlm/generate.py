"""Sampling text from a model, one token at a time, carrying the hidden state."""

from collections.abc import Iterator

import numpy as np

from rnnlm.model import RNNLM


def next_token_distribution(
    scores: np.ndarray, temperature: float = 1.0, top_k: int = 0
) -> np.ndarray:
    """scores (V,) -> probabilities (V,) float64, after temperature and top-k truncation."""
    z = scores.astype(np.float64) / temperature
    if 0 < top_k < z.size:
        kth = np.partition(z, -top_k)[-top_k]
        z[z < kth] = -np.inf
    z -= z.max()
    p = np.exp(z)
    return p / p.sum()


def sample(
    model: RNNLM,
    context: list[int],
    length: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
    greedy: bool = False,
    banned: tuple[int, ...] = (),
) -> Iterator[int]:
    """Yield ``length`` token ids that continue ``context`` (at least one id).

    ``banned`` ids (e.g. ``<unk>``) are never produced. The same ``rng`` seed gives the same ids.
    """
    if not context:
        raise ValueError("sampling needs at least one context token")
    model.train(False)
    model.reset_state()
    scores = model.scores(np.asarray([context], dtype=np.int32))[0, -1]
    for _ in range(length):
        s = scores.astype(np.float64)
        if banned:
            s[list(banned)] = -np.inf
        if greedy:
            tok = int(np.argmax(s))
        else:
            p = next_token_distribution(s, temperature, top_k)
            tok = int(rng.choice(p.size, p=p))
        yield tok
        scores = model.scores(np.asarray([[tok]], dtype=np.int32))[0, -1]
