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


@keras.saving.register_keras_serializable(package="kerastl")
class RegressionHead(keras.layers.Layer):
    """Dropout then a one-unit dense layer, in target units: pooled vector (batch, dim) -> score
    (batch, 1) = `target_mean + target_std * dense(dropout(pooled))`.

    `target_mean` and `target_std` (non-trainable, 0 and 1 unless set by
    `TextRegressor.adapt_targets`) make the dense layer fit standardized targets while the
    output, the loss and the metrics stay in the target's own units. Runs in float32.

    Example:
    >>> head = RegressionHead()
    >>> head(tf.zeros((2, 32))).shape
    TensorShape([2, 1])
    """

    def __init__(self, dropout: float = DEFAULT_DROPOUT, target_mean: float = 0.0, target_std: float = 1.0,
                 **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), received dropout={dropout}")
        self.dropout = dropout
        self.head_dropout = keras.layers.Dropout(dropout, name="head_dropout", dtype="float32")
        self.score = keras.layers.Dense(1, name="score", dtype="float32")
        self.target_mean = self.add_weight(name="target_mean", shape=(), dtype="float32", trainable=False,
                                           initializer=keras.initializers.Constant(float(target_mean)))
        self.target_std = self.add_weight(name="target_std", shape=(), dtype="float32", trainable=False,
                                          initializer=keras.initializers.Constant(float(target_std)))

    def set_scaling(self, mean: float, std: float) -> None:
        """Set the target's mean and standard deviation (the output's offset and scale)."""
        self.target_mean.assign(float(mean))
        self.target_std.assign(float(std))

    def call(self, pooled, training=None):
        pooled = self.head_dropout(tf.cast(pooled, tf.float32), training=training)
        return self.target_mean + self.target_std * self.score(pooled)  # (batch, 1)

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout, "target_mean": float(self.target_mean.numpy()),
                "target_std": float(self.target_std.numpy())}


@keras.saving.register_keras_serializable(package="kerastl")
class MultiLabelHead(ClassificationHead):
    """`ClassificationHead`'s dropout and dense layer, then a sigmoid: pooled vector (batch, dim) ->
    one probability per label (batch, num_labels), each label independent of the others.

    Example:
    >>> head = MultiLabelHead(num_labels=4)
    >>> head(tf.zeros((2, 32))).shape
    TensorShape([2, 4])
    """

    def call(self, pooled, training=None):
        return tf.sigmoid(super().call(pooled, training=training))  # (batch, num_labels) probabilities
