"""Configuration: what defines a run's data, model and training; stored with every run.

``configs`` holds the three frozen dataclasses (each default written once, checked when made);
``toml_io`` reads and writes them as a TOML file with ``[data]``, ``[model]`` and ``[train]``
sections (every run folder's ``config.toml``; the presets in ``rnnlm.resources.presets``).
"""

from rnnlm.config.configs import (
    CHOICES,
    MAX_INIT_SCALE,
    SECTIONS,
    DataConfig,
    ModelConfig,
    TrainConfig,
    check_keys,
    check_new_run,
    check_value,
    default,
    from_dict,
    options,
    registry,
    to_dict,
)

__all__ = [
    "CHOICES",
    "MAX_INIT_SCALE",
    "SECTIONS",
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "check_keys",
    "check_new_run",
    "check_value",
    "default",
    "from_dict",
    "options",
    "registry",
    "to_dict",
]
