"""The command line as a user meets it, through typer's CliRunner."""

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from rnnlm.cli import app
from rnnlm.training import checkpoint

runner = CliRunner()
SMALL = [
    *("--embed-dim", "8", "--hidden", "8", "--batch-size", "4", "--bptt", "6", "--epochs", "2"),
    *("--optimizer", "sgd", "--lr", "1", "--clip", "5", "--dropout", "0"),
]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, code, *needles):
    assert result.exit_code == code, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def trained(tmp_path, word_corpus):
    out = tmp_path / "run"
    result = run("train", word_corpus, "--out", out, *SMALL, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout.strip().splitlines()[-1])


def test_train_eval_generate(tmp_path, word_corpus, trained):
    out, summary = trained
    assert {
        "best_valid_ppl",
        "test_ppl",
        "epochs",
        "steps",
        "tokens_per_s",
        "seconds",
        "checkpoint",
    } <= set(summary)
    assert summary["epochs"] == 2 and 1 < summary["best_valid_ppl"] < 20
    assert (out / "best.npz").exists() and (out / "last.npz").exists()
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert {
        "epoch",
        "train_loss",
        "train_ppl",
        "valid_ppl",
        "lr",
        "tokens_per_s",
        "seconds",
    } <= set(metrics[0])

    result = run("eval", out / "best.npz", word_corpus, "--json")
    assert result.exit_code == 0, result.output
    ev = json.loads(result.stdout)
    assert {"perplexity", "tokens", "oov_rate", "bits_per_token"} <= set(ev)
    assert ev["oov_rate"] == 0.0 and ev["tokens"] == len(word_corpus.read_text().split()) + 300

    result = run("eval", out / "best.npz", word_corpus)
    assert result.exit_code == 0 and "perplexity" in result.stdout

    args = ["generate", out / "best.npz", "--prompt", "the cat", "--length", "15", "--seed", "3"]
    a, b = run(*args), run(*args)
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout and a.stdout.startswith("the cat")
    assert len(a.stdout.split()) > 2
    c = run(*args[:-1], "4")
    assert c.stdout != a.stdout


def test_train_folder_with_test_split(tmp_path, split_folder):
    result = run("train", split_folder, "--out", tmp_path / "r", *SMALL, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["test_ppl"] is not None and summary["test_ppl"] > 1


def test_char_level(tmp_path, char_corpus):
    result = run("train", char_corpus, "--unit", "char", "--out", tmp_path / "c", *SMALL, "--json")
    assert result.exit_code == 0, result.output
    result = run("eval", tmp_path / "c" / "best.npz", char_corpus)
    assert "bits/char" in result.stdout
    result = run("generate", tmp_path / "c" / "best.npz", "--length", "30", "--seed", "1")
    assert result.exit_code == 0 and len(result.stdout) >= 30


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


def test_eval_counts_unknown_tokens(tmp_path, trained):
    out, _ = trained
    other = tmp_path / "other.txt"
    other.write_text("the zebra sat on a unicorn\n")
    ev = json.loads(run("eval", out / "best.npz", other, "--json").stdout)
    assert ev["tokens"] == 7 and ev["oov_rate"] == pytest.approx(2 / 7)


# ---- errors a user can cause: one line on stderr, non-zero exit, nothing overwritten ----


def test_missing_and_unknown_corpus(tmp_path):
    assert_one_line_error(
        run("train", tmp_path / "nope.txt", "--out", tmp_path / "o"), 1, "not a known corpus", "ptb"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "content, needle",
    [(b"", "empty"), (b"\x00\x01binary", "binary"), (b"caf\xe9 au lait\n", "UTF-8")],
)
def test_bad_corpus_files(tmp_path, content, needle):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    assert_one_line_error(run("train", bad, "--out", tmp_path / "o"), 1, needle)


def test_corpus_shorter_than_a_window(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("a b c\nd e f\n" * 3)
    assert_one_line_error(run("train", short, "--out", tmp_path / "o"), 1, "window")


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--lr", "nan"),
        ("--lr", "-1"),
        ("--hidden", "0"),
        ("--batch-size", "-2"),
        ("--bptt", "0"),
        ("--dropout", "1.5"),
        ("--weight-drop", "1"),
        ("--ema", "1"),
        ("--ema", "-0.5"),
        ("--weight-drop", "-0.1"),
        ("--clip", "-1"),
        ("--epochs", "0"),
        ("--max-vocab", "1"),
        ("--seed", "-1"),
        ("--init-scale", "inf"),
        ("--init-scale", "1e300"),
        ("--classes", "-5"),
        ("--classes", "5"),  # without --softmax class
    ],
)
def test_bad_option_values(tmp_path, word_corpus, flag, value):
    assert_one_line_error(run("train", word_corpus, "--out", tmp_path / "o", flag, value), 2, flag)


def test_refuses_to_clobber_an_existing_run(tmp_path, word_corpus, trained):
    out, _ = trained
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert_one_line_error(run("train", word_corpus, "--out", out, *SMALL), 2, "--resume")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_bad_checkpoints(tmp_path, word_corpus):
    assert_one_line_error(run("eval", tmp_path / "none.npz", word_corpus), 1, "no such checkpoint")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    assert_one_line_error(run("eval", junk, word_corpus), 1, "not a readable checkpoint")
    assert_one_line_error(run("generate", junk), 1, "not a readable checkpoint")


def test_eval_bad_text_file(tmp_path, trained):
    out, _ = trained
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00")
    assert_one_line_error(run("eval", out / "best.npz", bad), 1, "bad.txt")


def test_generate_bad_options(trained):
    out, _ = trained
    assert_one_line_error(
        run("generate", out / "best.npz", "--temperature", "0"), 2, "--temperature"
    )
    assert_one_line_error(run("generate", out / "best.npz", "--length", "-1"), 2, "--length")
    assert_one_line_error(run("generate", out / "best.npz", "--seed", "-1"), 2, "--seed")


def test_resume_continues_a_run(tmp_path, word_corpus):
    out = tmp_path / "r"
    first = run("train", word_corpus, "--out", out, *SMALL, "--max-steps", "30")
    assert first.exit_code == 0
    done = run("train", word_corpus, "--out", out, "--resume")  # --max-steps 30 is stored
    assert done.exit_code == 0, done.output
    assert "nothing left to train: the run stopped at --max-steps 30" in done.stderr
    assert checkpoint.load(out / "last.npz").progress["step"] == 30
    resumed = run("train", word_corpus, "--out", out, "--resume", "--max-steps", "45", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["steps"] == 45
    assert checkpoint.load(out / "last.npz").progress["step"] == 45
    assert "resuming at epoch" in resumed.stderr
    finished = run("train", word_corpus, "--out", out, "--resume", "--max-steps", "0")
    assert finished.exit_code == 0, finished.output
    assert "all 2 epochs are done" not in finished.stderr  # it trains on to the end ...
    again = run("train", word_corpus, "--out", out, "--resume", "--max-steps", "0")
    assert "nothing left to train: all 2 epochs are done" in again.stderr  # ... and stops there
    other = tmp_path / "other.txt"
    other.write_text("completely different words here\n" * 200)
    assert_one_line_error(run("train", other, "--out", out, "--resume"), 1, "vocabulary")
    changed = run("train", word_corpus, "--out", out, "--resume", "--hidden", "16")
    assert_one_line_error(changed, 2, "--hidden 16 (the run has 8)")


def test_user_text_is_printed_not_read_as_markup(tmp_path, word_corpus, trained):
    """File names, prompts and option names are printed as given, '[...]' and all: rich must
    not read them as markup (which dropped text, or crashed on '[/x]')."""
    out, _ = trained
    ckpt = out / "best.npz"
    got = run("generate", ckpt, "--prompt", "[/foo] the [cat]", "--length", "2")
    assert got.exit_code == 0, got.output
    assert "[/foo]" in got.stderr and "[cat]" in got.stderr
    odd = tmp_path / "br[/x]"
    odd.mkdir(parents=True)  # the folders "br[" and "x]"
    text = odd / "o.txt"
    text.write_text("zzz qqq\n" * 5)
    got = run("eval", ckpt, text, "--allow-oov")
    assert got.exit_code == 0, got.output
    assert "br[/x]/o.txt" in got.stderr
    assert_one_line_error(run("eval", ckpt, tmp_path / "no[/b]such.txt"), 1, "no[/b]such.txt")
    corpus = odd / "c[v2].txt"
    corpus.write_text(word_corpus.read_text())
    got = run("train", corpus, "--out", tmp_path / "o", *SMALL, "--max-steps", "2")
    assert got.exit_code == 0, got.output
    assert "c[v2].txt" in got.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "rnnlm", "eval", str(ckpt), str(text), "--[/b]"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert usage.returncode == 2, usage.stderr
    lines = usage.stderr.strip().splitlines()
    assert len(lines) == 1 and "--[/b]" in lines[0] and "Traceback" not in usage.stderr


def test_patience_stops_early_and_resumes_with_more(tmp_path, word_corpus, monkeypatch):
    from rnnlm.eval.perplexity import EvalResult

    ppls = iter([50, 60, 70, 45, 40, 46, 47, 48])  # validation, epoch after epoch
    monkeypatch.setattr(
        "rnnlm.training.loop.evaluate", lambda *a, **k: EvalResult(nll=np.log(next(ppls)), tokens=1)
    )
    out = tmp_path / "p"
    args = ["train", word_corpus, "--out", out, *SMALL, "--epochs", "8", "--patience", "2"]
    first = run(*args, "--json")
    assert first.exit_code == 0, first.output
    assert "stopped early after epoch 3: no better validation in 2" in first.stdout
    assert json.loads(first.stdout.strip().splitlines()[-1])["stopped_early"] is True
    again = run("train", word_corpus, "--out", out, "--resume")
    assert "nothing left to train: stopped early" in again.stderr
    more = run("train", word_corpus, "--out", out, "--resume", "--patience", "4", "--json")
    assert more.exit_code == 0, more.output
    summary = json.loads(more.stdout.strip().splitlines()[-1])
    assert summary["epochs"] == 8 and summary["stopped_early"] is False
    assert_one_line_error(run(*args[:-1], "-1"), 2, "--patience")


def test_a_valid_file_of_unknown_words_is_warned_about(tmp_path, word_corpus):
    other = tmp_path / "other.txt"
    other.write_text("completely different words here\n" * 30)
    got = run("train", word_corpus, "--valid", other, "--out", tmp_path / "o", *SMALL,
              "--max-steps", "2")  # fmt: skip
    assert got.exit_code == 0, got.output
    assert "other.txt: 80.0% of its tokens are not in the training vocabulary" in got.stderr
    capped = run("train", word_corpus, "--max-vocab", "5", "--out", tmp_path / "c", *SMALL,
                 "--max-steps", "2")  # fmt: skip
    assert capped.exit_code == 0, capped.output  # many <unk>, as in the training text itself
    assert "warning" not in capped.stderr


def test_help_and_version():
    result = run("--help")
    assert result.exit_code == 0 and "train" in result.stdout
    for cmd in ("train", "eval", "generate"):
        result = run(cmd, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout
    assert run("train", "--help").stdout.count("default") >= 15
    assert run("--version").stdout.startswith("rnnlm ")


def test_preset_with_overrides(tmp_path, word_corpus):
    out = tmp_path / "z"
    args = ["--preset", "zaremba-small", "--embed-dim", "8", "--hidden", "8", "--max-steps", "3"]
    result = run("train", word_corpus, "--out", out, *args)
    assert result.exit_code == 0, result.output
    assert "lstm x2" in result.output and "lr ÷2 per epoch after 4" in result.output
    ck = checkpoint.load(out / "best.npz")
    assert (ck.model.cell, ck.model.layers, ck.model.hidden, ck.model.init_scale) == (
        "lstm",
        2,
        8,
        0.1,
    )
    assert (ck.train.lr, ck.train.loss, ck.train.bptt, ck.train.decay_after) == (
        1.0,
        "time-sum",
        20,
        4,
    )


def test_zaremba_presets_are_the_papers_recipes():
    """The recipes as issue #4 spells them (the paper's text), so a silent edit fails here."""
    from rnnlm.presets import preset

    small, medium = preset("zaremba-small"), preset("zaremba-medium")
    want_small = {"layers": 2, "hidden": 200, "bptt": 20, "batch_size": 20, "lr": 1.0,
                  "lr_decay": 2.0, "decay_after": 4, "epochs": 13, "clip": 5.0,
                  "init_scale": 0.1, "dropout": 0.0, "loss": "time-sum"}  # fmt: skip
    want_medium = {"layers": 2, "hidden": 650, "bptt": 35, "batch_size": 20, "lr": 1.0,
                   "lr_decay": 1.2, "decay_after": 6, "epochs": 39, "clip": 5.0,
                   "init_scale": 0.05, "dropout": 0.5, "loss": "time-sum"}  # fmt: skip
    assert {k: small[k] for k in want_small} == want_small
    assert {k: medium[k] for k in want_medium} == want_medium


def script(*args):
    """The installed entry point itself (``python -m rnnlm``), for errors typer's parser raises."""
    cmd = [sys.executable, "-m", "rnnlm", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--preset", "nope"], "--preset"),
        (["--epochs", "abc"], "--epochs"),
        (["--bogus"], "--bogus"),
    ],
)
def test_parser_errors_are_one_line(word_corpus, args, needle):
    proc = script("train", word_corpus, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cells_and_options_reach_the_checkpoint(tmp_path, word_corpus, cell):
    out = tmp_path / cell
    extra = ["--cell", cell, "--layers", "2", "--tie-weights", "--variational-dropout"]
    extra += ["--weight-drop", "0.25"]
    result = run("train", word_corpus, "--out", out, *SMALL, *extra, "--dropout", "0.2")
    assert result.exit_code == 0, result.output
    assert f"model: {cell} x2" in result.output
    assert "0.2, variational, weight drop 0.25, tied |" in result.output
    ck = checkpoint.load(out / "best.npz")
    assert (ck.model.cell, ck.model.layers, ck.model.tie_weights) == (cell, 2, True)
    assert ck.model.variational_dropout and ck.train.optimizer == "sgd"
    assert ck.model.weight_drop == 0.25
    assert "out.W" not in ck.params
    assert run("generate", out / "best.npz", "--length", "5").exit_code == 0


def test_ema_run(tmp_path, word_corpus):
    out = tmp_path / "ema"
    result = run("train", word_corpus, "--out", out, *SMALL, "--ema", "0.9", "--json")
    assert result.exit_code == 0, result.output
    assert ", ema 0.9 |" in result.stderr
    assert checkpoint.load(out / "last.npz").train.ema == 0.9
    assert run("eval", out / "best.npz", word_corpus).exit_code == 0


def test_tie_weights_needs_equal_sizes(tmp_path, word_corpus):
    result = run("train", word_corpus, "--tie-weights", "--embed-dim", "4", "--hidden", "8")
    assert_one_line_error(result, 2, "--tie-weights")


def test_class_softmax_run(tmp_path, word_corpus):
    out = tmp_path / "cls"
    result = run("train", word_corpus, "--out", out, *SMALL, "--softmax", "class", "--classes", "4")
    assert result.exit_code == 0, result.output
    assert "class softmax (4 classes)" in result.output
    ck = checkpoint.load(out / "best.npz")
    assert ck.model.softmax == "class" and len(ck.model.class_bounds) == 5
    assert ck.model.class_bounds[0] == 0 and ck.model.class_bounds[-1] == len(ck.vocab)
    ev = json.loads(run("eval", out / "best.npz", word_corpus, "--json").stdout)
    assert 1 < ev["perplexity"] < 15
    assert run("generate", out / "best.npz", "--length", "5").exit_code == 0


def test_failed_start_leaves_no_folder(tmp_path, word_corpus):
    out = tmp_path / "never"
    result = run("train", word_corpus, "--out", out, "--tie-weights", "--embed-dim", "4")
    assert result.exit_code == 2 and not out.exists()
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert_one_line_error(run("train", word_corpus, "--out", blocked / "sub"), 2, "not a writable")


def test_char_run_resumes_without_repeating_unit(tmp_path, char_corpus):
    out = tmp_path / "c"
    first = run("train", char_corpus, "--unit", "char", "--out", out, *SMALL, "--max-steps", "5")
    assert first.exit_code == 0, first.output
    resumed = run("train", char_corpus, "--out", out, "--resume", "--max-steps", "8")
    assert resumed.exit_code == 0, resumed.output
    assert checkpoint.load(out / "last.npz").progress["step"] == 8
    no_eos = run("generate", out / "last.npz", "--stop", "<eos>")
    assert_one_line_error(no_eos, 2, "character model has no <eos>", r"--stop '\n'")
    # the hint works as typed: the shell passes a backslash and an n, read as a newline
    lines = run("generate", out / "last.npz", "--stop", r"\n", "--length", "400", "--seed", "2")
    assert lines.exit_code == 0, lines.output
    assert lines.stdout.count("\n") == 1 and lines.stdout.endswith("\n")
    empty = run("generate", out / "last.npz", "--score", "")
    assert_one_line_error(empty, 2, "--score needs a continuation")


def test_stop_escapes():
    from rnnlm.cli.generate import unescape

    assert unescape(r"\n") == "\n" and unescape(r"a\tb") == "a\tb"
    assert unescape(r"\\n") == r"\n" and unescape("<eos>") == "<eos>" and unescape("\\") == "\\"


def test_too_short_test_text_is_refused_before_training(tmp_path, char_corpus):
    one = tmp_path / "one.txt"
    one.write_text("a")  # char level: one token, nothing to predict
    got = run("train", char_corpus, "--unit", "char", "--test", one, "--out", tmp_path / "o")
    assert_one_line_error(got, 1, "test text", "one.txt", "too few to score")
    assert not (tmp_path / "o").exists()  # refused before any training or writing


def test_folder_where_a_file_is_expected(tmp_path, word_corpus):
    result = run("train", word_corpus, "--valid", tmp_path, "--out", tmp_path / "o")
    assert_one_line_error(result, 1, "is a folder")
    assert not (tmp_path / "o").exists()


def test_library_train_matches_the_cli_contract(tmp_path, word_corpus):
    import rnnlm

    results = rnnlm.train(
        str(word_corpus), tmp_path / "lib",
        model={"embed_dim": 8, "hidden": 8, "dropout": 0.0},
        train={"batch_size": 4, "bptt": 6, "epochs": 1, "optimizer": "sgd", "lr": 1.0},
    )  # fmt: skip
    assert {"best_valid_ppl", "test_ppl", "epochs", "steps", "checkpoint"} <= set(results)
    lm = rnnlm.load(results["checkpoint"])
    assert lm.perplexity("the cat sat\n").perplexity > 1


def test_training_scores_valid_and_test_as_eval_does(tmp_path, split_folder):
    """The valid/test perplexities a run reports are those `rnnlm eval` gives its best.npz:
    the same tokens (the first predicted from a line start) and the same numbers."""
    out = tmp_path / "run"
    result = run("train", split_folder, "--out", out, *SMALL, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    files = [split_folder / "x.valid.txt", split_folder / "x.test.txt"]
    scored = run("eval", out / "best.npz", *files, "--json")
    assert scored.exit_code == 0, scored.output
    valid, test = json.loads(scored.stdout)["files"]
    assert summary["test_tokens"] == test["tokens"]
    assert summary["test_ppl"] == pytest.approx(test["perplexity"], rel=1e-6)
    assert summary["best_valid_ppl"] == pytest.approx(valid["perplexity"], rel=1e-6)


def test_eval_finds_a_named_corpus_file_in_the_data_folder(tmp_path, trained, monkeypatch):
    """`rnnlm eval best.npz ptb.test.txt` from any folder: a bare file name that is not here
    but belongs to a named corpus is read from the data folder ($RNNLM_DATA)."""
    import hashlib

    from rnnlm.data import named as datasets

    out, _ = trained
    text = b"the cat sat on the mat\n" * 20
    sha = hashlib.sha256(text).hexdigest()
    spec = {"unit": "word", "files": {
        "test": {"name": "mini.test.txt", "url": "http://127.0.0.1:9/x", "sha256": sha},
        "valid": {"name": "valid.txt", "url": "http://127.0.0.1:9/x", "sha256": sha}}}  # fmt: skip
    monkeypatch.setattr(datasets, "registry", lambda: {"mini": spec})
    monkeypatch.setenv("RNNLM_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    missing = run("eval", out / "best.npz", "mini.test.txt")  # not downloaded: no such file
    assert_one_line_error(missing, 1, "mini.test.txt: no such file")
    (tmp_path / "data" / "mini").mkdir(parents=True)
    (tmp_path / "data" / "mini" / "mini.test.txt").write_bytes(text)
    (tmp_path / "data" / "mini" / "valid.txt").write_bytes(text)
    generic = run("eval", out / "best.npz", "valid.txt")  # a generic name is never taken
    assert_one_line_error(generic, 1, "valid.txt: no such file")
    result = run("eval", out / "best.npz", "mini.test.txt", "--json", "--allow-oov")
    assert result.exit_code == 0, result.output
    assert "not in this folder; scoring" in result.stderr
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["file"] == "mini.test.txt" and entry["tokens"] == 140
    assert_one_line_error(run("eval", out / "best.npz", "other.txt"), 1, "no such file")
    copy = tmp_path / "data" / "mini" / "mini.test.txt"  # the file scored: never overwritten
    clash = run("eval", out / "best.npz", "mini.test.txt", "--per-token", copy, "--allow-oov")
    assert_one_line_error(clash, 2, "is an input")
    assert copy.read_bytes() == text
