"""The multi-label classifier: headless encoder -> pooled vector -> dropout + dense + sigmoid ->
one probability per label, and a decision threshold per label."""

import logging
from collections.abc import Mapping
from typing import Optional, Sequence

import numpy as np

from kerastl import encoders
from kerastl._keras import keras
from kerastl.config import DEFAULT_BACKBONE, DEFAULT_DROPOUT, DEFAULT_MAX_LENGTH, DEFAULT_POOLING, INFERENCE_BATCH_SIZE
from kerastl.data.batching import EncodedExamples
from kerastl.data.label_sets import MULTI_LABEL, MULTI_LABEL_SEP
from kerastl.data.text_examples import as_examples
from kerastl.tasks.heads import MultiLabelHead
from kerastl.tasks.task import Task
from kerastl.tasks.text_inputs import TextInputs
from kerastl.tasks.thresholds import DEFAULT_THRESHOLD, best_thresholds

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="kerastl")
class TextMultiLabelClassifier(Task):
    """A set of labels per text (emotions, topics, moderation flags) on a headless encoder: the
    pooled vector goes through dropout and a dense layer with one sigmoid per label, trained
    with binary cross-entropy.

    `model.predict` (and calling the model) gives the probabilities, (n, num_labels), as Keras
    gives a sigmoid output; `kerastl.predict(model, texts)` gives each text's predicted label set
    and every probability. A label is predicted where its probability reaches its threshold:
    one per label, kept in the config (and so in `.keras` files and `save_pretrained` folders).
    `tune_thresholds(validation)` sets each to its label's best F1 on validation data
    (`kerastl.fine_tune` does it after training); `set_thresholds(0.5)` sets one for all.

    `fit`, `evaluate` and `predict` take raw text as `TextClassifier`'s do, with each text's
    labels as a list, tuple or set of names (or one str of names joined by `label_sep`).

    Args:
        backbone: a headless encoder of a registered family, or a `kerastl.encoders.Encoder`.
        label_names: the label names, in output order.
        tokenizer: the encoder's tokenizer (needed for text input and saving).
        max_length: longest token sequence fed to the encoder.
        dropout: dropout rate of the head.
        pooling: `"cls"` or `"mean"` (see `TextClassifier`).
        thresholds: one decision threshold per label, or None for `threshold` on every label.
        threshold: the threshold of every label when `thresholds` is None.
        label_sep: the separator of names in one str of labels (files, `--label-sep`).

    Example (a tiny random encoder here; `TextMultiLabelClassifier.from_backbone("all-minilm-l6-v2",
    label_names=[...])` builds a real one):
    >>> model = TextMultiLabelClassifier.from_backbone(config, ["joy", "love", "anger"], tokenizer=tokenizer,
    ...                                                max_length=16)
    >>> model.compile()  # Adam 5e-5, binary cross-entropy
    >>> history = model.fit(["so happy", "i hate it"], [["joy", "love"], ["anger"]], epochs=1, verbose=0)
    >>> model.predict(["what a day"], verbose=0).shape  # probabilities
    (1, 3)
    """

    task = MULTI_LABEL
    best_epoch_metric = "val_macro_f1"  # fine_tune keeps phase 2's epoch of best validation macro F1

    def __init__(
        self,
        backbone,
        label_names: Sequence[str],
        *,
        tokenizer=None,
        max_length: int = DEFAULT_MAX_LENGTH,
        dropout: float = DEFAULT_DROPOUT,
        pooling: str = "cls",
        thresholds: Optional[Sequence[float]] = None,
        threshold: float = DEFAULT_THRESHOLD,
        label_sep: str = MULTI_LABEL_SEP,
        name: str = "text_multi_label_classifier",
        **kwargs,
    ):
        kwargs.pop("task", None)  # recorded in the config for readers; the class is the task
        label_names = tuple(str(label) for label in label_names)
        if len(set(label_names)) != len(label_names):
            raise ValueError(f"label_names must be distinct, received label_names={list(label_names)}")
        if not isinstance(label_sep, str) or not label_sep:
            raise ValueError(f"label_sep must be a non-empty str, received label_sep={label_sep!r}")
        super().__init__(backbone, tokenizer=tokenizer, max_length=max_length, pooling=pooling, name=name, **kwargs)
        object.__setattr__(self, "label_names", label_names)
        object.__setattr__(self, "label_sep", label_sep)
        self.set_thresholds(threshold if thresholds is None else thresholds)
        self.head = MultiLabelHead(len(label_names), dropout, name="head")
        self._build()

    @classmethod
    def from_backbone(
        cls,
        source=DEFAULT_BACKBONE,
        label_names: Sequence[str] = ("0", "1"),
        *,
        tokenizer=None,
        max_length: int = DEFAULT_MAX_LENGTH,
        dropout: float = DEFAULT_DROPOUT,
        pooling: str = DEFAULT_POOLING,
        threshold: float = DEFAULT_THRESHOLD,
        label_sep: str = MULTI_LABEL_SEP,
        strategy=None,
        precision: Optional[str] = None,
    ) -> "TextMultiLabelClassifier":
        """Load an encoder with `kerastl.load_backbone` and graft a multi-label head on it; the
        arguments are `TextClassifier.from_backbone`'s, with `threshold` and `label_sep`.

        Example:

            model = TextMultiLabelClassifier.from_backbone("all-minilm-l6-v2", label_names=emotions)
        """
        return cls._from_source(source, tokenizer=tokenizer, pooling=pooling, strategy=strategy, precision=precision,
                                label_names=label_names, max_length=max_length, dropout=dropout,
                                threshold=threshold, label_sep=label_sep)

    # -- thresholds

    @property
    def thresholds(self) -> tuple:
        """The decision threshold of every label, in `label_names` order."""
        return self.__dict__["_thresholds"]

    def set_thresholds(self, thresholds) -> tuple:
        """Set the decision thresholds: one float for every label, one per label (a sequence in
        `label_names` order), or `{name: threshold}` for some labels (the others unchanged).
        Each must be in [0, 1]. Returns the thresholds.

        Example:
        >>> multi_label_model.set_thresholds(0.3)
        (0.3, 0.3, 0.3)
        >>> multi_label_model.set_thresholds({"joy": 0.6})
        (0.3, 0.6, 0.3)
        """
        names = self.label_names
        if isinstance(thresholds, Mapping):
            unknown = sorted(set(map(str, thresholds)) - set(names))
            if unknown:
                raise ValueError(f"set_thresholds: {unknown} are not among the model's labels {list(names)}")
            values = [float(thresholds.get(name, old)) for name, old in zip(names, self.thresholds)]
        elif isinstance(thresholds, (int, float, np.integer, np.floating)):
            values = [float(thresholds)] * len(names)
        else:
            values = [float(t) for t in np.asarray(thresholds, dtype=np.float64).reshape(-1)]
            if len(values) != len(names):
                raise ValueError(f"set_thresholds: received {len(values)} thresholds for the {len(names)} labels "
                                 f"{list(names)}; give one per label, one float for all, or a dict by name")
        bad = [t for t in values if not 0.0 <= t <= 1.0]
        if bad:
            raise ValueError(f"set_thresholds: thresholds are probabilities in [0, 1], received {bad[:5]}")
        object.__setattr__(self, "_thresholds", tuple(values))
        return self.thresholds

    def tune_thresholds(self, validation, *, batch_size: int = INFERENCE_BATCH_SIZE, verbose=0) -> dict:
        """Set each label's threshold to the one of its best F1 on `validation` (labelled
        examples: anything `kerastl.as_examples` accepts, or `EncodedExamples`); a label with no
        example there keeps its threshold. Returns `{name: threshold}`."""
        encoded = validation if isinstance(validation, EncodedExamples) else self.encode(validation)
        probabilities = self.predict_logits(encoded, batch_size=batch_size, verbose=verbose).numpy()
        self.set_thresholds(best_thresholds(encoded.labels, probabilities, default=self.thresholds))
        return dict(zip(self.label_names, self.thresholds))

    # -- forward pass

    def call(self, inputs, training=None):
        encoder_training = training if self.backbone.trainable else False
        pooled = self._pool(self._encoder_features(inputs), encoder_training)  # (batch, dim)
        return self.head(pooled, training=training)  # (batch, num_labels) probabilities

    def default_compile(self) -> dict:
        """Adam at 5e-5, binary cross-entropy on the probabilities, and the binary accuracy and
        the ROC AUC averaged over labels (`auc`): what `compile()` (every argument `"auto"`) uses."""
        return {"optimizer": keras.optimizers.Adam(5e-5), "loss": keras.losses.BinaryCrossentropy(),
                "metrics": [keras.metrics.BinaryAccuracy(name="binary_accuracy"),
                            keras.metrics.AUC(multi_label=True, num_labels=len(self.label_names), name="auc")]}

    @property
    def num_outputs(self) -> int:
        return len(self.label_names)

    # -- data

    def _text_inputs(self) -> TextInputs:
        return TextInputs(self._encode, self.label_names, task=MULTI_LABEL, text_pair=self.preprocessor.text_pair)

    def _examples(self, texts, labels, what):
        return as_examples(texts, labels, what=what, task=MULTI_LABEL, label_sep=self.label_sep)

    def encode(self, texts, labels=None) -> EncodedExamples:
        """Tokenize examples once (truncated to `max_length`), with their label sets as float32
        multi-hot targets (n, num_labels)."""
        return self._encode(self._examples(texts, labels, "encode(texts)"))

    def make_dataset(self, texts, labels=None, *, batch_size: int = 32, shuffle: bool = False, seed=None,
                     bucket: bool = True):
        """Padded-per-batch `(features, multi-hot targets)` batches, as `TextClassifier.make_dataset`."""
        return self.encode(texts, labels).dataset(batch_size, shuffle=shuffle, seed=seed, bucket=bucket)

    # -- saving

    def get_config(self):
        return {**super().get_config(), "task": self.task, "label_names": list(self.label_names),
                "dropout": self.head.dropout, "thresholds": list(self.thresholds), "label_sep": self.label_sep}

    @classmethod
    def from_config(cls, config, tokenizer=None):
        config = dict(config)
        encoder = encoders.from_config_dict(config.pop("backbone"), config.pop("encoder_family", None))
        label_names = config.pop("label_names") if "label_names" in config else config.pop("labels")
        return cls(encoder, label_names, tokenizer=tokenizer, **config)
