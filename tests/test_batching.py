"""Invariants of the stateful TBPTT batching."""

import itertools

import numpy as np
import pytest

from rnnlm.data.batching import batchify, num_windows, windows
from rnnlm.errors import CorpusError


def test_targets_are_inputs_shifted_by_one():
    ids = np.arange(103)
    inputs, targets = batchify(ids, 4)
    assert inputs.shape == targets.shape == (4, 25)
    np.testing.assert_array_equal(targets, inputs + 1)


def test_streams_start_at_evenly_spaced_offsets():
    inputs, _ = batchify(np.arange(101), 5)
    np.testing.assert_array_equal(inputs[:, 0], [0, 20, 40, 60, 80])


def test_window_k_plus_1_continues_window_k():
    ids = np.arange(1000)
    inputs, targets = batchify(ids, 3)
    ws = list(windows(inputs, targets, 7))
    assert len(ws) == num_windows(inputs.shape[1], 7)
    for (x0, t0), (x1, _) in itertools.pairwise(ws):
        # stream i's next window starts with the token its previous window last predicted
        np.testing.assert_array_equal(x1[:, 0], t0[:, -1])
        np.testing.assert_array_equal(x1[:, 0], x0[:, -1] + 1)
    # together the windows cover every stream without gaps or overlap
    np.testing.assert_array_equal(np.concatenate([x for x, _ in ws], axis=1), inputs)
    assert ws[-1][0].shape[1] == inputs.shape[1] - 7 * (len(ws) - 1)


def test_windows_can_start_mid_epoch():
    inputs, targets = batchify(np.arange(200), 2)
    all_ws = list(windows(inputs, targets, 10))
    later = list(windows(inputs, targets, 10, start=3))
    assert len(later) == len(all_ws) - 3
    np.testing.assert_array_equal(later[0][0], all_ws[3][0])


def test_too_short_for_streams():
    with pytest.raises(CorpusError, match="too short"):
        batchify(np.arange(3), 5)
