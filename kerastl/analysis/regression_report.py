"""A regressor's evaluation report: the scores, a predicted-against-true scatter plot and the
examples with the largest errors, as `write_report` writes them for a `TextRegressor`."""

import dataclasses
import json
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kerastl.analysis.plots import plot_predicted_against_true, save_training_curves
from kerastl.analysis.regression import predict_scores, regression_scores
from kerastl.config import INFERENCE_BATCH_SIZE
from kerastl.data.text_examples import as_examples
from kerastl.errors import DataError


@dataclasses.dataclass
class RegressionEvaluation:
    """A regressor's predictions on examples with numeric targets, and the report drawn from them.

    Args:
        texts: the evaluated texts, in input order.
        targets: the true score of every text, (n,).
        predictions: the predicted scores, (n,).
        text_pairs: the second text of every example for a pair task, else `None`.

    Example:
    >>> ev = RegressionEvaluation.from_model(regressor, (texts, scores))
    >>> sorted(ev.scores())
    ['mae', 'mse', 'n', 'pearson', 'spearman']
    >>> ev.largest_errors(5).columns.tolist()
    ['text', 'true', 'predicted', 'error']
    """

    texts: list
    targets: np.ndarray
    predictions: np.ndarray
    text_pairs: Optional[list] = None

    def __repr__(self):
        return f"RegressionEvaluation(n={len(self.texts)}, scores={self.scores()})"

    @classmethod
    def from_model(cls, model, examples, *, batch_size: int = INFERENCE_BATCH_SIZE,
                   verbose=0) -> "RegressionEvaluation":
        """Run a `TextRegressor` on `examples` with numeric targets (anything `kerastl.as_examples`
        accepts; a file's `score` column by header)."""
        examples = as_examples(examples, labelled=True, what="RegressionEvaluation.from_model(examples)",
                               task="regression", text_pair=getattr(model, "text_pair", None))
        if len(examples) == 0:
            raise DataError(f"{examples.source} holds no examples")
        predicted = predict_scores(model, examples, batch_size=batch_size, verbose=verbose)
        pairs = getattr(examples, "text_pairs", None)
        targets = np.asarray(examples.labels, dtype=np.float32).reshape(-1)
        return cls(list(examples.texts), targets, predicted, None if pairs is None else list(pairs))

    @property
    def errors(self) -> np.ndarray:
        """Predicted minus true score of every example, (n,): above 0 where the model overshoots."""
        return np.asarray(self.predictions, np.float64) - np.asarray(self.targets, np.float64)

    def scores(self) -> dict:
        """`{"n", "pearson", "spearman", "mse", "mae"}`, as `kerastl.evaluate` returns them."""
        return regression_scores(self.targets, self.predictions)

    def metrics(self) -> dict:
        """The scores (a regressor has no per-class figures), as `Evaluation.metrics` for a classifier."""
        return self.scores()

    def per_example(self) -> pd.DataFrame:
        """One row per example in input order: text, text_pair (for pairs), true, predicted, error."""
        columns = {"text": self.texts}
        if self.text_pairs is not None:
            columns["text_pair"] = self.text_pairs
        columns.update(true=np.asarray(self.targets, np.float64), predicted=np.asarray(self.predictions, np.float64),
                       error=self.errors)
        return pd.DataFrame(columns)

    def largest_errors(self, k: int = 10) -> pd.DataFrame:
        """The `k` examples the model is furthest off on (largest absolute error first)."""
        table = self.per_example()
        order = np.argsort(-np.abs(self.errors), kind="stable")[:k]
        return table.iloc[order]

    def plot_predicted_against_true(self, *, title: Optional[str] = None, path=None) -> Figure:
        """The scatter plot of predicted against true scores with the y = x line; see
        `kerastl.analysis.plots.plot_predicted_against_true`."""
        return plot_predicted_against_true(self.targets, self.predictions, title=title, path=path)

    def save(self, directory, *, top_k: int = 10, history: Optional[dict] = None) -> dict:
        """Write the report to `directory` and return the scores.

        Files: `metrics.json` (the scores), `predicted_vs_true.png`, `largest_errors.csv` (the
        `top_k` examples with the largest absolute errors, as `highest_loss.csv` is for a
        classifier), and `training_curves.png` when `history` is given.

        Args:
            directory: the folder to write to; created if needed, files in it are replaced.
            top_k: rows in the error table.
            history: `model.training_history`, for the training curves.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        metrics = self.metrics()
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=2))
        self.plot_predicted_against_true(path=directory / "predicted_vs_true.png")
        self.largest_errors(top_k).to_csv(directory / "largest_errors.csv", index=False)
        save_training_curves(history, directory)
        return metrics
