"""The feature baseline of a regression task: ridge regression on the frozen encoder's pooled
vectors, beside the training mean, which shows what no learning at all scores."""

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kerastl.analysis.features import split_features
from kerastl.analysis.plots import plot_predicted_against_true
from kerastl.analysis.regression import regression_scores

logger = logging.getLogger("kerastl.analysis.baseline")

MEAN = "mean"
RIDGE = "ridge"
RIDGE_ALPHAS = tuple(np.logspace(-2, 4, 13))  # RidgeCV picks one by leave-one-out on the training set


@dataclasses.dataclass
class RegressionBaselineResult:
    """Validation predictions of the two reference regressors, and the fitted regressors.

    Args:
        y_true: the true validation scores, (n,).
        predictions: `{"mean": scores, "ridge": scores}`, each (n,).
        regressors: the fitted scikit-learn estimators under the same names.

    Example:
    >>> result = feature_baseline(regressor, train, validation, verbose=0)
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
