"""--unit bpe end to end through the command line, and comparable scores in eval and training."""

import builtins
import json
from unittest import mock

import pytest
from typer.testing import CliRunner

pytest.importorskip("tokenizers")  # CI installs it (.ci/run: the bpe extra)

from rnnlm.api import load
from rnnlm.cli import app

runner = CliRunner()
SMALL = [
    *("--embed-dim", "8", "--hidden", "8", "--batch-size", "4", "--bptt", "6"),
    *("--max-steps", "5", "--dropout", "0"),
]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def bpe_run(tmp_path, word_corpus):
    out = tmp_path / "run"
    result = run("train", word_corpus, "--unit", "bpe", "--subword-vocab", "280", "--out", out,
                 *SMALL, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout.strip().splitlines()[-1])


def test_train_eval_generate_with_subwords(bpe_run, word_corpus):
    out, summary = bpe_run
    assert summary["unit"] == "bpe" and 257 < summary["vocab_size"] <= 280
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"valid_ppl", "valid_bits_per_char", "valid_word_ppl"} <= set(record)

    ev = run("eval", out / "best.npz", word_corpus, "--json")
    assert ev.exit_code == 0, ev.output
    total = json.loads(ev.stdout)
    assert total["unit"] == "bpe" and total["oov_rate"] == 0.0
    text = word_corpus.read_text(encoding="utf-8")
    assert total["chars"] == len(text)
    assert total["words"] == len(text.split()) + text.count("\n")
    assert total["bits_per_char"] * total["chars"] == pytest.approx(
        total["bits_per_token"] * total["tokens"]
    )

    per_token = out / "tokens.jsonl"
    assert run("eval", out / "best.npz", word_corpus, "--per-token", per_token).exit_code == 0
    rows = [json.loads(x) for x in per_token.read_text().splitlines()]
    # each row names its token in the tokenizer's byte-level form and as text; the texts
    # spell the file (all but its first token, which is not predicted)
    assert any(r["token"].startswith("Ġ") and r["text"] == " " + r["token"][1:] for r in rows)
    assert text.endswith("".join(r["text"] for r in rows))
    assert len("".join(r["text"] for r in rows)) > len(text) - 10

    prompt = "the cat 😀 naïve"
    gen = run("generate", out / "best.npz", "--prompt", prompt, "--length", "20", "--seed", "3")
    assert gen.exit_code == 0, gen.output
    assert gen.stdout.startswith(prompt)
    assert "Ġ" not in gen.stdout and "Ċ" not in gen.stdout
    assert gen.stdout == load(out / "best.npz").generate(prompt, 20, seed=3) + "\n" or (
        gen.stdout == load(out / "best.npz").generate(prompt, 20, seed=3)
    )

    scored = run("generate", out / "best.npz", "--prompt", "the 😀", "--score", " cat sat")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["tokens"] >= 2

    info = run("info", out / "best.npz", "--json")
    assert json.loads(info.stdout)["unit"] == "bpe" and json.loads(info.stdout)["format"] == 2


def test_generate_stops_at_text_whatever_the_unit(bpe_run):
    out, _ = bpe_run
    for stop in ("\\n", "<eos>", "a"):
        gen = run("generate", out / "best.npz", "--length", "200", "--stop", stop, "--seed", "1")
        assert gen.exit_code == 0, gen.output
        body = gen.stdout.removesuffix("\n")
        want = "\n" if stop in ("\\n", "<eos>") else stop
        assert body.count(want) <= 1  # (the token that completes the stop is written whole)


def test_prepare_then_train_puts_the_tokenizer_in_the_checkpoint(tmp_path, word_corpus):
    prep = tmp_path / "prep"
    result = run("prepare", word_corpus, "--out", prep, "--unit", "bpe", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unit"] == "bpe"
    out = tmp_path / "run"
    result = run("train", prep, "--out", out, *SMALL)
    assert result.exit_code == 0, result.output
    lm = load(out / "best.npz")
    assert lm.unit == "bpe"
    meta = json.loads((prep / "meta.json").read_text(encoding="utf-8"))
    assert lm.vocab.json == meta["tokenizer"]
    ev = run("eval", out / "best.npz", prep, word_corpus, "--json")
    assert ev.exit_code == 0, ev.output


def test_bad_subword_options_are_usage_errors(tmp_path, word_corpus):
    result = run("train", word_corpus, "--unit", "word", "--subword-vocab", "500", "--out",
                 tmp_path / "r", *SMALL)  # fmt: skip
    assert result.exit_code == 2 and "--subword-vocab needs --unit bpe" in result.stderr
    result = run("train", word_corpus, "--unit", "bpe", "--subword-vocab", "100", "--out",
                 tmp_path / "r", *SMALL)  # fmt: skip
    assert result.exit_code == 2 and "--subword-vocab must be" in result.stderr


def test_without_tokenizers_train_and_eval_say_which_extra(tmp_path, word_corpus, bpe_run):
    real = builtins.__import__

    def no_tokenizers(name, *args, **kwargs):
        if name == "tokenizers" or name.startswith("tokenizers."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    out, _ = bpe_run
    with mock.patch.object(builtins, "__import__", no_tokenizers):
        results = [
            run("train", word_corpus, "--unit", "bpe", "--out", tmp_path / "r", *SMALL),
            run("eval", out / "best.npz", word_corpus),
            run("generate", out / "best.npz", "--prompt", "the"),
        ]
    for result in results:
        assert result.exit_code == 1, result.output
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "pip install 'rnnlm-numpy[bpe]'" in lines[0], result.stderr
    assert run("info", out / "best.npz").exit_code == 0  # reading needs no tokenizers


def test_word_model_eval_warns_that_oov_scores_do_not_compare(tmp_path, word_corpus):
    out = tmp_path / "w"
    assert run("train", word_corpus, "--out", out, *SMALL).exit_code == 0
    other = tmp_path / "other.txt"
    other.write_text("the cat sat on a zebra\n", encoding="utf-8")
    ev = run("eval", out / "best.npz", other, "--json")
    assert ev.exit_code == 0, ev.output
    assert "not comparable" in ev.stderr
    row = json.loads(ev.stdout)
    assert row["words"] == 7 and row["chars"] == len("the cat sat on a zebra\n")
