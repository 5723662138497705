"""The two-phase workflow: train the head on a frozen encoder, then fine-tune everything."""

import dataclasses
import hashlib
import logging
import time
from typing import Optional, Sequence

import tensorflow as tf

from kerastl import distribute
from kerastl._keras import OPTIMIZER_XLA_SWITCH, QUIET_SHUFFLE_KWARGS, DistributedModel, check_same_keras, keras
from kerastl._logging import progress_verbosity
from kerastl.config import MULTI_LABEL_SEP, POOLED_NAMES, TrainingConfig
from kerastl.data import batching as data_lib
from kerastl.data.label_sets import kept_separator
from kerastl.data.text_examples import as_examples
from kerastl.training import resume as checkpoints
from kerastl.training.callbacks import (
    BestEpoch,
    FirstStepNotice,
    PhaseColumn,
    StopOnNaN,
    TensorBoardLog,
    ValidationCorrelation,
    ValidationMacroF1,
    appending_csv_loggers,
    duration,
)
from kerastl.training.optimizers import AdamW, layer_multipliers

logger = logging.getLogger(__name__)

# Parameters that AdamW leaves out of weight decay (LayerNorm scales and every bias).
# XLA compiles the update once per weight shape, some seconds in all; below this many parameters
# (the tiny test encoders) that costs more than it saves.
XLA_MIN_PARAMETERS = 1_000_000


def fine_tune(
    model,
    train,
    validation=None,
    config: Optional[TrainingConfig] = None,
    *,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    checkpoint_dir=None,
    tensorboard=None,
    verbose="auto",
    optimizer=None,
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

    Progress goes to the `kerastl` logger on stderr (phase headings, the [CLS] pass, phase 2's
    first step, which compiles the model and may take a while) and to Keras' progress bars;
    `logging.getLogger("kerastl").setLevel(logging.WARNING)` keeps only warnings.

    Args:
        model: a `TextClassifier`, or a `TextRegressor` (phase 1 trains its head with mean squared
            error, and phase 2 keeps its epoch of best validation Spearman).
        train: labelled training examples: anything `kerastl.as_examples` accepts with
            labels (`(texts, labels)`, a data file, a DataFrame, a `datasets.Dataset`,
            `TextExamples` ...).
        validation: the same for validation, or `None`.
        config: a `TrainingConfig`; keyword `overrides` replace single fields of it.
        callbacks: extra Keras callbacks, given to both phases (in phase 1 with cached
            features they see the head-only model). Their epoch logs carry `phase` (1 or 2),
            and a `keras.callbacks.CSVLogger` keeps the rows of both phases (it appends in
            phase 2), each phase counting its epochs from 0.
        checkpoint_dir: folder for resumable state, or `None` for none. It outlives this
            call, so that a crash while saving the model loses nothing; delete it once the
            model is saved (`kerastl train` does).
        tensorboard: a folder for TensorBoard logs of both phases on one axis, or `None`.
            `tensorboard/train` and `tensorboard/validation` hold the epoch metrics
            (`epoch_loss`, `epoch_accuracy`) at the epoch counted across both phases, the
            training step's (`batch_loss`, ...) at the step counted across both phases, and
            `epoch_phase` (1, then 2) and `epoch_learning_rate`, which mark the boundary.
        optimizer: phase 2's optimizer instead of kerastl's AdamW with warmup and cosine decay
            (`learning_rate`, `warmup_ratio`, `weight_decay` and `layer_lr_decay` then do not
            apply): an optimizer of the selected Keras (`kerastl.keras.optimizers`), or a
            callable taking phase 2's number of steps and returning one, called under the
            model's distribution strategy (give a callable when training under one, or to build
            a schedule for the steps). Phase 1 keeps its Adam.
        verbose: Keras verbosity: `"auto"` (a progress bar where stdout is a terminal, else one
            line per epoch), 0 (silent), 1 (a progress bar) or 2 (one line per epoch); log
            lines are not affected.

    Returns:
        `{"head": {metric: [per epoch]}, "fine_tune": {metric: [per epoch]}}`, also kept as
        `model.training_history` and saved with the model.

    Example:
    >>> history = fine_tune(model, train, validation, epochs=2, verbose=0)
    >>> {phase: len(metrics["val_accuracy"]) for phase, metrics in history.items()}
    {'head': 2, 'fine_tune': 2}
    """
    config = dataclasses.replace(config or TrainingConfig.for_task(getattr(model, "task", None)), **overrides)
    verbose = progress_verbosity(verbose)  # "auto": no bar where stdout is a file or a pipe
    if optimizer is not None and (_is_optimizer(optimizer) or not callable(optimizer)):
        _check_optimizer(optimizer)  # before phase 1 spends its time
    task = getattr(model, "task", None)  # a regressor reads its targets as scores
    sep = getattr(model, "label_sep", MULTI_LABEL_SEP)  # a multi-label model's separator of names
    train = as_examples(train, labelled=True, what="fine_tune(train)", task=task, label_sep=sep)
    if validation is not None:
        validation = as_examples(validation, labelled=True, what="fine_tune(validation)", task=task, label_sep=sep)
    if task == "multi_label":  # a separator chosen on reading the training fields is the model's from now on
        model.label_sep = kept_separator(sep, train.labels)
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
    if hasattr(model, "prepare_targets"):  # a regressor takes its target scaling here, once
        model.prepare_targets(train_data.labels)
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
    board = TensorBoardLog(tensorboard, steps, write=chief) if tensorboard is not None else None
    ran = []  # the phases fit() ran in this call, in order

    def run_phase(phase, fit_model, data, val, epochs, learning_rate):
        if replicas > 1:  # every replica holds the reduced metrics; Keras would sum them per batch
            fit_model.distribute_reduction_method = "first"
        log = checkpoints.EpochLog(state.epoch_log(phase) if state else None, write=chief)
        extra = state.callbacks(phase, config.checkpoint_every) if state else []
        number = PHASE_NUMBERS[phase]
        if board is not None:
            extra.append(board.phase(number, first_epoch=config.head_epochs if phase == "fine_tune" else 0))
        best = None
        if phase == "fine_tune":
            extra.append(FirstStepNotice(PHASE_NAMES[phase]))
            if config.restore_best_epoch and val is not None:
                monitor = getattr(model, "best_epoch_metric", "val_accuracy")
                if monitor == "val_spearman":  # computed on the validation set, before the log keeps it
                    extra.insert(0, ValidationCorrelation(val_data, max(config.batch_size, 64)))
                if monitor == "val_macro_f1":  # multi-label: macro F1 at thresholds tuned on validation
                    extra.insert(0, ValidationMacroF1(val_data, max(config.batch_size, 64)))
                best = BestEpoch(state.best_epoch(phase) if state else None, monitor=monitor)
                extra.append(best)
        tagged = [PhaseColumn(number), *callbacks, PhaseColumn(None)]  # only the user's callbacks see it
        started = time.perf_counter()
        # Ctrl-C reaches one worker only, whose lone backup would wait for the others forever.
        with (checkpoints.graceful_interrupts(enabled=state is not None and not distribute.is_multi_worker(strategy)),
              appending_csv_loggers(callbacks, enabled=bool(ran))):
            first = [c for c in extra if isinstance(c, (ValidationCorrelation, ValidationMacroF1))]  # logged
            fit_model.fit(data, validation_data=val, epochs=epochs, verbose=verbose, **QUIET_SHUFFLE_KWARGS,
                          callbacks=[*first, guard, log, *[c for c in extra if c not in first], *tagged],
                          **fit_steps)
        ran.append(phase)
        guard.check(PHASE_NAMES[phase], learning_rate)
        history[phase] = log.history()
        restored = best.restore() if best is not None else None
        if restored is not None:
            metric = best.monitor
            logger.info("%s: restored epoch %d of %d, the best on validation (%s %.4f, loss %.4f)",
                        PHASE_NAMES[phase], restored["epoch"] + 1, epochs, metric[len("val_"):],
                        restored[metric], restored["val_loss"])
        logger.info("%s: done in %s%s", PHASE_NAMES[phase], duration(time.perf_counter() - started),
                    _last_epoch(history[phase]))
        if state:
            state.finish(phase, model, history[phase])

    if config.head_epochs:
        model.freeze_backbone()
        if state and state.finished("head"):
            history["head"] = state.restore("head", model)
            logger.info("phase 1: already done, restored from %s", state.directory)
        else:
            logger.info("phase 1: training the head on the frozen encoder, %s of %d steps (Adam, learning "
                        "rate %g)", _plural(config.head_epochs, "epoch"), steps, config.head_learning_rate)
            if config.cache_head_features:
                head_ds, head_val_ds = _cached_feature_batches(model, train_data, val_data, config, verbose)
                with strategy.scope():
                    head_model = _head_model(model)
                    defaults = model.default_compile()  # the task's loss and metrics
                    head_model.compile(optimizer=keras.optimizers.Adam(config.head_learning_rate),
                                       loss=defaults["loss"], metrics=defaults["metrics"])
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
        xla = xla and OPTIMIZER_XLA_SWITCH  # Keras 3's optimizers have no XLA switch of their own
        own_optimizer = optimizer
        with strategy.scope():
            if own_optimizer is None:
                multipliers = (layer_multipliers(model.encoder, config.layer_lr_decay)
                               if config.layer_lr_decay < 1 else ())
                optimizer = phase_two_optimizer(config, steps * config.epochs, no_decay=model.encoder.no_decay_names,
                                                xla=xla, multipliers=multipliers)
            else:
                xla = False
                optimizer = own_optimizer if _is_optimizer(own_optimizer) else own_optimizer(steps * config.epochs)
                _check_optimizer(optimizer)
            model.compile(optimizer=optimizer)
        if state and state.finished("fine_tune"):
            history["fine_tune"] = state.restore("fine_tune", model)
            logger.info("phase 2: already done, restored from %s", state.directory)
        else:
            what = "the whole model" if config.unfreeze_top_k is None else (
                f"the top {_plural(config.unfreeze_top_k, 'block')} of the encoder and the head")
            decay = f", x{config.layer_lr_decay:g} per block down" if config.layer_lr_decay < 1 else ""
            if own_optimizer is None:
                logger.info("phase 2: fine-tuning %s, %s of %d steps (AdamW, peak learning rate %g%s, %g%% warmup)",
                            what, _plural(config.epochs, "epoch"), steps, config.learning_rate, decay,
                            100 * config.warmup_ratio)
            else:
                logger.info("phase 2: fine-tuning %s, %s of %d steps (the optimizer given: %s)",
                            what, _plural(config.epochs, "epoch"), steps, type(optimizer).__name__)
            logger.info("phase 2: the first step compiles the model for training%s and may take a while",
                        " (the optimizer update with XLA)" if xla else "")
            run_phase("fine_tune", model, train_ds, val_ds, config.epochs, config.learning_rate)

    if val_data is not None and hasattr(model, "tune_thresholds"):  # multi-label: each label's best F1
        tuned = model.tune_thresholds(val_data, batch_size=max(config.batch_size, 64))
        logger.info("thresholds tuned on validation, each label's best F1: %s",
                    ", ".join(f"{name} {value:.3f}" for name, value in tuned.items()))
    model.training_history = history
    return history


PHASE_NAMES = {"head": "phase 1 (head)", "fine_tune": "phase 2 (fine-tuning)"}
PHASE_NUMBERS = {"head": 1, "fine_tune": 2}


def _optimizer_classes() -> tuple:
    """The optimizer base classes of the selected Keras (tf-keras: its legacy ones too)."""
    legacy = getattr(keras.optimizers, "legacy", None)
    return (keras.optimizers.Optimizer,) + ((legacy.Optimizer,) if legacy is not None else ())


def _is_optimizer(value) -> bool:
    return isinstance(value, _optimizer_classes())


def _check_optimizer(optimizer) -> None:
    """A TypeError unless `optimizer` is an optimizer of the Keras kerastl selected."""
    check_same_keras(optimizer, "fine_tune(optimizer=...)")
    if not _is_optimizer(optimizer):
        raise TypeError(
            f"fine_tune(optimizer=...) takes a Keras optimizer (kerastl.keras.optimizers.AdamW(...)), or "
            f"a callable taking the number of phase 2 steps and returning one; received "
            f"{type(optimizer).__name__}"
        )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _last_epoch(history: dict) -> str:
    """", last epoch: loss 0.3012, accuracy 0.9012, ..." from `{metric: [per epoch]}`."""
    last = [f"{metric} {values[-1]:.4f}" for metric, values in history.items() if values]
    return ", last epoch: " + ", ".join(last) if last else ""


def _fingerprint(model, train, validation, config) -> dict:
    """What must match for a rerun to resume a run: model, data and every training number."""
    digest = hashlib.sha256()
    for examples in (train, validation):
        if examples is not None:
            for text, label in zip(examples.texts, examples.labels):
                digest.update(f"{text}\x1f{label}\x1e".encode("utf-8", "surrogatepass"))
            for pair in examples.text_pairs or ():  # sentence pairs: the second texts too
                digest.update(f"{pair}\x1d".encode("utf-8", "surrogatepass"))
    return {"model": model.get_config(), "data": digest.hexdigest(), "config": dataclasses.asdict(config),
            "replicas": model.distribute_strategy.num_replicas_in_sync}


def _cached_feature_batches(model, train_data, val_data, config, verbose):
    """Training and validation batches of the frozen encoder's [CLS] vectors, computed once.

    The batches are the same index batches, in the same order, as the token batches of the full
    model would be, so the head sees exactly what it would see on the live encoder. Under a
    strategy every worker computes the vectors of all examples, then takes its replicas' parts.
    """

    def cached(data, training):
        logger.info("phase 1: computing the frozen encoder's %s vectors of the %d %s examples, once",
                    POOLED_NAMES[model.pooling], len(data), "training" if training else "validation")
        features = model.pooled_features(data, batch_size=max(config.batch_size, 64), verbose=verbose)  # (n, dim)
        labels = data.labels

        def gather(index):
            return tf.gather(features, index), tf.gather(labels, index)

        return data.batches(gather, config.batch_size, shuffle=training, seed=config.seed,
                            bucket=config.bucket_by_length, repeat=training, strategy=model.distribute_strategy)

    return cached(train_data, training=True), cached(val_data, training=False) if val_data is not None else None


def _head_model(model):
    """A Keras model of `model`'s head alone, on a pooled-vector input (shares the head's weights)."""
    pooled = keras.Input(shape=(model.encoder.hidden_dim,), name="pooled")
    return _HeadModel(pooled, model.head(pooled), name="head_on_cached_features")


class _HeadModel(DistributedModel, keras.Model):
    """A functional Keras model that trains under any strategy (see `DistributedModel`)."""


def phase_two_optimizer(config: TrainingConfig, total_steps: int, *, no_decay: Sequence[str],
                        xla: bool = True, multipliers: Sequence = ()) -> keras.optimizers.Optimizer:
    """AdamW with linear warmup to `learning_rate`, then cosine decay to 0 over `total_steps`;
    weights whose names contain one of `no_decay` (the encoder's `no_decay_names`) skip weight
    decay; `multipliers`, `[(weights, multiplier), ...]`, scale the rate of those weights (see
    `kerastl.training.optimizers.layer_multipliers`); its update compiled with XLA if `xla`."""
    warmup = int(config.warmup_ratio * total_steps)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=max(total_steps - warmup, 1),
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    optimizer = AdamW(learning_rate=schedule, weight_decay=config.weight_decay)
    for weights, multiplier in multipliers:
        optimizer.scale_learning_rate(weights, multiplier)
    if no_decay:
        optimizer.exclude_from_weight_decay(var_names=list(no_decay))
    if xla and OPTIMIZER_XLA_SWITCH:
        optimizer.jit_compile = True  # read at each apply_gradients; tf-keras sets it only for GPUs
    return optimizer
