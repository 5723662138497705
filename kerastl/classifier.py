"""The model: headless encoder -> [CLS] hidden state -> dropout + dense head -> logits."""

import contextlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import tensorflow as tf

from kerastl import backbone as backbone_lib
from kerastl import data as data_lib
from kerastl import distribute
from kerastl._files import replace_dir
from kerastl._keras import keras
from kerastl.errors import ModelFileError
from kerastl.pooling import cls_hidden_state

CONFIG_FILE = "kerastl.json"
WEIGHTS_FILE = "model.weights.h5"
TOKENIZER_DIR = "tokenizer"
FORMAT_VERSION = 1

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

    def __init__(self, num_labels: int, dropout: float = 0.1, **kwargs):
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
    loaded as one folder (`save_pretrained`, `from_pretrained`).

    Args:
        backbone: a headless TF encoder (`TFDistilBertModel`, `TFBertModel`, ... ).
        labels: the label names, in id order.
        tokenizer: the encoder's tokenizer (needed for text input and saving).
        max_length: longest token sequence fed to the encoder.
        dropout: dropout rate of the head.

    Example (`model` is a tiny random one here; `TextClassifier.from_backbone("all-minilm-l6-v2",
    labels=["neg", "pos"])` builds a real one):
    >>> model.compile()  # Adam 5e-5, sparse cross-entropy on logits, accuracy
    >>> history = model.fit(model.make_dataset(texts, labels, shuffle=True), epochs=1, verbose=0)
    >>> model.predict(model.make_dataset(["a good film", "a dull plot"]), verbose=0).shape
    (2, 2)
    """

    def __init__(
        self,
        backbone,
        labels: Sequence[str],
        *,
        tokenizer=None,
        max_length: int = 128,
        dropout: float = 0.1,
        name: str = "text_classifier",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        labels = tuple(str(label) for label in labels)
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be distinct, received labels={list(labels)}")
        limit = getattr(backbone.config, "max_position_embeddings", None)
        if max_length < 2 or (limit is not None and max_length > limit):
            raise ValueError(
                f"max_length must be between 2 and the encoder's position limit {limit}, "
                f"received max_length={max_length}"
            )
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.labels = labels
        self.max_length = int(max_length)
        self.input_names_ = backbone_lib.encoder_inputs(backbone)
        self.head = ClassificationHead(len(labels), dropout, name="head")
        self._compiled_trainables = None
        self.training_history = None
        self(self._dummy_inputs(), training=False)  # build, so summary() and weights exist now

    @classmethod
    def from_backbone(
        cls,
        source=backbone_lib.DEFAULT_BACKBONE,
        labels: Sequence[str] = ("0", "1"),
        *,
        tokenizer=None,
        max_length: int = 128,
        dropout: float = 0.1,
        strategy=None,
    ) -> "TextClassifier":
        """Load an encoder with `kerastl.load_backbone` and graft a new head on it.

        Args:
            source: hub name, local folder, preset name or config (see `load_backbone`).
            labels: the label names, in id order.
            tokenizer: optional tokenizer, required with a config object.
            max_length: longest token sequence fed to the encoder.
            dropout: dropout rate of the head.
            strategy: a `tf.distribute.Strategy` or a name of `kerastl.distribute.STRATEGIES`
                to build the model in; `fine_tune` then trains it under that strategy.

        Example (the second downloads bert-base-uncased once):

            model = TextClassifier.from_backbone("all-minilm-l6-v2", labels=["neg", "pos"])
            model = TextClassifier.from_backbone("bert-base-uncased", strategy="mirrored")
        """
        with _scope(strategy):
            encoder, tokenizer = backbone_lib.load_backbone(source, tokenizer=tokenizer)
            return cls(encoder, labels, tokenizer=tokenizer, max_length=max_length, dropout=dropout)

    @property
    def training_history(self):
        """`{"head": {...}, "fine_tune": {...}}` per-epoch metrics of `fine_tune`, or None."""
        return self.__dict__.get("_history")

    @training_history.setter
    def training_history(self, history):
        object.__setattr__(self, "_history", history)  # plain JSON data, not tracked by Keras

    # -- forward pass -------------------------------------------------------------------------

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
        if self._compiled_trainables is not None and self._trainable_ids() != self._compiled_trainables:
            raise RuntimeError(
                "the trainable weights changed since compile() (freeze_backbone / "
                "unfreeze_backbone / trainable=): call compile() again, with a new optimizer, "
                "before fit()"
            )
        return super().fit(*args, **kwargs)

    def _trainable_ids(self):
        return tuple(id(v) for v in self.trainable_variables)

    # -- data ---------------------------------------------------------------------------------

    def make_dataset(self, texts, labels=None, *, batch_size: int = 32, shuffle: bool = False,
                     seed=None, bucket: bool = True):
        """A padded-per-batch `tf.data.Dataset` for this model's tokenizer and labels.

        Args:
            texts: a list of strings, or `TextExamples` (then `labels` is taken from it).
            labels: one label per text, or `None` to get features only (for `predict`).
            batch_size: examples per batch.
            shuffle: reshuffle every epoch (training); otherwise the input order is kept.
            seed: seed for the shuffle.
            bucket: when shuffling, put texts of similar length in the same batch.
        """
        return self.encode(texts, labels).dataset(batch_size, shuffle=shuffle, seed=seed, bucket=bucket)

    def encode(self, texts, labels=None) -> data_lib.EncodedExamples:
        """Tokenize texts once (truncated to `max_length`) and map labels to this model's ids."""
        self._require_tokenizer()
        examples = texts if isinstance(texts, data_lib.TextExamples) else data_lib.TextExamples(texts, labels)
        return data_lib.encode_examples(examples, self.tokenizer, label_names=self.labels,
                                        max_length=self.max_length)

    def pooled_features(self, encoded: data_lib.EncodedExamples, batch_size: int = 64,
                        verbose=0) -> tf.Tensor:
        """The frozen encoder's [CLS] vectors for every example, in input order: (n, dim)."""
        return self._by_length(encoded, batch_size, self._compiled("_pooled_fn", self._pooled), verbose)

    def predict_logits(self, encoded: data_lib.EncodedExamples, batch_size: int = 64,
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
        progress = keras.utils.Progbar(len(batches)) if verbose else None
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
            "labels": list(self.labels),
            "max_length": self.max_length,
            "dropout": self.head.dropout,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, tokenizer=None):
        config = dict(config)
        encoder = backbone_lib.encoder_from_config_dict(config.pop("backbone"))
        labels = config.pop("labels")
        return cls(encoder, labels, tokenizer=tokenizer, **config)

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
        if not distribute.is_chief(self.distribute_strategy):
            distribute.save_weights_and_discard(self)
            logger.info("not the chief worker: the chief saves the model to %s", path)
            return path
        if path.exists() and not overwrite:
            raise ModelFileError(f"{path} already exists: choose another folder or pass overwrite=True")
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            (staging / CONFIG_FILE).write_text(
                json.dumps({"format": FORMAT_VERSION, "config": self.get_config()}, indent=2)
            )
            self.tokenizer.save_pretrained(str(staging / TOKENIZER_DIR))
            self.save_weights(str(staging / WEIGHTS_FILE))
            history = self.training_history
            if history is not None:
                (staging / "history.json").write_text(json.dumps(history, indent=2))
            replace_dir(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return path

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
        config_file = path / CONFIG_FILE
        if not config_file.is_file():
            raise ModelFileError(
                f"{path} is not a saved kerastl model (no {CONFIG_FILE}); give the --output "
                f"folder of `kerastl train` or of save_pretrained()"
            )
        try:
            saved = json.loads(config_file.read_text())
            config = saved["config"]
        except (ValueError, KeyError) as err:
            raise ModelFileError(f"{config_file} is damaged ({err}): train or copy the model again") from None
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise ModelFileError(f"{path} has no {WEIGHTS_FILE}: the model was not saved completely")
        tokenizer = backbone_lib.load_tokenizer(path / TOKENIZER_DIR)
        with _scope(strategy):
            model = cls.from_config(config, tokenizer=tokenizer)
            try:
                model.load_weights(str(weights))
            except (OSError, ValueError, KeyError) as err:
                raise ModelFileError(
                    f"{weights} cannot be read ({str(err).splitlines()[0]}): train or copy the model again"
                ) from None
        history = path / "history.json"
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
