"""Checkpoint format: exact round trip, atomic writes, and refusal of anything suspicious."""

import contextlib
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.data.vocab import Vocabulary
from rnnlm.errors import CheckpointError
from rnnlm.nn.model import RNNLM
from rnnlm.training import checkpoint


def make_ckpt(V=6, seed=0):
    cfg = ModelConfig(vocab_size=V, embed_dim=3, hidden=4)
    model = RNNLM(cfg, np.random.default_rng(seed))
    vocab = Vocabulary(["<unk>", "<eos>", *[f"tok{i}" for i in range(V - 2)]])
    return checkpoint.Checkpoint(
        model=cfg,
        train=TrainConfig(),
        unit="word",
        vocab=vocab,
        params=model.params,
        progress={"epoch": 2, "step": 10},
    )


def test_round_trip_is_bit_identical(tmp_path):
    ck = make_ckpt()
    path = tmp_path / "m.npz"
    checkpoint.save(path, ck)
    back = checkpoint.load(path)
    assert back.model == ck.model and back.train == ck.train and back.unit == "word"
    assert back.vocab.tokens == ck.vocab.tokens
    assert back.progress == ck.progress
    for name, value in ck.params.items():
        assert back.params[name].dtype == np.float32
        assert back.params[name].tobytes() == value.tobytes()
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temp file left behind


def test_loads_without_pickle(tmp_path):
    path = tmp_path / "m.npz"
    checkpoint.save(path, make_ckpt())
    with np.load(path, allow_pickle=False) as z:
        assert "meta" in z.files and "param/out.W" in z.files


def test_save_replaces_atomically_and_keeps_old_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    checkpoint.save(path, make_ckpt(seed=0))
    before = path.read_bytes()

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(CheckpointError, match=r"No space left.*previous checkpoint is intact"):
        checkpoint.save(path, make_ckpt(seed=1))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def _resave(src, dst, change):
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(dst, **arrays)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("meta"), "not an rnnlm checkpoint"),
        (lambda a: a.__setitem__("meta", np.array('{"kind": "other"}')), "not an rnnlm checkpoint"),
        (lambda a: a.__setitem__("meta", np.array("{oops")), "corrupt metadata"),
        (lambda a: a.__setitem__("param/out.W", np.zeros((2, 2), np.float32)), "out.W"),
        (lambda a: a.__setitem__("param/out.b", a["param/out.b"].astype(np.float64)), "out.b"),
        (lambda a: a.pop("param/rnn.0.Wh"), "missing"),
        (lambda a: a.__setitem__("param/extra", np.zeros(1, np.float32)), "unexpected"),
        (lambda a: a.__setitem__("vocab", a["vocab"][:-1]), "vocabulary has 5 tokens"),
        (lambda a: a["param/embed.W"].__setitem__((0, 0), np.nan), "NaN"),
    ],
)
def test_tampered_files_are_refused(tmp_path, change, message):
    good = tmp_path / "good.npz"
    checkpoint.save(good, make_ckpt())
    bad = tmp_path / "bad.npz"
    _resave(good, bad, change)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(bad)


def _with_progress(**changes):
    def change(a):
        meta = json.loads(str(a["meta"]))
        meta["progress"].update(changes)
        a["meta"] = np.array(json.dumps(meta))

    return change


@pytest.mark.parametrize(
    "changes",
    [{"best_valid_ppl": "abc"}, {"epoch": {"a": 1}}, {"step": -1}, {"lr": -0.5},
     {"seconds": 1e400}, {"step": 2.5}, {"finished": "yes"}, {"rng": [1, 2]}],
)  # fmt: skip
def test_malformed_progress_is_refused(tmp_path, changes):
    """Progress fields that info, eval or a resume read must hold what they claim."""
    good = tmp_path / "good.npz"
    checkpoint.save(good, make_ckpt())
    _resave(good, tmp_path / "bad.npz", _with_progress(**changes))
    with pytest.raises(CheckpointError, match="training progress is malformed"):
        checkpoint.load(tmp_path / "bad.npz")
    _resave(good, tmp_path / "fine.npz", _with_progress(best_valid_ppl=None, lr=0.5, seconds=3))
    assert checkpoint.load(tmp_path / "fine.npz").progress["lr"] == 0.5


def test_future_format_is_refused(tmp_path):
    good = tmp_path / "good.npz"
    checkpoint.save(good, make_ckpt())

    def bump(a):
        meta = json.loads(str(a["meta"]))
        meta["format"] = checkpoint.FORMAT_VERSION + 1
        a["meta"] = np.array(json.dumps(meta))

    _resave(good, tmp_path / "new.npz", bump)
    with pytest.raises(CheckpointError, match=r"format .* not supported"):
        checkpoint.load(tmp_path / "new.npz")


def test_pickled_payload_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npz"
    good = tmp_path / "good.npz"
    checkpoint.save(good, make_ckpt())
    _resave(good, path, lambda a: a.__setitem__("meta", np.array([Evil()], dtype=object)))
    with pytest.raises(CheckpointError, match="pickled"):
        checkpoint.load(path)
    assert not marker.exists()


def test_truncated_and_foreign_files(tmp_path):
    good = tmp_path / "good.npz"
    checkpoint.save(good, make_ckpt())
    data = good.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        checkpoint.load(tmp_path / "trunc.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        checkpoint.load(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(CheckpointError, match="not an rnnlm checkpoint"):
        checkpoint.load(tmp_path / "other.npz")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoint.load(tmp_path / "missing.npz")


@given(st.binary(min_size=0, max_size=400), st.integers(0, 10_000))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_loader_never_crashes_on_garbage(tmp_path, junk, cut):
    """Whatever the bytes (random, or a real checkpoint cut and spliced), only CheckpointError."""
    good = tmp_path / "good.npz"
    if not good.exists():
        checkpoint.save(good, make_ckpt())
    data = good.read_bytes()
    cut %= len(data)
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data[:cut] + junk + data[cut + len(junk) :])
    with contextlib.suppress(CheckpointError):
        checkpoint.load(path)


def test_zip_without_npy_members(tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(CheckpointError):
        checkpoint.load(path)
