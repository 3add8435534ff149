"""Recurrent cells: time layers that carry a state from one window to the next.

``CELLS`` is the one list of them: a cell's name (``--cell``, the checkpoint's ``model.cell``,
its parameters' key prefix) -> its class (a ``Cell``: rnnlm/nn/cells/base.py says what one
declares). Adding a cell is a module here and one entry below.
"""

from rnnlm.nn.cells.base import Cell
from rnnlm.nn.cells.gru import TimeGRU
from rnnlm.nn.cells.lstm import TimeLSTM
from rnnlm.nn.cells.rnn import TimeRNN

CELLS: dict[str, type[Cell]] = {
    "rnn": TimeRNN,
    "lstm": TimeLSTM,
    "gru": TimeGRU,
}

__all__ = ["CELLS", "Cell", "TimeGRU", "TimeLSTM", "TimeRNN"]
