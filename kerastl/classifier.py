"""The model: headless encoder -> [CLS] hidden state -> dropout + dense head -> logits."""

import contextlib
import inspect
import json
import logging
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from kerastl import backbone as backbone_lib
from kerastl import data as data_lib
from kerastl import distribute
from kerastl._files import replace_dir
from kerastl._keras import keras
from kerastl._logging import progress_verbosity
from kerastl.config import (
    DEFAULT_BACKBONE,
    DEFAULT_DROPOUT,
    DEFAULT_MAX_LENGTH,
    INFERENCE_BATCH_SIZE,
    SAVED_CONFIG_FILE,
    SAVED_HISTORY_FILE,
    SAVED_TOKENIZER_DIR,
    SAVED_WEIGHTS_FILE,
)
from kerastl.errors import DataError, ModelFileError
from kerastl.examples import TextExamples, as_examples
from kerastl.pooling import cls_hidden_state
from kerastl.precision import precision_scope

FORMAT_VERSION = 1
KERAS_BATCH_SIZE = 32  # Keras' default for fit, evaluate and predict; raw text follows it

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="kerastl")
class ClassificationHead(keras.layers.Layer):
    """Dropout then a dense layer: pooled vector (batch, dim) -> logits (batch, num_labels).

    Runs in float32 under every precision policy, so logits and loss stay float32.

    Args:
        num_labels: number of classes.
        dropout: dropout rate on the pooled vector.

    Example:
    >>> head = ClassificationHead(num_labels=3)
    >>> head(tf.zeros((2, 32))).shape
    TensorShape([2, 3])
    """

    def __init__(self, num_labels: int, dropout: float = DEFAULT_DROPOUT, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, received num_labels={num_labels}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), received dropout={dropout}")
        self.num_labels = num_labels
        self.dropout = dropout
        self.head_dropout = keras.layers.Dropout(dropout, name="head_dropout", dtype="float32")
        self.logits = keras.layers.Dense(num_labels, name="logits", dtype="float32")

    def call(self, pooled, training=None):
        pooled = self.head_dropout(tf.cast(pooled, tf.float32), training=training)
        return self.logits(pooled)  # (batch, num_labels)

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="kerastl")
class TextClassifier(keras.Model):
    """A text classifier grafted onto a headless Hugging Face TF encoder.

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
        backbone: a headless TF encoder (`TFDistilBertModel`, `TFBertModel`, ... ).
        label_names: the label names, in id order.
        tokenizer: the encoder's tokenizer (needed for text input and saving).
        max_length: longest token sequence fed to the encoder.
        dropout: dropout rate of the head.

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
        name: str = "text_classifier",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        label_names = tuple(str(label) for label in label_names)
        if len(set(label_names)) != len(label_names):
            raise ValueError(f"label_names must be distinct, received label_names={list(label_names)}")
        limit = getattr(backbone.config, "max_position_embeddings", None)
        if max_length < 2 or (limit is not None and max_length > limit):
            raise ValueError(
                f"max_length must be between 2 and the encoder's position limit {limit}, "
                f"received max_length={max_length}"
            )
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.label_names = label_names
        self.max_length = int(max_length)
        self.input_names_ = backbone_lib.encoder_inputs(backbone)
        self.head = ClassificationHead(len(label_names), dropout, name="head")
        self._compiled_trainables = None
        self.training_history = None
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
        with _scope(strategy), precision_scope(precision) as policy:
            name = str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
            logger.info("loading the encoder %s (precision: %s)", name, policy)
            encoder, tokenizer = backbone_lib.load_backbone(source, tokenizer=tokenizer)
            return cls(encoder, label_names, tokenizer=tokenizer, max_length=max_length, dropout=dropout)

    @property
    def labels(self) -> tuple:
        """Deprecated name of `label_names`, kept for one release."""
        warnings.warn("TextClassifier.labels is deprecated: use label_names", DeprecationWarning, stacklevel=2)
        return self.label_names

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
        if _is_text_input(inputs, "model(inputs)"):
            examples = as_examples(inputs, labelled=False, what="model(inputs)")
            encoded = self._encode(TextExamples(examples.texts, source=examples.source))
            inputs = encoded.pad(tf.range(len(encoded)))
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None):
        # A frozen encoder runs in inference mode: its dropout is off.
        encoder_training = training if self.backbone.trainable else False
        pooled = cls_hidden_state(self.backbone, self._encoder_features(inputs), encoder_training)  # (batch, dim)
        return self.head(pooled, training=training)  # (batch, num_labels)

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
        if top_k is not None:
            main, stack, blocks = _encoder_parts(self.backbone)
            if not 0 <= top_k <= len(blocks):
                raise ValueError(
                    f"top_k must be between 0 and the {len(blocks)} transformer blocks, "
                    f"received top_k={top_k}"
                )
            for layer in vars(main).values():  # embeddings and any other non-block layers
                if isinstance(layer, keras.layers.Layer) and layer is not stack:
                    layer.trainable = False
            for i, block in enumerate(blocks):
                block.trainable = i >= len(blocks) - top_k
        pooler = getattr(getattr(self.backbone, self.backbone.base_model_prefix, None), "pooler", None)
        if pooler is not None:  # BERT's pooler feeds nothing here; training it only warns
            pooler.trainable = False

    # -- compile and fit ----------------------------------------------------------------------

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile` with defaults for a logits classifier.

        `"auto"` gives Adam at 5e-5, sparse categorical cross-entropy on logits and sparse
        categorical accuracy reported as `accuracy`.
        """
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(5e-5)
        if loss == "auto":
            loss = default_loss()
        if metrics == "auto":
            metrics = default_metrics()
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        self._compiled_trainables = self._trainable_ids()

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
        arguments = _bind(keras.Model.fit, self, args, kwargs)
        if _is_text_input(arguments.get("x"), "fit(x)"):
            arguments.update(self._text_fit_arguments(arguments))
        return self._keeping_usable(super().fit, arguments)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate`, on token batches or on raw text with labels (names or ids),
        in batches of `batch_size` (default 32) in input order."""
        arguments = _bind(keras.Model.evaluate, self, args, kwargs)
        if _is_text_input(arguments.get("x"), "evaluate(x)"):
            examples, given = self._text_examples(arguments["x"], arguments.get("y"), True, "evaluate(x, y)")
            batch_size = arguments.get("batch_size") or given
            arguments.update(x=self._text_dataset(examples, batch_size, shuffle=False), y=None, batch_size=None)
        return self._keeping_usable(super().evaluate, arguments)

    def predict(self, *args, **kwargs):
        """`keras.Model.predict`, on token batches or on raw text: logits (n, num_labels), one row
        per text in input order, computed in batches of `batch_size` (default 32)."""
        arguments = _bind(keras.Model.predict, self, args, kwargs)
        if _is_text_input(arguments.get("x"), "predict(x)"):
            examples, given = self._text_examples(arguments["x"], None, False, "predict(x)")
            texts = TextExamples(examples.texts, source=examples.source)
            arguments.update(x=self._text_dataset(texts, arguments.get("batch_size") or given, shuffle=False),
                             batch_size=None)
        return self._keeping_usable(super().predict, arguments)

    def _keeping_usable(self, method, arguments):
        try:
            return method(**arguments)
        except Exception:
            # A run that failed while its tf.function was first traced (a label outside the label
            # set, a wrong shape ...) leaves that function half-built, and Keras would reuse it:
            # the next fit would fail on good data until compile(). Drop it; the next run retraces.
            self._reset_compile_cache()
            raise

    def _text_fit_arguments(self, arguments) -> dict:
        """fit's arguments with raw text (x, y, validation data) turned into token datasets."""
        examples, given = self._text_examples(arguments["x"], arguments.get("y"), True, "fit(x, y)")
        batch_size = arguments.get("batch_size") or given
        validation = arguments.get("validation_data")
        split = arguments.get("validation_split") or 0.0
        if split and validation is None:  # as Keras does: the last `split` of the data, before shuffling
            if not 0.0 < split < 1.0:
                raise ValueError(f"validation_split must be between 0 and 1, received validation_split={split}")
            at = int(math.floor(len(examples) * (1.0 - split)))
            if at == 0 or at == len(examples):
                raise ValueError(
                    f"validation_split={split} of {len(examples)} examples leaves no training or no validation "
                    f"examples; give more data or another split"
                )
            validation = _take(examples, slice(at, None))
            examples = _take(examples, slice(0, at))
        if validation is not None:
            validation = self._text_validation(validation, arguments.get("validation_batch_size") or batch_size)
        return {
            "x": self._text_dataset(examples, batch_size, shuffle=arguments.get("shuffle", True)),
            "y": None,
            "batch_size": None,
            "validation_split": 0.0,
            "validation_data": validation,
        }

    def _text_validation(self, data, batch_size):
        """Raw-text validation data as a token dataset in input order; anything else unchanged."""
        what = "fit(validation_data)"
        if isinstance(data, tuple) and data and _is_text_input(data[0], what):
            if len(data) != 2:
                raise TypeError(
                    f"{what}: received a tuple of {len(data)} with raw texts; give (texts, labels) "
                    f"(sample weights are not supported on raw text)"
                )
            examples, given = self._text_examples(data[0], data[1], True, what)
        elif _is_text_input(data, what):
            examples, given = self._text_examples(data, None, True, what)
        else:
            return data
        return self._text_dataset(examples, batch_size or given, shuffle=False)

    def _text_examples(self, x, y, labelled, what):
        """(TextExamples, the batch size of a batched text dataset or None) from raw-text x and y.

        As in Keras, integer labels in `y` (or in a dataset's pairs) are label ids: they become this
        model's label names. Labels read from a file or `TextExamples` are names, as everywhere.
        """
        batch_size = None
        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise TypeError(f"{what}: y must be None when x is a tf.data.Dataset, which holds the labels")
            x, y, batch_size = _read_text_dataset(x, what)
            y = y if labelled else None
        examples = as_examples(x, y, labelled=labelled, what=what)
        if y is not None:
            examples = TextExamples(examples.texts, self._names_of_ids(examples.labels, what),
                                             examples.source, examples.label_set)
        return examples, batch_size

    def _names_of_ids(self, labels, what) -> list:
        """Labels with every integer id replaced by its label name; names stay as they are."""
        count = len(self.label_names)
        ids = [v for v in labels if isinstance(v, (int, np.integer)) and not isinstance(v, bool)]
        bad = sorted({int(v) for v in ids if not 0 <= v < count})
        if bad:
            raise DataError(
                f"{what}: label ids {bad[:10]} are outside 0..{count - 1}, the ids of the model's labels "
                f"{list(self.label_names)}"
            )
        if not ids:
            return labels
        return [self.label_names[v] if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
                for v in labels]

    def _text_dataset(self, examples, batch_size, *, shuffle):
        batch_size = KERAS_BATCH_SIZE if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, received batch_size={batch_size}")
        return self._encode(examples).dataset(batch_size, shuffle=shuffle)

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
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, received batch_size={batch_size}")
        examples = as_examples(texts, labels, what="make_dataset(texts)")
        return self._encode(examples).dataset(batch_size, shuffle=shuffle, seed=seed, bucket=bucket)

    def encode(self, texts, labels=None) -> data_lib.EncodedExamples:
        """Tokenize examples once (truncated to `max_length`) and map labels to this model's ids.

        `texts` and `labels` are as for `make_dataset`.
        """
        return self._encode(as_examples(texts, labels, what="encode(texts)"))

    def _encode(self, examples: TextExamples) -> data_lib.EncodedExamples:
        self._require_tokenizer()
        return data_lib.encode_examples(examples, self.tokenizer, label_names=self.label_names,
                                        max_length=self.max_length)

    def pooled_features(self, encoded: data_lib.EncodedExamples, batch_size: int = INFERENCE_BATCH_SIZE,
                        verbose=0) -> tf.Tensor:
        """The frozen encoder's [CLS] vectors for every example, in input order: (n, dim)."""
        return self._by_length(encoded, batch_size, self._compiled("_pooled_fn", self._pooled), verbose)

    def predict_logits(self, encoded: data_lib.EncodedExamples, batch_size: int = INFERENCE_BATCH_SIZE,
                       verbose=0) -> tf.Tensor:
        """Inference-mode logits for every example, in input order: (n, num_labels).

        Unlike `keras.Model.predict` it keeps no per-call state, so one loaded model can serve
        several threads at once.
        """
        return self._by_length(encoded, batch_size, self._compiled("_logits_fn", self._logits), verbose)

    def _pooled(self, features):
        return cls_hidden_state(self.backbone, features, training=False)  # (batch, dim)

    def _logits(self, features):
        return self(features, training=False)  # (batch, num_labels)

    def _compiled(self, attribute, function):
        if attribute not in self.__dict__:  # kept out of Keras tracking, built once per model
            # One trace serves every batch shape: tracing the encoder costs about as much as
            # running it over a few hundred texts.
            batch = {name: tf.TensorSpec((None, None), tf.int32, name=name) for name in self.input_names_}
            object.__setattr__(self, attribute, tf.function(function, input_signature=[batch], autograph=False))
        return self.__dict__[attribute]

    def _by_length(self, encoded, batch_size, forward, verbose=0):
        """Run `forward` over batches of similar length (little padding); rows in input order."""
        by_length = tf.argsort(encoded.ids.row_lengths(), stable=True)
        batches = tf.split(by_length, _split_sizes(len(encoded), batch_size))
        progress = keras.utils.Progbar(len(batches), verbose=progress_verbosity(verbose)) if verbose else None
        pieces = []
        for index in batches:
            pieces.append(forward(self._encoder_features(encoded.pad(index))))
            if progress:
                progress.add(1)
        rows = tf.concat(pieces, axis=0)  # length order
        return tf.scatter_nd(by_length[:, None], rows, tf.shape(rows))  # input order

    def _encoder_features(self, inputs):
        return {name: inputs[name] for name in self.input_names_}

    def _require_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer: pass tokenizer= when creating it")

    # -- saving -------------------------------------------------------------------------------

    def get_config(self):
        return {
            "backbone": self.backbone.config.to_dict(),
            "label_names": list(self.label_names),
            "max_length": self.max_length,
            "dropout": self.head.dropout,
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
        path = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else None
        if path is None or not path.endswith(".keras") or save_format not in (None, "keras"):
            received = repr(path) if path is not None else f"a {type(filepath).__name__}"
            fmt = f", save_format={save_format!r}" if save_format is not None else ""
            raise ValueError(
                f"TextClassifier.save({received}{fmt}): only a .keras file round-trips a TextClassifier "
                f"(HDF5 and SavedModel saves cannot rebuild its encoder and tokenizer), so nothing was "
                f"written. Use model.save('model.keras') (keras.models.load_model reads it back), "
                f"model.save_pretrained(folder) (TextClassifier.from_pretrained), or, for serving, "
                f"kerastl.export_saved_model(model, folder)"
            )
        with warnings.catch_warnings():  # Keras reads every attribute, deprecated ones included
            warnings.filterwarnings("ignore", message=".*(seed_generator|TextClassifier.labels).* deprecated")
            return super().save(path, overwrite=overwrite, save_format=save_format, **kwargs)

    def save_assets(self, dir_path):
        # Keras' .keras saving calls this: the tokenizer and the history travel with the weights.
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(os.path.join(dir_path, SAVED_TOKENIZER_DIR))
        if self.training_history is not None:
            Path(dir_path, SAVED_HISTORY_FILE).write_text(json.dumps(self.training_history))

    def load_assets(self, dir_path):
        tokenizer = Path(dir_path, SAVED_TOKENIZER_DIR)
        if tokenizer.is_dir():
            self.tokenizer = backbone_lib.load_tokenizer(tokenizer)
        history = Path(dir_path, SAVED_HISTORY_FILE)
        if history.is_file():
            self.training_history = json.loads(history.read_text())

    @classmethod
    def from_config(cls, config, tokenizer=None):
        config = dict(config)
        encoder = backbone_lib.encoder_from_config_dict(config.pop("backbone"))
        # Folders saved before 0.2 name the label set "labels".
        label_names = config.pop("label_names") if "label_names" in config else config.pop("labels")
        return cls(encoder, label_names, tokenizer=tokenizer, **config)

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
        self._require_tokenizer()
        path = Path(path)
        if not distribute.chief_or_discard(self.distribute_strategy, self._save_weights_into):
            logger.info("not the chief worker: the chief saves the model to %s", path)
            return path
        if path.exists() and not overwrite:
            raise ModelFileError(f"{path} already exists: choose another folder or pass overwrite=True")
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            (staging / SAVED_CONFIG_FILE).write_text(
                json.dumps({"format": FORMAT_VERSION, "config": self.get_config()}, indent=2)
            )
            self.tokenizer.save_pretrained(str(staging / SAVED_TOKENIZER_DIR))
            self._save_weights_into(str(staging))
            history = self.training_history
            if history is not None:
                (staging / SAVED_HISTORY_FILE).write_text(json.dumps(history, indent=2))
            replace_dir(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return path

    def _save_weights_into(self, folder: str) -> None:
        self.save_weights(os.path.join(folder, SAVED_WEIGHTS_FILE))

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
        path = Path(path)
        config_file = path / SAVED_CONFIG_FILE
        if not config_file.is_file():
            raise ModelFileError(
                f"{path} is not a saved kerastl model (no {SAVED_CONFIG_FILE}); give the --output "
                f"folder of `kerastl train` or of save_pretrained()"
            )
        try:
            saved = json.loads(config_file.read_text())
            config = saved["config"]
        except (ValueError, KeyError) as err:
            raise ModelFileError(f"{config_file} is damaged ({err}): train or copy the model again") from None
        weights = path / SAVED_WEIGHTS_FILE
        if not weights.is_file():
            raise ModelFileError(f"{path} has no {SAVED_WEIGHTS_FILE}: the model was not saved completely")
        tokenizer = backbone_lib.load_tokenizer(path / SAVED_TOKENIZER_DIR)
        with _scope(strategy):
            model = cls.from_config(config, tokenizer=tokenizer)
            try:
                model.load_weights(str(weights))
            except (OSError, ValueError, KeyError) as err:
                raise ModelFileError(
                    f"{weights} cannot be read ({str(err).splitlines()[0]}): train or copy the model again"
                ) from None
        history = path / SAVED_HISTORY_FILE
        if history.is_file():
            model.training_history = json.loads(history.read_text())
        return model


def _scope(strategy):
    """The scope of `strategy` (a Strategy or a name), or no scope for `None`."""
    if strategy is None:
        return contextlib.nullcontext()
    return distribute.get_strategy(strategy).scope()


def default_loss():
    """Sparse categorical cross-entropy on logits."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def default_metrics():
    """Sparse categorical accuracy, reported as `accuracy`."""
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def _bind(method, model, args, kwargs) -> dict:
    """The arguments of a call to the Keras `method`, by name (its **kwargs merged in)."""
    signature = inspect.signature(method)
    arguments = {}
    for name, value in signature.bind(model, *args, **kwargs).arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif name != "self":
            arguments[name] = value
    return arguments


def _is_text_input(x, what: str) -> bool:
    """Whether Keras input `x` is raw text (strings, TextExamples); a DataFrame is refused."""
    if isinstance(x, pd.DataFrame):
        raise TypeError(
            f"{what}: received a DataFrame where texts were expected; give its columns, "
            f"x=df['text'] (and y=df['label']), or turn it into batches with model.make_dataset(df)"
        )
    if isinstance(x, (str, TextExamples)):
        return True
    if isinstance(x, list):
        return bool(x) and isinstance(x[0], (str, bytes))
    if isinstance(x, pd.Series):
        x = x.to_numpy()
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "US" or (x.dtype.kind == "O" and x.size > 0 and isinstance(x.flat[0], (str, bytes)))
    if isinstance(x, tf.Tensor):
        return x.dtype == tf.string
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        spec = spec[0] if isinstance(spec, tuple) and spec else spec
        return isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string
    return False


def _read_text_dataset(dataset, what):
    """(texts, labels or None, batch size or None) of a tf.data.Dataset of strings or (string, label)."""
    if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            f"{what}: the dataset repeats forever, and kerastl reads a dataset of texts once to tokenize "
            f"it; drop .repeat() (epochs= repeats the data)"
        )
    spec = dataset.element_spec
    paired = isinstance(spec, tuple)
    if paired and len(spec) != 2:
        raise TypeError(f"{what}: a dataset of texts yields strings or (string, label) pairs, received {spec}")
    rank = (spec[0] if paired else spec).shape.rank
    if rank not in (0, 1):
        raise TypeError(f"{what}: a dataset of texts yields one string or a batch of strings, received {spec}")
    texts, labels, batch_size = [], [] if paired else None, None
    for element in dataset.as_numpy_iterator():
        text, label = element if paired else (element, None)
        texts.extend(np.asarray(text).reshape(-1).tolist())
        if paired:
            labels.extend(np.asarray(label).reshape(-1).tolist())
        if rank == 1:
            batch_size = max(batch_size or 0, len(text))
    return texts, labels, batch_size or None


def _take(examples: TextExamples, part: slice) -> TextExamples:
    return TextExamples(examples.texts[part], examples.labels[part], examples.source, examples.label_set)


def _split_sizes(count: int, batch_size: int) -> list:
    return [batch_size] * (count // batch_size) + ([count % batch_size] if count % batch_size else [])


def transformer_blocks(encoder) -> list:
    """The encoder's transformer blocks, bottom to top (DistilBERT, BERT, RoBERTa, ...)."""
    return _encoder_parts(encoder)[2]


def _encoder_parts(encoder):
    """(main layer, block stack, blocks) of a transformers TF encoder."""
    main = getattr(encoder, encoder.base_model_prefix, None)
    for name in ("transformer", "encoder"):  # DistilBERT; BERT, RoBERTa and most others
        stack = getattr(main, name, None)
        blocks = getattr(stack, "layer", None)
        if blocks is not None and len(blocks) > 0:
            return main, stack, list(blocks)
    raise ValueError(
        f"cannot find the transformer blocks of {type(encoder).__name__}: "
        f"unfreeze it whole with unfreeze_backbone()"
    )
