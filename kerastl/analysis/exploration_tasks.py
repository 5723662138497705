"""What `explore` shows of a target that is not one class per text: the distribution of a
regression score (a histogram instead of class counts), and how many labels multi-label examples
carry."""

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from kerastl.analysis.plots import save_figure


def target_summary(scores: Sequence[float]) -> dict:
    """`{"min", "max", "mean", "std", "median"}` of the regression targets."""
    scores = np.asarray(scores, dtype=np.float64)
    return {
        "min": float(scores.min()),
        "max": float(scores.max()),
        "mean": round(float(scores.mean()), 4),
        "std": round(float(scores.std()), 4),
        "median": float(np.median(scores)),
    }


def plot_target_distribution(scores: Sequence[float], *, title: str, path=None) -> Figure:
    """A histogram of the regression targets, with their mean marked.

    Args:
        scores: the target of every example, (n,).
        title: what the data is, e.g. "stsb/train.tsv, n=4241".
        path: also save the figure as a PNG there.

    Example:
    >>> figure = plot_target_distribution([0.5, 1.0, 4.2, 3.8], title="ratings", path="targets.png")
    """
    scores = np.asarray(scores, dtype=np.float64)
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = figure.add_subplot()
    distinct = len(np.unique(scores))
    ax.hist(scores, bins=min(40, max(1, distinct)), color="C0", edgecolor="white")
    ax.axvline(scores.mean(), color="C3", linestyle="--", linewidth=1.5, label=f"mean {scores.mean():.3g}")
    ax.set_title(f"Distribution of the target ({title})")
    ax.set_xlabel("Target score")
    ax.set_ylabel("Examples")
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(figure, path)


def labels_per_example(label_sets: Sequence) -> dict:
    """`{number of labels: examples}` of multi-label data, fewest labels first."""
    sizes = np.fromiter((len(names) for names in label_sets), dtype=np.int64, count=len(label_sets))
    values, counts = np.unique(sizes, return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, counts)}


def plot_labels_per_example(label_sets: Sequence, *, title: str, path=None) -> Figure:
    """A bar per number of labels with the examples that have that many."""
    counts = labels_per_example(label_sets)
    figure = Figure(figsize=(5.6, 4.0), layout="constrained")
    ax = figure.add_subplot()
    bars = ax.bar(list(counts), list(counts.values()), color="C0")
    ax.bar_label(bars, padding=2)
    ax.set_ylim(0, max(counts.values()) * 1.15)
    ax.set_title(f"Labels per example ({title})")
    ax.set_xlabel("Labels of the example")
    ax.set_ylabel("Examples")
    return save_figure(figure, path)
