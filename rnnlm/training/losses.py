"""What the learning rate and the clip apply to: the loss of a window as the update sees it.

The model's loss is the mean over the N·T tokens of a window; each entry gives the factor that
turns its gradient into the gradient of the loss the update uses, for a window of T steps.
"""

from collections.abc import Callable

LOSSES: dict[str, Callable[[int], float]] = {
    "mean": lambda T: 1.0,  # the mean over the N·T tokens
    "time-sum": lambda T: float(T),  # summed over the T steps, mean over N (Zaremba et al.)
}
