"""Every default and shared name of kerastl, in one place that imports no TensorFlow.

The library, the command line (whose `--help` must answer without loading TensorFlow) and the
saved-model readers all take their defaults and file names from here, so none can drift.
"""

import dataclasses
import os
from typing import Optional

VERSION = "0.10.1"  # kerastl.__version__; here so that every module can read it without importing the package

# Which Keras kerastl runs on, read once at import (`kerastl._keras`): "3", Keras 3 with KerasHub
# backbones (the default), or "2", tf-keras with transformers' TF encoders.
KERAS_ENV = "KERASTL_KERAS"
DEFAULT_KERAS = 3


def selected_keras() -> int:
    """The Keras major version `KERASTL_KERAS` selects: 3 (the default) or 2."""
    value = os.environ.get(KERAS_ENV, "").strip() or str(DEFAULT_KERAS)
    if value in ("2", "3"):
        return int(value)
    raise ImportError(f"{KERAS_ENV}={value!r} is not a Keras kerastl runs on: set {KERAS_ENV}=3 (Keras 3 "
                      f"and KerasHub, the default) or {KERAS_ENV}=2 (tf-keras and transformers' TF encoders)")


# The encoder `from_backbone`, `kerastl train` and `kerastl explore` load when given none.
DEFAULT_BACKBONE = "distilbert-base-uncased"
# Longest token sequence fed to the encoder, special tokens included.
DEFAULT_MAX_LENGTH = 128
# The columns of a table, found by header: the text, and the target as the first of
# LABEL_COLUMNS present (when label_column= / --label-column is left at "label"). A
# TEXT_PAIR_COLUMN holds the second text of sentence pairs.
TEXT_COLUMN = "text"
LABEL_COLUMNS = ("label", "labels", "score")
TEXT_PAIR_COLUMN = "text_pair"
# Where a label holds this, it is a set of labels (multi-label), which this version refuses.
MULTI_LABEL_SEP = ","
# Dropout rate of the classification head.
DEFAULT_DROPOUT = 0.1
# What the head reads: the first token's hidden state ("cls") or the mean of the real tokens'
# ("mean"); "auto" takes the pooling a sentence-transformers checkpoint was trained with
# (its 1_Pooling/config.json), else "cls".
POOLINGS = ("cls", "mean")
POOLED_NAMES = {"cls": "[CLS]", "mean": "mean-pooled"}  # how log lines name the pooled vectors
DEFAULT_POOLING = "auto"
# Examples per batch for inference: predict, evaluate, the [CLS] feature pass, baselines.
INFERENCE_BATCH_SIZE = 64

# Keras precision policies kerastl runs under; "auto" picks one for the hardware.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# Names that `kerastl.get_strategy` (and `--strategy`) accept.
STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")

# The folder `TextClassifier.save_pretrained` writes and `from_pretrained` reads.
SAVED_CONFIG_FILE = "kerastl.json"  # also the metadata file of an exported SavedModel
SAVED_WEIGHTS_FILE = "model.weights.h5"
SAVED_TOKENIZER_DIR = "tokenizer"
SAVED_HISTORY_FILE = "history.json"

# The fields whose defaults differ by task (`TrainingConfig.for_task`, `kerastl train --task`). Multi-label:
# binary cross-entropy's gradients are small and spread over many rare labels, so phase 1 trains the head
# longer at a higher rate and phase 2 runs longer at a higher peak (measured on GoEmotions; see README).
TASK_TRAINING = {
    "multi_label": {"head_epochs": 4, "head_learning_rate": 3e-3, "epochs": 4, "learning_rate": 1e-4},
}


def _option(default, help: str):
    """A `TrainingConfig` field; `help` is what `kerastl train --help` shows for it."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class TrainingConfig:
    """Every number of the two-phase workflow, with defaults that suit base-size encoders.

    Each field is also an option of `kerastl train` (`batch_size` is `--batch-size`).

    Args:
        batch_size: examples per batch in both phases (per replica under a strategy).
        head_epochs: epochs of phase 1, the head alone on the frozen encoder (0 skips it).
        head_learning_rate: Adam learning rate of phase 1.
        epochs: epochs of phase 2, the whole model (0 skips it).
        learning_rate: peak AdamW learning rate of phase 2.
        warmup_ratio: share of phase-2 steps spent warming the learning rate up from 0;
            the rest decays it along a cosine to 0.
        weight_decay: AdamW decoupled weight decay (not on LayerNorm or biases).
        layer_lr_decay: layer-wise learning-rate decay in phase 2: the head trains at the
            scheduled rate, the top encoder block at `layer_lr_decay` times it, each block
            below at `layer_lr_decay` times the one above, the embeddings one step further
            down (1: one rate for every weight). Each weight's decay follows its rate.
        unfreeze_top_k: in phase 2, train only the top k transformer blocks (None: all).
        seed: seed for weight initialisation, dropout and shuffling.
        bucket_by_length: batch training texts of similar length together (less padding).
        cache_head_features: in phase 1, compute the frozen encoder's [CLS] vectors once and
            train the head on them, instead of running the encoder every head epoch. The head
            ends the same either way; only the time differs.
        checkpoint_every: with a checkpoint folder, save resumable state every this many steps.
        restore_best_epoch: with validation data, end phase 2 with the weights of its epoch of
            highest validation accuracy (lowest validation loss among equals) rather than the
            last; the history keeps every epoch, and the log names the one restored.
        xla_optimizer_update: under Keras 2, compile phase 2's AdamW update with XLA on every
            device (tf-keras does so on GPUs only); on CPUs it fuses the dense update of the
            token-embedding table and every other weight into a few passes over memory. `None`
            turns it on for models of a million parameters or more, where it repays its one-off
            compilation. Keras 3 ignores it: kerastl's `AdamW` runs TensorFlow's fused Adam
            kernel there (`kerastl.training.optimizers`).

    Example:
    >>> TrainingConfig(epochs=2).learning_rate
    7e-05
    """

    batch_size: int = _option(32, "examples per batch, per replica")
    head_epochs: int = _option(2, "phase 1 epochs: the head on the frozen encoder (0 skips it)")
    head_learning_rate: float = _option(1e-3, "phase 1 Adam learning rate")
    epochs: int = _option(3, "phase 2 epochs: the whole model (0 skips it)")
    learning_rate: float = _option(7e-5, "phase 2 peak AdamW learning rate")
    warmup_ratio: float = _option(0.1, "share of phase 2 spent warming the learning rate up")
    weight_decay: float = _option(0.01, "AdamW weight decay (not on LayerNorm or biases)")
    layer_lr_decay: float = _option(1.0, "phase 2: each encoder block trains at this times the rate of the "
                                         "one above, the head at the full rate (1: one rate for all)")
    unfreeze_top_k: Optional[int] = _option(None, "phase 2 trains only the top k blocks (default: all)")
    seed: Optional[int] = _option(0, "seed for initialisation, dropout and shuffling")
    bucket_by_length: bool = _option(True, "batch texts of similar length together")
    cache_head_features: bool = _option(True, "phase 1 trains the head on [CLS] vectors computed once")
    checkpoint_every: int = _option(200, "save resumable state every N steps")
    restore_best_epoch: bool = _option(True, "with validation data, end phase 2 at its epoch of best "
                                             "validation accuracy, not its last")
    xla_optimizer_update: Optional[bool] = _option(None, "compile the AdamW update with XLA "
                                                         "(default: for models of 1M+ parameters)")

    @classmethod
    def for_task(cls, task: Optional[str] = None, **overrides) -> "TrainingConfig":
        """The defaults of `task` (`TASK_TRAINING`; a classifier's for any other), with `overrides`.

        Example:
        >>> TrainingConfig.for_task("multi_label").learning_rate
        0.0001
        """
        task = {"multi-label": "multi_label"}.get(task, task)
        return cls(**{**TASK_TRAINING.get(task, {}), **overrides})

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
        if not 0 < self.layer_lr_decay <= 1:
            raise ValueError(f"layer_lr_decay must be in (0, 1], received layer_lr_decay={self.layer_lr_decay}")
        if self.unfreeze_top_k is not None and self.unfreeze_top_k < 0:
            raise ValueError(f"unfreeze_top_k must be >= 0, received unfreeze_top_k={self.unfreeze_top_k}")
