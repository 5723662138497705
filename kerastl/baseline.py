"""The feature-extraction baseline: a logistic regression on the frozen encoder's [CLS] vectors.

Before fine-tuning anything, the encoder's [CLS] hidden states serve as fixed features for a
scikit-learn `LogisticRegression`; a `DummyClassifier` that always predicts the most frequent
training label shows what no learning at all scores. Fine-tuning has to beat both.
"""

import dataclasses
import json
import os
from pathlib import Path
from typing import Optional

import numpy as np
from matplotlib.figure import Figure
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kerastl import data as data_lib
from kerastl.errors import DataError
from kerastl.evaluation import classification_scores, plot_confusion_matrix

MOST_FREQUENT = "most_frequent"
LOGISTIC_REGRESSION = "logistic_regression"


def extract_features(model, examples, *, batch_size: int = 64) -> np.ndarray:
    """The frozen encoder's [CLS] vector of every text, in input order: (n, hidden_size) float32.

    Args:
        model: a `TextClassifier`; only its encoder and tokenizer are used.
        examples: `TextExamples` or a list of texts.
        batch_size: texts per forward pass.
    """
    texts = examples.texts if isinstance(examples, data_lib.TextExamples) else list(examples)
    encoded = model.encode(texts)
    return model.pooled_features(encoded, batch_size=batch_size).numpy().astype(np.float32)


@dataclasses.dataclass
class BaselineResult:
    """Validation predictions of the two reference classifiers, and the fitted classifiers.

    Args:
        label_names: the label names, in id order.
        y_true: the true validation label ids, (n,).
        predictions: `{"most_frequent": ids, "logistic_regression": ids}`, each (n,).
        classifiers: the fitted scikit-learn estimators under the same names.
    """

    label_names: tuple
    y_true: np.ndarray
    predictions: dict
    classifiers: dict

    def __repr__(self):
        return f"BaselineResult({self.scores()})"

    def scores(self) -> dict:
        """`{name: {"n", "accuracy", "macro_f1", "weighted_f1"}}` on the validation split."""
        return {
            name: classification_scores(self.y_true, y_pred, len(self.label_names))
            for name, y_pred in self.predictions.items()
        }

    def summary_text(self) -> str:
        """One line per classifier: accuracy, macro F1 and weighted F1."""
        return "\n".join(
            f"{name:>20}: accuracy {s['accuracy']:.3f}  macro F1 {s['macro_f1']:.3f}  "
            f"weighted F1 {s['weighted_f1']:.3f}  (n={s['n']})"
            for name, s in self.scores().items()
        )

    def plot_confusion_matrix(self, name: str = LOGISTIC_REGRESSION, *, path=None) -> Figure:
        """The row-normalised confusion matrix of one of the classifiers."""
        if name not in self.predictions:
            raise ValueError(f"name must be one of {sorted(self.predictions)}, received name={name!r}")
        title = f"{name.replace('_', ' ').capitalize()} on [CLS] features (n={len(self.y_true)})"
        y_pred = self.predictions[name]
        return plot_confusion_matrix(self.y_true, y_pred, self.label_names, title=title, path=path)

    def save(self, directory) -> dict:
        """Write `baseline.json` (the scores) and `baseline_confusion_matrix.png`; return the scores."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        scores = self.scores()
        (directory / "baseline.json").write_text(json.dumps(scores, indent=2))
        self.plot_confusion_matrix(path=directory / "baseline_confusion_matrix.png")
        return scores


def feature_baseline(
    model,
    train: data_lib.TextExamples,
    validation: data_lib.TextExamples,
    *,
    max_length: int = 128,
    batch_size: int = 64,
    max_iter: int = 1000,
    directory: Optional[os.PathLike] = None,
) -> BaselineResult:
    """Fit `LogisticRegression` and `DummyClassifier("most_frequent")` on frozen [CLS] features.

    Features are standardised before the logistic regression, which then converges in a few
    hundred L-BFGS steps instead of thousands; the predictions are scored on `validation`.

    Args:
        model: a `TextClassifier` (its encoder, frozen, gives the features; its head is unused
            and its labels fix the label ids), or an encoder source for
            `TextClassifier.from_backbone` such as `"all-minilm-l6-v2"`.
        train: labelled training examples.
        validation: labelled examples to score on.
        max_length: tokens per text, when `model` is a source.
        batch_size: texts per encoder forward pass.
        max_iter: L-BFGS iterations of the logistic regression.
        directory: also write the scores and a confusion matrix there (see `BaselineResult.save`).

    Example (`model` a tiny `TextClassifier`; `"all-minilm-l6-v2"` in its place loads the real encoder):
    >>> result = feature_baseline(model, train, validation)
    >>> sorted(result.scores())
    ['logistic_regression', 'most_frequent']
    >>> print(result.summary_text())
           most_frequent: accuracy 0.500  macro F1 0.333  weighted F1 0.333  (n=16)
     logistic_regression: accuracy ...  macro F1 ...  weighted F1 ...  (n=16)
    """
    for name, split in (("train", train), ("validation", validation)):
        if not isinstance(split, data_lib.TextExamples):
            raise TypeError(f"{name} must be TextExamples, received {type(split).__name__}")
        if split.labels is None:
            raise DataError(f"{split.source} has no labels; the baseline needs labelled {name} examples")
    label_names = train.label_names() if isinstance(model, (str, os.PathLike)) else model.labels
    # Unknown labels fail here, before an encoder is loaded or a feature computed.
    y_train = data_lib.encode_labels(train.labels, label_names, train.source)
    y_val = data_lib.encode_labels(validation.labels, label_names, validation.source)
    if isinstance(model, (str, os.PathLike)):
        from kerastl.classifier import TextClassifier

        model = TextClassifier.from_backbone(model, label_names, max_length=max_length)
    x_train = extract_features(model, train, batch_size=batch_size)
    x_val = extract_features(model, validation, batch_size=batch_size)
    classifiers = {
        MOST_FREQUENT: DummyClassifier(strategy="most_frequent"),
        LOGISTIC_REGRESSION: make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter)),
    }
    predictions = {name: clf.fit(x_train, y_train).predict(x_val) for name, clf in classifiers.items()}
    result = BaselineResult(tuple(model.labels), y_val, predictions, classifiers)
    if directory is not None:
        result.save(directory)
    return result
