"""Training: the loop, optimizers, checkpoints and the run folder, and a whole run from a
corpus to results (``run.py``)."""
