"""Figures shared by the reports: saving a figure, the training curves of both phases, a
regressor's predicted-against-true scatter plot and a multi-label model's F1 per label.

Plots are drawn on a bare `matplotlib.figure.Figure` rather than through pyplot, so nothing opens
a window or changes the matplotlib backend of the process that imports kerastl; `savefig` renders
them with Agg. Every plot function returns its figure and, given `path=`, saves it as a PNG.
"""

import logging
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
from matplotlib.figure import Figure

from kerastl.analysis.regression import regression_scores
from kerastl.errors import DataError

logger = logging.getLogger(__name__)

DPI = 120  # saved PNGs: about 800 px wide for the default figure sizes below
# What the training curves show, where the history has it, and their axis titles.
CURVE_METRICS = {"loss": "Loss", "accuracy": "Accuracy", "mae": "Mean absolute error",
                 "auc": "ROC AUC (mean over labels)"}


def save_figure(figure: Figure, path=None) -> Figure:
    """Save `figure` as a PNG at `path` (folders created) when a path is given; return it."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=DPI)
    return figure


def plot_training_history(history: Mapping, *, path=None) -> Figure:
    """Loss and accuracy (a regressor: mean absolute error) per epoch over both phases of `fine_tune`,
    the phase boundary marked.

    Args:
        history: `{"head": {metric: [...]}, "fine_tune": {metric: [...]}}`, as `fine_tune`
            returns it and `model.training_history` keeps it.
        path: also save the figure as a PNG there.

    Example:
    >>> figure = plot_training_history(model.training_history, path="curves.png")
    """
    if not history or not any(history.get(phase) for phase in ("head", "fine_tune")):
        raise DataError(
            "no training history to plot: train with kerastl.fine_tune (or kerastl train), "
            "which keeps it in model.training_history and saves it with the model"
        )
    head = history.get("head") or {}
    tune = history.get("fine_tune") or {}
    head_epochs = len(head.get("loss", []))
    metrics = [m for m in CURVE_METRICS if m in head or m in tune]
    total = head_epochs + len(tune.get("loss", []))
    figure = Figure(figsize=(5.2 * len(metrics), 4.6), layout="constrained")
    figure.suptitle("Training curves: the head on the frozen encoder, then fine-tuning")
    for i, metric in enumerate(metrics):
        ax = figure.add_subplot(1, len(metrics), i + 1)
        for key, label, style in ((metric, "train", "-o"), (f"val_{metric}", "validation", "--s")):
            values = list(head.get(key, [])) + list(tune.get(key, []))
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=label)
        if head_epochs:
            ax.axvspan(0.5, head_epochs + 0.5, color="0.9", zorder=0, label="phase 1: head, encoder frozen")
        if head_epochs and tune:
            ax.axvline(head_epochs + 0.5, color="0.3", linestyle=":", linewidth=1.5,
                       label="phase 2 starts: fine-tuning")
        ax.set_xticks(range(1, total + 1))
        ax.set_xlim(0.5, total + 0.5)
        ax.set_xlabel("Epoch (both phases)")
        ax.set_ylabel(CURVE_METRICS[metric])
        ax.set_title(CURVE_METRICS[metric])
        ax.grid(alpha=0.3)
    figure.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=4, frameon=False)
    return save_figure(figure, path)


def save_training_curves(history: Optional[Mapping], directory: Path) -> None:
    """A report's `training_curves.png` in `directory`, where `history` holds a phase's epochs
    (`model.training_history`); otherwise a log line says why there is none."""
    if history and any(history.get(phase) for phase in ("head", "fine_tune")):
        plot_training_history(history, path=Path(directory) / "training_curves.png")
    else:
        logger.info("no training history: %s has no training_curves.png", directory)


def plot_predicted_against_true(y_true, y_pred, *, title: Optional[str] = None, path=None) -> Figure:
    """A regressor's predicted scores against the true ones, one dot per example, with the y = x
    line that perfect predictions would sit on; Pearson, Spearman and n in the title.

    Args:
        y_true: the true scores, (n,).
        y_pred: the predicted scores, (n,).
        title: what the dots are, put before the correlations (default: "Predicted against true").
        path: also save the figure as a PNG there.

    Example:
    >>> figure = plot_predicted_against_true([1.0, 2.5, 4.0], [1.2, 2.0, 3.9], path="scatter.png")
    """
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if len(y_true) != len(y_pred) or not len(y_true):
        raise DataError(f"plot_predicted_against_true needs as many predictions as true scores, at least one; "
                        f"received {len(y_true)} true and {len(y_pred)} predicted")
    scores = regression_scores(y_true, y_pred)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    margin = 0.05 * (high - low) or 0.5
    figure = Figure(figsize=(5.6, 5.4), layout="constrained")
    ax = figure.add_subplot()
    ax.scatter(y_true, y_pred, s=14, alpha=min(1.0, max(0.15, 60 / len(y_true))), color="C0", edgecolors="none")
    ax.plot([low - margin, high + margin], [low - margin, high + margin], color="C3", linestyle="--",
            linewidth=1.2, label="y = x (predicted = true)")
    ax.set_xlim(low - margin, high + margin)
    ax.set_ylim(low - margin, high + margin)
    ax.set_aspect("equal")
    ax.set_xlabel("True score")
    ax.set_ylabel("Predicted score")
    ax.set_title(f"{title or 'Predicted against true'}\nPearson {scores['pearson']:.3f}, "
                 f"Spearman {scores['spearman']:.3f}, MAE {scores['mae']:.3f} (n={scores['n']})")
    ax.legend(loc="upper left", frameon=False)
    ax.grid(alpha=0.3)
    return save_figure(figure, path)


def plot_per_label_f1(label_names, f1, *, support=None, title: Optional[str] = None, path=None) -> Figure:
    """One horizontal bar per label with its F1, lowest at the bottom; with `support`, each bar's
    number of true examples beside its F1.

    Args:
        label_names: the label names, (k,).
        f1: the F1 of every label, (k,), in the same order.
        support: the true examples of every label, (k,), or None.
        title: the figure title (default: "F1 per label").
        path: also save the figure as a PNG there.

    Example:
    >>> figure = plot_per_label_f1(["joy", "love"], [0.8, 0.4], support=[30, 12], path="per_label_f1.png")
    """
    f1 = np.asarray(f1, dtype=np.float64).reshape(-1)
    if len(f1) != len(label_names) or not len(f1):
        raise DataError(f"plot_per_label_f1 needs one F1 per label, at least one; received {len(f1)} F1 for "
                        f"{len(label_names)} labels")
    order = np.argsort(f1, kind="stable")
    shown = [f"{f1[i]:.2f}" + (f" (n={int(support[i])})" if support is not None else "") for i in order]
    figure = Figure(figsize=(6.4, max(3.0, 0.3 * len(f1) + 1.4)), layout="constrained")
    ax = figure.add_subplot()
    bars = ax.barh([str(label_names[i]) for i in order], f1[order], color="C0")
    ax.bar_label(bars, labels=shown, padding=2)
    ax.set_xlim(0, 1.2 if support is not None else 1.1)
    ax.set_xlabel("F1")
    ax.set_title(title or "F1 per label")
    return save_figure(figure, path)
