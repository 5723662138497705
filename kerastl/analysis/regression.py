"""A regressor's predictions and scores: Pearson and Spearman correlations (scipy.stats), mean
squared and mean absolute error."""

import dataclasses

import numpy as np

from kerastl.config import INFERENCE_BATCH_SIZE
from kerastl.data.text_examples import as_examples
from kerastl.errors import DataError


def predict_scores(model, texts, *, batch_size: int = INFERENCE_BATCH_SIZE, verbose=0) -> np.ndarray:
    """A `TextRegressor`'s scores for `texts`, (n,) float32 in input order, in the targets' units."""
    examples = as_examples(texts, labelled=False, what="predict(texts)", text_pair=getattr(model, "text_pair", None))
    if not len(examples):
        return np.zeros((0,), np.float32)
    unlabelled = dataclasses.replace(examples, labels=None, label_set=None)  # the texts (and pairs) only
    outputs = model.predict_logits(model.encode(unlabelled), batch_size=batch_size, verbose=verbose)
    return outputs.numpy().astype(np.float32).reshape(-1)


def regression_scores(y_true, y_pred) -> dict:
    """`{"n", "pearson", "spearman", "mse", "mae"}` of predicted against true scores; a
    correlation is 0.0 where either side is constant (scipy would give NaN)."""
    from scipy import stats

    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    constant = len(y_true) < 2 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0
    return {
        "n": int(len(y_true)),
        "pearson": 0.0 if constant else float(stats.pearsonr(y_true, y_pred).statistic),
        "spearman": 0.0 if constant else float(stats.spearmanr(y_true, y_pred).statistic),
        "mse": float(np.mean((y_true - y_pred) ** 2)),
        "mae": float(np.mean(np.abs(y_true - y_pred))),
    }


def evaluate_regression(model, examples, *, batch_size: int = INFERENCE_BATCH_SIZE, verbose=0) -> dict:
    """`regression_scores` of a `TextRegressor` on examples with numeric targets (anything
    `kerastl.as_examples` accepts; a file's `score` column by header)."""
    examples = as_examples(examples, labelled=True, what="evaluate(examples)", task="regression",
                           text_pair=getattr(model, "text_pair", None))
    if len(examples) == 0:
        raise DataError(f"{examples.source} holds no examples")
    predicted = predict_scores(model, examples, batch_size=batch_size, verbose=verbose)
    return regression_scores(examples.labels, predicted)
