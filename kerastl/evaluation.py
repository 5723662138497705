"""Predictions with label names, and the metrics of a labelled split."""

import dataclasses
from typing import Sequence

import numpy as np
import tensorflow as tf
from sklearn import metrics as sk_metrics

from kerastl import data as data_lib
from kerastl._keras import keras


@dataclasses.dataclass
class Predictions:
    """Class probabilities for a list of texts, with the model's label names.

    Args:
        label_names: the model's labels, in id order.
        logits: raw model outputs, (n, num_labels) float32.
    """

    label_names: tuple
    logits: np.ndarray

    @property
    def probabilities(self) -> np.ndarray:
        """Softmax of the logits, (n, num_labels)."""
        return tf.nn.softmax(self.logits, axis=-1).numpy()

    @property
    def label_ids(self) -> np.ndarray:
        """Most probable label id per text, (n,)."""
        return self.logits.argmax(axis=-1)

    @property
    def labels(self) -> list:
        """Most probable label name per text."""
        return [self.label_names[i] for i in self.label_ids]

    def records(self) -> list:
        """One `{"label": name, "probabilities": {name: p}}` per text, in input order."""
        return [
            {"label": self.label_names[row.argmax()],
             "probabilities": {name: float(p) for name, p in zip(self.label_names, row)}}
            for row in self.probabilities
        ]


def predict(model, texts: Sequence[str], *, batch_size: int = 64, verbose=0) -> Predictions:
    """Classify `texts` with a `TextClassifier`; the output keeps the input order.

    Example:
    >>> predict(model, ["what a lovely day"]).records()  # doctest: +SKIP
    [{'label': 'joy', 'probabilities': {'anger': 0.01, ...}}]
    """
    texts = list(texts)
    if not texts:
        return Predictions(model.labels, np.zeros((0, len(model.labels)), np.float32))
    dataset = model.make_dataset(texts, batch_size=batch_size)
    logits = model.predict(dataset, verbose=verbose)
    return Predictions(model.labels, np.asarray(logits, dtype=np.float32))


def evaluate(model, examples: data_lib.TextExamples, *, batch_size: int = 64, verbose=0) -> dict:
    """Accuracy, macro F1, weighted F1 and mean cross-entropy of `model` on labelled examples.

    Returns:
        `{"n", "accuracy", "macro_f1", "weighted_f1", "loss"}`.

    Example:
    >>> evaluate(model, read_examples("test.csv"))["accuracy"]  # doctest: +SKIP
    0.93
    """
    y_true = data_lib.encode_labels(examples.labels, model.labels, examples.source)
    predictions = predict(model, examples.texts, batch_size=batch_size, verbose=verbose)
    y_pred = predictions.label_ids
    losses = keras.losses.sparse_categorical_crossentropy(y_true, predictions.logits, from_logits=True)
    label_ids = list(range(len(model.labels)))
    return {
        "n": int(len(y_true)),
        "accuracy": float(sk_metrics.accuracy_score(y_true, y_pred)),
        "macro_f1": float(sk_metrics.f1_score(y_true, y_pred, labels=label_ids, average="macro", zero_division=0)),
        "weighted_f1": float(
            sk_metrics.f1_score(y_true, y_pred, labels=label_ids, average="weighted", zero_division=0)
        ),
        "loss": float(np.mean(losses)),
    }
