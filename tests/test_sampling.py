"""Sampling: a paused stream is not disturbed by other uses of the same model."""

import numpy as np
import pytest

from rnnlm.config import ModelConfig
from rnnlm.eval.perplexity import evaluate
from rnnlm.eval.sampling import sample
from rnnlm.nn.model import RNNLM


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


def test_top_k_keeps_exactly_k_tokens_even_with_ties():
    from rnnlm.eval.sampling import next_token_distribution

    p = next_token_distribution(np.array([1.0, 1.0, 1.0, 0.0]), top_k=1)
    assert np.count_nonzero(p) == 1 and p[0] == 1.0
    p = next_token_distribution(np.array([0.0, 2.0, 2.0, 1.0]), top_k=2)
    assert np.flatnonzero(p).tolist() == [1, 2]


def test_a_tiny_temperature_is_greedy_not_nan():
    from rnnlm.eval.sampling import next_token_distribution

    p = next_token_distribution(np.array([0.5, 3.0, -1.0, 2.9]), temperature=1e-320)
    assert p.tolist() == [0.0, 1.0, 0.0, 0.0]
    model = _model("rnn")
    rng = np.random.default_rng(0)
    cold = list(sample(model, [1, 2], 20, rng, temperature=1e-320))
    assert cold == list(sample(model, [1, 2], 20, rng, greedy=True))


@pytest.mark.parametrize(
    "bad",
    [{"temperature": 0.0}, {"temperature": -1.0}, {"temperature": float("nan")},
     {"top_k": -3}, {"top_k": 2.5}, {"top_p": 0.0}, {"top_p": 2.0}, {"length": -1}],
)  # fmt: skip
def test_the_library_refuses_sampling_values_as_the_cli_does(bad):
    from rnnlm.errors import ConfigError

    args = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "length": 5} | bad
    length = args.pop("length")
    with pytest.raises(ConfigError):
        list(sample(_model("rnn"), [1], length, np.random.default_rng(0), **args))


def test_dynamic_window_must_be_a_whole_number():
    from rnnlm.errors import ConfigError
    from rnnlm.eval.dynamic import DynamicEval

    with pytest.raises(ConfigError, match="whole number"):
        DynamicEval(lr=0.1, window=2.5)
