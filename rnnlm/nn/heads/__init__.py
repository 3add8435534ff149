"""Output layers: hidden states -> next-token scores and the loss (full or class softmax).

``HEADS`` is the one list of them: the ``--softmax`` name (the checkpoint's ``model.softmax``)
-> its class (a ``Head``: rnnlm/nn/heads/base.py says what one declares).
"""

from rnnlm.nn.heads.base import Head
from rnnlm.nn.heads.class_softmax import TimeClassSoftmax
from rnnlm.nn.heads.full_softmax import TimeSoftmaxHead

HEADS: dict[str, type[Head]] = {
    "full": TimeSoftmaxHead,
    "class": TimeClassSoftmax,
}

__all__ = ["HEADS", "Head", "TimeClassSoftmax", "TimeSoftmaxHead"]
