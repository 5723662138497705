"""Label sets: the names a classifier predicts, and the ids of labels under them.

Integer labels 0..n-1 name the labels "0".."n-1"; string labels are sorted; a `datasets`
`ClassLabel` keeps its own order (`kerastl.data.text_examples.TextExamples.label_names`).

Example:
>>> names = label_names_from(["pos", "neg", "pos"])
>>> names, encode_labels(["pos", "neg"], names).tolist()
(('neg', 'pos'), [1, 0])
"""

from typing import Sequence

import numpy as np
import pandas as pd

from kerastl.errors import DataError


def plain_labels(column: pd.Series) -> list:
    """Labels as Python str or int; integral floats (a column with gaps) become ints."""
    values = column.tolist()
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return [int(v) for v in values]
    floats = all(isinstance(v, (float, np.floating)) for v in values)
    if floats and all(float(v).is_integer() for v in values):
        return [int(v) for v in values]
    return [v if isinstance(v, str) else str(v) for v in values]


def label_names_from(labels, source: str = "data") -> tuple:
    """The label set of training labels, as strings.

    Integer labels must be 0..n-1 and keep their ids ("0", "1", ...); string labels are sorted.
    """
    if labels is None:
        raise DataError(f"{source} has no labels; give label_column= (--label-column)")
    distinct = set(labels)
    if len(distinct) < 2:
        raise DataError(
            f"{source}: every example has the label {next(iter(distinct), None)!r}; "
            f"a classifier needs at least two labels in the training data"
        )
    if all(isinstance(v, (int, np.integer)) for v in distinct):
        ids = sorted(int(v) for v in distinct)
        if ids != list(range(len(ids))):
            raise DataError(
                f"{source}: integer labels must be 0..{len(ids) - 1}, received {ids[:10]}; "
                f"map them to 0..n-1, or give them as strings"
            )
        return tuple(str(i) for i in ids)
    return tuple(sorted(str(v) for v in distinct))


def encode_labels(labels, label_names: Sequence[str], source: str = "data") -> np.ndarray:
    """Label ids (int32) for `labels` under a fixed label set; unknown labels are an error.

    Labels are matched by name: an integer label 1 is the label named "1", as in a model trained
    on integer labels (whose label names are "0".."n-1").
    """
    index = {name: i for i, name in enumerate(label_names)}
    keys = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in labels]
    unknown = sorted(set(keys) - index.keys())
    if unknown:
        hint = ""
        if any(_is_integer_string(key) for key in unknown) and not any(map(_is_integer_string, label_names)):
            hint = (" (integer labels name the labels of a model trained on integers, \"0\"..\"n-1\"; "
                    "give label names, or give ids to model.fit / model.evaluate, which read them as ids)")
        raise DataError(
            f"{source}: labels {unknown[:10]} are not among the model's labels "
            f"{list(label_names)}{hint}; remove those rows or train a model that has them"
        )
    return np.fromiter((index[k] for k in keys), dtype=np.int32, count=len(keys))


def _is_integer_string(name: str) -> bool:
    return name.strip().lstrip("+-").isdigit()


def integer_names(count: int) -> tuple:
    """The label names of a model trained on `count` integer labels: "0".."count-1"."""
    return tuple(str(i) for i in range(count))
