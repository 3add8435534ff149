"""The layers, the model, the heads, the optimizers, the weight average and the loss do their
array arithmetic through the module of their arrays (``xp = array_module(...)``) or, for work
that belongs on the host, ``backend.HOST``; never through numpy directly, which would pull GPU
arrays to the host or fail on them. numpy itself is allowed for what is not arithmetic: type
hints, dtypes, the host random generator's type and ``errstate`` (numpy's own warnings).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "rnnlm"
CHECKED = sorted(
    [
        *(p for p in (ROOT / "nn").rglob("*.py") if p.name != "gradcheck.py"),
        ROOT / "training" / "optimizers.py",
        ROOT / "training" / "averaging.py",
        ROOT / "training" / "losses.py",
    ]
)
# gradcheck.py is a host-side tool: central differences in float64 on numpy arrays.
ALLOWED = {
    "ndarray", "dtype", "ufunc", "generic", "number", "integer", "floating", "bool_", "intp",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "errstate", "random.Generator",
}  # fmt: skip


def numpy_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name after ``np.``) of every use of the ``np`` name in ``tree``."""
    uses, inside = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inside:
            parts, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                inside.add(id(value))
                parts.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id == "np":
                uses.append((node.lineno, ".".join(reversed(parts))))
    named = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):  # np passed around bare (``f(np)``) counts too
        if isinstance(node, ast.Name) and node.id == "np" and id(node) not in named:
            uses.append((node.lineno, "<bare np>"))
    return uses


def allowed(dotted: str) -> bool:
    return any(dotted == a or dotted.startswith(a + ".") for a in ALLOWED)


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_array_math_through_numpy(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module not in ("numpy", "cupy", "cupyx"), f"{path}:{node.lineno}"
            assert not (node.module or "").startswith(("numpy.", "cupy.")), f"{path}:{node.lineno}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name not in ("cupy", "cupyx"), f"{path}:{node.lineno}: only backend"
                if alias.name == "numpy":
                    assert alias.asname == "np", f"{path}:{node.lineno}: import numpy as np"
    bad = [f"{path.name}:{line}: np.{name}" for line, name in numpy_uses(tree) if not allowed(name)]
    assert not bad, "array arithmetic through numpy, not the array module:\n" + "\n".join(bad)


def test_the_check_finds_numpy_arithmetic():
    """The test above can fail: a call like ``np.tanh(x)`` is found, a dtype is not."""
    tree = ast.parse("import numpy as np\ny = np.tanh(x, dtype=np.float32)\nz = np.add.at\n")
    found = [name for _, name in numpy_uses(tree) if not allowed(name)]
    assert sorted(found) == ["add.at", "tanh"]


def test_every_layer_module_is_checked():
    names = {p.relative_to(ROOT).as_posix() for p in CHECKED}
    for must in ("nn/model.py", "nn/embedding.py", "nn/cells/lstm.py", "nn/dropout.py",
                 "nn/heads/full_softmax.py", "nn/heads/class_softmax.py",
                 "training/optimizers.py", "training/losses.py"):  # fmt: skip
        assert must in names
