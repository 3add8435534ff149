"""Time layers in the style of "Deep Learning from Scratch 2" (``common/time_layers.py``).

Every layer follows one contract:

- ``params`` and ``grads``: lists of arrays of the same shapes; ``backward`` writes gradients in
  place (``grads[0][...] = dW``) so a model's flat list of them stays live. The model names
  them (``RNNLM.params``/``RNNLM.grads``, the checkpoint keys); cells and heads name their own
  (``Cell.param_names``, ``Head.param_names``).
- ``forward(x)`` caches what ``backward`` needs; ``backward(dout)`` returns the gradient of its
  input and leaves the cache as forward left it, so calling it again gives the same result.
- Inputs and outputs are batch-major, ``(N, T, ...)``; activations take their dtype from the
  inputs (or, for the embedding, from its weights), so the same code runs in float32 for training
  and in float64 for numerical gradient checks.
- Array arithmetic goes through the module of the arrays (``xp = array_module(xs)``, see
  ``rnnlm/backend.py``), as the dtype does: the same layer runs on numpy or on CuPy (a GPU).

Recurrent cells are listed in ``rnnlm.nn.cells.CELLS``, output layers in
``rnnlm.nn.heads.HEADS``.
"""

from rnnlm.nn.cells import CELLS, Cell, TimeGRU, TimeLSTM, TimeRNN
from rnnlm.nn.dropout import TimeDropout
from rnnlm.nn.embedding import TimeEmbedding
from rnnlm.nn.heads import HEADS, Head, TimeClassSoftmax, TimeSoftmaxHead
from rnnlm.nn.weight_drop import WeightDrop

__all__ = [
    "CELLS",
    "HEADS",
    "Cell",
    "Head",
    "TimeClassSoftmax",
    "TimeDropout",
    "TimeEmbedding",
    "TimeGRU",
    "TimeLSTM",
    "TimeRNN",
    "TimeSoftmaxHead",
    "WeightDrop",
]
