"""Callbacks of training: those `fine_tune` adds to each phase, and the epoch clock of `kerastl train`."""

import contextlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf

from kerastl._keras import keras
from kerastl.errors import TrainingError
from kerastl.tasks.thresholds import tuned_macro_f1

logger = logging.getLogger("kerastl.training.workflow")


def duration(seconds: float) -> str:
    """"12.3 s", or "3 min 4 s" from two minutes on."""
    return f"{seconds:.1f} s" if seconds < 120 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


class BestEpoch(keras.callbacks.Callback):
    """Keep the weights of the epoch of highest validation `monitor` (accuracy; a regressor's
    Spearman), the lowest validation loss among equals; `restore()` puts them back after training
    when a later epoch was worse.

    Args:
        store: where a resumable run keeps the best epoch across restarts (`save(model, values, record)`,
            `load(model)`, `record()`), or None to keep it in memory only.
        monitor: the epoch log, higher is better, that ranks the epochs.
    """

    def __init__(self, store=None, monitor: str = "val_accuracy"):
        super().__init__()
        self.store = store
        self.monitor = monitor
        self.best = store.record() if store else None  # {"epoch", monitor, "val_loss"}
        self.weights = None
        self.last_epoch = None

    def _rank(self, record) -> tuple:
        value = record.get(self.monitor, float("nan"))
        return (value if math.isfinite(value) else -math.inf), -record["val_loss"]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs or "val_loss" not in logs:
            return
        self.last_epoch = epoch
        record = {"epoch": epoch, self.monitor: float(logs[self.monitor]), "val_loss": float(logs["val_loss"])}
        if self.best is None or self._rank(record) > self._rank(self.best):
            self.best = record
            self.weights = self.model.get_weights()
            if self.store:
                self.store.save(self.model, self.weights, record)

    def restore(self) -> Optional[dict]:
        """Load the best epoch's weights if it was not the last; returns its record, or None."""
        if self.best is None or self.last_epoch is None or self.best["epoch"] == self.last_epoch:
            return None
        if self.weights is not None:
            self.model.set_weights(self.weights)
        elif self.store:
            self.store.load(self.model)
        else:
            return None
        return self.best


class StopOnNaN(keras.callbacks.Callback):
    """Stop training at the first batch whose loss is NaN or infinite; `check` then raises."""

    def __init__(self):
        super().__init__()
        self.bad_batch = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.bad_batch = batch
            self.model.stop_training = True

    def check(self, phase: str, learning_rate: float) -> None:
        if self.bad_batch is not None:
            batch, self.bad_batch = self.bad_batch, None
            raise TrainingError(
                f"{phase}: the loss became NaN at batch {batch}, so training stopped. Likely causes: "
                f"a learning rate too high ({learning_rate:g}; try 10x lower) or float16 overflow "
                f"(try --precision float32)"
            )


class FirstStepNotice(keras.callbacks.Callback):
    """Log how long the first training step took: it includes compiling the training graph."""

    def __init__(self, phase: str):
        super().__init__()
        self.phase = phase
        self.started = None

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.started is not None:
            logger.info("%s: compiled; the first step took %s", self.phase,
                        duration(time.perf_counter() - self.started))
            self.started = None


class PhaseColumn(keras.callbacks.Callback):
    """Put `phase` (1 or 2) into the epoch logs the following callbacks see; `None` takes it out.

    `fine_tune` brackets the user's callbacks with a pair, so a `CSVLogger` gets a phase column
    while kerastl's history and Keras' progress bar stay as they were.
    """

    def __init__(self, phase: Optional[int]):
        super().__init__()
        self.phase = phase

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self.phase is None:
            logs.pop("phase", None)
        else:
            logs["phase"] = self.phase


class EpochClock(keras.callbacks.Callback):
    """Seconds since `start` (a `time.perf_counter()` reading) at the end of each epoch, validation
    included, by phase: `seconds["head"]` and `seconds["fine_tune"]`.

    Give it to `fine_tune` among `callbacks`, which tell it the phase; `kerastl train` reports
    these times, so a run says when it first reached an accuracy, not only when it ended.
    """

    def __init__(self, start: float):
        super().__init__()
        self.start = start
        self.seconds = {"head": [], "fine_tune": []}

    def on_epoch_end(self, epoch, logs=None):
        phase = "head" if (logs or {}).get("phase") == 1 else "fine_tune"
        self.seconds[phase].append(round(time.perf_counter() - self.start, 1))


@contextlib.contextmanager
def appending_csv_loggers(callbacks, *, enabled: bool):
    """Within the block, `CSVLogger`s among `callbacks` append to their file (after the first
    phase, so that the second does not overwrite it); their own setting is restored after."""
    loggers = [c for c in callbacks if isinstance(c, keras.callbacks.CSVLogger)] if enabled else []
    before = [c.append for c in loggers]
    for csv_logger in loggers:
        csv_logger.append = True
    try:
        yield
    finally:
        for csv_logger, append in zip(loggers, before):
            csv_logger.append = append


class TensorBoardLog:
    """TensorBoard logs of both phases of `fine_tune` on one axis, as `keras.callbacks.TensorBoard`
    names them: `directory/train` and `directory/validation`.

    Epoch metrics (`epoch_loss`, `epoch_accuracy`, ...; validation ones in `validation/`) are
    written at the epoch number counted across both phases (0-based, as Keras does), so phase 2
    continues where phase 1 stopped; `epoch_phase` (1, then 2) and `epoch_learning_rate` mark
    the boundary. The running metrics of every training step (`batch_loss`, ...) are written
    at the step counted across both phases.

    Args:
        directory: the log folder (created if absent).
        steps_per_epoch: training steps per epoch, the same in both phases.
        write: False on the non-chief workers of a multi-worker run, which write nothing.
    """

    # Step scalars are kept in memory and written at most this often (and at every epoch's end):
    # writing them at every step would cost more than a step on cached [CLS] vectors.
    WRITE_EVERY_S = 20.0

    def __init__(self, directory, steps_per_epoch: int, *, write: bool = True):
        self.directory = Path(directory)
        self.steps_per_epoch = steps_per_epoch
        self.pending = []  # (step, {tag: value}) not written yet
        self.written = time.monotonic()
        self.writers = {}
        if write:
            self.writers = {run: tf.summary.create_file_writer(os.fspath(self.directory / run))
                            for run in ("train", "validation")}
            logger.info("TensorBoard logs go to %s (tensorboard --logdir %s)", self.directory, self.directory)

    def phase(self, number: int, *, first_epoch: int) -> keras.callbacks.Callback:
        """The callback for one phase, whose epoch 0 is `first_epoch` on the common axis."""
        return _TensorBoardPhase(self, number, first_epoch)

    def step_scalars(self, values: dict, step: int) -> None:
        self.pending.append((step, values))
        if time.monotonic() - self.written > self.WRITE_EVERY_S:
            self.flush()

    def scalars(self, run: str, values: dict, step: int) -> None:
        writer = self.writers.get(run)
        if writer is None:
            return
        with writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.scalar(tag, value)

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        for step, values in pending:
            self.scalars("train", values, step)
        for writer in self.writers.values():
            writer.flush()
        self.written = time.monotonic()


class _TensorBoardPhase(keras.callbacks.Callback):
    def __init__(self, board: TensorBoardLog, number: int, first_epoch: int):
        super().__init__()
        self.board = board
        self.number = number
        self.first_epoch = first_epoch
        self.epoch = first_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = self.first_epoch + epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self.epoch * self.board.steps_per_epoch + batch
        self.board.step_scalars({f"batch_{key}": float(value) for key, value in (logs or {}).items()}, step)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {f"epoch_{key}": float(value) for key, value in logs.items() if not key.startswith("val_")}
        train["epoch_phase"] = float(self.number)
        train["epoch_learning_rate"] = float(tf.convert_to_tensor(self.model.optimizer.learning_rate))
        validation = {f"epoch_{key[4:]}": float(value) for key, value in logs.items() if key.startswith("val_")}
        self.board.scalars("train", train, self.epoch)
        self.board.scalars("validation", validation, self.epoch)
        self.board.flush()

    def on_train_end(self, logs=None):
        self.board.flush()


class ValidationCorrelation(keras.callbacks.Callback):
    """Adds `val_spearman` and `val_pearson` to every epoch's logs: the correlations of the model's
    predictions with the validation targets (scipy.stats), for a regressor's best epoch.

    Args:
        encoded: the validation examples, encoded with float targets (n, 1).
        batch_size: texts per forward pass.
    """

    def __init__(self, encoded, batch_size: int):
        super().__init__()
        self.encoded, self.batch_size = encoded, batch_size

    def on_epoch_end(self, epoch, logs=None):
        from scipy import stats

        if logs is None:
            return
        predicted = self.model.predict_logits(self.encoded, batch_size=self.batch_size).numpy().reshape(-1)
        targets = np.asarray(self.encoded.labels, dtype=np.float64).reshape(-1)
        constant = np.ptp(predicted) == 0 or np.ptp(targets) == 0  # no correlation to speak of: 0
        logs["val_spearman"] = 0.0 if constant else float(stats.spearmanr(predicted, targets).statistic)
        logs["val_pearson"] = 0.0 if constant else float(stats.pearsonr(predicted, targets).statistic)


class ValidationMacroF1(keras.callbacks.Callback):
    """Adds `val_macro_f1` to every epoch's logs for a multi-label model's best epoch: the macro F1
    on the validation set with each label's threshold tuned there, as `fine_tune` leaves it.

    Args:
        encoded: the validation examples, encoded with multi-hot targets (n, num_labels).
        batch_size: texts per forward pass.
    """

    def __init__(self, encoded, batch_size: int):
        super().__init__()
        self.encoded, self.batch_size = encoded, batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            probabilities = self.model.predict_logits(self.encoded, batch_size=self.batch_size).numpy()
            logs["val_macro_f1"] = tuned_macro_f1(self.encoded.labels, probabilities)
