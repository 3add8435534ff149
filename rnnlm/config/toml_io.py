"""Configs as TOML files: ``[data]``, ``[model]`` and ``[train]`` sections of flat keys.

Reading checks every section, key and type and names the file and key of the first problem.
Writing needs no library: the values are flat strings, numbers, booleans and lists of them.
"""

import contextlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from rnnlm.config.configs import SECTIONS, check_keys, check_value, options
from rnnlm.errors import ConfigError, RnnlmError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Sections = dict[str, dict[str, Any]]  # section -> field -> value, e.g. {"model": {"hidden": 8}}


def parse(text: str, source: str) -> Sections:
    """TOML text -> checked sections; ConfigError naming ``source`` and the key at fault."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    sections: Sections = {}
    for name, table in doc.items():
        if name not in SECTIONS or not isinstance(table, dict):
            raise ConfigError(
                f"{source}: {name}: not a section (the sections are "
                f"{', '.join(f'[{s}]' for s in SECTIONS)})"
            )
        check_keys(name, table, f"{source}: ")
        sections[name] = {k: check_value(name, k, v, f"{source}: ") for k, v in table.items()}
    return sections


def read(path: Path | str) -> Sections:
    """The sections of a TOML config file (see ``parse``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"{path}: cannot read ({why})") from None
    return parse(text, str(path))


def sections(*configs: Any) -> Sections:
    """The options of configs (a DataConfig, ModelConfig, TrainConfig) as sections."""
    names = {cls: name for name, cls in SECTIONS.items()}
    return {names[type(c)]: {k: getattr(c, k) for k in options(names[type(c)])} for c in configs}


def dumps(sections: Sections, header: str = "") -> str:
    """TOML text of ``sections``; ``header`` becomes comment lines; None values are left out."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for name, table in sections.items():
        lines += ["", f"[{name}]"]
        lines += [f"{k} = {_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines).lstrip("\n") + "\n"


def write(path: Path | str, sections: Sections, header: str = "") -> None:
    """Write ``dumps(sections, header)`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(dumps(sections, header))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise RnnlmError(f"cannot write {path}: {exc.strerror or exc}") from None


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if v != v else "inf" if v > 0 else "-inf")
    if isinstance(v, str):  # a JSON string is a TOML basic string, but for DEL
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} as TOML")
