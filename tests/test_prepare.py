"""``rnnlm prepare``: ids on disk equal to those loaded in memory, read in place by train/eval."""

import json
import platform
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rnnlm.cli.allocator import keep_freed_memory
from rnnlm.data import batching, stats
from rnnlm.data import prepare as prepare_mod
from rnnlm.data.batching import batchify, num_windows, windows
from rnnlm.data.corpus import load_corpus
from rnnlm.data.prepare import prepare_corpus
from rnnlm.data.prepared import is_prepared, load_prepared
from rnnlm.errors import ConfigError, CorpusError
from rnnlm.eval.ngram import NGramStats
from rnnlm.training.run import prepare as prepare_run
from tests.test_cli import SMALL, assert_one_line_error, run


def _same_corpus(a, b):
    assert a.unit == b.unit and a.vocab.tokens == b.vocab.tokens
    assert set(a.splits) == set(b.splits)
    for split in a.splits:
        np.testing.assert_array_equal(a[split], b[split])
        assert a.oov[split] == b.oov[split]


@pytest.mark.parametrize("unit, opts", [("word", {}), ("word", {"max_vocab": 6}), ("char", {})])
def test_prepared_ids_equal_those_loaded_in_memory(tmp_path, word_corpus, char_corpus, unit, opts):
    corpus = word_corpus if unit == "word" else char_corpus
    meta = prepare_corpus(str(corpus), tmp_path / "p", unit=unit, **opts)
    assert meta["dtype"] == "<u2" and set(meta["splits"]) == {"train", "valid"}
    prepared = load_prepared(tmp_path / "p")
    assert isinstance(prepared["train"], np.memmap)
    _same_corpus(prepared, load_corpus({"train": corpus}, unit, **opts))


def test_separate_files_and_out_of_vocabulary_counts(tmp_path, word_corpus):
    valid = tmp_path / "v.txt"
    valid.write_text("the cat zebra\nunseen words here\n")
    files = {"train": word_corpus, "valid": valid, "test": valid}
    prepare_corpus(str(word_corpus), tmp_path / "p", valid=valid, test=valid, min_count=2)
    prepared = load_prepared(tmp_path / "p")
    _same_corpus(prepared, load_corpus(files, "word", min_count=2))
    assert prepared.oov["valid"] == 4


def test_a_vocabulary_over_65536_tokens_is_stored_as_uint32(tmp_path):
    text = "".join(chr(0x10000 + i) for i in range(70_000)) + "\n"
    corpus = tmp_path / "wide.txt"
    corpus.write_text(text * 2, encoding="utf-8")
    meta = prepare_corpus(str(corpus), tmp_path / "p", unit="char")
    assert meta["dtype"] == "<u4"
    _same_corpus(load_prepared(tmp_path / "p"), load_corpus({"train": corpus}, "char"))


@pytest.mark.parametrize("dense", [1024, 4, 0])  # bigrams of all, some, no ids in the table
def test_training_stats_and_fingerprint_match_the_whole_array(
    tmp_path, word_corpus, monkeypatch, dense
):
    monkeypatch.setattr(stats, "PIECE", 7)  # many pieces: bigrams across their edges
    monkeypatch.setattr(prepare_mod, "PIECE", 5)  # (prepare's pieces, counted in two halves)
    monkeypatch.setattr(stats, "DENSE", dense)
    prepare_corpus(str(word_corpus), tmp_path / "p")
    train = load_prepared(tmp_path / "p")["train"]
    ids = np.array(train, dtype=np.int32)
    want = NGramStats.from_ids(ids, 15).to_arrays()
    for got in (stats.ngram_arrays(ids, 15), stats.ngram_arrays(train, 15)):
        for key, value in want.items():
            np.testing.assert_array_equal(got[key], value)
            assert got[key].dtype == value.dtype
    import hashlib

    assert stats.ids_sha1(train) == stats.ids_sha1(ids) == hashlib.sha1(ids.tobytes()).hexdigest()
    assert stats.ids_sha1(train[:-1]) == hashlib.sha1(ids[:-1].tobytes()).hexdigest()


def test_windows_over_a_memmap_are_views_until_taken(tmp_path, word_corpus):
    prepare_corpus(str(word_corpus), tmp_path / "p")
    train = load_prepared(tmp_path / "p")["train"]
    inputs, targets = batchify(train, 4)
    assert np.shares_memory(inputs, train) and np.shares_memory(targets, train)
    ref_in, ref_t = batchify(np.array(train, dtype=np.int32), 4)
    for (x, t), (rx, rt) in zip(
        windows(inputs, targets, 7), windows(ref_in, ref_t, 7), strict=True
    ):
        assert x.dtype == t.dtype == np.int32 and x.flags.c_contiguous
        np.testing.assert_array_equal(x, rx)
        np.testing.assert_array_equal(t, rt)


@pytest.mark.parametrize("offset", [0, 6, 70_002])  # (past the map's allocation granularity)
def test_windows_of_a_memmap_are_read_from_its_file(tmp_path, monkeypatch, offset):
    ids = np.random.default_rng(0).integers(0, 60_000, 5_000).astype("<u2")
    path = tmp_path / "ids"
    path.write_bytes(b"x" * offset + ids.tobytes())
    mapped = np.memmap(path, dtype="<u2", mode="r", offset=offset, shape=(len(ids),))
    reads = []
    real_pread = batching.os.pread
    monkeypatch.setattr(batching.os, "pread", lambda *a: reads.append(a) or real_pread(*a))
    for n, T in ((4, 7), (7, 50), (1, 4999)):
        got = list(windows(*batchify(mapped, n), T, start=1))
        want = list(windows(*batchify(ids.astype(np.int32), n), T, start=1))
        assert len(got) == len(want) and reads
        for (x, t), (rx, rt) in zip(got, want, strict=True):
            assert x.dtype == t.dtype == np.int32 and x.flags.c_contiguous
            np.testing.assert_array_equal(x, rx)
            np.testing.assert_array_equal(t, rt)
    reads.clear()
    inputs, _ = batchify(mapped, 4)
    odd = list(windows(inputs, inputs, 7))  # (not a batchify pair: sliced from the map)
    assert not reads and len(odd) == num_windows(inputs.shape[1], 7)
    np.testing.assert_array_equal(odd[2][1], np.asarray(inputs[:, 14:21], dtype=np.int32))


def test_training_on_a_prepared_folder_is_bit_identical(tmp_path, word_corpus):
    prepare_corpus(str(word_corpus), tmp_path / "p")
    model = {"embed_dim": 8, "hidden": 8, "dropout": 0.1}
    train = {"batch_size": 4, "bptt": 6, "max_steps": 12, "optimizer": "sgd", "lr": 1.0}
    runs = {}
    for name, corpus in (("text", word_corpus), ("prepared", tmp_path / "p")):
        tr = prepare_run(str(corpus), tmp_path / name, model=dict(model), train=dict(train))
        tr.fit()
        runs[name] = tr
    a, b = runs["text"].trainer, runs["prepared"].trainer
    for key, value in a.model.params.items():
        np.testing.assert_array_equal(value, b.model.params[key])
    assert a.extra["train_sha1"] == b.extra["train_sha1"]
    for key, value in a.stats.items():
        np.testing.assert_array_equal(value, b.stats[key])
    assert runs["text"].results()["test_ppl"] == runs["prepared"].results()["test_ppl"]


def test_a_run_resumes_on_its_corpus_prepared_but_not_on_another(tmp_path, word_corpus):
    out = tmp_path / "run"
    assert run("train", word_corpus, "--out", out, *SMALL, "--max-steps", "3").exit_code == 0
    prepare_corpus(str(word_corpus), tmp_path / "p")
    again = run("train", tmp_path / "p", "--out", out, "--resume", "--max-steps", "6")
    assert again.exit_code == 0, again.output
    other = tmp_path / "other.txt"
    other.write_text(word_corpus.read_text() + "the cat\n")
    prepare_corpus(str(other), tmp_path / "q")
    result = run("train", tmp_path / "q", "--out", out, "--resume", "--max-steps", "9")
    assert_one_line_error(result, 1, "differs")


def test_options_must_be_the_prepared_ones(tmp_path, word_corpus):
    prepare_corpus(str(word_corpus), tmp_path / "p", max_vocab=8)
    with pytest.raises(ConfigError, match="prepared with --max-vocab 8"):
        load_prepared(tmp_path / "p", max_vocab=9)
    assert len(load_prepared(tmp_path / "p", max_vocab=8).vocab) == 8
    result = run("train", tmp_path / "p", "--unit", "char", "--out", tmp_path / "r", *SMALL)
    assert_one_line_error(result, 2, "prepared with --unit word")


def test_an_interrupted_prepare_leaves_nothing_prepared(tmp_path, word_corpus, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_mod, "_final_ids", boom)  # in the second pass
    with pytest.raises(KeyboardInterrupt):
        prepare_corpus(str(word_corpus), tmp_path / "p")
    assert list(tmp_path.iterdir()) == [word_corpus]
    monkeypatch.undo()
    stale = tmp_path / ".p.tmp-999999999"  # a killed prepare's (no such process)
    stale.mkdir()
    (stale / "train.prov").write_bytes(b"\0" * 8)
    prepare_corpus(str(word_corpus), tmp_path / "p")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p", word_corpus.name]
    assert not is_prepared(stale)


def test_an_existing_folder_is_replaced_only_with_force(tmp_path, word_corpus):
    out = tmp_path / "p"
    assert run("prepare", word_corpus, "--out", out).exit_code == 0
    before = (out / "meta.json").read_text()
    assert_one_line_error(run("prepare", word_corpus, "--out", out), 1, "--force")
    assert (out / "meta.json").read_text() == before
    result = run("prepare", word_corpus, "--out", out, "--force", "--max-vocab", "5", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["vocab_size"] == 5
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert_one_line_error(run("prepare", word_corpus, "--out", other, "--force"), 1, "not a prep")
    assert (other / "keep.txt").read_text() == "mine"


def test_not_enough_disk_is_one_line(tmp_path, word_corpus, monkeypatch):
    class Usage:
        free = 1000

    monkeypatch.setattr("rnnlm.data.limits.shutil.disk_usage", lambda path: Usage)
    assert_one_line_error(run("prepare", word_corpus, "--out", tmp_path / "p"), 1, "disk space")
    assert not (tmp_path / "p").exists()


def test_eval_on_a_prepared_folder_equals_eval_on_its_text(tmp_path, word_corpus):
    valid = tmp_path / "v.txt"
    valid.write_text("the cat sat\non a big mat\nzebra\n")
    out = tmp_path / "run"
    assert run("train", word_corpus, "--valid", valid, "--out", out, *SMALL).exit_code == 0
    prepare_corpus(str(word_corpus), tmp_path / "p", valid=valid, test=valid)
    ckpt = out / "best.npz"
    text = json.loads(run("eval", ckpt, valid, "--json").stdout)["files"][0]
    for target in (tmp_path / "p", tmp_path / "p" / "valid.ids"):
        result = run("eval", ckpt, target, "--json")
        assert result.exit_code == 0, result.output
        got = json.loads(result.stdout)["files"][0]
        assert {**got, "file": ""} == {**text, "file": ""}
    shutil.rmtree(tmp_path / "p")
    prepare_corpus(str(word_corpus), tmp_path / "p", max_vocab=5)
    assert_one_line_error(run("eval", ckpt, tmp_path / "p"), 1, "another vocabulary")


def test_prepare_refuses_a_prepared_folder_and_bad_options(tmp_path, word_corpus):
    prepare_corpus(str(word_corpus), tmp_path / "p")
    with pytest.raises(ConfigError, match="already a prepared corpus"):
        prepare_corpus(str(tmp_path / "p"), tmp_path / "q")
    assert_one_line_error(
        run("prepare", word_corpus, "--out", tmp_path / "q", "--min-count", "0"), 2
    )
    with pytest.raises(CorpusError, match="too short"):
        (tmp_path / "one.txt").write_text("a\n")
        prepare_corpus(str(tmp_path / "one.txt"), tmp_path / "q", unit="char")
    assert not (tmp_path / "q").exists()


def test_the_prepare_command_loads_no_training_code_and_keeps_freed_memory(tmp_path, word_corpus):
    code = (
        "import runpy, sys\n"
        "sys.argv = ['rnnlm', 'prepare', sys.argv[1], '--out', sys.argv[2]]\n"
        "try:\n"
        "    runpy.run_module('rnnlm', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "from rnnlm.cli.allocator import keep_freed_memory\n"
        "print(sorted(m for m in ('rnnlm.api', 'rnnlm.training.run', 'rnnlm.training.loop',\n"
        "                         'rnnlm.nn.model', 'rnnlm.cli.train') if m in sys.modules))\n"
    )
    cmd = [sys.executable, "-c", code, str(word_corpus), str(tmp_path / "p")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert is_prepared(tmp_path / "p")
    if platform.libc_ver()[0] == "glibc":  # (elsewhere it does nothing)
        assert keep_freed_memory()


def test_the_package_still_offers_its_lazily_imported_names():
    """``rnnlm.load``, ``rnnlm.LanguageModel`` and ``rnnlm.train`` are imported on first use
    (so ``rnnlm prepare`` needs no training code) and are still listed by ``dir``."""
    import rnnlm

    assert {"load", "LanguageModel", "train"} <= set(dir(rnnlm))
    assert callable(rnnlm.load) and callable(rnnlm.train) and isinstance(rnnlm.LanguageModel, type)
    with pytest.raises(AttributeError):
        rnnlm.no_such_name  # noqa: B018
