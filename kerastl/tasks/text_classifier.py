"""The model: headless encoder -> [CLS] hidden state -> dropout + dense head -> logits."""

import logging
import os
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from kerastl import distribute, encoders
from kerastl._keras import KERAS_VERSION, DistributedModel, check_same_keras, keras, reset_compiled_functions
from kerastl.config import (
    DEFAULT_BACKBONE,
    DEFAULT_DROPOUT,
    DEFAULT_MAX_LENGTH,
    DEFAULT_POOLING,
    INFERENCE_BATCH_SIZE,
    POOLINGS,
)
from kerastl.data.batching import EncodedExamples
from kerastl.data.text_examples import TextExamples
from kerastl.precision import precision_scope, resolve_precision
from kerastl.preprocessing import TextClassifierPreprocessor
from kerastl.tasks import inference, saving
from kerastl.tasks.heads import ClassificationHead
from kerastl.tasks.text_inputs import TextInputs, bind, is_text_input

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="kerastl")
class TextClassifier(DistributedModel, keras.Model):
    """A text classifier grafted onto a headless encoder: a KerasHub backbone under Keras 3, a
    Hugging Face TF encoder under Keras 2 (`KERASTL_KERAS=2`).

    `call` runs the encoder, takes the hidden state of the first token ([CLS]) and feeds it to
    a dropout + dense head that outputs logits. The model knows its label names, tokenizer and
    `max_length`, so it can build its own `tf.data` input (`make_dataset`) and be saved and
    loaded as one folder (`save_pretrained`, `from_pretrained`) or one `.keras` file
    (`save("model.keras")`, `keras.models.load_model`).

    `fit`, `evaluate`, `predict` and calling the model also take raw text, as KerasHub's
    classifiers do: a list of strings, a numpy string array, a `tf.string` tensor, or a
    `tf.data.Dataset` of strings or (string, label) pairs, with labels as names or integer ids.
    The texts are tokenized and padded per batch as `make_dataset` does: `fit` shuffles them
    into length-bucketed batches every epoch, `evaluate` and `predict` keep the input order.
    Token dicts and token `tf.data` datasets go to Keras unchanged.

    Args:
        backbone: a headless encoder of the selected Keras's family (a KerasHub
            `BertBackbone`, `DistilBertBackbone`, ...; under Keras 2 a `TFDistilBertModel`,
            `TFBertModel`, ...), or a `kerastl.encoders.Encoder`; the model keeps its Keras layer
            as `backbone`.
        label_names: the label names, in id order.
        tokenizer: the encoder's tokenizer (needed for text input and saving).
        max_length: longest token sequence fed to the encoder.
        dropout: dropout rate of the head.
        pooling: what the head reads: `"cls"`, the first token's hidden state, or `"mean"`,
            the mean of the real (non-padding) tokens' hidden states.

    Example (`model` is a tiny random one here; `TextClassifier.from_backbone("all-minilm-l6-v2",
    label_names=["neg", "pos"])` builds a real one):
    >>> model.compile()  # Adam 5e-5, sparse cross-entropy on logits, accuracy
    >>> history = model.fit(["a good film", "a dull plot"], ["pos", "neg"], epochs=1, verbose=0)
    >>> model.predict(["what a film", "so dull"], verbose=0).shape  # logits
    (2, 2)
    """

    def __init__(
        self,
        backbone,
        label_names: Sequence[str],
        *,
        tokenizer=None,
        max_length: int = DEFAULT_MAX_LENGTH,
        dropout: float = DEFAULT_DROPOUT,
        pooling: str = "cls",
        name: str = "text_classifier",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        label_names = tuple(str(label) for label in label_names)
        if len(set(label_names)) != len(label_names):
            raise ValueError(f"label_names must be distinct, received label_names={list(label_names)}")
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
        object.__setattr__(self, "_encoder", encoder)  # a plain view of `backbone`, kept out of Keras tracking
        self.backbone = encoder.layer
        object.__setattr__(self, "preprocessor", TextClassifierPreprocessor(tokenizer, int(max_length)))
        object.__setattr__(self, "encoder_family", family)
        # Plain values, kept out of Keras' attribute tracking (Keras 3 would turn tuples into lists).
        object.__setattr__(self, "label_names", label_names)
        object.__setattr__(self, "input_names_", encoder.input_names)
        object.__setattr__(self, "pooling", pooling)
        object.__setattr__(self, "_compiled_trainables", None)
        self.head = ClassificationHead(len(label_names), dropout, name="head")
        self.training_history = None
        for layer in encoder.unused_layers:  # BERT's pooler feeds nothing here; training it only warns
            layer.trainable = False
        self(self._dummy_inputs(), training=False)  # build, so summary() and weights exist now

    @classmethod
    def from_backbone(
        cls,
        source=DEFAULT_BACKBONE,
        label_names: Sequence[str] = ("0", "1"),
        *,
        labels: Optional[Sequence[str]] = None,
        tokenizer=None,
        max_length: int = DEFAULT_MAX_LENGTH,
        dropout: float = DEFAULT_DROPOUT,
        pooling: str = DEFAULT_POOLING,
        strategy=None,
        precision: Optional[str] = None,
    ) -> "TextClassifier":
        """Load an encoder with `kerastl.load_backbone` and graft a new head on it.

        Args:
            source: hub name, local folder, preset name or config (see `load_backbone`).
            label_names: the label names, in id order.
            labels: deprecated name of `label_names`.
            tokenizer: optional tokenizer, required with a config object.
            max_length: longest token sequence fed to the encoder.
            dropout: dropout rate of the head.
            pooling: `"cls"`, `"mean"`, or `"auto"`: the pooling a sentence-transformers
                checkpoint was trained with (its `1_Pooling/config.json`; all-MiniLM-L6-v2 pools
                the mean), else `"cls"`.
            strategy: a `tf.distribute.Strategy` or a name of `kerastl.distribute.STRATEGIES`
                to build the model in; `fine_tune` then trains it under that strategy.
            precision: the Keras precision policy of this model: `"auto"` (mixed bf16 or
                float16 where the hardware runs it fast, else float32; see
                `kerastl.precision.detect_precision`) or a name of `kerastl.config.PRECISIONS`.
                Keras' global policy is left as it was. `None` (the default) follows the global
                policy: float32 unless set (`kerastl.set_precision`). Logits and loss are float32.

        Example (the second and third download bert-base-uncased once):

            model = TextClassifier.from_backbone("all-minilm-l6-v2", label_names=["neg", "pos"])
            model = TextClassifier.from_backbone("bert-base-uncased", strategy="mirrored")
            model = TextClassifier.from_backbone("bert-base-uncased", precision="auto")
        """
        if labels is not None:
            warnings.warn("from_backbone(labels=) is deprecated: use label_names=", DeprecationWarning, stacklevel=2)
            label_names = labels
        with distribute.strategy_scope(strategy), precision_scope(precision) as policy:
            name = str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
            logger.info("loading the encoder %s (precision: %s)", name, policy)
            encoder, tokenizer = encoders.load_backbone(source, tokenizer=tokenizer)
            if pooling == "auto":
                pooling = encoders.checkpoint_pooling(source) or "cls"
                logger.info("pooling: %s (%s)", pooling, "read from the checkpoint's 1_Pooling/config.json"
                            if encoders.checkpoint_pooling(source) else "the checkpoint names none")
            return cls(encoder, label_names, tokenizer=tokenizer, max_length=max_length, dropout=dropout,
                       pooling=pooling)

    @property
    def labels(self) -> tuple:
        """Deprecated name of `label_names`, kept for one release."""
        warnings.warn("TextClassifier.labels is deprecated: use label_names", DeprecationWarning, stacklevel=2)
        return self.label_names

    @property
    def tokenizer(self):
        """The Hugging Face tokenizer of `preprocessor`."""
        return self.preprocessor.tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer):
        object.__setattr__(self, "preprocessor", TextClassifierPreprocessor(tokenizer, self.max_length))

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

    # -- forward pass -------------------------------------------------------------------------

    def __call__(self, inputs, *args, **kwargs):
        # Raw text is tokenized here, eagerly, and padded to its longest text; rows keep their order.
        if is_text_input(inputs, "model(inputs)"):
            inputs = self._text_inputs().features(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None):
        # A frozen encoder runs in inference mode: its dropout is off.
        encoder_training = training if self.backbone.trainable else False
        pooled = self._pool(self._encoder_features(inputs), encoder_training)  # (batch, dim)
        return self.head(pooled, training=training)  # (batch, num_labels)

    def _pool(self, features, training):
        if self.pooling == "cls":
            return self.encoder.cls_hidden_state(features, training)  # (batch, dim)
        # The mean in float32: summing a hundred bf16 states in bf16 would lose their last digits.
        hidden = tf.cast(self.encoder.hidden_states(features, training), tf.float32)  # (batch, seq, dim)
        mask = tf.cast(features["attention_mask"], tf.float32)[:, :, None]  # (batch, seq, 1): 1 = a token
        return tf.reduce_sum(hidden * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

    def _dummy_inputs(self):
        ids = tf.constant([[0, 1]], dtype=tf.int32)
        return {"input_ids": ids, "attention_mask": tf.ones_like(ids)}

    # -- freezing -----------------------------------------------------------------------------

    def freeze_backbone(self) -> None:
        """Freeze every encoder weight (recursively); the encoder then runs in inference mode."""
        self.backbone.trainable = False

    def unfreeze_backbone(self, top_k: Optional[int] = None) -> None:
        """Make the whole encoder trainable, or only its top `top_k` transformer blocks.

        Call `compile` again afterwards (the two-phase workflow does); `fit` refuses to run
        on a stale compile.
        """
        self.backbone.trainable = True
        # Keras 3 does not reach every sublayer of a KerasHub backbone through its own flag.
        for layer in [*self.encoder.other_layers, *self.encoder.transformer_layers]:
            layer.trainable = True
        if top_k is not None:
            blocks = self.encoder.transformer_layers
            if not 0 <= top_k <= len(blocks):
                raise ValueError(
                    f"top_k must be between 0 and the {len(blocks)} transformer blocks, "
                    f"received top_k={top_k}"
                )
            for layer in self.encoder.other_layers:  # embeddings and any other non-block layers
                layer.trainable = False
            for i, block in enumerate(blocks):
                block.trainable = i >= len(blocks) - top_k
        for layer in self.encoder.unused_layers:  # BERT's pooler feeds nothing here; training it only warns
            layer.trainable = False

    # -- compile and fit ----------------------------------------------------------------------

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile` with defaults for a logits classifier.

        `"auto"` gives Adam at 5e-5, sparse categorical cross-entropy on logits and sparse
        categorical accuracy reported as `accuracy`.
        """
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = keras.optimizers.Adam(5e-5)
        if isinstance(loss, str) and loss == "auto":
            loss = default_loss()
        if isinstance(metrics, str) and metrics == "auto":
            metrics = default_metrics()
        check_same_keras([optimizer, loss, metrics, kwargs.get("weighted_metrics")], "compile()")
        if KERAS_VERSION == 3:
            # Batches are padded to their own longest text, so XLA would compile the step again for
            # every new length; Keras 3 would switch it on by default.
            kwargs.setdefault("jit_compile", False)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        object.__setattr__(self, "_compiled_trainables", self._trainable_ids())

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
        check_same_keras(arguments.get("callbacks") or [], "evaluate(callbacks=)")
        if is_text_input(arguments.get("x"), "evaluate(x)"):
            arguments.update(self._text_inputs().evaluate_arguments(arguments))
        return self._keeping_usable(super().evaluate, arguments)

    def predict(self, *args, **kwargs):
        """`keras.Model.predict`, on token batches or on raw text: logits (n, num_labels), one row
        per text in input order, computed in batches of `batch_size` (default 32)."""
        arguments = bind(keras.Model.predict, self, args, kwargs)
        check_same_keras(arguments.get("callbacks") or [], "predict(callbacks=)")
        if is_text_input(arguments.get("x"), "predict(x)"):
            text_arguments = self._text_inputs().predict_arguments(arguments)
            if text_arguments is None:
                return np.zeros((0, len(self.label_names)), np.float32)
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
        return TextInputs(self._encode, self.label_names)

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

    def _encoder_features(self, inputs):
        return {name: inputs[name] for name in self.input_names_}

    def _require_tokenizer(self):
        return self.preprocessor._require_tokenizer()

    # -- saving -------------------------------------------------------------------------------

    def get_config(self):
        return {
            "backbone": self.encoder.config_dict(),
            "encoder_family": self.encoder_family,
            "label_names": list(self.label_names),
            "max_length": self.max_length,
            "dropout": self.head.dropout,
            "pooling": self.pooling,
            "name": self.name,
        }

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
            if KERAS_VERSION == 2:
                kwargs["save_format"] = save_format
            return super().save(path, overwrite=overwrite, **kwargs)

    def save_assets(self, dir_path):
        # Keras' .keras saving calls this: the tokenizer and the history travel with the weights.
        saving.save_assets(self, dir_path)

    def load_assets(self, dir_path):
        saving.load_assets(self, dir_path)

    @classmethod
    def from_config(cls, config, tokenizer=None):
        config = dict(config)
        encoder = encoders.from_config_dict(config.pop("backbone"), config.pop("encoder_family", None))
        # Folders saved before 0.2 name the label set "labels".
        label_names = config.pop("label_names") if "label_names" in config else config.pop("labels")
        return cls(encoder, label_names, tokenizer=tokenizer, **config)

    @property
    def precision(self) -> str:
        """The Keras precision policy the encoder computes under (`"float32"`, `"mixed_bfloat16"` ...)."""
        return self.backbone.dtype_policy.name

    def with_precision(self, precision: str) -> "TextClassifier":
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

    def _copy(self, policy: str) -> "TextClassifier":
        """A copy of this model computing under `policy`, with the same weights, label names,
        tokenizer and history."""
        config = self.get_config()
        with precision_scope(policy):
            config["backbone"] = encoders.with_precision(config["backbone"], policy)
            copy = type(self).from_config(config, tokenizer=self.tokenizer)
        copy.set_weights(self.get_weights())
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
    def from_pretrained(cls, path, *, strategy=None) -> "TextClassifier":
        """Load a model saved with `save_pretrained`; no network is needed.

        Args:
            path: the folder of the model.
            strategy: a `tf.distribute.Strategy` or strategy name to build the model in.

        Example:
        >>> path = model.save_pretrained("runs/tiny")
        >>> TextClassifier.from_pretrained(path).labels
        ('neg', 'pos')
        """
        return saving.load_pretrained(cls, path, strategy=strategy)


def default_loss():
    """Sparse categorical cross-entropy on logits."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def default_metrics():
    """Sparse categorical accuracy, reported as `accuracy`."""
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def transformer_blocks(encoder) -> list:
    """The encoder's transformer blocks, bottom to top (DistilBERT, BERT, RoBERTa, ...)."""
    return encoders.wrap(encoder).transformer_layers
