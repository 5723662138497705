"""`Predictions`: class scores for a list of texts, with the model's label names.

Both ways of predicting return it: the Keras model (`kerastl.analysis.evaluation.predict`) and an exported
SavedModel (`kerastl.serving.saved_model.SavedModelClassifier.predict`), so neither module imports the other.
"""

import dataclasses

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class Predictions:
    """Class probabilities for a list of texts, with the model's label names.

    Args:
        label_names: the model's labels, in id order.
        logits: raw model outputs, (n, num_labels) float32.

    Example:
    >>> Predictions(("neg", "pos"), np.array([[0.0, 2.0]], np.float32)).labels
    ['pos']
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
