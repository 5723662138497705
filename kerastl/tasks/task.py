"""What every kerastl task is: a headless encoder (the backbone), a preprocessor and a head, as
one `keras.Model` that also takes raw text.

`Task` holds what does not depend on the head: the encoder and its pooling, the preprocessor,
raw text in Keras' `fit`, `evaluate`, `predict` and call, freezing, inference by length, precision
copies and saving. A task shape (`TextClassifier`) adds its head, its outputs, its `compile`
defaults and its config.
"""

import logging
import os
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf

from kerastl import distribute, encoders
from kerastl._keras import (
    DistributedModel,
    check_same_keras,
    compile_defaults,
    keras,
    reset_compiled_functions,
    save_format_kwargs,
)
from kerastl._logging import progress_verbosity
from kerastl.config import DEFAULT_MAX_LENGTH, INFERENCE_BATCH_SIZE, POOLINGS
from kerastl.data.batching import EncodedExamples
from kerastl.data.text_examples import TextExamples
from kerastl.precision import precision_scope, resolve_precision
from kerastl.preprocessing import TextClassifierPreprocessor
from kerastl.tasks import inference, saving
from kerastl.tasks.pairs import PairInputs
from kerastl.tasks.text_inputs import TextInputs, bind, is_text_input

logger = logging.getLogger(__name__)


class Task(PairInputs, DistributedModel, keras.Model):
    """The base of kerastl's task models; see `TextClassifier` for one to use.

    Args:
        backbone: a headless encoder of a registered family (`kerastl.encoders`), or its `Encoder`.
        tokenizer: the encoder's tokenizer (needed for text input and saving).
        max_length: longest token sequence fed to the encoder.
        pooling: what the head reads: `"cls"`, the first token's hidden state, or `"mean"`,
            the mean of the real (non-padding) tokens' hidden states.
        text_pair: whether it reads sentence pairs; `None` learns it from the first examples
            (`kerastl.tasks.pairs`).
    """

    def __init__(self, backbone, *, tokenizer=None, max_length: int = DEFAULT_MAX_LENGTH, pooling: str = "cls",
                 text_pair: Optional[bool] = None, **kwargs):
        super().__init__(**kwargs)
        encoder = encoders.wrap(backbone)
        family = encoders.family_of_encoder(encoder).name
        limit = encoder.position_limit
        if max_length < 2 or (limit is not None and max_length > limit):
            raise ValueError(
                f"max_length must be between 2 and the encoder's position limit {limit}, "
                f"received max_length={max_length}"
            )
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, received pooling={pooling!r}")
        # Plain values, kept out of Keras' attribute tracking (Keras 3 would turn tuples into lists).
        object.__setattr__(self, "_encoder", encoder)  # a plain view of `backbone`
        object.__setattr__(self, "preprocessor", TextClassifierPreprocessor(tokenizer, int(max_length), text_pair))
        object.__setattr__(self, "encoder_family", family)
        object.__setattr__(self, "pooling", pooling)
        object.__setattr__(self, "_compiled_trainables", None)
        self.backbone = encoder.layer
        self.training_history = None
        for layer in encoder.unused_layers:  # BERT's pooler feeds nothing here; training it only warns
            layer.trainable = False

    @classmethod
    def _from_source(cls, source, *, tokenizer, pooling, strategy, precision, **task_arguments):
        """`cls(encoder, tokenizer=..., pooling=..., **task_arguments)` on the encoder `source` loads
        (`kerastl.load_backbone`), built under `strategy` and `precision`; pooling `"auto"` is the
        checkpoint's own (`1_Pooling/config.json`), else `"cls"`. What every `from_backbone` does."""
        with distribute.strategy_scope(strategy), precision_scope(precision) as policy:
            name = str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
            logger.info("loading the encoder %s (precision: %s)", name, policy)
            encoder, tokenizer = encoders.load_backbone(source, tokenizer=tokenizer)
            if pooling == "auto":
                found = encoders.checkpoint_pooling(source)
                pooling = found or "cls"
                logger.info("pooling: %s (%s)", pooling, "read from the checkpoint's 1_Pooling/config.json"
                            if found else "the checkpoint names none")
            return cls(encoder, tokenizer=tokenizer, pooling=pooling, **task_arguments)

    @classmethod
    def from_preset(cls, preset, *args, **kwargs) -> "Task":
        """`from_backbone` under KerasHub's name: `TextClassifier.from_preset("all-minilm-l6-v2",
        label_names=[...])`."""
        return cls.from_backbone(preset, *args, **kwargs)

    def _build(self):
        self(self._dummy_inputs(), training=False)  # build, so summary() and weights exist now

    @property
    def tokenizer(self):
        """The Hugging Face tokenizer of `preprocessor`."""
        return self.preprocessor.tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer):
        object.__setattr__(self, "preprocessor",
                           TextClassifierPreprocessor(tokenizer, self.max_length, self.preprocessor.text_pair))

    @property
    def max_length(self) -> int:
        """The longest token sequence fed to the encoder; longer texts are truncated."""
        return self.preprocessor.max_length

    @property
    def encoder(self) -> encoders.Encoder:
        """The encoder seen through `kerastl.encoders.Encoder`: hidden size, blocks, [CLS] state."""
        return self.__dict__["_encoder"]

    @property
    def training_history(self):
        """`{"head": {...}, "fine_tune": {...}}` per-epoch metrics of `fine_tune`, or None."""
        return self.__dict__.get("_history")

    @training_history.setter
    def training_history(self, history):
        object.__setattr__(self, "_history", history)  # plain JSON data, not tracked by Keras

    # -- forward pass

    def __call__(self, inputs, *args, **kwargs):
        # Raw text is tokenized here, eagerly, and padded to its longest text; rows keep their order.
        if is_text_input(inputs, "model(inputs)"):
            inputs = self._text_inputs().features(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _pool(self, features, training):
        if self.pooling == "cls":
            return self.encoder.cls_hidden_state(features, training)  # (batch, dim)
        # The mean in float32: summing a hundred bf16 states in bf16 would lose their last digits.
        hidden = tf.cast(self.encoder.hidden_states(features, training), tf.float32)  # (batch, seq, dim)
        mask = tf.cast(features["attention_mask"], tf.float32)[:, :, None]  # (batch, seq, 1): 1 = a token
        return tf.reduce_sum(hidden * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

    # -- freezing -----------------------------------------------------------------------------

    def freeze_backbone(self) -> None:
        """Freeze every encoder weight (recursively); the encoder then runs in inference mode."""
        self.backbone.trainable = False

    def unfreeze_backbone(self, top_k: Optional[int] = None) -> None:
        """Make the whole encoder trainable, or only its top `top_k` transformer blocks.

        Call `compile` again afterwards (the two-phase workflow does); `fit` refuses to run
        on a stale compile.
        """
        self.encoder.unfreeze(top_k)

    # -- compile and fit

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile` with the task's defaults for each `"auto"` (`default_compile`)."""
        defaults = self.default_compile()
        optimizer = defaults["optimizer"] if isinstance(optimizer, str) and optimizer == "auto" else optimizer
        loss = defaults["loss"] if isinstance(loss, str) and loss == "auto" else loss
        metrics = defaults["metrics"] if isinstance(metrics, str) and metrics == "auto" else metrics
        check_same_keras([optimizer, loss, metrics, kwargs.get("weighted_metrics")], "compile()")
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **compile_defaults(kwargs))
        object.__setattr__(self, "_compiled_trainables", self._trainable_ids())

    @property
    def num_outputs(self) -> int:
        """The width of the model's output: one logit per label, or one score."""
        raise NotImplementedError

    def default_compile(self) -> dict:
        """The optimizer, loss and metrics `compile("auto")` uses; each task gives its own."""
        raise NotImplementedError

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, on token batches or on raw text.

        Raw text (see the class docstring) with `y` as label names or ids becomes batches of
        `batch_size` (default 32) texts, reshuffled and bucketed by length every epoch unless
        `shuffle=False`; `validation_data=(texts, labels)` and `validation_split` work on it too.
        A `fit` that fails (on bad labels, wrong shapes ...) leaves the model ready for the next.
        """
        if self._compiled_trainables is not None and self._trainable_ids() != self._compiled_trainables:
            raise RuntimeError(
                "the trainable weights changed since compile() (freeze_backbone / "
                "unfreeze_backbone / trainable=): call compile() again, with a new optimizer, "
                "before fit()"
            )
        arguments = bind(keras.Model.fit, self, args, kwargs)
        arguments["verbose"] = progress_verbosity(arguments.get("verbose", "auto"))  # no bar into a file
        check_same_keras(arguments.get("callbacks") or [], "fit(callbacks=)")
        if is_text_input(arguments.get("x"), "fit(x)"):
            arguments.update(self._text_inputs().fit_arguments(arguments))
        elif isinstance(arguments.get("x"), tf.data.Dataset) and "shuffle" not in arguments:
            arguments["shuffle"] = False  # a dataset shuffles itself; Keras 3 warns on its default
        return self._keeping_usable(super().fit, arguments)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate`, on token batches or on raw text with labels (names or ids),
        in batches of `batch_size` (default 32) in input order."""
        arguments = bind(keras.Model.evaluate, self, args, kwargs)
        arguments["verbose"] = progress_verbosity(arguments.get("verbose", "auto"))  # no bar into a file
        check_same_keras(arguments.get("callbacks") or [], "evaluate(callbacks=)")
        if is_text_input(arguments.get("x"), "evaluate(x)"):
            arguments.update(self._text_inputs().evaluate_arguments(arguments))
        return self._keeping_usable(super().evaluate, arguments)

    def predict(self, *args, **kwargs):
        """`keras.Model.predict`, on token batches or on raw text: logits (n, num_labels), one row
        per text in input order, computed in batches of `batch_size` (default 32)."""
        arguments = bind(keras.Model.predict, self, args, kwargs)
        arguments["verbose"] = progress_verbosity(arguments.get("verbose", "auto"))  # no bar into a file
        check_same_keras(arguments.get("callbacks") or [], "predict(callbacks=)")
        if is_text_input(arguments.get("x"), "predict(x)"):
            text_arguments = self._text_inputs().predict_arguments(arguments)
            if text_arguments is None:
                return np.zeros((0, self.num_outputs), np.float32)
            arguments.update(text_arguments)
        return self._keeping_usable(super().predict, arguments)

    def _keeping_usable(self, method, arguments):
        try:
            return method(**arguments)
        except Exception:
            # A run that failed while its tf.function was first traced (a label outside the label
            # set, a wrong shape ...) leaves that function half-built, and Keras would reuse it:
            # the next fit would fail on good data until compile(). Drop it; the next run retraces.
            reset_compiled_functions(self)
            raise

    def _text_inputs(self) -> TextInputs:
        return TextInputs(self._encode, self.label_names, text_pair=self.preprocessor.text_pair)

    def _trainable_ids(self):
        return tuple(id(v) for v in self.trainable_variables)

    # -- data ---------------------------------------------------------------------------------

    def make_dataset(self, texts, labels=None, *, batch_size: int = 32, shuffle: bool = False,
                     seed=None, bucket: bool = True):
        """A padded-per-batch `tf.data.Dataset` for this model's tokenizer and labels.

        Args:
            texts: anything `kerastl.as_examples` accepts: a data file (a `Path`, or a `str`
                ending in .csv, .tsv, .txt, .json, .jsonl or .parquet or naming a file), a
                DataFrame, a `datasets.Dataset`, a dict of columns, `(texts, labels)`,
                `TextExamples`, or texts (a list of strings; any other `str` is one text) with
                `labels`.
            labels: one label per text, only with texts; without labels the dataset yields
                features only (for `predict`).
            batch_size: examples per batch.
            shuffle: reshuffle every epoch (training); otherwise the input order is kept.
            seed: seed for the shuffle.
            bucket: when shuffling, put texts of similar length in the same batch.
        """
        return self.preprocessor.make_dataset(texts, labels, label_names=self.label_names, batch_size=batch_size,
                                              shuffle=shuffle, seed=seed, bucket=bucket)

    def encode(self, texts, labels=None) -> EncodedExamples:
        """Tokenize examples once (truncated to `max_length`) and map labels to this model's ids.

        `texts` and `labels` are as for `make_dataset`.
        """
        return self.preprocessor.encode(texts, labels, label_names=self.label_names)

    def _encode(self, examples: TextExamples) -> EncodedExamples:
        return self.preprocessor.encode(examples, label_names=self.label_names)

    def pooled_features(self, encoded: EncodedExamples, batch_size: int = INFERENCE_BATCH_SIZE,
                        verbose=0) -> tf.Tensor:
        """The frozen encoder's pooled vectors (the head's input) for every example, in input order:
        (n, dim)."""
        return inference.run_by_length(self, encoded, "pooled", batch_size, verbose)

    def predict_logits(self, encoded: EncodedExamples, batch_size: int = INFERENCE_BATCH_SIZE,
                       verbose=0) -> tf.Tensor:
        """Inference-mode logits for every example, in input order: (n, num_labels).

        Unlike `keras.Model.predict` it keeps no per-call state, so one loaded model can serve
        several threads at once.
        """
        return inference.run_by_length(self, encoded, "logits", batch_size, verbose)

    def _require_tokenizer(self):
        return self.preprocessor._require_tokenizer()

    # -- saving

    def get_config(self):
        return {
            "backbone": self.encoder.config_dict(),
            "encoder_family": self.encoder_family,
            "max_length": self.max_length,
            "pooling": self.pooling,
            "text_pair": self.text_pair,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, tokenizer=None):
        config = dict(config)
        encoder = encoders.from_config_dict(config.pop("backbone"), config.pop("encoder_family", None))
        return cls(encoder, tokenizer=tokenizer, **config)

    def build_from_config(self, config):
        """Nothing to do: the model builds itself in `__init__` (Keras' float dummy input would not
        suit an encoder)."""

    def compile_from_config(self, config):
        """Compile a model loaded from a `.keras` file as it was compiled when saved."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if isinstance(self.optimizer, keras.optimizers.Optimizer):
            self.optimizer.build(self.trainable_variables)  # so that its saved state can load

    def save(self, filepath, overwrite=True, save_format=None, **kwargs):
        """Save the model as one `.keras` file; `keras.models.load_model` gives it back.

        The file holds the config, the weights, the tokenizer and the training history; with
        kerastl imported, `kerastl.keras.models.load_model(path)` returns a `TextClassifier` with
        the same label names, `max_length`, tokenizer and predictions. Any other format (`.h5`,
        a SavedModel folder) cannot rebuild the model and is refused before anything is written:
        use `save_pretrained` for a folder, or `kerastl.export_saved_model` for serving.

        Example:

            model.save("emotion.keras")
            model = kerastl.keras.models.load_model("emotion.keras")
        """
        path = saving.keras_file_path(filepath, save_format)
        with warnings.catch_warnings():  # Keras reads every attribute, deprecated ones included
            warnings.filterwarnings("ignore", message=".*(seed_generator|TextClassifier.labels).* deprecated")
            return super().save(path, overwrite=overwrite, **kwargs, **save_format_kwargs(save_format))

    def save_assets(self, dir_path):
        # Keras' .keras saving calls this: the tokenizer and the history travel with the weights.
        saving.save_assets(self, dir_path)

    def load_assets(self, dir_path):
        saving.load_assets(self, dir_path)

    @property
    def precision(self) -> str:
        """The Keras precision policy the encoder computes under (`"float32"`, `"mixed_bfloat16"` ...)."""
        return self.backbone.dtype_policy.name

    def with_precision(self, precision: str) -> "Task":
        """This model computing under another precision policy: itself if it already does, else a
        copy with the same (float32) weights, label names, tokenizer and history.

        Example:
        >>> model.with_precision("mixed_bfloat16").precision
        'mixed_bfloat16'
        >>> model.with_precision("float32") is model
        True
        """
        policy = resolve_precision(precision)
        return self if policy == self.precision else self._copy(policy)

    def _copy(self, policy: str) -> "Task":
        """A copy of this model computing under `policy`, with the same weights, label names,
        tokenizer and history."""
        config = self.get_config()
        with precision_scope(policy):
            config["backbone"] = encoders.with_precision(config["backbone"], policy)
            copy = type(self).from_config(config, tokenizer=self.tokenizer)
        copy.set_weights(self.get_weights())
        copy.preprocessor.text_pair = self.preprocessor.text_pair  # undecided stays undecided
        copy.training_history = self.training_history
        return copy

    def save_pretrained(self, path, *, overwrite: bool = False) -> Path:
        """Save config, tokenizer and weights to the folder `path`, atomically.

        Everything is written to a temporary folder beside `path` and renamed into place, so a
        crash never leaves a half-written model where a good one was. On a non-chief worker of a
        multi-worker strategy nothing is kept: the chief saves the model (every worker must call
        this, as saving can need all of them).

        Args:
            path: the folder to create.
            overwrite: replace a model already at `path`.
        """
        return saving.save_pretrained(self, path, overwrite=overwrite)

    @classmethod
    def from_pretrained(cls, path, *, strategy=None) -> "Task":
        """Load a model saved with `save_pretrained`; no network is needed.

        Args:
            path: the folder of the model.
            strategy: a `tf.distribute.Strategy` or strategy name to build the model in.

        Example:
        >>> path = model.save_pretrained("runs/tiny")
        >>> type(model).from_pretrained(path).label_names
        ('neg', 'pos')
        """
        return saving.load_pretrained(cls, path, strategy=strategy)
