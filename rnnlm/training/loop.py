"""Stateful truncated-BPTT training: ``Trainer``, the loop over windows and epochs.

``Trainer.step(xs, ts)`` is one update (forward, divergence check, backward, clipping, optimizer,
weight average); ``fit`` runs the steps, validates, steps the learning-rate schedule
(schedule.py) and saves checkpoints (checkpoint.py assembles and checks them). The trainer never
prints: it reports through ``on_step``/``on_epoch`` callbacks, and the CLI
draws the progress. Everything it needs to continue exactly where it stopped (parameters,
optimizer, schedule, position in the data, carried hidden state, RNG) goes into ``last.npz``.

On a GPU (a model built with ``device="cuda"``) the trainer moves each window's ids to the
device; the step's loss and gradient norm come to the host once each, after backward has been
queued, for the divergence check, clipping and the report. Checkpoints hold host arrays.
"""

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from rnnlm.backend import copy_into, is_device_array, to_device, to_host
from rnnlm.config import TrainConfig
from rnnlm.data.batching import batchify, num_windows, windows
from rnnlm.data.stats import ngram_arrays
from rnnlm.data.vocab import Vocabulary
from rnnlm.errors import CheckpointError, CorpusError
from rnnlm.eval.metrics import TextCounts, valid_comparable
from rnnlm.eval.perplexity import EvalResult, evaluate
from rnnlm.nn.model import RNNLM
from rnnlm.training import schedule
from rnnlm.training.averaging import ParamEMA
from rnnlm.training.checkpoint import Checkpoint, check_resumable, data_fingerprint
from rnnlm.training.distributed import (
    SAVE_SECONDS,
    Comm,
    DataParallel,
    check_same,
    gather_state,
    own_state,
    shared_evaluate,
)
from rnnlm.training.divergence import TrainingDivergedError, diverged
from rnnlm.training.losses import LOSSES
from rnnlm.training.optimizers import OPTIMIZERS, clip_scale
from rnnlm.training.progress import EpochReport, StepReport, TrainState
from rnnlm.training.run_folder import RunDir

__all__ = ["EpochReport", "StepReport", "TrainState", "Trainer", "TrainingDivergedError"]


class Trainer:
    """Train ``model`` on ``train_ids``, validating on ``valid_ids`` after every epoch."""

    def __init__(
        self,
        model: RNNLM,
        cfg: TrainConfig,
        train_ids: np.ndarray,
        valid_ids: np.ndarray,
        vocab: Vocabulary,
        unit: str,
        rng: np.random.Generator,
        run: RunDir | None = None,
        on_step: Callable[[StepReport], None] | None = None,
        on_epoch: Callable[[EpochReport], None] | None = None,
        on_eval: Callable[[int, int], None] | None = None,
        comm: Comm | None = None,
    ) -> None:
        self.model, self.cfg, self.vocab, self.unit = model, cfg, vocab, unit
        self.valid_ids = valid_ids
        self.rng, self.run = rng, run
        self.on_step, self.on_epoch, self.on_eval = on_step, on_epoch, on_eval
        # data parallelism (distributed.py): this process trains streams [lo, hi) of N
        self.ranks = DataParallel(comm or Comm(), model, cfg.batch_size, len(vocab))
        self.shard = self.ranks.shard
        inputs, targets = batchify(train_ids, cfg.batch_size)
        self.inputs = inputs[self.shard.lo : self.shard.hi]
        self.targets = targets[self.shard.lo : self.shard.hi]
        if self.inputs.shape[1] < cfg.bptt:
            raise CorpusError(
                f"training split has {len(train_ids)} tokens, fewer than one window of "
                f"--batch-size {cfg.batch_size} x --bptt {cfg.bptt} (+1); "
                "use smaller values or a longer corpus"
            )
        if len(valid_ids) < 2:
            raise CorpusError("validation split needs at least 2 tokens")
        self.windows_per_epoch = num_windows(self.inputs.shape[1], cfg.bptt)
        self.stats = ngram_arrays(train_ids, len(vocab))  # (piece by piece: a memmap stays one)
        # what the data looked like, so a resume can check it is the same corpus
        self.extra: dict = data_fingerprint(train_ids)
        self.optimizer = OPTIMIZERS[cfg.optimizer](cfg.lr)
        # --ema: an average of the weights for validation, best.npz and test (averaging.py)
        self.ema = ParamEMA(model.params, cfg.ema) if cfg.ema > 0 else None
        self.state = TrainState(lr=cfg.lr)
        self.valid_counts: TextCounts | None = None  # the validation text's, set by the run
        self._stop_requested = False  # by a signal, on this rank
        self._last_save = time.monotonic()

    def request_stop(self) -> None:
        """Finish the current step, save a resumable ``last.npz`` and return (Ctrl-C)."""
        self._stop_requested = True

    @property
    def _stop(self) -> bool:
        """Whether to stop now. Alone: as soon as asked. With several ranks, only where they
        all check together (each step, and after validation), so that every rank stops at the
        same point and none is left waiting in a collective the others have left."""
        return self._stop_requested if not self.ranks.active else self.ranks.stop

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint(self, resumable: bool = True) -> Checkpoint:
        self.state.rng = self.rng.bit_generator.state
        self.state.lr = self.optimizer.lr
        own = [None if h is None else to_host(h) for h in self.model.get_state()]
        carried = gather_state(self.ranks.comm, own) if resumable else []
        state = [h for h in carried if h is not None]
        return Checkpoint(
            model=self.model.cfg,
            train=self.cfg,
            unit=self.unit,
            vocab=self.vocab,
            params=self.model.params,
            progress=asdict(self.state),
            optim=self._optim_state() if resumable else {},
            state=state,
            stats=self.stats,
            extra=self.extra,
        )

    def _optim_state(self) -> dict[str, np.ndarray]:
        state = self.optimizer.state_dict()
        if self.ema is not None:
            state.update(self.ema.state_dict())
        return state

    def _averaged(self) -> contextlib.AbstractContextManager:
        """Within: the model holds the averaged weights (``--ema``), or its own if off."""
        if self.ema is None:
            return contextlib.nullcontext()
        return self.ema.swapped_in(self.model.params)

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue from a resumable checkpoint written by ``checkpoint()``."""
        check_resumable(
            ckpt,
            self.model,
            self.ema,
            self.cfg.batch_size,
            self.windows_per_epoch,
            self.extra["train_sha1"],
        )
        try:
            state = TrainState(**ckpt.progress)
            if state.plateau_ppl is None and state.epoch > 0:  # written before plateau_ppl existed
                state.plateau_ppl = state.best_valid_ppl
            rng_state = self.rng.bit_generator.state
            if state.rng:
                self.rng.bit_generator.state = state.rng
        except (TypeError, ValueError, KeyError) as exc:
            self.rng.bit_generator.state = rng_state
            raise CheckpointError(f"training progress is malformed ({exc})") from None
        for name, value in ckpt.params.items():
            copy_into(self.model.params[name], value)
        self.state = state
        self.optimizer.load_state_dict(ckpt.optim)
        if self.ema is not None:
            self.ema.load_state_dict(ckpt.optim)
        carried = (
            own_state(ckpt.state, self.shard) if ckpt.state else [None] * len(self.model.cells)
        )
        self.model.set_state(carried)

    # -- the loop ----------------------------------------------------------------------------
    def fit(self) -> TrainState:
        """Train until ``cfg.epochs`` epochs or ``cfg.max_steps`` updates; return the state.

        Reaching ``max_steps`` mid-epoch validates and saves without ending the epoch, so a
        resumed run (with a larger ``max_steps``) goes on from the same position.
        """
        with np.errstate(over="ignore", invalid="ignore"):  # divergence: one error, see below
            return self._fit()

    def _fit(self) -> TrainState:
        cfg, st = self.cfg, self.state
        while st.epoch < cfg.epochs and not self._max_reached() and not self.stopped_early:
            if st.window == 0:
                self.model.reset_state()
            self.model.train(True)
            self._train_windows()
            if self._stop and not self._max_reached():  # (at --max-steps: validate first, as
                self._save("last")  # below, or a resume would find nothing left to validate)
                return st
            if st.window < self.windows_per_epoch:  # max_steps reached mid-epoch
                self._validate(end_of_epoch=False)
                break
            self._validate(end_of_epoch=True)
            if self.ranks.agree_stop(self._stop_requested):  # asked to stop while validating:
                break  # last.npz was just written
        st.finished = st.epoch >= cfg.epochs or self.stopped_early
        return st

    @property
    def stopped_early(self) -> bool:
        """Validation has not improved for ``patience`` epochs in a row."""
        return bool(self.cfg.patience) and self.state.stale_epochs >= self.cfg.patience

    def _max_reached(self) -> bool:
        return bool(self.cfg.max_steps) and self.state.step >= self.cfg.max_steps

    def step(self, xs: np.ndarray, ts: np.ndarray) -> tuple[float, float]:
        """One update on the window ``xs``, ``ts`` (N, T) ids -> (loss, gradient norm).

        Forward, divergence check, backward, clipping, the optimizer's update and the weight
        average (``--ema``). A NaN, infinite or absurd loss or gradient norm raises
        ``TrainingDivergedError`` before the weights move.
        """
        cfg, model, step = self.cfg, self.model, self.state.step + 1
        xs, ts = to_device(xs, model.device), to_device(ts, model.device)
        loss = model.forward(xs, ts)
        queued = is_device_array(loss)  # on a GPU: read once backward is queued behind it
        if not queued:
            self._check_loss(loss, step)
        model.backward()
        if queued:
            loss = float(loss)
            self._check_loss(loss, step)
        if self.ranks.active:  # the mean gradient over all ranks' streams
            loss = self.ranks.reduce(model, loss, self._stop_requested, self._last_save)
        # the gradient of the loss summed over T is T x the mean's; the optimizer applies
        # that factor and the clipping in its update (optim.clip_scale)
        factor = LOSSES[cfg.loss](ts.shape[1])
        rows = model.grad_rows  # untied embedding: only the rows this window touched
        norm, scale = clip_scale(model.grads, cfg.clip, factor, rows)
        if not math.isfinite(norm):
            raise TrainingDivergedError(
                f"gradient norm became {norm} at step {step} (lr {self.optimizer.lr:g}); "
                "stopped without saving; try a smaller --lr or --clip"
            )
        self.optimizer.step(model.params, model.grads, scale, rows)
        if self.ema is not None:
            self.ema.update(model.params)
        return loss, norm

    def _check_loss(self, loss: float, step: int) -> None:
        """``TrainingDivergedError`` for a NaN, infinite or absurd loss at ``step``."""
        if diverged(loss):
            hint = (  # the first forward comes before any update: the initial weights
                "the initial weights are too large; try a smaller --init-scale"
                if step == 1
                else "try a smaller --lr or --clip"
            )
            raise TrainingDivergedError(
                f"loss became {loss} at step {step} (lr {self.optimizer.lr:g}); "
                f"stopped without saving; {hint}"
            )

    def _train_windows(self) -> None:
        """Run the rest of the current epoch, or up to ``max_steps`` or a stop request."""
        cfg, st = self.cfg, self.state
        for xs, ts in windows(self.inputs, self.targets, cfg.bptt, start=st.window):
            t0 = time.perf_counter()
            loss, norm = self.step(xs, ts)
            dt = time.perf_counter() - t0
            st.window += 1
            st.step += 1
            st.epoch_nll += loss * ts.size
            st.epoch_tokens += ts.size
            st.epoch_seconds += dt
            st.tokens_seen += ts.size
            st.seconds += dt
            self._report_step(loss, norm)
            if self._max_reached() or self._stop:
                return
            if self._save_due():
                self._save("last")

    def _report_step(self, loss: float, norm: float) -> None:
        """``on_step``, and every ``log_every`` steps a line in the run's metrics."""
        cfg, st = self.cfg, self.state
        if self.on_step:
            self.on_step(
                StepReport(
                    epoch=st.epoch + 1,
                    window=st.window,
                    windows=self.windows_per_epoch,
                    step=st.step,
                    loss=loss,
                    lr=self.optimizer.lr,
                    grad_norm=norm,
                    tokens_per_s=st.epoch_tokens / max(st.epoch_seconds, 1e-9),
                    epoch_seconds=st.epoch_seconds,
                )
            )
        if self.run and cfg.log_every and st.step % cfg.log_every == 0:
            record = {"kind": "step", "epoch": st.epoch + 1, "step": st.step, "loss": loss,
                      "lr": self.optimizer.lr, "grad_norm": norm,
                      "tokens_seen": st.tokens_seen, "wall_seconds": st.seconds}  # fmt: skip
            self.run.log(record)

    def _validate(self, end_of_epoch: bool) -> None:
        """Validate, save best/last and log; at an epoch's end also step the lr schedule.

        Only end-of-epoch results drive the schedule (``plateau_ppl``), so stopping and
        resuming mid-epoch trains exactly as an uninterrupted run does.
        """
        st = self.state
        valid = self._valid_loss()
        ppl = valid.perplexity
        improved = st.best_valid_ppl is None or ppl < st.best_valid_ppl
        if improved:
            st.best_valid_ppl = ppl
        lr_used = self.optimizer.lr
        if end_of_epoch:  # epoch ends only (not a --max-steps stop), so a resume changes nothing
            self.optimizer.lr = schedule.end_of_epoch(st, ppl, self.cfg, self.optimizer.lr)
        report = self._epoch_report(valid, lr_used, improved, end_of_epoch)
        if end_of_epoch:
            st.epoch += 1
            st.window = 0
            st.epoch_nll, st.epoch_tokens, st.epoch_seconds = 0.0, 0, 0.0
            self.model.reset_state()
        log_failed = None
        if self.run:  # logged first: a crash before the saves below loses no record, and
            try:  # the resume drops it (RunDir.truncate_metrics)
                self.run.log(report.record())
            except CheckpointError as exc:  # the weights matter more: save them, then raise
                log_failed = exc
        if improved:
            with self._averaged():  # best.npz holds the weights just validated
                self._save("best", resumable=False)
        self._save("last")
        if log_failed is not None:
            raise log_failed
        if self.on_epoch:
            self.on_epoch(report)

    def _valid_loss(self) -> EvalResult:
        """The validation split scored with the averaged weights (``--ema``) or the model's own,
        the training state carried on untouched; a diverged loss raises."""
        cfg, st = self.cfg, self.state
        t0 = time.perf_counter()
        carried = self.model.get_state()
        with self._averaged():
            args = (self.valid_ids, cfg.eval_batch_size, cfg.eval_bptt, self.on_eval)
            if not self.ranks.active:
                valid = evaluate(self.model, *args)
            else:  # the same result on every rank
                valid = shared_evaluate(self.ranks.comm, self.model, *args)
        self.model.set_state(carried)
        st.seconds += time.perf_counter() - t0
        if diverged(valid.loss):
            raise TrainingDivergedError(
                f"validation loss became {valid.loss} at step {st.step}; stopped without saving; "
                "try a smaller --lr or --clip"
            )
        return valid

    def _epoch_report(
        self, valid: EvalResult, lr_used: float, improved: bool, end_of_epoch: bool
    ) -> EpochReport:
        st = self.state
        train_loss = st.epoch_nll / max(st.epoch_tokens, 1)
        return EpochReport(
            epoch=st.epoch + 1,
            step=st.step,
            train_loss=train_loss,
            train_ppl=math.exp(min(train_loss, 700.0)),
            valid_loss=valid.loss,
            valid_ppl=valid.perplexity,
            lr=lr_used,
            tokens_per_s=st.epoch_tokens / max(st.epoch_seconds, 1e-9),
            seconds=st.epoch_seconds,
            best_valid_ppl=st.best_valid_ppl,
            improved=improved,
            partial=not end_of_epoch,
            tokens_seen=st.tokens_seen,
            wall_seconds=st.seconds,
            **valid_comparable(valid.nll, self.valid_counts),  # bits/char, word ppl
        )

    def _save_due(self) -> bool:
        """Periodic ``last.npz``: every ``save_every`` steps, or every few minutes if 0."""
        if self.cfg.save_every:
            return self.state.step % self.cfg.save_every == 0
        if self.ranks.active:  # rank 0's clock, as agreed in the step just taken
            return self.ranks.clock_due
        return time.monotonic() - self._last_save >= SAVE_SECONDS

    def _save(self, which: str, resumable: bool = True) -> None:
        if which == "last":
            self._last_save = time.monotonic()
        if self.ranks.active:  # every rank: check, gather; rank 0 writes; all wait for it
            check_same(self.ranks.comm, self.model.params)
            ckpt = self.checkpoint(resumable)
            if self.run:
                self.run.save(which, ckpt)
            self.ranks.barrier()
        elif self.run:
            self.run.save(which, self.checkpoint(resumable))
