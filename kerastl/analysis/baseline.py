"""The feature-extraction baseline: a logistic regression on the frozen encoder's [CLS] vectors.

Before fine-tuning anything, the encoder's [CLS] hidden states serve as fixed features for a
scikit-learn `LogisticRegression`; a `DummyClassifier` that always predicts the most frequent
training label shows what no learning at all scores. Fine-tuning has to beat both.
"""

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Optional

import numpy as np
from matplotlib.figure import Figure
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kerastl.analysis.baseline_tasks import multi_label_baseline, regression_baseline
from kerastl.analysis.evaluation import classification_scores, per_class_scores, plot_confusion_matrix
from kerastl.analysis.features import extract_features, split_features  # noqa: F401 (extract_features re-exported)
from kerastl.config import DEFAULT_MAX_LENGTH, INFERENCE_BATCH_SIZE
from kerastl.data.label_sets import multi_hot, task_name
from kerastl.data.text_examples import as_examples

logger = logging.getLogger(__name__)

MOST_FREQUENT = "most_frequent"
LOGISTIC_REGRESSION = "logistic_regression"
BASELINE_TASKS = ("classification", "regression", "multi_label")


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
        """`{name: {"n", "accuracy", "macro_f1", "weighted_f1", "per_class"}}` on the validation split;
        `per_class` is `{label: {precision, recall, f1, support}}`, as `kerastl evaluate --json` gives it."""
        return {
            name: {**classification_scores(self.y_true, y_pred, len(self.label_names)),
                   "per_class": per_class_scores(self.y_true, y_pred, self.label_names)}
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
        logger.info("baseline: wrote baseline.json and baseline_confusion_matrix.png to %s", directory)
        return scores


def feature_baseline(
    model,
    train,
    validation,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    batch_size: int = INFERENCE_BATCH_SIZE,
    max_iter: int = 1000,
    directory: Optional[os.PathLike] = None,
    verbose="auto",
    task: Optional[str] = None,
):
    """Fit `LogisticRegression` and `DummyClassifier("most_frequent")` on frozen [CLS] features.

    With `task="regression"` (or a `TextRegressor`) it fits ridge regression and the training mean
    instead, and returns a `RegressionBaselineResult` (pearson, spearman, mse, mae); with
    `task="multi_label"` (or a `TextMultiLabelClassifier`) one-vs-rest logistic regression and the
    most frequent label, a `MultiLabelBaselineResult` (micro and macro F1, subset accuracy).

    Features are standardised before the logistic regression, which then converges in a few
    hundred L-BFGS steps instead of thousands; the predictions are scored on `validation`.

    Args:
        model: a `TextClassifier` (its encoder, frozen, gives the features; its head is unused
            and its labels fix the label ids), or an encoder source for
            `TextClassifier.from_backbone` such as `"all-minilm-l6-v2"`.
        train: labelled training examples: anything `kerastl.as_examples` accepts with labels.
        validation: labelled examples to score on, likewise.
        max_length: tokens per text, when `model` is a source.
        batch_size: texts per encoder forward pass.
        max_iter: L-BFGS iterations of the logistic regression.
        directory: also write the scores and a confusion matrix there (see `BaselineResult.save`).
        verbose: progress bars of the two [CLS] passes: `"auto"` (as Keras' `fit`), 0, 1 or 2.
            The steps are also logged to the `kerastl` logger.
        task: `"classification"`, `"regression"` (the targets read as scores) or `"multi_label"`
            (label sets); default: the model's own task, and classification for a source.

    Example (`model` a tiny `TextClassifier`; `"all-minilm-l6-v2"` in its place loads the real encoder):
    >>> result = feature_baseline(model, train, validation, verbose=0)
    >>> sorted(result.scores())
    ['logistic_regression', 'most_frequent']
    >>> print(result.summary_text())
           most_frequent: accuracy 0.500  macro F1 0.333  weighted F1 0.333  (n=16)
     logistic_regression: accuracy ...  macro F1 ...  weighted F1 ...  (n=16)
    """
    task = _baseline_task(model, task)
    train, validation = (as_examples(split, labelled=True, what=f"feature_baseline({name})", task=task)
                         for name, split in (("train", train), ("validation", validation)))
    if task == "regression":
        if isinstance(model, (str, os.PathLike)):
            from kerastl.tasks.text_regressor import TextRegressor

            model = TextRegressor.from_backbone(model, max_length=max_length)
        result = regression_baseline(model, train, validation, batch_size=batch_size, verbose=verbose)
    if task == "multi_label":
        names = train.label_names() if isinstance(model, (str, os.PathLike)) else model.label_names
        multi_hot(validation.labels, names, validation.source)  # unknown names stop before an encoder loads
        if isinstance(model, (str, os.PathLike)):
            from kerastl.tasks.text_multi_label import TextMultiLabelClassifier

            model = TextMultiLabelClassifier.from_backbone(model, names, max_length=max_length)
        result = multi_label_baseline(model, train, validation, batch_size=batch_size, max_iter=max_iter,
                                      verbose=verbose)
    if task != "classification":
        if directory is not None:
            result.save(directory)
        return result
    label_names = train.label_names() if isinstance(model, (str, os.PathLike)) else model.label_names
    # Unknown labels fail here, before an encoder is loaded or a feature computed.
    y_train = train.label_ids(label_names)
    y_val = validation.label_ids(label_names)
    if isinstance(model, (str, os.PathLike)):
        from kerastl.tasks.text_classifier import TextClassifier

        model = TextClassifier.from_backbone(model, label_names, max_length=max_length)
    x_train, x_val = (split_features(model, split, name, batch_size, verbose)
                      for split, name in ((train, "training"), (validation, "validation")))
    logger.info("baseline: fitting a logistic regression on %d vectors of %d dimensions, and the majority class",
                *x_train.shape)
    classifiers = {
        MOST_FREQUENT: DummyClassifier(strategy="most_frequent"),
        LOGISTIC_REGRESSION: make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter)),
    }
    predictions = {name: clf.fit(x_train, y_train).predict(x_val) for name, clf in classifiers.items()}
    result = BaselineResult(tuple(model.label_names), y_val, predictions, classifiers)
    if directory is not None:
        result.save(directory)
    return result


def _baseline_task(model, task: Optional[str]) -> str:
    """The task to fit a baseline for: `task` as given, else the model's own (classification for a
    source); a model of another task is refused."""
    own = None if isinstance(model, (str, os.PathLike)) else getattr(model, "task", "classification")
    task = task_name(task) or own or "classification"
    if task not in BASELINE_TASKS:
        raise ValueError(f"task must be one of {list(BASELINE_TASKS)}, received task={task!r}")
    if own is not None and own != task:
        raise ValueError(f"feature_baseline(task={task!r}) received a {type(model).__name__} (task {own!r}): "
                         f"give task={own!r}, or an encoder source such as 'all-minilm-l6-v2'")
    return task
