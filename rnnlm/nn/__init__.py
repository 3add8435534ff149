"""Time layers in the style of "Deep Learning from Scratch 2" (``common/time_layers.py``).

Every layer follows one contract:

- ``params`` and ``grads``: lists of arrays of the same shapes; ``backward`` writes gradients in
  place (``grads[0][...] = dW``) so a model's flat list of them stays live.
- ``forward(x)`` caches what ``backward`` needs; ``backward(dout)`` returns the gradient of its
  input and never mutates the cache.
- Inputs and outputs are batch-major, ``(N, T, ...)``; activations take their dtype from the
  inputs (or, for the embedding, from its weights), so the same code runs in float32 for training
  and in float64 for numerical gradient checks.
"""

from rnnlm.nn.affine import TimeAffine
from rnnlm.nn.cells.gru import TimeGRU
from rnnlm.nn.cells.lstm import TimeLSTM
from rnnlm.nn.cells.rnn import TimeRNN
from rnnlm.nn.dropout import TimeDropout
from rnnlm.nn.embedding import TimeEmbedding
from rnnlm.nn.heads.class_softmax import TimeClassSoftmax
from rnnlm.nn.heads.full_softmax import TimeSoftmaxHead
from rnnlm.nn.heads.softmax import TimeSoftmaxWithLoss
from rnnlm.nn.weight_drop import WeightDrop

__all__ = [
    "TimeAffine",
    "TimeClassSoftmax",
    "TimeDropout",
    "TimeEmbedding",
    "TimeGRU",
    "TimeLSTM",
    "TimeRNN",
    "TimeSoftmaxHead",
    "TimeSoftmaxWithLoss",
    "WeightDrop",
]
