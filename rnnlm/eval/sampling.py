"""Sampling text from a model, one token at a time, carrying the hidden state."""

import math
from collections.abc import Iterator

import numpy as np

from rnnlm.backend import to_host
from rnnlm.errors import ConfigError
from rnnlm.nn.model import RNNLM


def check_sampling(temperature: float, top_k: int, top_p: float, length: int = 0) -> None:
    """ConfigError (named as the CLI's options) for values sampling cannot use."""
    if not 0 < temperature < math.inf:
        raise ConfigError(f"--temperature must be a positive number, got {temperature}")
    if not _whole(top_k):
        raise ConfigError(f"--top-k must be a whole number >= 0, got {top_k}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"--top-p must be in (0, 1], got {top_p}")
    if not _whole(length):
        raise ConfigError(f"--length must be a whole number >= 0, got {length}")


def _whole(n: object) -> bool:
    """An integer >= 0 (not a bool)."""
    return isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 0


def next_token_distribution(
    scores: np.ndarray, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
) -> np.ndarray:
    """scores (V,) -> probabilities (V,) float64, after temperature, top-k (exactly k tokens,
    ties broken by position) and top-p (nucleus). Values as ``check_sampling`` allows
    (``sample`` checks them once, not per token)."""
    z = np.array(scores, dtype=np.float64)  # a copy: scores stay as given
    if 0 < top_k < z.size:  # O(V): a full sort per token would cost more than the model step
        kth = np.partition(z, -top_k)[-top_k]
        keep = z > kth
        keep[np.flatnonzero(z == kth)[: top_k - np.count_nonzero(keep)]] = True
        z[~keep] = -np.inf
    z -= z.max()  # before dividing, so that a tiny temperature cannot overflow to inf - inf
    with np.errstate(over="ignore"):
        z /= temperature
    p = np.exp(z)
    p /= p.sum()
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        # keep the smallest set of most likely tokens whose mass reaches top_p
        keep = np.cumsum(p[order]) - p[order] < top_p
        mask = np.zeros_like(p, dtype=bool)
        mask[order[keep]] = True
        p[~mask] = 0.0
        p /= p.sum()
    return p


def sample(
    model: RNNLM,
    context: list[int],
    length: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
    greedy: bool = False,
    banned: tuple[int, ...] = (),
    top_p: float = 1.0,
) -> Iterator[int]:
    """Yield ``length`` token ids that continue ``context`` (at least one id).

    ``banned`` ids (e.g. ``<unk>``) are never produced. The same ``rng`` seed gives the same ids.
    The stream keeps its own copy of the hidden state between tokens, so using the model for
    anything else (scoring, another stream) while it is paused does not change what it yields.
    The next token is drawn on the host (a GPU model's scores, V numbers, are copied over).
    """
    check_sampling(temperature, top_k, top_p, length)
    if not context:
        raise ValueError("sampling needs at least one context token")
    model.train(False)
    model.reset_state()
    scores = model.scores(np.asarray([context], dtype=np.int32))[0, -1]
    state = model.get_state()
    for _ in range(length):
        s = to_host(scores).astype(np.float64)
        if banned:
            s[list(banned)] = -np.inf
        if greedy:
            tok = int(np.argmax(s))
        else:
            p = next_token_distribution(s, temperature, top_k, top_p)
            tok = int(rng.choice(p.size, p=p))
        yield tok
        model.train(False)
        model.set_state(state)
        scores = model.scores(np.asarray([[tok]], dtype=np.int32))[0, -1]
        state = model.get_state()


def continuation_logprob(model: RNNLM, context: list[int], continuation: list[int]) -> np.ndarray:
    """Log-probability (nats) of each token of ``continuation`` given ``context`` and the rest."""
    model.train(False)
    model.reset_state()
    ids = np.asarray([context + continuation], dtype=np.int32)
    scores = to_host(model.scores(ids[:, :-1])[0, len(context) - 1 :]).astype(np.float64)
    scores -= scores.max(axis=1, keepdims=True)
    logp = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    model.reset_state()
    return logp[np.arange(len(continuation)), continuation]
