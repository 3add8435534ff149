"""Dynamic evaluation: score a text in order while adapting the weights to what was just read.

Mikolov et al. (2010) and Krause et al. (2017, "Dynamic Evaluation of Neural Sequence
Models"): each window of ``window`` tokens is scored first, with the weights as they stand,
and only then used for one SGD step on its summed loss. Every token is still predicted from
the tokens before it alone (one stream, in text order), so the perplexity is a proper one,
but the model picks up the text's own recurring words and phrases as it goes. ``decay`` pulls
the weights back toward the trained ones after every step (Krause's λ). The trained weights
are put back at the end, whatever happens, so each text is scored from the same model.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnnlm.errors import ConfigError, RnnlmError
from rnnlm.eval.perplexity import EvalResult, evaluate
from rnnlm.nn.model import RNNLM
from rnnlm.training.divergence import diverged
from rnnlm.training.optimizers import SGD


class DynamicEvalDivergedError(RnnlmError):
    """The adapted weights gave a non-finite or absurd loss (rnnlm/training/divergence.py)."""


@dataclass(frozen=True)
class DynamicEval:
    """How to adapt: SGD rate per token (the window's gradient is the sum over its tokens),
    window length in tokens, and the pull back toward the trained weights per step."""

    lr: float
    window: int = 10
    decay: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--dynamic-lr must be a positive number, got {self.lr}")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise ConfigError(f"--dynamic-window must be a whole number >= 1, got {self.window}")
        if not (0.0 <= self.decay < 1.0):
            raise ConfigError(f"--dynamic-decay must be in [0, 1), got {self.decay}")


def dynamic_evaluate(
    model: RNNLM,
    ids: np.ndarray,
    how: DynamicEval,
    on_progress: Callable[[int, int], None] | None = None,
    per_token: bool = False,
) -> EvalResult:
    """Score every token of ``ids`` after the first, adapting as it goes (see module doc):
    ``evaluate`` over one stream in windows of ``how.window``, with a learning step after
    each window. Dropout stays off (the text is scored, not trained on with noise). When this
    returns or raises, the weights and the training mode are as they were and the state is
    reset.
    """
    trained = {name: p.copy() for name, p in model.params.items()}
    sgd = SGD(how.lr)
    seen = 0

    def adapt(loss: float, tokens: int) -> None:
        nonlocal seen
        if diverged(loss):
            raise DynamicEvalDivergedError(
                f"dynamic evaluation diverged (loss {loss}) after {seen:,} tokens; "
                "try a smaller --dynamic-lr"
            )
        seen += tokens
        model.backward()  # the gradient of the window's mean loss; x tokens = the sum's
        sgd.step(model.params, model.grads, float(tokens), model.grad_rows)
        if how.decay:
            for name, p in model.params.items():
                p -= trained[name]
                p *= 1.0 - how.decay
                p += trained[name]

    try:
        with np.errstate(over="ignore", invalid="ignore"):  # divergence: checked in adapt
            return evaluate(model, ids, 1, how.window, on_progress, per_token, adapt)
    finally:
        for name, p in model.params.items():
            p[...] = trained[name]
