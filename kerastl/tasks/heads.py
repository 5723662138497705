"""The classification head: dropout + dense on the pooled [CLS] vector -> logits."""

import tensorflow as tf

from kerastl._keras import keras
from kerastl.config import DEFAULT_DROPOUT


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
