"""When a loss says that training, or dynamic evaluation, has diverged."""

import math

from rnnlm.errors import RnnlmError

# Mean loss per token, in nats, above which a model has diverged even where float arithmetic
# still gives finite numbers (huge weights behind a tanh and a max-shifted softmax can score
# 1e30 nats without overflowing): each token given a probability below e^-1000 on average. A
# fresh model scores about ln V (9.2 at V = 10,000), a badly initialised one tens to hundreds.
DIVERGED_LOSS = 1000.0


def diverged(loss: float) -> bool:
    """True for a NaN, infinite or absurdly large mean loss per token."""
    return not (math.isfinite(loss) and loss <= DIVERGED_LOSS)


class TrainingDivergedError(RnnlmError):
    """The loss became NaN, infinite or absurd."""
