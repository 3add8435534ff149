"""Recurrent cells: time layers that carry a state from one window to the next."""

from rnnlm.nn.cells.gru import TimeGRU
from rnnlm.nn.cells.lstm import TimeLSTM
from rnnlm.nn.cells.rnn import TimeRNN

# The cells a model may use, by the name its config gives (ModelConfig.cell, --cell).
CELLS: dict[str, type] = {"rnn": TimeRNN, "lstm": TimeLSTM, "gru": TimeGRU}
