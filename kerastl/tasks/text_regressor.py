"""The text regressor: headless encoder -> pooled vector -> dropout + one-unit dense head -> a score."""

import dataclasses
import logging
import math
from typing import Optional

import numpy as np

from kerastl import encoders
from kerastl._keras import keras
from kerastl.config import DEFAULT_BACKBONE, DEFAULT_DROPOUT, DEFAULT_MAX_LENGTH, DEFAULT_POOLING
from kerastl.data.batching import EncodedExamples
from kerastl.data.labels import scores_from
from kerastl.data.text_examples import TextExamples, as_examples
from kerastl.tasks.heads import RegressionHead
from kerastl.tasks.task import Task
from kerastl.tasks.text_inputs import TextInputs

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="kerastl")
class TextRegressor(Task):
    """A numeric target per text (a similarity, a rating, a readability score), on a headless
    encoder: the pooled vector goes through dropout and a one-unit dense layer.

    `model.predict` (and calling the model) gives the scores as Keras gives a one-unit output,
    shape (n, 1), in the target's own units; `kerastl.predict(model, texts)` gives them as a
    flat float32 array (n,). `fit`, `evaluate` and `predict` take raw text as `TextClassifier`'s
    do, with the targets as numbers (or numeric strings); an empty, non-numeric or NaN target is
    refused with a `DataError` naming it.

    **Target scaling** (`scale_targets=True`, the default): the head fits the targets
    standardized by the training mean and standard deviation, and its output undoes it
    (`mean + std * dense(x)`), so predictions, loss and metrics stay in the target's units. The
    first raw-text `fit` or `fine_tune` takes the mean and std of its training targets
    (`adapt_targets` sets them by hand, e.g. before `fit` on token datasets); they are kept in
    the model's config and weights. On by default because a fresh head outputs about 0 with a
    small spread: on targets such as STS-B's 0..5 (mean 2.7) an unscaled head would spend its
    first epochs learning the offset and scale at the head's learning rate, and a scaled one
    starts at the mean.

    Args:
        backbone: a headless encoder of a registered family, or a `kerastl.encoders.Encoder`.
        tokenizer: the encoder's tokenizer (needed for text input and saving).
        max_length: longest token sequence fed to the encoder.
        dropout: dropout rate of the head.
        pooling: `"cls"` or `"mean"` (see `TextClassifier`).
        scale_targets: standardize the targets by the training mean and std (see above).
        target_mean, target_std: the scaling already taken (a saved model's), or None.

    Example (a tiny random encoder here; `TextRegressor.from_backbone("all-minilm-l6-v2")` builds a
    real one):
    >>> from transformers import DistilBertConfig
    >>> config = DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37)
    >>> regressor = TextRegressor.from_backbone(config, tokenizer=tokenizer, max_length=16)
    >>> regressor.compile()  # Adam 5e-5, mean squared error; mae and rmse
    >>> history = regressor.fit(["a good film", "a dull plot"], [4.5, 1.0], epochs=1, verbose=0)
    >>> regressor.predict(["what a film", "so dull"], verbose=0).shape  # scores
    (2, 1)
    """

    task = "regression"
    best_epoch_metric = "val_spearman"  # fine_tune keeps phase 2's epoch of best validation Spearman

    def __init__(
        self,
        backbone,
        *,
        tokenizer=None,
        max_length: int = DEFAULT_MAX_LENGTH,
        dropout: float = DEFAULT_DROPOUT,
        pooling: str = "cls",
        scale_targets: bool = True,
        target_mean: Optional[float] = None,
        target_std: Optional[float] = None,
        name: str = "text_regressor",
        **kwargs,
    ):
        kwargs.pop("task", None)  # recorded in the config for readers; the class is the task
        super().__init__(backbone, tokenizer=tokenizer, max_length=max_length, pooling=pooling, name=name, **kwargs)
        object.__setattr__(self, "scale_targets", bool(scale_targets))
        object.__setattr__(self, "_scaling", None)
        self.head = RegressionHead(dropout, name="head")
        if target_mean is not None and target_std is not None:
            self.adapt_targets(mean=target_mean, std=target_std)
        self._build()

    @classmethod
    def from_backbone(
        cls,
        source=DEFAULT_BACKBONE,
        *,
        tokenizer=None,
        max_length: int = DEFAULT_MAX_LENGTH,
        dropout: float = DEFAULT_DROPOUT,
        pooling: str = DEFAULT_POOLING,
        scale_targets: bool = True,
        strategy=None,
        precision: Optional[str] = None,
        text_pair: Optional[bool] = None,
    ) -> "TextRegressor":
        """Load an encoder with `kerastl.load_backbone` and graft a regression head on it; the
        arguments are `TextClassifier.from_backbone`'s, without label names.

        Example:

            regressor = TextRegressor.from_backbone("all-minilm-l6-v2")
        """
        return cls._from_source(source, tokenizer=tokenizer, pooling=pooling, strategy=strategy, precision=precision,
                                max_length=max_length, dropout=dropout, scale_targets=scale_targets,
                                text_pair=text_pair)

    # -- targets

    @property
    def target_scaling(self) -> Optional[tuple]:
        """`(mean, std)` the head's output is scaled by, or None before any is taken."""
        return self.__dict__.get("_scaling")

    def adapt_targets(self, scores=None, *, mean: Optional[float] = None, std: Optional[float] = None) -> tuple:
        """Scale the head's output by the mean and standard deviation of `scores` (or by `mean`
        and `std` given); returns `(mean, std)`. A constant target keeps std 1."""
        if scores is not None:
            values = scores_from(np.asarray(scores, dtype=object).reshape(-1).tolist(), "adapt_targets(scores)")
            mean, std = float(values.mean()), float(values.std())
        if mean is None or std is None or not (math.isfinite(mean) and math.isfinite(std)):
            raise ValueError(f"adapt_targets: give scores, or a finite mean and std; received mean={mean}, std={std}")
        std = std if std > 1e-6 else 1.0
        self.head.set_scaling(mean, std)
        object.__setattr__(self, "_scaling", (float(mean), float(std)))
        return self.target_scaling

    def prepare_targets(self, targets) -> None:
        """Before training on `targets`: take their scaling, once, if `scale_targets`."""
        if self.scale_targets and self.target_scaling is None and targets is not None and len(targets):
            mean, std = self.adapt_targets(targets)
            logger.info("target scaling: mean %.4g, std %.4g (of the %d training targets)", mean, std, len(targets))

    # -- forward pass

    def call(self, inputs, training=None):
        encoder_training = training if self.backbone.trainable else False
        pooled = self._pool(self._encoder_features(inputs), encoder_training)  # (batch, dim)
        return self.head(pooled, training=training)  # (batch, 1)

    def default_compile(self) -> dict:
        """Adam at 5e-5, mean squared error, and the mean absolute error (`mae`) and root mean
        squared error (`rmse`): what `compile()` (every argument `"auto"`) uses."""
        return {"optimizer": keras.optimizers.Adam(5e-5), "loss": keras.losses.MeanSquaredError(),
                "metrics": [keras.metrics.MeanAbsoluteError(name="mae"),
                            keras.metrics.RootMeanSquaredError(name="rmse")]}

    @property
    def num_outputs(self) -> int:
        return 1

    @property
    def label_names(self):
        """None: a regressor has scores, not labels."""
        return None

    # -- data

    def _text_inputs(self) -> TextInputs:
        return TextInputs(self._encode, None, prepare=self.prepare_targets, text_pair=self.preprocessor.text_pair)

    def _encode(self, examples: TextExamples) -> EncodedExamples:
        encoded = self.preprocessor.encode(TextExamples(examples.texts, source=examples.source,
                                                        text_pairs=examples.text_pairs),
                                           labelled=examples.labels is not None)
        if examples.labels is None:
            return encoded
        return dataclasses.replace(encoded, labels=scores_from(examples.labels, examples.source)[:, None])  # (n, 1)

    def encode(self, texts, targets=None) -> EncodedExamples:
        """Tokenize examples once (truncated to `max_length`), with their targets as float32 (n, 1)."""
        return self._encode(as_examples(texts, targets, what="encode(texts)", task="regression"))

    def make_dataset(self, texts, targets=None, *, batch_size: int = 32, shuffle: bool = False, seed=None,
                     bucket: bool = True):
        """Padded-per-batch `(features, targets)` batches, as `TextClassifier.make_dataset`."""
        return self.encode(texts, targets).dataset(batch_size, shuffle=shuffle, seed=seed, bucket=bucket)

    # -- saving

    def get_config(self):
        mean, std = self.target_scaling or (None, None)
        return {**super().get_config(), "task": self.task, "dropout": self.head.dropout,
                "scale_targets": self.scale_targets, "target_mean": mean, "target_std": std}

    @classmethod
    def from_config(cls, config, tokenizer=None):
        config = dict(config)
        encoder = encoders.from_config_dict(config.pop("backbone"), config.pop("encoder_family", None))
        return cls(encoder, tokenizer=tokenizer, **config)
