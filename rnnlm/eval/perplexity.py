"""Perplexity of a model over a whole token stream, in order, carrying the hidden state."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rnnlm.backend import to_host
from rnnlm.data.batching import batchify, windows
from rnnlm.nn.model import RNNLM


@dataclass(frozen=True)
class EvalResult:
    nll: float  # total negative log-likelihood, nats
    tokens: int  # tokens predicted
    token_nll: np.ndarray | None = field(default=None, repr=False)  # per token, in text order

    @property
    def loss(self) -> float:
        """Mean NLL per token, nats."""
        return self.nll / self.tokens if self.tokens else float("nan")

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss, 700.0))

    @property
    def bits_per_token(self) -> float:
        return self.loss / math.log(2)


def evaluate(
    model: RNNLM,
    ids: np.ndarray,
    batch_size: int = 1,
    bptt: int = 128,
    on_progress: Callable[[int, int], None] | None = None,
    per_token: bool = False,
    adapt: Callable[[float, int], None] | None = None,
    streams: slice | None = None,
) -> EvalResult:
    """Score every token of ``ids`` after the first, from a zero state.

    With ``batch_size == 1`` the stream is scored in order as one sequence (every token is
    predicted from all that precede it, up to the truncation of the state's memory, which is
    none: the state is carried through). More streams are faster but restart the state at each
    stream's start. Dropout is off; the model's training state is left reset, also on an
    error. ``adapt(loss, tokens)``, if given, runs after each window is scored (dynamic
    evaluation's learning step, rnnlm/eval/dynamic.py). On a GPU the total stays on the device
    until the end (no synchronisation per window).
    """
    inputs, targets = batchify(ids, batch_size)
    if streams is not None:  # one rank's share of the streams (rnnlm/training/distributed.py)
        inputs, targets = inputs[streams], targets[streams]
    was_training = model.drops[0].train
    model.train(False)
    model.reset_state()
    total, count, done = 0.0, 0, 0
    steps = inputs.shape[1]
    pieces = []
    try:
        for xs, ts in windows(inputs, targets, bptt):
            loss = model.forward(xs, ts)
            total += loss * ts.size
            count += ts.size
            done += ts.shape[1]
            if per_token:
                pieces.append(model.token_nll.astype(np.float64))  # (copied to the host below)
            if adapt:
                adapt(loss, ts.size)
            if on_progress:
                on_progress(done, steps)
    finally:
        model.reset_state()
        model.train(was_training)
    # stream i holds the i-th contiguous slice, so row-major order is text order
    token_nll = None
    if per_token:
        token_nll = np.concatenate([to_host(p) for p in pieces], axis=1).reshape(-1)
    return EvalResult(nll=float(total), tokens=count, token_nll=token_nll)
