"""Output layers: hidden states -> next-token scores and the loss (full or class softmax)."""

from rnnlm.nn.heads.class_softmax import TimeClassSoftmax
from rnnlm.nn.heads.full_softmax import TimeSoftmaxHead

# The output layers a model may use, by the name its config gives (ModelConfig.softmax).
HEADS: dict[str, type] = {"full": TimeSoftmaxHead, "class": TimeClassSoftmax}
