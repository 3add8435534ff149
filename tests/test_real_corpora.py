"""The real corpora, found through RNNLM_DATA: checksums and the published token counts."""

from rnnlm.data.corpus import load_corpus, resolve_files
from rnnlm.data.download import sha256_of
from rnnlm.data.named import registry


def test_ptb_matches_the_published_counts(real_data):
    files, unit = resolve_files("ptb", real_data)
    assert unit == "word"
    for split, f in registry()["ptb"]["files"].items():
        assert sha256_of(files[split]) == f["sha256"]
    corpus = load_corpus(files, unit)
    assert len(corpus.vocab) == 10_000
    assert {s: len(corpus[s]) for s in ("train", "valid", "test")} == {
        "train": 929_589,
        "valid": 73_760,
        "test": 82_430,
    }
    assert corpus.oov == {"train": 0, "valid": 0, "test": 0}


def test_tinyshakespeare_is_split_90_10(real_data):
    files, unit = resolve_files("tinyshakespeare", real_data)
    corpus = load_corpus(files, unit)
    assert unit == "char"
    assert len(corpus.vocab) == 66  # 65 characters + <unk>
    total = len(corpus["train"]) + len(corpus["valid"])
    assert total == 1_115_394 and len(corpus["valid"]) == round(total * 0.1)
