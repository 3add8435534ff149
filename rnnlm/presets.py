"""Presets: published recipes, shipped as TOML config files in ``rnnlm.resources.presets``.

A preset has the sections of a run's ``config.toml``; ``rnnlm train`` applies it over the
defaults, then ``--config FILE``, then explicit flags.
"""

from importlib import resources
from typing import Any

from rnnlm.config.toml_io import Sections, parse
from rnnlm.errors import ConfigError

PACKAGE = "rnnlm.resources.presets"


def preset_names() -> tuple[str, ...]:
    """The shipped presets, e.g. ``("ptb-rnn", "zaremba-medium", "zaremba-small")``."""
    files = resources.files(PACKAGE).iterdir()
    return tuple(sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml")))


def preset_sections(name: str) -> Sections:
    """A preset's ``[data]``, ``[model]`` and ``[train]`` values."""
    if name not in preset_names():
        raise ConfigError(
            f"unknown preset '{name}' (choose from: {', '.join(preset_names())})", ("preset",)
        )
    text = resources.files(PACKAGE).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return parse(text, f"preset {name}")


def preset(name: str) -> dict[str, Any]:
    """A preset's values in one flat dict (field names are unique across sections)."""
    return {k: v for table in preset_sections(name).values() for k, v in table.items()}
