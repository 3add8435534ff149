"""Presets: published training recipes as TOML config files (``rnnlm train --preset NAME``).

Each file has the sections of a run's ``config.toml``; explicit flags and ``--config`` override it.
"""
