"""The options of ``rnnlm train``: one row each, with its help text and help panel.

A configuration option's type and default come from its field in ``rnnlm.config`` (so each
default is written once, and ``--help`` shows it); a choice's values come from the registry of
its role. ``with_options`` turns the rows into the keyword parameters typer reads.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnlm.cli.flags import CHOICE_ENUMS, DEVICE_HELP, FORCE_HELP, Device, Preset, flag, listed
from rnnlm.config import SECTIONS, default, options

# Rich help panels, so `rnnlm train --help` reads in groups.
DATA, MODEL, OPTIM, RUN = "Data", "Model", "Optimisation", "Run"


@dataclass(frozen=True)
class Opt:
    help: str
    panel: str
    names: tuple[str, ...] = ()  # default: --field-name (a bool: that flag alone, no --no-...)
    type: Any = None  # options that are not config fields: their type ...
    default: Any = None  # ... and default
    must_exist: bool = False  # a file that must exist


ROWS: dict[str, Opt] = {
    "out": Opt(
        "Run folder for best.npz, last.npz and metrics.jsonl (default: runs/<corpus name>).",
        RUN, ("--out", "-o"), Path | None,
    ),
    "unit": Opt(
        "Tokens: words (plus <eos> per line), characters, or bpe: byte-level subwords learned "
        "from the training split, any text encodes, no <unk> (needs pip install "
        "'rnnlm-numpy\\[bpe]') (default: the named corpus's unit, else word).", DATA,
    ),
    "subword_vocab": Opt(
        "--unit bpe: tokens of the BPE, <unk> and the 256 bytes included (0: min(8000, 257 + "
        "square root of the training file's characters)).", DATA,
    ),
    "valid": Opt(
        "Validation file (default: the corpus's own, else the last --valid-fraction of CORPUS).",
        DATA,
    ),
    "test": Opt(
        "Test file, scored with the best model at the end (default: the corpus's own).", DATA
    ),
    "valid_fraction": Opt("Share of a single-file corpus held out for validation.", DATA),
    "data_dir": Opt(
        "Where named corpora are kept and downloaded (default: $RNNLM_DATA, else ~/.cache/rnnlm).",
        DATA, type=Path | None,
    ),
    "max_vocab": Opt("Keep at most this many tokens, <unk> included (0: all).", DATA),
    "min_count": Opt("Map tokens seen fewer times than this to <unk>.", DATA),
    "preset": Opt(
        "A published recipe (see docs/results.md); explicit flags override it (default: none, i.e. "
        "ptb-rnn's values).", MODEL, type=Preset | None,
    ),
    "config": Opt(
        "A TOML file with \\[data], \\[model] and \\[train] sections, such as a run folder's "
        "config.toml: it overrides --preset, explicit flags override it (default: none).",
        RUN, type=Path | None, must_exist=True,
    ),
    "cell": Opt(f"Recurrent cell: {listed('cell')} (rnn: the seed's tanh RNN).", MODEL),
    "layers": Opt("Stacked recurrent layers.", MODEL),
    "embed_dim": Opt("Embedding size D.", MODEL),
    "hidden": Opt("Hidden size H.", MODEL),
    "dropout": Opt("Dropout before each recurrent layer and after the last (0: off).", MODEL),
    "variational_dropout": Opt("One dropout mask per sequence, shared by all T steps.", MODEL),
    "weight_drop": Opt(
        "DropConnect on each recurrent matrix Wh: drop each weight with this probability, one "
        "mask per window (Merity et al. 2017; 0: off).", MODEL,
    ),
    "tie_weights": Opt("Output matrix = embedding matrix (needs --embed-dim = --hidden).", MODEL),
    "init_scale": Opt(
        "Every weight uniform in ±this (at most 10); 0: embedding/output ±0.1, recurrent "
        "±1/sqrt(H).", MODEL,
    ),
    "softmax": Opt(
        "Output layer: full softmax over V, or factored by frequency classes (much faster for "
        "large vocabularies; exact probabilities).", MODEL,
    ),
    "classes": Opt("Classes of the class softmax (0: about sqrt(V)).", MODEL),
    "batch_size": Opt("N parallel streams.", OPTIM),
    "bptt": Opt("T steps per window (truncated BPTT).", OPTIM),
    "epochs": Opt("Passes over the training split.", OPTIM),
    "optimizer": Opt(f"Update rule: {listed('optimizer')}.", OPTIM),
    "lr": Opt("Learning rate.", OPTIM),
    "clip": Opt("Clip the global gradient norm to this (0: off).", OPTIM),
    "loss": Opt(
        "What lr and clip apply to: the mean over the N·T tokens of a window, or the sum over "
        "its T steps (mean over N), as in Zaremba et al.", OPTIM,
    ),
    "lr_decay": Opt(
        "Divide lr by this when validation perplexity does not improve (or, with "
        "--decay-after, after every epoch past that one).", OPTIM,
    ),
    "decay_after": Opt(
        "Fixed schedule: decay lr after each epoch past this one (0: on plateau).", OPTIM
    ),
    "ema": Opt(
        "Validate, test and save as best.npz an exponential moving average of the weights with "
        "this decay, e.g. 0.999; its validation perplexity also drives the lr schedule (0: off; "
        "the updates use the raw weights, kept in last.npz).", OPTIM,
    ),
    "seed": Opt("Seed (>= 0) for initialisation and dropout.", OPTIM),
    "patience": Opt(
        "Stop early after this many epochs in a row without a better validation perplexity "
        "(0: never; train all --epochs).", OPTIM,
    ),
    "max_steps": Opt(
        "Stop after this many updates (0: no limit); for smoke tests and benchmarks. Stored "
        "with the run: --resume keeps it unless given again.", RUN,
    ),
    "log_every": Opt(
        "Also log a step record to metrics.jsonl every this many steps (0: off).", RUN
    ),
    "save_every": Opt(
        "Write a resumable last.npz every this many steps (0: every 5 minutes).", RUN
    ),
    "resume": Opt(
        "Continue the run in --out exactly where its last.npz stopped.", RUN, type=bool,
        default=False,
    ),
    "as_json": Opt(
        "End stdout with one JSON object of the results.", RUN, ("--json",), bool, False
    ),
    "force": Opt(FORCE_HELP, RUN, type=bool, default=False),
    "device": Opt(
        DEVICE_HELP + " Not stored with the run: it may resume on the other.", RUN, type=Device,
        default=Device("cpu"),
    ),
    "workers": Opt(
        "Train with this many processes, each on its share of the --batch-size streams (MPI data "
        "parallelism; runs mpiexec for you; needs the [mpi] extra). Under mpiexec: the -n given "
        "there.", RUN, type=int, default=1,
    ),
    "dry_run": Opt(
        "Run one step of everything (train, validate, save, reload, sample) in a temporary "
        "folder and exit: a smoke test.", RUN, type=bool, default=False,
    ),
}  # fmt: skip

# option -> the config section it sets ("data", "model", "train"); others are run options
SECTION_OF = {name: s for s in SECTIONS for name in options(s) if name in ROWS}


def _type_and_default(name: str, row: Opt) -> tuple[Any, Any]:
    if name not in SECTION_OF:
        return row.type, row.default
    f = options(SECTION_OF[name])[name]
    value = default(f)
    if name in CHOICE_ENUMS:
        enum = CHOICE_ENUMS[name]
        return (enum, enum(value)) if value is not None else (enum | None, None)
    if f.type == str | None:  # a file
        return Path | None, value
    return f.type, value


def parameter(name: str, row: Opt) -> inspect.Parameter:
    """The typer parameter of one row."""
    tp, value = _type_and_default(name, row)
    names = row.names or ((flag(name),) if tp is bool else ())
    files = {"exists": True, "dir_okay": False} if row.must_exist else {}
    option = typer.Option(*names, help=row.help, rich_help_panel=row.panel, **files)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value,
                             annotation=Annotated[tp, option])  # fmt: skip


def with_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command(..., **options)`` the rows as its keyword parameters, for typer."""
    own = inspect.signature(command).parameters.values()
    params = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [parameter(name, row) for name, row in ROWS.items()]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return command
