"""Sampling: a paused stream is not disturbed by other uses of the same model."""

import numpy as np
import pytest

from rnnlm.config import ModelConfig
from rnnlm.evaluate import evaluate
from rnnlm.generate import sample
from rnnlm.model import RNNLM


def _model(cell: str) -> RNNLM:
    cfg = ModelConfig(vocab_size=15, embed_dim=8, hidden=16, cell=cell, init_scale=1.0)
    return RNNLM(cfg, np.random.default_rng(0))


def _stream(model: RNNLM, context: list[int], seed: int):
    return sample(model, context, 40, np.random.default_rng(seed))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_scoring_between_tokens_does_not_change_the_stream(cell):
    model = _model(cell)
    alone = list(_stream(model, [1, 2], 1))
    stream, mixed = _stream(model, [1, 2], 1), []
    for i, tok in enumerate(stream):
        mixed.append(tok)
        if i % 5 == 4:  # score another text mid-stream: resets and moves the model's state
            evaluate(model, np.arange(1, 15, dtype=np.int32), 1, 4)
    assert mixed == alone


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_interleaved_streams_equal_separate_ones(cell):
    model = _model(cell)
    a, b = list(_stream(model, [1], 2)), list(_stream(model, [5, 6, 7], 3))
    both = list(zip(_stream(model, [1], 2), _stream(model, [5, 6, 7], 3), strict=True))
    assert [x for x, _ in both] == a and [y for _, y in both] == b
    assert a != b  # the streams differ, so mixing their states would show
