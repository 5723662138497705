"""Predictions of a Keras model; the metrics, confusion matrix, error analysis and plots of a split.

Metrics come from scikit-learn and plots from matplotlib. Plots are drawn on a bare
`matplotlib.figure.Figure` rather than through pyplot, so nothing opens a window or changes the
matplotlib backend of the process that imports kerastl; `savefig` renders them with Agg. Every
plot function returns its figure and, given `path=`, saves it as a PNG.
"""

import dataclasses
import json
import textwrap
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn import metrics as sk_metrics

from kerastl._keras import keras
from kerastl.analysis import multi_label, regression
from kerastl.analysis.plots import DPI, plot_training_history, save_figure, save_training_curves  # noqa: F401 (re-exported)
from kerastl.analysis.predictions import Predictions
from kerastl.analysis.regression_report import RegressionEvaluation
from kerastl.config import INFERENCE_BATCH_SIZE
from kerastl.data.text_examples import TextExamples, as_examples
from kerastl.errors import DataError


def predict(model, texts, *, batch_size: int = INFERENCE_BATCH_SIZE, verbose=0) -> Predictions:
    """Classify `texts` with a `TextClassifier`; the output keeps the input order.

    Args:
        model: a `TextClassifier`.
        texts: a list of strings; one `str` is one text. Or anything `kerastl.as_examples`
            accepts (a data file, a DataFrame, a `datasets.Dataset` ...), whose texts are used.
        batch_size: texts per forward pass.
        verbose: show a progress bar.

    Example:
    >>> predict(model, ["what a lovely day"]).records()
    [{'label': ..., 'probabilities': {'neg': ..., 'pos': ...}}]

    With a `TextRegressor` it returns the scores instead: a float32 NumPy array (n,).
    """
    if getattr(model, "task", None) == "regression":
        return regression.predict_scores(model, texts, batch_size=batch_size, verbose=verbose)
    if getattr(model, "task", None) == "multi_label":  # label sets and every probability
        return multi_label.predict_label_sets(model, texts, batch_size=batch_size, verbose=verbose)
    examples = as_examples(texts, labelled=False, what="predict(texts)", text_pair=getattr(model, "text_pair", None))
    if not len(examples):
        return Predictions(model.label_names, np.zeros((0, len(model.label_names)), np.float32))
    unlabelled = TextExamples(examples.texts, source=examples.source, text_pairs=examples.text_pairs)
    logits = model.predict_logits(model.encode(unlabelled), batch_size=batch_size, verbose=verbose)
    return Predictions(model.label_names, logits.numpy().astype(np.float32))


def predict_one(model, text) -> dict:
    """The label and the probability of every label for one text (for a pair model, one
    `(text, text_pair)` tuple).

    Returns:
        `{"label": name, "probabilities": {name: p}}`; draw it with `plot_probabilities`.

    Example:
    >>> record = predict_one(model, "i saw a movie today and it was really good")
    >>> sorted(record["probabilities"])
    ['neg', 'pos']
    >>> figure = plot_probabilities(record["probabilities"], path="tweet.png")
    """
    if isinstance(text, tuple) and len(text) == 2 and all(isinstance(part, str) for part in text):
        pair = TextExamples([text[0]], source="predict_one(text)", text_pairs=[text[1]])  # one sentence pair
        return predict(model, pair).records()[0]
    if not isinstance(text, str):
        raise DataError(f"predict_one takes one text as a string (one pair as a (text, text_pair) tuple), "
                        f"received {type(text).__name__}")
    return predict(model, [text]).records()[0]


def evaluate(model, examples, *, batch_size: int = INFERENCE_BATCH_SIZE, verbose=0) -> dict:
    """Accuracy, macro F1, weighted F1 and mean cross-entropy of `model` on labelled examples.

    `examples`: anything `kerastl.as_examples` accepts with labels: `(texts, labels)`, a
    data file, a DataFrame, a `datasets.Dataset`, a dict of columns, `TextExamples`.

    Returns:
        `{"n", "accuracy", "macro_f1", "weighted_f1", "loss"}`. `Evaluation.from_model` keeps
        the per-example predictions as well, for the full report and the error analysis.

    With a `TextRegressor`: `{"n", "pearson", "spearman", "mse", "mae"}` on numeric targets.

    Example:
    >>> evaluate(model, validation)  # e.g. validation = read_examples("validation.csv")
    {'n': 16, 'accuracy': ..., 'macro_f1': ..., 'weighted_f1': ..., 'loss': ...}
    """
    if getattr(model, "task", None) == "regression":
        return regression.evaluate_regression(model, examples, batch_size=batch_size, verbose=verbose)
    if getattr(model, "task", None) == "multi_label":  # micro/macro F1, subset accuracy, per_class
        return multi_label.evaluate_multi_label(model, examples, batch_size=batch_size, verbose=verbose)
    examples = as_examples(examples, labelled=True, what="evaluate(examples)",
                           text_pair=getattr(model, "text_pair", None))
    return Evaluation.from_model(model, examples, batch_size=batch_size, verbose=verbose).scores()


def classification_scores(y_true, y_pred, num_labels: int) -> dict:
    """`{"n", "accuracy", "macro_f1", "weighted_f1"}` of predicted against true label ids.

    Every one of the `num_labels` labels counts in the macro average, predicted or not.
    """
    label_ids = list(range(num_labels))
    macro_f1, weighted_f1 = (
        sk_metrics.f1_score(y_true, y_pred, labels=label_ids, average=average, zero_division=0)
        for average in ("macro", "weighted")
    )
    return {
        "n": int(len(y_true)),
        "accuracy": float(sk_metrics.accuracy_score(y_true, y_pred)),
        "macro_f1": float(macro_f1),
        "weighted_f1": float(weighted_f1),
    }


def per_class_scores(y_true, y_pred, label_names: Sequence[str]) -> dict:
    """`{name: {"precision", "recall", "f1", "support"}}` of predicted against true label ids, every
    label of `label_names` (in id order) included, predicted or not."""
    precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(label_names))), zero_division=0
    )
    return {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(label_names, precision, recall, f1, support)}


@dataclasses.dataclass
class Evaluation:
    """A model's logits on labelled examples, and everything a report derives from them.

    Args:
        label_names: the model's labels, in id order.
        texts: the evaluated texts, in input order.
        label_ids: the true label id of every text, (n,).
        logits: the model's outputs, (n, num_labels).

    Example:
    >>> ev = Evaluation.from_model(model, validation)
    >>> ev.metrics()["per_class"]["pos"]
    {'precision': ..., 'recall': ..., 'f1': ..., 'support': 8}
    >>> ev.highest_loss(10).columns.tolist()  # the examples most likely to be mislabelled
    ['text', 'label', 'predicted', 'loss']
    """

    label_names: tuple
    texts: list
    label_ids: np.ndarray
    logits: np.ndarray

    def __repr__(self):
        return f"Evaluation(n={len(self.texts)}, labels={self.label_names}, scores={self.scores()})"

    @classmethod
    def from_model(cls, model, examples, *, batch_size: int = INFERENCE_BATCH_SIZE,
                   verbose=0) -> "Evaluation":
        """Run `model` on labelled `examples` (anything `kerastl.as_examples` accepts), whose
        labels must be among the model's labels."""
        examples = as_examples(examples, labelled=True, what="Evaluation.from_model(examples)",
                               text_pair=getattr(model, "text_pair", None))
        if len(examples) == 0:
            raise DataError(f"{examples.source} holds no examples")
        y_true = examples.label_ids(model.label_names)
        logits = predict(model, TextExamples(examples.texts, source=examples.source, text_pairs=examples.text_pairs),
                         batch_size=batch_size, verbose=verbose).logits
        return cls(tuple(model.label_names), list(examples.texts), y_true, logits)

    @property
    def predicted_ids(self) -> np.ndarray:
        """The most probable label id per text, (n,)."""
        return self.logits.argmax(axis=-1)

    @property
    def losses(self) -> np.ndarray:
        """Cross-entropy of every example, (n,): high for confident mistakes."""
        losses = keras.losses.sparse_categorical_crossentropy(self.label_ids, self.logits, from_logits=True)
        return losses.numpy()  # (n,)

    def scores(self) -> dict:
        """`{"n", "accuracy", "macro_f1", "weighted_f1", "loss"}`, as `evaluate` returns them."""
        scores = classification_scores(self.label_ids, self.predicted_ids, len(self.label_names))
        return {**scores, "loss": float(np.mean(self.losses))}

    def metrics(self) -> dict:
        """`scores()` plus per-class precision, recall, F1 and support, keyed by label name."""
        return {**self.scores(), "per_class": per_class_scores(self.label_ids, self.predicted_ids, self.label_names)}

    def confusion_matrix(self, normalize: Optional[str] = "true") -> np.ndarray:
        """(num_labels, num_labels), rows true labels, columns predictions; rows sum to 1 by default.

        Args:
            normalize: `"true"` (rows), `"pred"` (columns), `"all"`, or `None` for counts.
        """
        return sk_metrics.confusion_matrix(
            self.label_ids, self.predicted_ids, labels=list(range(len(self.label_names))), normalize=normalize
        )

    def classification_report(self) -> str:
        """scikit-learn's text table of per-class precision, recall and F1."""
        return sk_metrics.classification_report(
            self.label_ids, self.predicted_ids, labels=list(range(len(self.label_names))),
            target_names=list(self.label_names), digits=3, zero_division=0,
        )

    def per_example(self) -> pd.DataFrame:
        """One row per example in input order: text, label, predicted, loss."""
        names = np.asarray(self.label_names, dtype=object)
        return pd.DataFrame({
            "text": self.texts,
            "label": names[self.label_ids],
            "predicted": names[self.predicted_ids],
            "loss": self.losses,
        })

    def highest_loss(self, k: int = 10) -> pd.DataFrame:
        """The `k` examples with the highest loss: confident mistakes, and often wrong labels."""
        return self.per_example().sort_values("loss", ascending=False, kind="stable").head(k)

    def lowest_loss(self, k: int = 10) -> pd.DataFrame:
        """The `k` examples with the lowest loss: what the model is surest of."""
        return self.per_example().sort_values("loss", ascending=True, kind="stable").head(k)

    def plot_confusion_matrix(self, *, title: Optional[str] = None, path=None) -> Figure:
        """The row-normalised confusion matrix with label names; see `plot_confusion_matrix`."""
        y_true, y_pred = self.label_ids, self.predicted_ids
        return plot_confusion_matrix(y_true, y_pred, self.label_names, title=title, path=path)

    def save(self, directory, *, top_k: int = 10, history: Optional[dict] = None) -> dict:
        """Write the report to `directory` and return the metrics.

        Files: `metrics.json` (scores, per-class figures, the confusion matrix as counts and
        row-normalised), `confusion_matrix.png`, `highest_loss.csv` and `lowest_loss.csv` (the
        `top_k` examples each), and `training_curves.png` when `history` is given.

        Args:
            directory: the folder to write to; created if needed, files in it are replaced.
            top_k: rows in each error-analysis CSV.
            history: `model.training_history`, for the training curves.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        metrics = self.metrics()
        metrics["confusion_matrix"] = {
            "labels": list(self.label_names),
            "counts": self.confusion_matrix(None).tolist(),
            "normalized_by_true_label": self.confusion_matrix("true").round(4).tolist(),
        }
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=2))
        self.plot_confusion_matrix(path=directory / "confusion_matrix.png")
        self.highest_loss(top_k).to_csv(directory / "highest_loss.csv", index=False)
        self.lowest_loss(top_k).to_csv(directory / "lowest_loss.csv", index=False)
        save_training_curves(history, directory)
        return metrics


def write_report(model, examples, directory, *, top_k: int = 10,
                 batch_size: int = INFERENCE_BATCH_SIZE, verbose=0) -> Evaluation:
    """Evaluate `model` on labelled `examples` and write the report (see `Evaluation.save`) to `directory`.

    `examples` are anything `kerastl.as_examples` accepts with labels.

    The training curves come from `model.training_history` (kept by `fine_tune` and saved with
    the model). For a `TextRegressor` it writes `RegressionEvaluation.save`'s report instead (the
    scores, a predicted-against-true scatter plot and the largest errors) and returns that; for a
    `TextMultiLabelClassifier`, `MultiLabelEvaluation.save`'s (the scores, a per-label table with
    the thresholds, `per_label.csv`, and its F1 bar chart, `per_label_f1.png`).

    Example:
    >>> from pathlib import Path
    >>> ev = write_report(model, validation, "runs/report")
    >>> sorted(path.name for path in Path("runs/report").iterdir())
    ['confusion_matrix.png', 'highest_loss.csv', 'lowest_loss.csv', 'metrics.json', 'training_curves.png']
    """
    evaluation = evaluation_of(model, examples, batch_size=batch_size, verbose=verbose)
    evaluation.save(directory, top_k=top_k, history=model.training_history)
    return evaluation


def evaluation_of(model, examples, *, batch_size: int = INFERENCE_BATCH_SIZE, verbose=0):
    """The evaluation of `model`'s task on labelled `examples`: an `Evaluation` for a classifier, a
    `RegressionEvaluation` for a `TextRegressor`; each has `scores()`, `metrics()` and `save()`."""
    if getattr(model, "task", None) == "regression":
        return RegressionEvaluation.from_model(model, examples, batch_size=batch_size, verbose=verbose)
    if getattr(model, "task", None) == "multi_label":
        return multi_label.MultiLabelEvaluation.from_model(model, examples, batch_size=batch_size, verbose=verbose)
    examples = as_examples(examples, labelled=True, what="write_report(examples)",
                           text_pair=getattr(model, "text_pair", None))
    return Evaluation.from_model(model, examples, batch_size=batch_size, verbose=verbose)


# -- plots ----------------------------------------------------------------------------------------


def plot_confusion_matrix(y_true, y_pred, label_names: Sequence[str], *, title: Optional[str] = None,
                          path=None) -> Figure:
    """A confusion matrix normalised over each true label, with label names on both axes.

    Args:
        y_true: true label ids, (n,).
        y_pred: predicted label ids, (n,).
        label_names: the names of ids 0..num_labels-1.
        title: the figure title (default: says what the cells are and n).
        path: also save the figure as a PNG there.

    Example:
    >>> figure = plot_confusion_matrix([0, 1, 1], [0, 1, 0], ["neg", "pos"], path="cm.png")
    """
    names = [str(name) for name in label_names]
    size = min(max(4.5, 0.7 * len(names) + 2.5), 16)
    figure = Figure(figsize=(size, size), layout="constrained")
    ax = figure.add_subplot()
    display = sk_metrics.ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=list(range(len(names))), display_labels=names, normalize="true",
        ax=ax, cmap="Blues", colorbar=False, values_format=".2f", include_values=len(names) <= 20,
        xticks_rotation=45 if max(map(len, names)) > 4 else "horizontal", im_kw={"vmin": 0.0, "vmax": 1.0},
    )
    for label in display.ax_.get_xticklabels():
        label.set_horizontalalignment("right" if label.get_rotation() else "center")
    if display.text_ is not None:  # text colour by the fixed 0..1 scale, not the data's own range
        for value, text in zip(display.confusion_matrix.ravel(), display.text_.ravel()):
            text.set_color("white" if value > 0.5 else "black")
            if len(names) > 10 and value < 0.005:
                text.set_text("")  # many labels: empty cells stay empty, so the errors stand out
    ax.set_title(title or f"Confusion matrix, rows normalised (n={len(y_true)})")
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    return save_figure(figure, path)


def plot_probabilities(probabilities: Mapping[str, float], *, text: Optional[str] = None,
                       path=None) -> Figure:
    """A bar per label with its predicted probability; the most probable bar stands out.

    Args:
        probabilities: `{label: p}`, e.g. `predict_one(model, text)["probabilities"]`.
        text: the classified text, shown (wrapped) as the title.
        path: also save the figure as a PNG there.
    """
    names = [str(name) for name in probabilities]
    values = np.asarray([float(p) for p in probabilities.values()])
    if not len(values):
        raise DataError("plot_probabilities needs at least one label and its probability")
    figure = Figure(figsize=(max(5.0, 0.8 * len(names) + 1.5), 4.2), layout="constrained")
    ax = figure.add_subplot()
    colors = ["C1" if i == values.argmax() else "C0" for i in range(len(values))]
    bars = ax.bar(names, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=2)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("Label")
    ax.set_ylabel("Predicted probability")
    if len(names) > 8 or max(map(len, names)) > 10:
        ax.tick_params(axis="x", labelrotation=45)
    title = "Predicted probabilities"
    if text:
        title = "\n".join(textwrap.wrap(f'"{textwrap.shorten(text, 200)}"', 60))
    ax.set_title(title)
    return save_figure(figure, path)
