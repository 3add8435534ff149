"""One typed configuration path: configs, TOML files, presets, registries and their flags."""

import inspect
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

from rnnlm.cli.flags import CHOICE_ENUMS
from rnnlm.config import CHOICES, DataConfig, ModelConfig, TrainConfig, registry, toml_io
from rnnlm.errors import ConfigError
from rnnlm.nn.model import RNNLM
from rnnlm.presets import preset_names, preset_sections
from rnnlm.training import checkpoint
from tests.test_cli import SMALL, assert_one_line_error, run

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

TINY = ["--embed-dim", "8", "--hidden", "8", "--batch-size", "4", "--bptt", "6"]


def stored(folder):
    """The configuration a run folder's last.npz holds: data, model, train."""
    ck = checkpoint.load(folder / "last.npz")
    return ck.extra["data"], ck.model, ck.train


def test_config_file_overrides_the_preset_and_flags_override_the_file(tmp_path, word_corpus):
    cfg = tmp_path / "mine.toml"
    cfg.write_text(
        "[data]\nmax_vocab = 12\n\n[model]\nlayers = 1\nhidden = 6\nembed_dim = 6\n\n"
        "[train]\nbptt = 5\nlr = 0.5\nbatch_size = 4\n"
    )
    out = tmp_path / "r"
    args = ["--preset", "zaremba-small", "--config", cfg, "--lr", "0.7", "--hidden", "8"]
    result = run("train", word_corpus, "--out", out, *args, "--embed-dim", "8", "--max-steps", "2")
    assert result.exit_code == 0, result.output
    data, model, train = stored(out)
    assert (model.cell, model.init_scale, train.decay_after, train.loss) == (
        "lstm", 0.1, 4, "time-sum",
    )  # the preset's  # fmt: skip
    assert (model.layers, train.bptt, data["max_vocab"]) == (1, 5, 12)  # the file's
    assert (train.lr, model.hidden) == (0.7, 8)  # the flags'


@pytest.mark.parametrize(
    "text, needles",
    [
        ("[model]\nbogus = 1\n", ["[model] bogus: unknown key"]),
        ("[model]\nvocab_size = 10\n", ["vocab_size: unknown key"]),  # from the corpus
        ("[train]\nlr = 'fast'\n", ["[train] lr must be a number, got 'fast'"]),
        ("[train]\nepochs = 2.5\n", ["[train] epochs must be a whole number"]),
        ("[model]\ntie_weights = 1\n", ["tie_weights must be true or false"]),
        ("[optim]\nlr = 1.0\n", ["optim: not a section"]),
        ("lr = 1.0\n", ["lr: not a section"]),
        ("[model\n", ["not valid TOML"]),
    ],
)
def test_bad_config_files_are_one_line_errors(tmp_path, word_corpus, text, needles):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    out = tmp_path / "never"
    result = run("train", word_corpus, "--config", cfg, "--out", out)
    assert_one_line_error(result, 2, str(cfg), *needles)
    assert not out.exists()


def test_config_file_must_exist(tmp_path, word_corpus):
    result = run("train", word_corpus, "--config", tmp_path / "none.toml")
    assert result.exit_code == 2 and "--config" in result.output


def test_run_folder_config_repeats_the_run(tmp_path, word_corpus):
    first, second = tmp_path / "first", tmp_path / "second"
    args = [*SMALL, "--max-steps", "4", "--seed", "7", "--max-vocab", "12", "--min-count", "2"]
    args += ["--valid-fraction", "0.2", "--softmax", "class", "--classes", "3", "--cell", "gru"]
    args += ["--decay-after", "1", "--ema", "0.5", "--variational-dropout", "--init-scale", "0.2"]
    assert run("train", word_corpus, "--out", first, *args).exit_code == 0
    text = (first / "config.toml").read_text()
    assert "max_vocab = 12" in text and 'cell = "gru"' in text
    again = run("train", word_corpus, "--config", first / "config.toml", "--out", second)
    assert again.exit_code == 0, again.output
    assert stored(second) == stored(first)
    assert (second / "config.toml").read_text() == text
    sections = toml_io.read(first / "config.toml")
    data, model, train = stored(first)
    assert DataConfig(**sections["data"]) == DataConfig(**data)
    assert ModelConfig(vocab_size=model.vocab_size, class_bounds=model.class_bounds,
                       **sections["model"]) == model  # fmt: skip
    assert TrainConfig(**sections["train"]) == train


def test_resume_rewrites_config_with_what_may_change(tmp_path, word_corpus):
    out = tmp_path / "r"
    assert run("train", word_corpus, "--out", out, *SMALL, "--max-steps", "3").exit_code == 0
    own = tmp_path / "own.toml"
    own.write_text((out / "config.toml").read_text())
    resumed = run("train", word_corpus, "--out", out, "--resume", "--config", own,
                  "--max-steps", "5")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert "max_steps = 5" in (out / "config.toml").read_text()
    assert checkpoint.load(out / "last.npz").train.max_steps == 5
    own.write_text("[model]\nhidden = 16\n")
    refused = run("train", word_corpus, "--out", out, "--resume", "--config", own)
    assert_one_line_error(refused, 2, "--hidden 16 (the run has 8)")


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_parses_and_builds_its_model(name):
    sections = preset_sections(name)
    model = ModelConfig(vocab_size=30, **{**sections["model"], "embed_dim": 8, "hidden": 8})
    lm = RNNLM(model, np.random.default_rng(0))
    assert lm.scores(np.zeros((2, 3), dtype=np.int32)).shape == (2, 3, 30)
    assert ModelConfig(vocab_size=30, **sections["model"]).cell == sections["model"]["cell"]
    TrainConfig(**sections["train"])
    DataConfig(**sections.get("data", {}))


def test_ptb_rnn_preset_is_the_defaults():
    """`--preset` help says: default none, i.e. ptb-rnn's values."""
    sections = preset_sections("ptb-rnn")
    assert ModelConfig(vocab_size=9, **sections["model"]) == ModelConfig(vocab_size=9)
    assert TrainConfig(**sections["train"]) == TrainConfig()


def test_cli_choices_are_the_registries():
    """Every choice flag typer reads (train's and bench's) offers exactly its registry's keys."""
    from rnnlm.cli.bench import bench_command
    from rnnlm.cli.train import train

    def offered(command, name):
        annotation = inspect.signature(command).parameters[name].annotation
        enum = typing.get_args(annotation)[0]  # Annotated[Enum | None, typer.Option]
        enum = next(t for t in typing.get_args(enum) or (enum,) if t is not type(None))
        return [e.value for e in enum]

    for name in CHOICES:
        keys = list(registry(name))
        assert [e.value for e in CHOICE_ENUMS[name]] == keys
        assert offered(train, name) == keys
    for name in ("cell", "optimizer", "softmax"):
        assert offered(bench_command, name) == list(registry(name))


def test_library_errors_name_fields_and_cli_errors_name_flags(tmp_path, word_corpus):
    with pytest.raises(ConfigError, match=r"^dropout must be in \[0, 1\), got 1.5$") as e:
        ModelConfig(vocab_size=5, dropout=1.5)
    assert e.value.fields == ("dropout",)
    with pytest.raises(ConfigError, match=r"^tie_weights needs embed_dim = hidden \(got 4 and 8"):
        ModelConfig(vocab_size=5, tie_weights=True, embed_dim=4, hidden=8)
    with pytest.raises(ConfigError, match=r"^max_vocab must be 0 \(no limit\) or >= 2, got 1$"):
        DataConfig(max_vocab=1)
    with pytest.raises(ConfigError, match=r"^unknown cell 'elman' \(choose from: rnn, lstm, gru"):
        ModelConfig(vocab_size=5, cell="elman")
    with pytest.raises(ConfigError, match=r"^lr must be a number, got 'x'$"):
        TrainConfig(lr="x")
    out = tmp_path / "o"
    result = run("train", word_corpus, "--out", out, "--dropout", "1.5")
    assert_one_line_error(result, 2, "error: --dropout must be in [0, 1), got 1.5")
    result = run("train", word_corpus, "--out", out, "--tie-weights", "--embed-dim", "4")
    assert_one_line_error(result, 2, "--tie-weights needs --embed-dim = --hidden (got 4 and 256)")
    result = run("train", word_corpus, "--out", out, "--max-vocab", "1")
    assert_one_line_error(result, 2, "error: --max-vocab must be 0 (no limit) or >= 2, got 1")


def test_library_refuses_unknown_options(tmp_path, word_corpus):
    from rnnlm.training.run import prepare

    with pytest.raises(ConfigError, match=r"\[model\] hiden: unknown key"):
        prepare(str(word_corpus), tmp_path / "o", model={"hiden": 8})
    assert not (tmp_path / "o").exists()


def test_toml_writer_round_trips():
    sections = {
        "a": {"s": 'quote " back \\ nl \n tab \t del \x7f é', "i": -3, "f": 1e-05, "g": 0.1},
        "b": {"big": 1e16, "t": True, "n": False, "list": [0, 4, 9], "none": None},
    }
    back = tomllib.loads(toml_io.dumps(sections, "a comment\nline two"))
    del sections["b"]["none"]
    assert back == sections
    assert toml_io.dumps({"x": {"v": float("inf")}}).endswith("v = inf\n")


def test_ints_are_accepted_for_floats_and_kept_as_floats():
    cfg = TrainConfig(lr=1, clip=5)
    assert type(cfg.lr) is float and type(cfg.clip) is float
    assert "lr = 1.0" in toml_io.dumps(toml_io.sections(cfg))
    with pytest.raises(ConfigError, match="whole number"):
        TrainConfig(epochs=True)


@pytest.mark.parametrize("name", ["v0.1-gru-char-class.npz", "v0.1-lstm-word.npz"])
def test_info_prints_a_checkpoints_config(name):
    """`rnnlm info --toml` of any checkpoint, an old one too, is a config file that rebuilds it."""
    path = Path(__file__).parent / "fixtures" / name
    result = run("info", path, "--toml")
    assert result.exit_code == 0, result.output
    sections = toml_io.parse(result.stdout, "info")
    ck = checkpoint.load(path)
    assert TrainConfig(**sections["train"]) == ck.train
    bounds = ck.model.class_bounds
    assert ModelConfig(vocab_size=ck.model.vocab_size, class_bounds=bounds,
                       **sections["model"]) == ck.model  # fmt: skip
    assert sections["data"]["unit"] == ck.unit
    if ck.model.softmax == "class":  # not stored by v0.1: the bounds tell it
        assert sections["data"]["classes"] == len(bounds) - 1
