"""The two-phase workflow: train the head on a frozen encoder, then fine-tune everything."""

import dataclasses
import hashlib
import logging
import math
from typing import Optional, Sequence

import tensorflow as tf

from kerastl import checkpoints, distribute
from kerastl import data as data_lib
from kerastl._keras import keras
from kerastl.classifier import default_loss, default_metrics
from kerastl.errors import TrainingError

logger = logging.getLogger(__name__)

# Parameters that AdamW leaves out of weight decay (LayerNorm scales and every bias).
NO_DECAY = ("LayerNorm", "layer_norm", "bias")
# XLA compiles the update once per weight shape, some seconds in all; below this many parameters
# (the tiny test encoders) that costs more than it saves.
XLA_MIN_PARAMETERS = 1_000_000


@dataclasses.dataclass
class TrainingConfig:
    """Every number of the two-phase workflow, with defaults that suit base-size encoders.

    Args:
        batch_size: examples per batch in both phases.
        head_epochs: epochs of phase 1, the head alone on the frozen encoder (0 skips it).
        head_learning_rate: Adam learning rate of phase 1.
        epochs: epochs of phase 2, the whole model (0 skips it).
        learning_rate: peak AdamW learning rate of phase 2.
        warmup_ratio: share of phase-2 steps spent warming the learning rate up from 0;
            the rest decays it along a cosine to 0.
        weight_decay: AdamW decoupled weight decay (not on LayerNorm or biases).
        unfreeze_top_k: in phase 2, train only the top k transformer blocks (None: all).
        seed: seed for weight initialisation, dropout and shuffling.
        bucket_by_length: batch training texts of similar length together (less padding).
        cache_head_features: in phase 1, compute the frozen encoder's [CLS] vectors once and
            train the head on them, instead of running the encoder every head epoch. The head
            ends the same either way; only the time differs.
        checkpoint_every: with a checkpoint folder, save resumable state every this many steps.
        xla_optimizer_update: compile phase 2's AdamW update with XLA on every device (Keras
            does so on GPUs only); on CPUs it fuses the dense update of the token-embedding
            table and every other weight into a few passes over memory. `None` turns it on for
            models of `XLA_MIN_PARAMETERS` or more, where it repays its one-off compilation.
    """

    batch_size: int = 32
    head_epochs: int = 2
    head_learning_rate: float = 1e-3
    epochs: int = 3
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    unfreeze_top_k: Optional[int] = None
    seed: Optional[int] = 0
    bucket_by_length: bool = True
    cache_head_features: bool = True
    checkpoint_every: int = 200
    xla_optimizer_update: Optional[bool] = None

    def __post_init__(self):
        for name in ("batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, received {name}={getattr(self, name)}")
        for name in ("head_epochs", "epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, received {name}={getattr(self, name)}")
        for name in ("head_learning_rate", "learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, received {name}={getattr(self, name)}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), received warmup_ratio={self.warmup_ratio}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, received weight_decay={self.weight_decay}")


def fine_tune(
    model,
    train,
    validation=None,
    config: Optional[TrainingConfig] = None,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    checkpoint_dir=None,
    verbose="auto",
    **overrides,
) -> dict:
    """Train `model` in two phases and return the history of both.

    Phase 1 freezes the encoder and trains the head (Adam, `head_learning_rate`). Phase 2
    unfreezes the encoder (all of it, or its top `unfreeze_top_k` blocks) and trains everything
    with AdamW, linear warmup and cosine decay. The model is recompiled at each change of
    `trainable`. Both phases validate every epoch when `validation` is given.

    With `checkpoint_dir`, training can be killed at any moment and resumed: Keras
    `BackupAndRestore` saves each phase every `checkpoint_every` steps, a finished phase is
    saved whole, and calling `fine_tune` again with the same arguments continues from the last
    saved point. Ctrl-C then saves first and raises `TrainingInterrupted`.

    Args:
        model: a `TextClassifier`.
        train: `TextExamples` (or `(texts, labels)`) with the training labels.
        validation: the same for validation, or `None`.
        config: a `TrainingConfig`; keyword `overrides` replace single fields of it.
        callbacks: extra Keras callbacks, given to both phases (in phase 1 with cached
            features they see the head-only model).
        checkpoint_dir: folder for resumable state, or `None` for none. It outlives this
            call, so that a crash while saving the model loses nothing; delete it once the
            model is saved (`kerastl train` does).
        verbose: Keras verbosity.

    Returns:
        `{"head": {metric: [per epoch]}, "fine_tune": {metric: [per epoch]}}`, also kept as
        `model.training_history` and saved with the model.

    Example:
    >>> history = fine_tune(model, train, validation, epochs=2, verbose=0)
    >>> {phase: len(metrics["val_accuracy"]) for phase, metrics in history.items()}
    {'head': 2, 'fine_tune': 2}
    """
    config = dataclasses.replace(config or TrainingConfig(), **overrides)
    train = _as_examples(train, "train")
    validation = _as_examples(validation, "validation") if validation is not None else None
    # The strategy the model was built under (the default one if none): its replicas each take
    # `batch_size` examples of every global batch, and only its chief writes files.
    strategy = model.distribute_strategy
    replicas = strategy.num_replicas_in_sync
    chief = distribute.is_chief(strategy)
    if config.seed is None and distribute.is_multi_worker(strategy):
        raise ValueError("seed=None cannot be used with several workers: each worker shuffles the data "
                         "itself, so they must share a seed; give seed=<int> (--seed)")
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)

    train_data = model.encode(train)
    val_data = model.encode(validation) if validation is not None else None
    batch_size = config.batch_size
    # The training batches repeat without end, an epoch being `steps` of them: one iterator then
    # serves every epoch, on one device as under a strategy, so both see the same batches.
    train_ds = train_data.dataset(batch_size, shuffle=True, seed=config.seed, bucket=config.bucket_by_length,
                                  repeat=True, strategy=strategy)
    val_ds = val_data.dataset(batch_size, strategy=strategy) if val_data is not None else None
    steps = data_lib.steps_per_epoch(len(train_data), batch_size * replicas)
    fit_steps = {"steps_per_epoch": steps}
    if replicas > 1 and val_data is not None:  # a distributed dataset always repeats
        fit_steps["validation_steps"] = data_lib.steps_per_epoch(len(val_data), batch_size * replicas)
    state = None
    if checkpoint_dir is not None:
        state = checkpoints.TrainingState(checkpoint_dir, _fingerprint(model, train, validation, config),
                                          write=chief)
    guard = StopOnNaN()
    history = {"head": {}, "fine_tune": {}}

    def run_phase(phase, fit_model, data, val, epochs, learning_rate):
        if replicas > 1:  # every replica holds the reduced metrics; Keras would sum them per batch
            fit_model.distribute_reduction_method = "first"
        log = checkpoints.EpochLog(state.epoch_log(phase) if state else None, write=chief)
        extra = state.callbacks(phase, config.checkpoint_every) if state else []
        # Ctrl-C reaches one worker only, whose lone backup would wait for the others forever.
        with checkpoints.graceful_interrupts(enabled=state is not None and not distribute.is_multi_worker(strategy)):
            fit_model.fit(data, validation_data=val, epochs=epochs, verbose=verbose,
                          callbacks=[guard, log, *extra, *callbacks], **fit_steps)
        guard.check(PHASE_NAMES[phase], learning_rate)
        history[phase] = log.history()
        if state:
            state.finish(phase, model, history[phase])

    if config.head_epochs:
        model.freeze_backbone()
        if state and state.finished("head"):
            history["head"] = state.restore("head", model)
            logger.info("phase 1: already done, restored from %s", state.directory)
        else:
            logger.info("phase 1: head only, %d epochs, encoder frozen", config.head_epochs)
            if config.cache_head_features:
                head_ds, head_val_ds = _cached_feature_batches(model, train_data, val_data, config, verbose)
                with strategy.scope():
                    head_model = _head_model(model)
                    head_model.compile(optimizer=keras.optimizers.Adam(config.head_learning_rate),
                                       loss=default_loss(), metrics=default_metrics())
                run_phase("head", head_model, head_ds, head_val_ds, config.head_epochs,
                          config.head_learning_rate)
            else:
                with strategy.scope():
                    model.compile(optimizer=keras.optimizers.Adam(config.head_learning_rate))
                run_phase("head", model, train_ds, val_ds, config.head_epochs, config.head_learning_rate)

    if config.epochs:
        model.unfreeze_backbone(config.unfreeze_top_k)
        xla = config.xla_optimizer_update
        if xla is None:
            xla = model.count_params() >= XLA_MIN_PARAMETERS
        with strategy.scope():
            model.compile(optimizer=phase_two_optimizer(config, steps * config.epochs, xla=xla))
        if state and state.finished("fine_tune"):
            history["fine_tune"] = state.restore("fine_tune", model)
            logger.info("phase 2: already done, restored from %s", state.directory)
        else:
            logger.info("phase 2: fine-tuning, %d epochs", config.epochs)
            run_phase("fine_tune", model, train_ds, val_ds, config.epochs, config.learning_rate)

    model.training_history = history
    return history


PHASE_NAMES = {"head": "phase 1 (head)", "fine_tune": "phase 2 (fine-tuning)"}


def _fingerprint(model, train, validation, config) -> dict:
    """What must match for a rerun to resume a run: model, data and every training number."""
    digest = hashlib.sha256()
    for examples in (train, validation):
        if examples is not None:
            for text, label in zip(examples.texts, examples.labels):
                digest.update(f"{text}\x1f{label}\x1e".encode("utf-8", "surrogatepass"))
    return {"model": model.get_config(), "data": digest.hexdigest(), "config": dataclasses.asdict(config),
            "replicas": model.distribute_strategy.num_replicas_in_sync}


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


def _cached_feature_batches(model, train_data, val_data, config, verbose):
    """Training and validation batches of the frozen encoder's [CLS] vectors, computed once.

    The batches are the same index batches, in the same order, as the token batches of the full
    model would be, so the head sees exactly what it would see on the live encoder. Under a
    strategy every worker computes the vectors of all examples, then takes its replicas' parts.
    """
    logger.info("phase 1: computing the frozen encoder's [CLS] vectors once")

    def cached(data, training):
        features = model.pooled_features(data, batch_size=max(config.batch_size, 64), verbose=verbose)  # (n, dim)
        labels = data.labels

        def gather(index):
            return tf.gather(features, index), tf.gather(labels, index)

        return data.batches(gather, config.batch_size, shuffle=training, seed=config.seed,
                            bucket=config.bucket_by_length, repeat=training, strategy=model.distribute_strategy)

    return cached(train_data, training=True), cached(val_data, training=False) if val_data is not None else None


def _head_model(model):
    """A Keras model of `model`'s head alone, on a pooled-vector input (shares the head's weights)."""
    pooled = keras.Input(shape=(model.backbone.config.hidden_size,), name="pooled")
    return keras.Model(pooled, model.head(pooled), name="head_on_cached_features")


def phase_two_optimizer(config: TrainingConfig, total_steps: int, *, xla: bool = True) -> keras.optimizers.Optimizer:
    """AdamW with linear warmup to `learning_rate`, then cosine decay to 0 over `total_steps`;
    its update compiled with XLA if `xla`."""
    warmup = int(config.warmup_ratio * total_steps)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=max(total_steps - warmup, 1),
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
    if xla:
        optimizer.jit_compile = True  # read at each apply_gradients; Keras sets it only for GPUs
    return optimizer


def _as_examples(value, name):
    if isinstance(value, data_lib.TextExamples):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        return data_lib.TextExamples(value[0], value[1], source=name)
    raise TypeError(
        f"{name} must be TextExamples or a (texts, labels) tuple, received {type(value).__name__}"
    )


