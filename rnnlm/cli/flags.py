"""How the command line names configuration: a field's flag, and the Enums of choices.

The library names fields (``dropout must be in [0, 1)``); the CLI speaks of flags
(``--dropout must be in [0, 1)``). Choices are Enums built from the registries the configs check
against, so a new cell or optimizer appears here by itself.
"""

import re
from enum import Enum

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


# field -> its Enum: unit, cell, softmax, optimizer, loss
CHOICE_ENUMS = {field: choices(field.capitalize(), registry(field)) for field in CHOICES}
Preset = choices("Preset", preset_names())
