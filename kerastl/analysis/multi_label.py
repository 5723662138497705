"""A multi-label model's predictions (the label set of each text and every probability) and its
scores: micro and macro F1, subset accuracy and a per-label table (scikit-learn), and its report."""

import dataclasses
import json
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kerastl.analysis.plots import plot_per_label_f1, save_training_curves
from kerastl.config import INFERENCE_BATCH_SIZE
from kerastl.data.text_examples import as_examples
from kerastl.errors import DataError
from kerastl.tasks.thresholds import decide

PER_LABEL_COLUMNS = ("precision", "recall", "f1", "support", "threshold")  # per_class's, per_label.csv's


@dataclasses.dataclass
class MultiLabelPredictions:
    """Probabilities of every label for a list of texts, and the label sets they decide.

    Args:
        label_names: the model's labels, in output order.
        probabilities: (n, num_labels) float32, one sigmoid per label.
        thresholds: one decision threshold per label: a label is predicted where its
            probability reaches it.

    Example:
    >>> p = MultiLabelPredictions(("joy", "love"), np.array([[0.9, 0.2]], np.float32), (0.5, 0.5))
    >>> p.labels, p.records()[0]["labels"]
    ([('joy',)], ['joy'])
    """

    label_names: tuple
    probabilities: np.ndarray
    thresholds: tuple

    @property
    def predicted(self) -> np.ndarray:
        """(n, num_labels) bool: the labels each text is predicted to carry."""
        return decide(self.probabilities, self.thresholds)

    @property
    def labels(self) -> list:
        """The predicted label set of every text, as a tuple of names in label order."""
        return [tuple(name for name, on in zip(self.label_names, row) if on) for row in self.predicted]

    def records(self) -> list:
        """One `{"labels": [names], "probabilities": {name: p}}` per text, in input order."""
        return [{"labels": list(names), "probabilities": {n: float(p) for n, p in zip(self.label_names, row)}}
                for names, row in zip(self.labels, self.probabilities)]


def predict_label_sets(model, texts, *, batch_size: int = INFERENCE_BATCH_SIZE, verbose=0) -> MultiLabelPredictions:
    """A `TextMultiLabelClassifier`'s `MultiLabelPredictions` for `texts`, in input order."""
    examples = as_examples(texts, labelled=False, what="predict(texts)", text_pair=getattr(model, "text_pair", None))
    if not examples.texts:
        empty = np.zeros((0, len(model.label_names)), np.float32)
        return MultiLabelPredictions(model.label_names, empty, model.thresholds)
    unlabelled = dataclasses.replace(examples, labels=None)
    outputs = model.predict_logits(model.encode(unlabelled), batch_size=batch_size, verbose=verbose)
    return MultiLabelPredictions(model.label_names, outputs.numpy().astype(np.float32), model.thresholds)


def multi_label_scores(targets, predicted, label_names, thresholds=None) -> dict:
    """`{"n", "micro_f1", "macro_f1", "subset_accuracy", "per_class"}` of predicted against true
    multi-hot label sets, (n, k) each; `per_class` is `{name: {precision, recall, f1, support,
    threshold}}`. Every label counts in the macro average, predicted or not."""
    from sklearn import metrics

    targets, predicted = np.asarray(targets) > 0.5, np.asarray(predicted, dtype=bool)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(targets, predicted, average=None,
                                                                              zero_division=0)
    thresholds = [None] * len(label_names) if thresholds is None else list(thresholds)
    per_class = {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s),
                        "threshold": None if t is None else float(t)}
                 for name, p, r, f, s, t in zip(label_names, precision, recall, f1, support, thresholds)}
    return {
        "n": int(len(targets)),
        "micro_f1": float(metrics.f1_score(targets, predicted, average="micro", zero_division=0)),
        "macro_f1": float(metrics.f1_score(targets, predicted, average="macro", zero_division=0)),
        "subset_accuracy": float(metrics.accuracy_score(targets, predicted)),
        "per_class": per_class,
    }


def evaluate_multi_label(model, examples, *, batch_size: int = INFERENCE_BATCH_SIZE, verbose=0) -> dict:
    """`multi_label_scores` of a `TextMultiLabelClassifier` at its thresholds on labelled examples
    (anything `kerastl.as_examples` accepts; label sets as the model reads them), with `loss`, the
    mean binary cross-entropy."""
    examples = as_examples(examples, labelled=True, what="evaluate(examples)", task="multi_label",
                           label_sep=model.label_sep, text_pair=getattr(model, "text_pair", None))
    if len(examples) == 0:
        raise DataError(f"{examples.source} holds no examples")
    targets = examples.label_ids(model.label_names)  # (n, k) multi-hot; unknown names refused here
    texts = dataclasses.replace(examples, labels=None)
    predictions = predict_label_sets(model, texts, batch_size=batch_size, verbose=verbose)
    probabilities = np.clip(predictions.probabilities.astype(np.float64), 1e-7, 1 - 1e-7)
    loss = -np.mean(targets * np.log(probabilities) + (1 - targets) * np.log(1 - probabilities))
    scores = multi_label_scores(targets, predictions.predicted, model.label_names, model.thresholds)
    return {**scores, "loss": float(loss)}


@dataclasses.dataclass
class MultiLabelEvaluation:
    """A multi-label model's scores on labelled examples, in the shape `kerastl evaluate` reads:
    `scores()` (no per-label table), `metrics()` (with `per_class`), `per_label()` and
    `save(directory)`.

    Example:
    >>> ev = MultiLabelEvaluation.from_model(multi_label_model, (texts, label_sets))
    >>> sorted(ev.metrics()["per_class"]["joy"])
    ['f1', 'precision', 'recall', 'support', 'threshold']
    >>> ev.per_label().columns.tolist()
    ['label', 'precision', 'recall', 'f1', 'support', 'threshold']
    """

    results: dict

    @classmethod
    def from_model(cls, model, examples, *, batch_size: int = INFERENCE_BATCH_SIZE, verbose=0):
        return cls(evaluate_multi_label(model, examples, batch_size=batch_size, verbose=verbose))

    def scores(self) -> dict:
        """`{"n", "micro_f1", "macro_f1", "subset_accuracy", "loss"}`."""
        return {key: value for key, value in self.results.items() if key != "per_class"}

    def metrics(self) -> dict:
        """`scores()` and `per_class`: `{name: {precision, recall, f1, support, threshold}}`."""
        return dict(self.results)

    def per_label(self) -> pd.DataFrame:
        """One row per label, in the model's label order: label, precision, recall, f1, support and
        the threshold it was decided at."""
        return pd.DataFrame([{"label": name, **figures} for name, figures in self.results["per_class"].items()],
                            columns=["label", *PER_LABEL_COLUMNS])

    def plot_per_label_f1(self, *, title: Optional[str] = None, path=None) -> Figure:
        """A bar per label with its F1 and support, lowest at the bottom (see `plots.plot_per_label_f1`)."""
        table = self.per_label()
        title = title or f"F1 per label at the model's thresholds (n={self.results['n']})"
        return plot_per_label_f1(table["label"].tolist(), table["f1"], support=table["support"], title=title,
                                 path=path)

    def save(self, directory, *, history: Optional[dict] = None, **_) -> dict:
        """Write the report to `directory` and return the metrics.

        Files: `metrics.json` (the scores and `per_class`), `per_label.csv` (`per_label()`),
        `per_label_f1.png`, and `training_curves.png` when `history` is given.

        Args:
            directory: the folder to write to; created if needed, files in it are replaced.
            history: `model.training_history`, for the training curves.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        metrics = self.metrics()
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=2))
        self.per_label().to_csv(directory / "per_label.csv", index=False)
        self.plot_per_label_f1(path=directory / "per_label_f1.png")
        save_training_curves(history, directory)
        return metrics
