"""rnnlm generate: sampling options, --score, --stop and its escapes, unknown prompt tokens."""

import json

import pytest

from tests.cli_helpers import assert_one_line_error, run


def test_generate_greedy_top_k_and_unknown_prompt(trained):
    out, _ = trained
    g1 = run("generate", out / "best.npz", "--greedy", "--length", "10", "--seed", "1")
    g2 = run("generate", out / "best.npz", "--greedy", "--length", "10", "--seed", "2")
    assert g1.exit_code == 0 and g1.stdout == g2.stdout
    k = run("generate", out / "best.npz", "--top-k", "1", "--length", "10")
    assert k.stdout == g1.stdout
    u = run("generate", out / "best.npz", "--prompt", "zebra cat", "--length", "5")
    assert u.exit_code == 0 and "zebra" in u.stderr and "<unk>" in u.stderr
    assert "<unk>" not in u.stdout.split()


def test_generate_score_and_stop_edge_values(trained):
    out, _ = trained
    scored = run("generate", out / "best.npz", "--prompt", "the", "--score", "cat zebra")
    assert scored.exit_code == 0 and "--score" in scored.stderr and "zebra" in scored.stderr
    record = json.loads(scored.stdout)
    assert record["tokens"] == 2 and record["unknown_tokens"] == 1 and record["bits"] > 0
    blank = run("generate", out / "best.npz", "--score", "  ")  # a word model: no tokens
    assert_one_line_error(blank, 2, "no word tokens to score")
    assert_one_line_error(run("generate", out / "best.npz", "--stop", ""), 2, "--stop needs")


def test_library_refuses_to_score_an_empty_text(trained):
    from rnnlm import load
    from rnnlm.errors import CorpusError

    lm = load(trained[0] / "best.npz")
    with pytest.raises(CorpusError, match="nothing to score"):
        lm.perplexity("")


def test_generate_bad_options(trained):
    out, _ = trained
    assert_one_line_error(
        run("generate", out / "best.npz", "--temperature", "0"), 2, "--temperature"
    )
    assert_one_line_error(run("generate", out / "best.npz", "--length", "-1"), 2, "--length")
    assert_one_line_error(run("generate", out / "best.npz", "--seed", "-1"), 2, "--seed")


def test_stop_escapes():
    from rnnlm.cli.generate import unescape

    assert unescape(r"\n") == "\n" and unescape(r"a\tb") == "a\tb"
    assert unescape(r"\\n") == r"\n" and unescape("<eos>") == "<eos>" and unescape("\\") == "\\"


def test_generate_options(shared_run):
    _, out = shared_run
    ck = out / "best.npz"
    many = run(
        "generate", ck, "--num-samples", "3", "--length", "30", "--stop", "<eos>", "--seed", "1"
    )
    assert many.exit_code == 0, many.output
    samples = [s for s in many.stdout.split("\n\n") if s.strip()]
    assert len(samples) == 3 and all(s.count("\n") <= 1 for s in samples)
    p1 = run("generate", ck, "--top-p", "0.0001", "--length", "8").stdout
    assert p1 == run("generate", ck, "--greedy", "--length", "8").stdout
    assert_one_line_error(run("generate", ck, "--top-p", "0"), 2, "--top-p")
    scored = json.loads(
        run("generate", ck, "--prompt", "the cat", "--score", "sat on a mat").stdout
    )
    assert scored["tokens"] == 4 and scored["logprob"] < 0
    assert scored["bits"] == pytest.approx(-scored["logprob"] / 0.6931471805599453)
