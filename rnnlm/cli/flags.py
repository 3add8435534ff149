"""How the command line names configuration: a field's flag, the Enums of choices, and the
options several commands share.

The library names fields (``dropout must be in [0, 1)``); the CLI speaks of flags
(``--dropout must be in [0, 1)``). Choices are Enums built from the registries the configs check
against, so a new cell or optimizer appears here by itself.
"""

import re
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from rnnlm.backend import DEVICES
from rnnlm.config import CHOICES, registry
from rnnlm.errors import ConfigError
from rnnlm.presets import preset_names


def flag(field: str) -> str:
    """The flag of a configuration field: ``max_vocab`` -> ``--max-vocab``."""
    return "--" + field.replace("_", "-")


def in_flags(exc: ConfigError) -> str:
    """The message of ``exc`` with each field it names (``exc.fields``) as its flag."""
    if not exc.fields:
        return str(exc)
    names = "|".join(sorted(map(re.escape, exc.fields), key=len, reverse=True))
    return re.sub(rf"(?<![\w-])({names})(?![\w-])", lambda m: flag(m[1]), str(exc))


def choices(name: str, values: object) -> type[Enum]:
    """An Enum of strings, each its own value, for typer to offer and check."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[misc]


def listed(field: str) -> str:
    """A registry's names for help text: "rnn, lstm or gru"."""
    names = list(registry(field))
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# field -> its Enum: unit, cell, softmax, optimizer, loss
CHOICE_ENUMS = {field: choices(field.capitalize(), registry(field)) for field in CHOICES}
Preset = choices("Preset", preset_names())
Device = choices("Device", DEVICES)

FORCE_HELP = "Skip the check that the estimated peak memory fits the memory free."
DEVICE_HELP = (
    "Where to compute: cpu (numpy) or cuda, an NVIDIA GPU (CuPy: pip install "
    "'rnnlm-numpy\\[cuda12]'). Any checkpoint runs on either."
)

# The argument train and prepare declare alike.
CorpusArg = Annotated[
    str,
    typer.Argument(
        help="A text file, a folder with train/valid/test files (train.txt or NAME.train.txt), "
        "or a named corpus: ptb, wikitext-2, tinyshakespeare (downloaded if missing).",
        show_default=False,
    ),
]

# The parameters eval, generate and info declare alike.
CheckpointArg = Annotated[Path, typer.Argument(help="A checkpoint written by rnnlm train.")]
ForceFlag = Annotated[bool, typer.Option("--force", help=FORCE_HELP)]
DeviceFlag = Annotated[Device, typer.Option(help=DEVICE_HELP)]
