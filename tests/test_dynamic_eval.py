"""Dynamic evaluation: adapts as it reads, scores each token before learning from it, and
leaves the model exactly as it found it."""

import json

import numpy as np
import pytest

from rnnlm.config import ModelConfig
from rnnlm.errors import ConfigError
from rnnlm.eval.dynamic import DynamicEval, DynamicEvalDivergedError, dynamic_evaluate
from rnnlm.eval.perplexity import evaluate
from rnnlm.nn.model import RNNLM
from tests.cli_helpers import assert_one_line_error, run


def _model(cell="rnn", **kw):
    cfg = ModelConfig(vocab_size=15, embed_dim=8, hidden=8, cell=cell, dropout=0.3, **kw)
    return RNNLM(cfg, np.random.default_rng(0))


def _repetitive(n=400, seed=0):
    """A phrase of 7 tokens over and over: what adaptation should learn within the text."""
    phrase = np.random.default_rng(seed).integers(1, 15, 7)
    return np.tile(phrase, n // 7 + 1)[:n].astype(np.int32)


CLASS = {"softmax": "class", "class_bounds": (0, 5, 10, 15)}


@pytest.mark.parametrize(
    "kw", [{}, {"cell": "lstm", "tie_weights": True}, {"cell": "gru", **CLASS}]
)
def test_adapts_to_repetition_and_restores_the_weights(kw):
    model = _model(**kw)
    model.train(True)
    before = {k: v.copy() for k, v in model.params.items()}
    ids = _repetitive()
    static = evaluate(model, ids, 1, 10)
    dyn = dynamic_evaluate(model, ids, DynamicEval(lr=0.5, window=5))
    assert dyn.tokens == static.tokens == len(ids) - 1
    assert dyn.perplexity < 0.5 * static.perplexity  # an untrained model learns the phrase
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])
    assert model.drops[0].train  # training mode as it was
    assert evaluate(model, ids, 1, 10).nll == static.nll


def test_each_token_is_scored_before_the_model_learns_from_it():
    """Changing token p changes no score before p: a proper left-to-right probability."""
    model = _model()
    a = _repetitive(120)
    b = a.copy()
    p = 63  # inside a window, not at its start
    b[p:] = (b[p:] + 3) % 15
    how = DynamicEval(lr=0.5, window=10)
    na = dynamic_evaluate(model, a, how, per_token=True).token_nll
    nb = dynamic_evaluate(model, b, how, per_token=True).token_nll
    # token_nll[j] scores ids[j + 1]
    np.testing.assert_array_equal(na[: p - 1], nb[: p - 1])
    assert na[p - 1] != nb[p - 1]
    # the first window is scored by the trained weights alone
    static = evaluate(model, a, 1, 10, per_token=True).token_nll
    np.testing.assert_allclose(na[:10], static[:10], rtol=1e-6)
    assert not np.allclose(na[10:20], static[10:20], rtol=1e-6)


def test_decay_pulls_back_to_the_trained_weights():
    model = _model()
    ids = _repetitive()
    static = evaluate(model, ids, 1, 10).perplexity
    free = dynamic_evaluate(model, ids, DynamicEval(lr=0.5, window=5)).perplexity
    held = dynamic_evaluate(model, ids, DynamicEval(lr=0.5, window=5, decay=0.9)).perplexity
    pinned = dynamic_evaluate(model, ids, DynamicEval(lr=0.5, window=5, decay=0.999999))
    assert free < held < static
    assert pinned.perplexity == pytest.approx(static, rel=1e-3)


@pytest.mark.parametrize("lr", [1e3, 1e30])  # finite but absurd losses, or overflow
def test_divergence_is_an_error_and_still_restores(lr):
    model = _model()
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(DynamicEvalDivergedError, match="smaller --dynamic-lr"):
        dynamic_evaluate(model, _repetitive(), DynamicEval(lr=lr, window=5))
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("kw", [{"lr": 0.0}, {"lr": -1.0}, {"lr": float("nan")},
                                {"lr": 0.1, "window": 0}, {"lr": 0.1, "decay": 1.0}])  # fmt: skip
def test_bad_settings_are_refused(kw):
    with pytest.raises(ConfigError):
        DynamicEval(**kw)


def test_cli_dynamic_eval(tmp_path, trained):
    out, _ = trained
    ckpt = out / "best.npz"
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat\n" * 40)
    raw = ckpt.read_bytes()
    static = json.loads(run("eval", ckpt, text, "--json").stdout)
    assert static["dynamic"] is None
    got = run("eval", ckpt, text, "--json", "--dynamic-lr", "0.1", "--dynamic-window", "6")
    assert got.exit_code == 0, got.output
    dyn = json.loads(got.stdout)
    assert dyn["dynamic"] == {"lr": 0.1, "window": 6, "decay": 0.0}
    assert dyn["tokens"] == static["tokens"]
    assert dyn["perplexity"] < static["perplexity"]
    assert ckpt.read_bytes() == raw  # the checkpoint is never written
    # each file starts from the trained weights: the same file twice scores the same
    twice = json.loads(run("eval", ckpt, text, text, "--json", "--dynamic-lr", "0.1").stdout)
    assert twice["files"][0]["perplexity"] == twice["files"][1]["perplexity"]
    assert_one_line_error(run("eval", ckpt, text, "--dynamic-lr", "-1"), 2, "--dynamic-lr")
    assert_one_line_error(run("eval", ckpt, text, "--dynamic-decay", "0.5"), 2, "--dynamic-lr")
    assert_one_line_error(run("eval", ckpt, text, "--dynamic-window", "10"), 2, "--dynamic-lr")
    assert_one_line_error(
        run("eval", ckpt, text, "--dynamic-lr", "1e30"), 1, "smaller --dynamic-lr"
    )


def test_cli_progress_bar_on_a_terminal(tmp_path, trained, monkeypatch):
    """The bar is only drawn on a terminal, which CliRunner is not: force one."""
    import io

    from rich.console import Console

    from rnnlm.cli import score_progress

    screen = io.StringIO()
    monkeypatch.setattr(score_progress, "err", Console(file=screen, force_terminal=True))
    out, _ = trained
    text = tmp_path / "t[bold]{0}.txt"  # rich markup and a format field: printed as they are
    text.write_text("the cat sat on the mat\n" * 40)
    for extra in ([], ["--dynamic-lr", "0.1"]):
        got = run("eval", out / "best.npz", text, *extra)
        assert got.exit_code == 0, got.output
    assert "tokens" in screen.getvalue() and "t[bold]{0}.txt" in screen.getvalue()
    assert "dynamic evaluation: lr 0.1 per token, window 10, decay 0" in got.stdout


def test_library_call_matches_the_cli(tmp_path, trained):
    import rnnlm

    out, _ = trained
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat\n" * 20)
    lm = rnnlm.load(out / "best.npz")
    cli = json.loads(run("eval", out / "best.npz", text, "--json", "--dynamic-lr", "0.1").stdout)
    lib = lm.perplexity(text.read_text(), dynamic=DynamicEval(lr=0.1))
    assert lib.perplexity == pytest.approx(cli["perplexity"], rel=1e-9)
    assert lm.perplexity(text.read_text()).perplexity > lib.perplexity
