"""Resumable training state: a run killed at any moment continues where it was saved.

Within a phase, Keras `BackupAndRestore` saves weights, optimizer state and the epoch and step
counters every N steps. A finished phase is saved whole (weights and history), so a rerun skips
it. Every file is written beside its final name and renamed into place.
"""

import contextlib
import json
import logging
import os
import shutil
import signal
import threading
from pathlib import Path

import numpy as np

from kerastl import distribute
from kerastl._files import write_text_atomic
from kerastl._keras import BACKUP_AND_RESTORE_KWARGS, back_up_now, by_keras, keras
from kerastl.errors import TrainingError, TrainingInterrupted

logger = logging.getLogger(__name__)

_interrupt = threading.Event()


class TrainingState:
    """The resumable state of one training run, in `directory`.

    Args:
        directory: the folder to keep the state in (created if absent).
        fingerprint: JSON data that identifies the run (model, data, settings); a folder that
            holds another run's state is refused rather than mixed in.
        write: False on the non-chief workers of a multi-worker run: they read the state the
            chief writes (the folder must be on storage they share) and keep nothing.
    """

    FINGERPRINT = "run.json"

    def __init__(self, directory, fingerprint: dict, *, write: bool = True):
        self.directory = Path(directory)
        self.write = write
        fingerprint = json.loads(json.dumps(fingerprint))  # tuples -> lists, as read back
        saved = self.directory / self.FINGERPRINT
        if saved.is_file():
            if json.loads(saved.read_text()) != fingerprint:
                raise TrainingError(
                    f"{self.directory} holds the resumable state of a different run (other data, "
                    f"model or settings): rerun with the same arguments, or delete that folder"
                )
            logger.info("resuming from %s", self.directory)
        elif write:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_text_atomic(saved, json.dumps(fingerprint))

    def epoch_log(self, phase: str) -> Path:
        return self.directory / f"{phase}.epochs.json"

    def callbacks(self, phase: str, every: int) -> list:
        return [ResumableBackup(str(self.directory / phase), phase=phase, save_freq=every)]

    def finished(self, phase: str) -> bool:
        return (self.directory / f"{phase}.done.json").is_file()

    def finish(self, phase: str, model, history: dict) -> None:
        """Save the model after `phase` and its history; a rerun then skips the phase."""
        weights = self.directory / f"{phase}.weights.h5"
        if not distribute.chief_or_discard(model.distribute_strategy,
                                           lambda folder: model.save_weights(os.path.join(folder, weights.name))):
            return
        staging = weights.with_name(f".staging-{weights.name}")  # same suffix: same Keras format
        model.save_weights(str(staging))
        os.replace(staging, weights)
        write_text_atomic(self.directory / f"{phase}.done.json", json.dumps(history))
        shutil.rmtree(self.directory / phase, ignore_errors=True)  # its step backups are spent

    def best_epoch(self, phase: str) -> "BestEpochStore":
        """Where `phase` keeps its best epoch's weights, across restarts."""
        return BestEpochStore(self.directory, phase, write=self.write)

    def restore(self, phase: str, model) -> dict:
        """Load the weights saved after `phase`; returns that phase's history."""
        model.load_weights(str(self.directory / f"{phase}.weights.h5"))
        return json.loads((self.directory / f"{phase}.done.json").read_text())


class BestEpochStore:
    """The weights and scores of a phase's best epoch so far, in the state folder.

    The weights are the model's own (`model.get_weights()`, in `model.weights` order) in a NumPy
    `.npz` file, never a Keras weights file: that would also hold the compiled metrics' state,
    which tf-keras cannot load back under several replicas.
    """

    def __init__(self, directory: Path, phase: str, *, write: bool = True):
        self.weights = Path(directory) / f"{phase}.best.npz"
        self.scores = Path(directory) / f"{phase}.best.json"
        self.earlier_weights = Path(directory) / f"{phase}.best.weights.h5"  # kerastl before 0.3.1
        self.write = write

    def record(self):
        """`{"epoch", "val_accuracy", "val_loss"}` of the best epoch so far, or None."""
        if not self.scores.is_file():
            return None
        record = json.loads(self.scores.read_text())
        record.pop("weights", None)
        return record

    def save(self, model, values: list, record: dict) -> None:
        """Keep `values` (the model's weights, read on every worker) and `record` (chief only)."""
        if not self.write or not distribute.is_chief(model.distribute_strategy):
            return
        staging = self.weights.with_name(f".staging-{self.weights.name}")
        with open(staging, "wb") as file:
            np.savez(file, *values)
        os.replace(staging, self.weights)
        write_text_atomic(self.scores, json.dumps({**record, "weights": _weight_names(model)}))

    def load(self, model) -> None:
        names = json.loads(self.scores.read_text()).get("weights")
        if names is None and self.earlier_weights.is_file():  # a run begun by an earlier kerastl
            model.load_weights(str(self.earlier_weights))
            return
        if names != _weight_names(model):
            raise TrainingError(
                f"{self.weights} holds the best epoch of a different model ({len(names or [])} weights, "
                f"this one has {len(model.weights)}); resume with the model that wrote it, or start "
                f"over in a new state folder."
            )
        with np.load(self.weights) as stored:
            model.set_weights([stored[f"arr_{i}"] for i in range(len(names))])


def _weight_names(model) -> list:
    return [getattr(v, "path", None) or v.name for v in model.weights]


class EpochLog(keras.callbacks.Callback):
    """Per-epoch logs of one phase, kept across resumed runs when given a file (written if `write`)."""

    def __init__(self, path=None, *, write: bool = True):
        super().__init__()
        self.path = Path(path) if path else None
        self.write = write
        self.epochs = json.loads(self.path.read_text()) if self.path and self.path.is_file() else {}

    def on_epoch_end(self, epoch, logs=None):
        self.epochs[str(epoch)] = {key: float(value) for key, value in (logs or {}).items()}
        if self.path and self.write:
            write_text_atomic(self.path, json.dumps(self.epochs))

    def history(self) -> dict:
        """`{metric: [value per epoch]}` in epoch order, like `keras.callbacks.History`."""
        result = {}
        for epoch in sorted(self.epochs, key=int):
            for key, value in self.epochs[epoch].items():
                result.setdefault(key, []).append(value)
        return result


class _ChiefSavesBackup:
    """Keras 3's `BackupAndRestore` saves from every worker to the same files: a non-chief saves
    into a folder of its own that is then deleted (saving can run collective ops)."""

    def _save_model(self):
        def save(folder):
            self.model.save_weights(os.path.join(folder, "backup.weights.h5"))

        if distribute.chief_or_discard(self.model.distribute_strategy, save):
            super()._save_model()


class ResumableBackup(*by_keras(keras2=(), keras3=(_ChiefSavesBackup,)), keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that, on Ctrl-C, backs up at the end of the current step and stops."""

    def __init__(self, backup_dir: str, *, phase: str, save_freq: int):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=False, **BACKUP_AND_RESTORE_KWARGS)
        self.phase = phase
        self.backup_dir_path = Path(backup_dir)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if _interrupt.is_set():
            back_up_now(self, epoch=self._current_epoch, batch=batch)
            raise TrainingInterrupted(
                f"interrupted in {self.phase}, epoch {self._current_epoch + 1}, step {batch + 1}; "
                f"progress is saved in {self.backup_dir_path.parent}: run the same command again to resume"
            )


@contextlib.contextmanager
def graceful_interrupts(enabled: bool = True):
    """Within the block, the first Ctrl-C asks `ResumableBackup` to save and stop; a second one
    interrupts at once."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum, frame):
        if _interrupt.is_set():
            raise KeyboardInterrupt
        _interrupt.set()
        logger.warning("Ctrl-C: saving at the end of this step (press again to stop at once)")

    _interrupt.clear()
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _interrupt.clear()
