"""rnnlm train: corpora, units, options and presets reaching the run, resume, patience, logs,
--dry-run, and the library's train() keeping the CLI's contract."""

import json
from pathlib import Path

import numpy as np
import pytest

from rnnlm.training import checkpoint
from tests.cli_helpers import SMALL, assert_one_line_error, run


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


def test_metrics_has_step_records(shared_run):
    _, out = shared_run
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in recs if r["kind"] == "step"]
    assert steps and all(r["step"] % 40 == 0 for r in steps)
    epochs = [r for r in recs if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert epochs[-1]["tokens_seen"] > epochs[0]["tokens_seen"] > 0


def test_dry_run(tmp_path, word_corpus):
    result = run("train", word_corpus, "--dry-run", "--embed-dim", "8", "--hidden", "8")
    assert result.exit_code == 0, result.output
    assert "dry run ok" in result.stdout
    assert not (tmp_path / "runs").exists()


def test_dry_run_oov_rates_are_those_of_a_real_run(tmp_path):
    """The dry run scores a slice of the validation text; its OOV rate is still the whole
    text's (it once divided the whole text's OOV count by the slice's length: "583%")."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in rng.zipf(1.3, 6000) % 500]
    text = tmp_path / "zipf.txt"
    text.write_text("\n".join(" ".join(words[i : i + 20]) for i in range(0, 6000, 20)) + "\n")
    opts = ("--embed-dim", "8", "--hidden", "8", "--max-vocab", "20")
    result = run("train", text, "--dry-run", *opts)
    assert result.exit_code == 0, result.output
    assert "not in the training vocabulary" not in result.stderr


def test_default_run_folder_is_named_after_the_corpus(tmp_path, monkeypatch):
    from rnnlm.cli.train import default_out

    (tmp_path / "shakespeare").mkdir()
    monkeypatch.chdir(tmp_path / "shakespeare")
    assert default_out(".") == Path("runs") / "shakespeare"  # not runs/ itself
    assert default_out("..") == Path("runs") / tmp_path.name
    (tmp_path / "shakespeare" / "real.txt").write_text("a\n")
    (tmp_path / "shakespeare" / "link.txt").symlink_to("real.txt")
    assert default_out("link.txt") == Path("runs") / "link"  # the name typed, as before
    assert default_out("ptb") == Path("runs") / "ptb"
    assert default_out("corpora/input.txt") == Path("runs") / "input"
