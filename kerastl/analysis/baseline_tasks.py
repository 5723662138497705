"""The feature baselines of a regression and a multi-label task, on the frozen encoder's pooled
vectors: ridge regression beside the training mean, and one-vs-rest logistic regression beside
the most frequent label; each reference shows what no learning at all scores."""

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn import metrics as sk_metrics
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kerastl.analysis.features import split_features
from kerastl.analysis.plots import plot_per_label_f1, plot_predicted_against_true
from kerastl.analysis.regression import regression_scores
from kerastl.data.label_sets import multi_hot

logger = logging.getLogger("kerastl.analysis.baseline")

MEAN = "mean"
RIDGE = "ridge"
MOST_FREQUENT = "most_frequent"
ONE_VS_REST = "logistic_regression"
RIDGE_ALPHAS = tuple(np.logspace(-2, 4, 13))  # RidgeCV picks one by leave-one-out on the training set


@dataclasses.dataclass
class RegressionBaselineResult:
    """Validation predictions of the two reference regressors, and the fitted regressors.

    Args:
        y_true: the true validation scores, (n,).
        predictions: `{"mean": scores, "ridge": scores}`, each (n,).
        regressors: the fitted scikit-learn estimators under the same names.

    Example:
    >>> result = kerastl.feature_baseline(regressor, (texts[:48], scores[:48]), (texts[48:], scores[48:]),
    ...                                   verbose=0)
    >>> sorted(result.scores())
    ['mean', 'ridge']
    """

    y_true: np.ndarray
    predictions: dict
    regressors: dict

    def __repr__(self):
        return f"RegressionBaselineResult({self.scores()})"

    @property
    def alpha(self) -> float:
        """The ridge penalty chosen on the training set."""
        return float(self.regressors[RIDGE][-1].alpha_)

    def scores(self) -> dict:
        """`{name: {"n", "pearson", "spearman", "mse", "mae"}}` on the validation split."""
        return {name: regression_scores(self.y_true, y_pred) for name, y_pred in self.predictions.items()}

    def summary_text(self) -> str:
        """One line per regressor: Pearson, Spearman, MSE and MAE."""
        return "\n".join(
            f"{name:>20}: pearson {s['pearson']:.3f}  spearman {s['spearman']:.3f}  mse {s['mse']:.3f}  "
            f"mae {s['mae']:.3f}  (n={s['n']})"
            for name, s in self.scores().items()
        )

    def plot_predicted_against_true(self, name: str = RIDGE, *, path=None) -> Figure:
        """The predicted-against-true scatter plot of one of the regressors."""
        if name not in self.predictions:
            raise ValueError(f"name must be one of {sorted(self.predictions)}, received name={name!r}")
        title = f"{name.capitalize()} on frozen encoder features"
        return plot_predicted_against_true(self.y_true, self.predictions[name], title=title, path=path)

    def save(self, directory) -> dict:
        """Write `baseline.json` (the scores) and `baseline_predicted_vs_true.png`; return the scores."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        scores = self.scores()
        (directory / "baseline.json").write_text(json.dumps(scores, indent=2))
        self.plot_predicted_against_true(path=directory / "baseline_predicted_vs_true.png")
        logger.info("baseline: wrote baseline.json and baseline_predicted_vs_true.png to %s", directory)
        return scores


def regression_baseline(model, train, validation, *, batch_size: int, verbose) -> RegressionBaselineResult:
    """Fit `RidgeCV` (standardised features, alpha by leave-one-out on `train` alone) and the
    training mean on the frozen features of `model`; predict `validation`.

    Args:
        model: a `TextRegressor`, whose encoder gives the features.
        train, validation: `TextExamples` with float scores as labels.
        batch_size: texts per encoder forward pass.
        verbose: progress bars of the two feature passes.
    """
    y_train = np.asarray(train.labels, dtype=np.float64)
    y_val = np.asarray(validation.labels, dtype=np.float64)
    x_train, x_val = (split_features(model, split, name, batch_size, verbose)
                      for split, name in ((train, "training"), (validation, "validation")))
    logger.info("baseline: fitting a ridge regression on %d vectors of %d dimensions, and the mean", *x_train.shape)
    regressors = {
        MEAN: DummyRegressor(strategy="mean"),
        RIDGE: make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS)),
    }
    predictions = {name: reg.fit(x_train, y_train).predict(x_val) for name, reg in regressors.items()}
    result = RegressionBaselineResult(y_val, predictions, regressors)
    logger.info("baseline: ridge alpha %.3g, chosen on the training set", result.alpha)
    return result


def multi_label_scores(y_true, y_pred) -> dict:
    """`{"n", "micro_f1", "macro_f1", "subset_accuracy"}` of (n, k) multi-hot predictions; subset
    accuracy counts the examples whose whole label set is right."""
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    micro, macro = (float(sk_metrics.f1_score(y_true, y_pred, average=average, zero_division=0))
                    for average in ("micro", "macro"))
    return {"n": int(len(y_true)), "micro_f1": micro, "macro_f1": macro,
            "subset_accuracy": float(sk_metrics.accuracy_score(y_true, y_pred))}


@dataclasses.dataclass
class MultiLabelBaselineResult:
    """Validation predictions of the two multi-label references, and the fitted classifier.

    Args:
        label_names: the label names, in column order.
        y_true: the true validation label sets, multi-hot (n, k).
        predictions: `{"most_frequent": (n, k), "logistic_regression": (n, k)}` multi-hot.
        classifiers: the fitted one-vs-rest logistic regression under its name.
    """

    label_names: tuple
    y_true: np.ndarray
    predictions: dict
    classifiers: dict

    def __repr__(self):
        return f"MultiLabelBaselineResult({self.scores()})"

    def scores(self) -> dict:
        """`{name: {"n", "micro_f1", "macro_f1", "subset_accuracy"}}` on the validation split."""
        return {name: multi_label_scores(self.y_true, y_pred) for name, y_pred in self.predictions.items()}

    def summary_text(self) -> str:
        """One line per classifier: micro F1, macro F1 and subset accuracy."""
        return "\n".join(
            f"{name:>20}: micro F1 {s['micro_f1']:.3f}  macro F1 {s['macro_f1']:.3f}  "
            f"subset accuracy {s['subset_accuracy']:.3f}  (n={s['n']})"
            for name, s in self.scores().items()
        )

    def plot_per_label_f1(self, name: str = ONE_VS_REST, *, path=None) -> Figure:
        """A bar per label with the F1 of one of the classifiers on it, lowest at the bottom."""
        f1 = sk_metrics.f1_score(self.y_true.astype(int), self.predictions[name].astype(int), average=None,
                                 zero_division=0)
        title = f"{name.replace('_', ' ').capitalize()} per label, F1 on the validation split (n={len(self.y_true)})"
        return plot_per_label_f1(self.label_names, f1, title=title, path=path)

    def save(self, directory) -> dict:
        """Write `baseline.json` (the scores) and `baseline_per_label_f1.png`; return the scores."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        scores = self.scores()
        (directory / "baseline.json").write_text(json.dumps(scores, indent=2))
        self.plot_per_label_f1(path=directory / "baseline_per_label_f1.png")
        logger.info("baseline: wrote baseline.json and baseline_per_label_f1.png to %s", directory)
        return scores


def multi_label_baseline(model, train, validation, *, batch_size: int, max_iter: int,
                         verbose) -> MultiLabelBaselineResult:
    """Fit one logistic regression per label (standardised features, one-vs-rest, threshold 0.5)
    on the frozen features of `model`; beside it, every text given the most frequent training label.

    Args:
        model: a `TextMultiLabelClassifier`, whose encoder gives the features and whose labels fix
            the columns.
        train, validation: `TextExamples` whose labels are label sets.
        batch_size: texts per encoder forward pass.
        max_iter: L-BFGS iterations of each logistic regression.
        verbose: progress bars of the two feature passes.
    """
    names = tuple(model.label_names)
    y_train = multi_hot(train.labels, names, train.source)
    y_val = multi_hot(validation.labels, names, validation.source)
    x_train, x_val = (split_features(model, split, name, batch_size, verbose)
                      for split, name in ((train, "training"), (validation, "validation")))
    logger.info("baseline: fitting %d one-vs-rest logistic regressions on %d vectors of %d dimensions",
                len(names), *x_train.shape)
    classifier = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=max_iter)))
    most_frequent = np.zeros_like(y_val)
    most_frequent[:, int(np.argmax(y_train.sum(axis=0)))] = 1.0
    predictions = {MOST_FREQUENT: most_frequent,
                   ONE_VS_REST: classifier.fit(x_train, y_train.astype(int)).predict(x_val).astype(np.float32)}
    return MultiLabelBaselineResult(names, y_val, predictions, {ONE_VS_REST: classifier})
