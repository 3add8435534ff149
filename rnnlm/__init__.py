"""rnnlm: train, evaluate and sample RNN language models on a CPU with numpy.

Library use (the CLI is built on the same calls)::

    import rnnlm
    lm = rnnlm.load("runs/ptb/best.npz")
    print(lm.perplexity("the company said it expects higher earnings\n"))
    print(lm.generate("the company said", length=20, seed=1))
    results = rnnlm.train("ptb", "runs/ptb", train={"epochs": 2})  # what `rnnlm train` runs
"""

import os
from typing import TYPE_CHECKING, Any

# OpenBLAS threads spin ~0.1 s after each matrix product (2**28 cycles), stealing the cores
# that rnnlm's elementwise work runs on (rnnlm/nn/parallel.py). 2**18 cycles (~85 us) keeps them
# awake through the short gaps between the recurrent loop's small products (waking a sleeping
# thread for each cost ~3 ms of an M step's ~10 ms in the RNN) and lets them sleep during the
# softmax (docs/performance.md). Read when numpy first loads, so it only takes
# effect if rnnlm is imported first.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")

from rnnlm.training.launcher import configure_threads

configure_threads()  # under mpiexec: the cores of a machine shared among its ranks

__version__ = "0.1.0"

__all__ = ["LanguageModel", "__version__", "load", "train"]

if TYPE_CHECKING:
    from rnnlm.api import LanguageModel, load
    from rnnlm.training.run import train


def __getattr__(name: str) -> Any:
    """``LanguageModel``, ``load`` and ``train``, imported when first used: a command that needs
    none of them (``rnnlm prepare``) does not load the model and training code."""
    if name in ("LanguageModel", "load"):
        from rnnlm import api

        return getattr(api, name)
    if name == "train":
        from rnnlm.training.run import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with the lazily imported ones (for ``dir`` and tab completion)."""
    return sorted({*globals(), *__all__})
