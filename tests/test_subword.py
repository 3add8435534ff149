"""Byte-level BPE: exact round trips on any text, determinism, the training split only, and the
tokenizer inside checkpoints and prepared folders (checked on load)."""

import builtins
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("tokenizers")  # CI installs it (.ci/run: the bpe extra)

from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.data import subword
from rnnlm.data.corpus import load_corpus
from rnnlm.data.prepare import prepare_corpus
from rnnlm.data.prepared import load_prepared
from rnnlm.data.subword import SubwordVocabulary, auto_vocab_size, learn
from rnnlm.errors import CheckpointError, ConfigError, CorpusError, RnnlmError
from rnnlm.nn.model import RNNLM
from rnnlm.training import checkpoint

TEXT = "the cat sat on the mat\nthe dog ran to the big red house\n" * 20


@pytest.fixture(scope="module")
def vocab() -> SubwordVocabulary:
    return learn([TEXT], 300)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_text_round_trips_exactly(vocab, text):
    ids = vocab.encode_text(text)
    assert vocab.decode_text(ids) == text
    assert "".join(vocab.text_pieces(ids)) == text  # streamed, a character at a time if need be
    assert (ids != vocab.unk_id).all() or "<unk>" in text  # nothing is unknown


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=40).map(lambda s: s.replace("\n", "") + "\n"), max_size=8))
def test_lines_encode_alike_whole_or_in_pieces(vocab, lines):
    whole = vocab.encode_text("".join(lines))
    pieces = [vocab.encode_text(line) for line in lines]
    assert whole.tolist() == [i for p in pieces for i in p.tolist()]


def test_awkward_text_round_trips(vocab):
    text = "emoji 😀👩‍👩‍👧 ctrl \x00\x07\x1b[0m \r \x85\u2028 日本語 عربى <unk> ĠĊ\n\n  x \n"
    ids = vocab.encode_text(text)
    assert vocab.decode_text(ids) == text
    assert vocab.tokenizer.decode(ids.tolist(), skip_special_tokens=False) == text


def test_vocabulary_has_unk_first_every_byte_and_the_newline(vocab):
    assert vocab.tokens[0] == "<unk>" and 257 < len(vocab) <= 300  # (merges may run out)
    assert set(subword.byte_chars()) <= set(vocab.tokens)
    assert vocab.decode_text([vocab.newline_id]) == "\n"


def test_learning_is_deterministic():
    a, b = learn([TEXT[:500], TEXT[500:]], 280), learn([TEXT], 280)
    assert a.json == learn([TEXT[:500], TEXT[500:]], 280).json
    assert a.json == b.json  # the pieces it was read in do not matter (they end at lines)


def test_auto_vocab_size_grows_slowly_up_to_8000():
    assert auto_vocab_size(0) == 257
    assert auto_vocab_size(1_000_000) == 1257
    assert auto_vocab_size(10**9) == 8000


def test_missing_tokenizers_is_one_error_naming_the_extra(monkeypatch):
    real = builtins.__import__

    def no_tokenizers(name, *args, **kwargs):
        if name == "tokenizers" or name.startswith("tokenizers."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tokenizers)
    with pytest.raises(RnnlmError, match=r"rnnlm-numpy\[bpe\]") as exc:
        learn([TEXT], 300)
    assert "\n" not in str(exc.value)


def test_bpe_is_learned_from_the_training_lines_only(tmp_path):
    path = tmp_path / "c.txt"
    train_lines = ["aaaa bbbb\n"] * 90
    valid_lines = ["zzzzqqqq\n"] * 10  # never seen in training: no merge of z or q
    path.write_text("".join(train_lines + valid_lines), encoding="utf-8")
    data = load_corpus({"train": path}, "bpe", valid_fraction=0.1, subword_vocab=300)
    merged = [t for t in data.vocab.tokens if len(t) > 1 and t != "<unk>"]
    assert merged and not any("z" in t or "q" in t for t in merged)
    assert data.vocab.decode_text(data["valid"]) == "".join(valid_lines)
    assert data.vocab.decode_text(data["train"]) == "".join(train_lines)
    assert data.oov == {"train": 0, "valid": 0}


def test_too_short_and_pipes_are_refused(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("just one line\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="too short"):
        load_corpus({"train": one}, "bpe")
    with pytest.raises(CorpusError, match="regular file"):
        load_corpus({"train": tmp_path}, "bpe")


def test_options_that_do_not_apply_are_refused(tmp_path, word_corpus):
    with pytest.raises(ConfigError, match="subword-vocab needs --unit bpe"):
        prepare_corpus(str(word_corpus), tmp_path / "p", unit="word", subword_vocab=500)
    with pytest.raises(ConfigError, match="do not apply"):
        prepare_corpus(str(word_corpus), tmp_path / "p", unit="bpe", max_vocab=100)


def _bpe_ckpt(vocab: SubwordVocabulary) -> checkpoint.Checkpoint:
    cfg = ModelConfig(vocab_size=len(vocab), embed_dim=3, hidden=4)
    model = RNNLM(cfg, np.random.default_rng(0))
    return checkpoint.Checkpoint(model=cfg, train=TrainConfig(), unit="bpe", vocab=vocab,
                                 params=model.params)  # fmt: skip


def test_tokenizer_round_trips_through_a_checkpoint_bit_for_bit(tmp_path, vocab):
    path = tmp_path / "m.npz"
    checkpoint.save(path, _bpe_ckpt(vocab))
    with np.load(path, allow_pickle=False) as z:
        assert z["tokenizer"].dtype == np.uint8
        assert json.loads(str(z["meta"]))["format"] == 2
    back = checkpoint.load(path)
    assert isinstance(back.vocab, SubwordVocabulary)
    assert back.vocab.json == vocab.json and back.vocab.tokens == vocab.tokens
    assert back.vocab.encode_text("the cat 😀").tolist() == vocab.encode_text("the cat 😀").tolist()


def _tamper(src, dst, change):
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(dst, **arrays)


def _with_spec(edit):
    def change(arrays):
        spec = json.loads(arrays["tokenizer"].tobytes().decode())
        edit(spec)
        arrays["tokenizer"] = np.frombuffer(json.dumps(spec).encode(), dtype=np.uint8)

    return change


def _swap_two_ids(spec):
    v = spec["model"]["vocab"]
    a, b = sorted(v, key=v.get)[5:7]
    v[a], v[b] = v[b], v[a]


FOREIGN = [
    (lambda a: a.pop("tokenizer"), "without its tokenizer"),
    (lambda a: a.__setitem__("tokenizer", np.frombuffer(b"{oops", np.uint8)), "not JSON"),
    (lambda a: a.__setitem__("tokenizer", np.frombuffer(b"\xff\xfe", np.uint8)), "not UTF-8"),
    (lambda a: a.__setitem__("tokenizer", np.array("text")), "malformed"),
    (_with_spec(lambda s: s["model"].__setitem__("type", "WordPiece")), "not a BPE"),
    (_with_spec(lambda s: s.__setitem__("decoder", {"type": "Metaspace"})), "byte-level"),
    (_with_spec(lambda s: s["model"]["vocab"].pop("Ġ")), "ids are not 0..V-1"),
    (_with_spec(_swap_two_ids), "differs from the checkpoint's"),
    (_with_spec(lambda s: s["model"].__setitem__("merges", [["no", "such"]])), "does not load"),
]


@pytest.mark.parametrize("change, message", FOREIGN)
def test_tampered_or_foreign_tokenizer_is_one_error(tmp_path, vocab, change, message):
    good = tmp_path / "good.npz"
    checkpoint.save(good, _bpe_ckpt(vocab))
    _tamper(good, tmp_path / "bad.npz", change)
    with pytest.raises(CheckpointError, match=message) as exc:
        checkpoint.load(tmp_path / "bad.npz")
    assert "\n" not in str(exc.value) and "bad.npz" in str(exc.value)


def test_a_word_checkpoint_with_a_tokenizer_is_refused(tmp_path, vocab):
    good = tmp_path / "good.npz"
    checkpoint.save(good, _bpe_ckpt(vocab))

    def to_word(arrays):
        meta = json.loads(str(arrays["meta"]))
        meta["unit"] = "word"
        arrays["meta"] = np.array(json.dumps(meta))

    _tamper(good, tmp_path / "bad.npz", to_word)
    with pytest.raises(CheckpointError, match="does not use"):
        checkpoint.load(tmp_path / "bad.npz")


def test_prepared_bpe_folder_holds_the_tokenizer(tmp_path, word_corpus):
    out = tmp_path / "prep"
    meta = prepare_corpus(str(word_corpus), out, unit="bpe", subword_vocab=300)
    assert meta["version"] == 2 and meta["unit"] == "bpe"
    data = load_prepared(out)
    assert isinstance(data.vocab, SubwordVocabulary) and data.vocab.json == meta["tokenizer"]
    in_memory = load_corpus({"train": word_corpus}, "bpe", subword_vocab=300)
    assert in_memory.vocab.json == data.vocab.json  # the same tokenizer, the same split
    for split in ("train", "valid"):
        assert np.asarray(data[split]).tolist() == in_memory[split].tolist()
    with pytest.raises(ConfigError, match="subword-vocab"):
        load_prepared(out, subword_vocab=400)
