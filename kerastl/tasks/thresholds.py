"""Decision thresholds of a multi-label model: a label is predicted where its probability reaches
its threshold; `best_thresholds` picks, per label, the one of best F1 on labelled data.

Example:
>>> targets = np.array([[1, 0], [0, 1], [1, 0]], np.float32)
>>> probabilities = np.array([[0.4, 0.2], [0.1, 0.9], [0.3, 0.6]], np.float32)
>>> [round(float(t), 2) for t in best_thresholds(targets, probabilities)]  # halfway to the next one down
[0.2, 0.75]
"""

from typing import Optional, Sequence

import numpy as np

DEFAULT_THRESHOLD = 0.5


def decide(probabilities, thresholds) -> np.ndarray:
    """(n, k) bool: which labels each row predicts, `probability >= threshold`."""
    return np.asarray(probabilities) >= np.asarray(thresholds, dtype=np.float32)[None, :]


def best_thresholds(targets, probabilities, default: Optional[Sequence[float]] = None) -> np.ndarray:
    """Per label, the threshold of best F1 of `probabilities` (n, k) against multi-hot `targets`
    (n, k): halfway between the lowest probability predicted at the best point of the
    precision-recall curve (scikit-learn) and the highest one below it (or 0), so that the same
    texts scored again by another path (another batch, another padding: float differences of
    1e-7) fall on the same side. A label without positive examples keeps its `default` (0.5)."""
    from sklearn.metrics import precision_recall_curve

    targets = np.asarray(targets) > 0.5
    probabilities = np.asarray(probabilities, dtype=np.float64)
    k = targets.shape[1]
    chosen = np.full(k, DEFAULT_THRESHOLD, np.float32) if default is None else np.asarray(default, np.float32).copy()
    for label in range(k):
        if not targets[:, label].any():
            continue
        precision, recall, cuts = precision_recall_curve(targets[:, label], probabilities[:, label])
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        cut = cuts[int(np.argmax(f1))]
        below = probabilities[:, label][probabilities[:, label] < cut]
        chosen[label] = np.float32((cut + (below.max() if below.size else 0.0)) / 2)
    return chosen


def tuned_macro_f1(targets, probabilities) -> float:
    """Macro F1 over the labels with the thresholds `best_thresholds` picks on these same
    examples: the macro F1 a model will have once its thresholds are tuned on them."""
    from sklearn.metrics import f1_score

    predicted = decide(probabilities, best_thresholds(targets, probabilities))
    return float(f1_score(np.asarray(targets) > 0.5, predicted, average="macro", zero_division=0))
