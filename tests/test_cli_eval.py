"""rnnlm eval: the table, baselines, --per-token, stdin, unknown tokens, bad checkpoints and
texts, named corpora's files."""

import json
import subprocess
import sys

import pytest

from tests.cli_helpers import assert_one_line_error, run, runner


def test_eval_counts_unknown_tokens(tmp_path, trained):
    out, _ = trained
    other = tmp_path / "other.txt"
    other.write_text("the zebra sat on a unicorn\n")
    ev = json.loads(run("eval", out / "best.npz", other, "--json").stdout)
    assert ev["tokens"] == 7 and ev["oov_rate"] == pytest.approx(2 / 7)


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


def test_eval_table_baselines_and_per_token(shared_run, tmp_path):
    corpus, out = shared_run
    other = tmp_path / "other.txt"
    other.write_text("the cat sat on a mat\nthe dog ran\n")
    result = run(
        "eval", out / "best.npz", corpus, other, "--json", "--per-token", tmp_path / "t.jsonl"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [f["file"] for f in summary["files"]] == [str(corpus), str(other)]
    assert summary["tokens"] == sum(f["tokens"] for f in summary["files"])
    first = summary["files"][0]
    # a shared_run model beats a unigram model on its own training text
    assert first["perplexity"] < first["unigram_perplexity"]
    assert first["bigram_perplexity"] > 1
    lines = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert len(lines) == summary["tokens"]
    assert lines[-3:] == [
        {**lines[-3], "token": "dog"},
        {**lines[-2], "token": "ran"},
        {**lines[-1], "token": "<eos>"},
    ]
    mean_bits = sum(x["surprisal_bits"] for x in lines) / len(lines)
    assert mean_bits == pytest.approx(summary["bits_per_token"], rel=1e-6)
    table = run("eval", out / "best.npz", corpus, other).stdout
    assert "unigram ppl" in table and "total" in table


def test_per_token_never_clobbers_an_input_or_a_previous_file(shared_run, tmp_path, monkeypatch):
    corpus, out = shared_run
    ckpt = out / "best.npz"
    before = ckpt.read_bytes()
    for target in (ckpt, corpus):
        got = run("eval", ckpt, corpus, "--per-token", target)
        assert_one_line_error(got, 2, "is an input")
    assert ckpt.read_bytes() == before
    previous = tmp_path / "prev.jsonl"
    previous.write_text("earlier results\n")

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    target = tmp_path / "real.jsonl"
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)  # written through, the link kept (as /dev/stdout would be)
    assert run("eval", ckpt, corpus, "--per-token", link).exit_code == 0
    assert link.is_symlink() and target.read_text().count("\n") > 10
    link.unlink()
    target.unlink()
    assert_one_line_error(run("eval", ckpt, corpus, "--per-token", "-"), 2, "--per-token")
    log = tmp_path / "log.txt"  # stdout appended to a file, and that file as --per-token
    log.write_text("earlier output\n")
    with open(log, "a") as out:
        same = subprocess.run(
            [sys.executable, "-m", "rnnlm", "eval", str(ckpt), str(corpus), "--per-token",
             "/dev/stdout"], stdout=out, stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    assert same.returncode == 2 and "is standard output" in same.stderr, same.stderr
    assert log.read_text() == "earlier output\n"
    log.unlink()
    monkeypatch.setattr("rnnlm.cli.evaluate.os.replace", disk_full)
    got = run("eval", ckpt, corpus, "--per-token", previous)
    assert_one_line_error(got, 1, "cannot write", "No space left")
    assert previous.read_text() == "earlier results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["prev.jsonl"]  # no temporary left


def test_eval_reads_stdin(shared_run):
    from tests.cli_helpers import app

    corpus, out = shared_run
    text = corpus.read_text()
    piped = runner.invoke(app, ["eval", str(out / "best.npz"), "-", "--json"], input=text)
    assert piped.exit_code == 0, piped.output
    from_file = json.loads(run("eval", out / "best.npz", corpus, "--json").stdout)
    assert json.loads(piped.stdout)["perplexity"] == from_file["perplexity"]
    empty = runner.invoke(app, ["eval", str(out / "best.npz"), "-"], input="")
    assert_one_line_error(empty, 1, "<stdin>", "empty")
    twice = runner.invoke(app, ["eval", str(out / "best.npz"), "-", "-"], input=text)
    assert_one_line_error(twice, 2, "standard input (-) can be scored once")
    # only eval reads '-': for train it is a file name like any other
    assert_one_line_error(run("train", corpus, "--valid", "-", "--out", "o"), 1, "-: no such file")


def test_closed_stdin_is_one_error(monkeypatch):
    from rnnlm.data.text import read_stdin
    from rnnlm.errors import CorpusError

    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(CorpusError, match="standard input is closed"):
        read_stdin()


def test_eval_baseline_from_a_file(shared_run, tmp_path):
    corpus, out = shared_run
    result = run("eval", out / "best.npz", corpus, "--json", "--baseline-from", corpus)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["files"][0]["unigram_perplexity"] > 1


def test_eval_refuses_wrong_checkpoint_text(shared_run, tmp_path):
    _, out = shared_run
    alien = tmp_path / "alien.txt"
    alien.write_text("lorem ipsum dolor sit amet consectetur\n")
    assert_one_line_error(run("eval", out / "best.npz", alien), 1, "--allow-oov")
    assert run("eval", out / "best.npz", alien, "--allow-oov").exit_code == 0
