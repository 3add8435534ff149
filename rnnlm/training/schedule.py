"""The learning-rate schedule: divide the rate by ``lr_decay`` at an epoch's end.

Two rules (``TrainConfig``): with ``decay_after`` > 0, after every epoch from that one on (the
fixed schedule of Zaremba et al.); otherwise when validation did not improve on the best epoch
end so far (the plateau rule). Only epoch ends count, so a run stopped and resumed mid-epoch
follows the same schedule as an uninterrupted one. The same bookkeeping counts the epochs in a
row without improvement, for ``patience``.
"""

from rnnlm.config import TrainConfig
from rnnlm.training.progress import TrainState


def end_of_epoch(st: TrainState, valid_ppl: float, cfg: TrainConfig, lr: float) -> float:
    """Record epoch ``st.epoch + 1``'s validation perplexity in ``st`` (``plateau_ppl``,
    ``stale_epochs``) and return the learning rate for the next epoch."""
    plateaued = st.plateau_ppl is not None and valid_ppl >= st.plateau_ppl
    st.stale_epochs = st.stale_epochs + 1 if plateaued else 0
    if st.plateau_ppl is None or valid_ppl < st.plateau_ppl:
        st.plateau_ppl = valid_ppl
    if cfg.decay_after:  # fixed schedule: divide after every epoch past decay_after
        if st.epoch + 1 >= cfg.decay_after:
            lr /= cfg.lr_decay
    elif plateaued:  # divide when validation did not improve on the best epoch
        lr /= cfg.lr_decay
    return lr
