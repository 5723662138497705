"""The text classifier: headless encoder -> pooled vector -> dropout + dense head -> logits."""

import logging
import warnings
from typing import Optional, Sequence

from kerastl import encoders
from kerastl._keras import keras
from kerastl.config import DEFAULT_BACKBONE, DEFAULT_DROPOUT, DEFAULT_MAX_LENGTH, DEFAULT_POOLING
from kerastl.tasks.heads import ClassificationHead
from kerastl.tasks.task import Task

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="kerastl")
class TextClassifier(Task):
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
        text_pair: whether it reads sentence pairs, `(texts_a, texts_b)` (see `kerastl.tasks.pairs`).

    Example (`model` is a tiny random one here; `TextClassifier.from_backbone("all-minilm-l6-v2",
    label_names=["neg", "pos"])` builds a real one):
    >>> model.compile()  # Adam 5e-5, sparse cross-entropy on logits, accuracy
    >>> history = model.fit(["a good film", "a dull plot"], ["pos", "neg"], epochs=1, verbose=0)
    >>> model.predict(["what a film", "so dull"], verbose=0).shape  # logits
    (2, 2)
    """

    task = "classification"
    best_epoch_metric = "val_accuracy"  # fine_tune keeps phase 2's epoch of best validation accuracy

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
        label_names = tuple(str(label) for label in label_names)
        if len(set(label_names)) != len(label_names):
            raise ValueError(f"label_names must be distinct, received label_names={list(label_names)}")
        super().__init__(backbone, tokenizer=tokenizer, max_length=max_length, pooling=pooling, name=name, **kwargs)
        object.__setattr__(self, "label_names", label_names)
        self.head = ClassificationHead(len(label_names), dropout, name="head")
        self._build()

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
        text_pair: Optional[bool] = None,
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
            text_pair: `True` for a model of sentence pairs (`fit((texts_a, texts_b), y)`); `None`
                learns it from the first examples, as `fit` on pairs or a `text_pair` column does.

        Example (the second and third download bert-base-uncased once):

            model = TextClassifier.from_backbone("all-minilm-l6-v2", label_names=["neg", "pos"])
            model = TextClassifier.from_backbone("bert-base-uncased", strategy="mirrored")
            model = TextClassifier.from_backbone("bert-base-uncased", precision="auto")
        """
        if labels is not None:
            warnings.warn("from_backbone(labels=) is deprecated: use label_names=", DeprecationWarning, stacklevel=2)
            label_names = labels
        return cls._from_source(source, tokenizer=tokenizer, pooling=pooling, strategy=strategy, precision=precision,
                                label_names=label_names, max_length=max_length, dropout=dropout, text_pair=text_pair)

    @property
    def labels(self) -> tuple:
        """Deprecated name of `label_names`, kept for one release."""
        warnings.warn("TextClassifier.labels is deprecated: use label_names", DeprecationWarning, stacklevel=2)
        return self.label_names

    # -- forward pass

    def call(self, inputs, training=None):
        # A frozen encoder runs in inference mode: its dropout is off.
        encoder_training = training if self.backbone.trainable else False
        pooled = self._pool(self._encoder_features(inputs), encoder_training)  # (batch, dim)
        return self.head(pooled, training=training)  # (batch, num_labels)

    def default_compile(self) -> dict:
        """Adam at 5e-5, sparse categorical cross-entropy on logits, and sparse categorical accuracy
        reported as `accuracy`: what `compile()` (every argument `"auto"`) uses."""
        return {"optimizer": keras.optimizers.Adam(5e-5), "loss": default_loss(), "metrics": default_metrics()}

    @property
    def num_outputs(self) -> int:
        return len(self.label_names)

    # -- saving

    def get_config(self):
        return {**super().get_config(), "label_names": list(self.label_names), "dropout": self.head.dropout}

    @classmethod
    def from_config(cls, config, tokenizer=None):
        config = dict(config)
        encoder = encoders.from_config_dict(config.pop("backbone"), config.pop("encoder_family", None))
        # Folders saved before 0.2 name the label set "labels".
        label_names = config.pop("label_names") if "label_names" in config else config.pop("labels")
        return cls(encoder, label_names, tokenizer=tokenizer, **config)

def default_loss():
    """Sparse categorical cross-entropy on logits."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def default_metrics():
    """Sparse categorical accuracy, reported as `accuracy`."""
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def transformer_blocks(encoder) -> list:
    """The encoder's transformer blocks, bottom to top (DistilBERT, BERT, RoBERTa, ...)."""
    return encoders.wrap(encoder).transformer_layers
