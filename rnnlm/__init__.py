"""rnnlm: train, evaluate and sample RNN language models on a CPU with numpy.

Library use (the CLI is built on the same calls)::

    import rnnlm
    lm = rnnlm.load("runs/ptb/best.npz")
    print(lm.perplexity("the company said it expects higher earnings\n"))
    print(lm.generate("the company said", length=20, seed=1))
"""

__version__ = "0.1.0"

from rnnlm.api import LanguageModel, load

__all__ = ["LanguageModel", "__version__", "load"]
