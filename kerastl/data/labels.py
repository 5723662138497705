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

from kerastl.config import MULTI_LABEL_SEP
from kerastl.data.label_sets import is_label_set
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
    refuse_other_tasks(labels, source, label_set=True)
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
                f"map them to 0..n-1, give them as strings, or, for a numeric target, choose task=\"regression\" "
                f"(--task regression)"
            )
        return tuple(str(i) for i in ids)
    return tuple(sorted(str(v) for v in distinct))


def encode_labels(labels, label_names: Sequence[str], source: str = "data") -> np.ndarray:
    """Label ids (int32) for `labels` under a fixed label set; unknown labels are an error.

    An integer label (a Python or NumPy integer, or an integer column of a file) is a label id,
    0..n-1, as in Keras and `model.fit`; in a model trained on integer labels the label named
    "1" has the id 1, so there both readings agree. Any other label is matched by name.
    """
    label_names = tuple(label_names)
    index = {name: i for i, name in enumerate(label_names)}
    ids = {int(v) for v in labels if _is_id(v)}
    if ids:
        _check_ids(ids, label_names, source)
    keys = [int(v) if _is_id(v) else v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for v in labels]
    unknown = sorted({k for k in keys if isinstance(k, str)} - index.keys())
    if unknown:
        refuse_other_tasks([v for v, k in zip(labels, keys) if isinstance(k, str) and k not in index], source,
                           names=label_names)
        hint = ""
        if any(_is_integer_string(key) for key in unknown) and not any(map(_is_integer_string, label_names)):
            hint = " (label ids given as strings are read as names: give them as integers)"
        raise DataError(
            f"{source}: labels {unknown[:10]} are not among the model's labels "
            f"{list(label_names)}{hint}; remove those rows or train a model that has them"
        )
    return np.fromiter((k if isinstance(k, int) else index[k] for k in keys), dtype=np.int32, count=len(keys))


def _is_id(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_ids(ids: set, label_names: tuple, source: str) -> None:
    """Refuse ids outside 0..n-1, and ids that would name another label than their own number
    (label names "1", "10", "2": the integer 2 is the id of "10")."""
    count = len(label_names)
    bad = sorted(i for i in ids if not 0 <= i < count)
    if bad:
        raise DataError(
            f"{source}: integer labels are label ids, and {bad[:10]} are outside 0..{count - 1}, the ids of "
            f"the model's labels {list(label_names)}; give ids in that range, or the label names"
        )
    crossed = sorted(i for i in ids if str(i) in label_names and label_names.index(str(i)) != i)
    if crossed:
        raise DataError(
            f"{source}: integer labels are label ids, but the model's labels {list(label_names)} are numbers "
            f"in another order: the id {crossed[0]} is the label {label_names[crossed[0]]!r}, not "
            f"{str(crossed[0])!r}; give the labels as strings (names) to avoid the ambiguity"
        )


# Separators of label sets other than MULTI_LABEL_SEP, caught where the names they join are labels too.
OTHER_SEPARATORS = ("|", ";")
# A label set of more integers than this, most of them on one or two examples, is a score.
MAX_SPARSE_INTEGER_LABELS = 50

_ONLY_CLASSIFICATION = (
    'without a task chosen kerastl reads labels as classes (task="classification", one label name per '
    'text); the task is your choice, never a guess: for a numeric target choose task="regression" '
    '(kerastl.TextRegressor; --task regression), for a set of labels per text task="multi_label" '
    '(kerastl.TextMultiLabelClassifier; --task multi_label)'
)


def refuse_other_tasks(labels, source: str = "data", *, label_set: bool = False, names=()) -> None:
    """Refuse labels that look like another task rather than read them as class names: a label
    holding the multi-label separator, labels most of which join names that are labels alone
    (`names`, the model's, count too) with one of `OTHER_SEPARATORS`, numbers that are not all
    integers (a regression score), and, for a training label set (`label_set`), many integers
    most of which label one or two examples. The task is the user's choice, never a guess, so
    these stop with the choices."""
    values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in labels]
    listed = next((v for v in values if is_label_set(v)), None)
    if listed is not None:
        raise DataError(
            f"{source}: labels such as {list(listed)[:5]} are collections of names (several labels per "
            f"text); {_ONLY_CLASSIFICATION}. Choose task=\"multi_label\", or give one label name per text"
        )
    sets = sorted({v for v in values if isinstance(v, str) and MULTI_LABEL_SEP in v})
    if sets:
        raise DataError(
            f"{source}: labels such as {sets[:3]} hold {MULTI_LABEL_SEP!r} and look like multi-label "
            f"sets (several labels per text); {_ONLY_CLASSIFICATION}. Give one label per text, or choose "
            f"task=\"multi_label\" for sets; if the commas are part of single label names, rename those "
            f"labels without {MULTI_LABEL_SEP!r}"
        )
    other = _other_separator(values, names)
    if other is not None:
        sep, shown = other
        raise DataError(
            f"{source}: labels such as {shown} hold {sep!r} between names that are also labels on their own, "
            f"and look like multi-label sets (several labels per text); {_ONLY_CLASSIFICATION}. Choose "
            f"task=\"multi_label\" with label_sep={sep!r} (--task multi_label --label-sep '{sep}'), or give one "
            f"label per text; if {sep!r} is part of single label names, rename those labels without it"
        )
    numbers = [_number(v) for v in values]
    if values and all(n is not None for n in numbers) and not all(float(n).is_integer() for n in numbers):
        shown = sorted({str(v) for v, n in zip(values, numbers) if not float(n).is_integer()})[:3]
        raise DataError(
            f"{source}: the labels are numbers that are not all integers (such as {shown}) and look like "
            f"regression scores; {_ONLY_CLASSIFICATION}. For classification give label names or "
            f"integer ids 0..n-1; if these numbers are class names, rename them (e.g. 'level_3.5')"
        )
    if label_set and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        counts = pd.Series(values).value_counts()
        if len(counts) > MAX_SPARSE_INTEGER_LABELS and counts.median() <= 2:
            raise DataError(
                f"{source}: the labels are {len(counts)} distinct integers, most on one or two examples, "
                f"and look like regression scores rather than class ids; {_ONLY_CLASSIFICATION}. If they "
                f"are classes, give them as label names (e.g. 'class_17') with enough examples of each"
            )


def _other_separator(values, names=()):
    """`(sep, examples)` where the str labels holding `|` or `;` mostly hold the same one and most
    of those split on it into two or more names that also occur as labels alone ("joy|love"
    beside "joy" and "love"); else None. A name that merely holds the character ("rock|pop"
    with no "rock" label) reads as a class."""
    strings = {v.strip() for v in values if isinstance(v, str)}
    holders = [v for v in strings if any(sep in v for sep in OTHER_SEPARATORS)]
    if not holders:
        return None
    sep = max(OTHER_SEPARATORS, key=lambda c: sum(c in v for v in holders))
    alone = (strings | {str(name) for name in names}) - set(holders)
    sets = sorted(v for v in holders if sep in v and _splits_into(v, sep, alone))
    return (sep, sets[:3]) if 2 * len(sets) > len(holders) else None


def _splits_into(value: str, sep: str, alone: set) -> bool:
    parts = [part.strip() for part in value.split(sep)]
    return len(parts) >= 2 and all(part in alone for part in parts)


def scores_from(labels, source: str = "data") -> np.ndarray:
    """Regression targets (float32, (n,)) from labels given as numbers or numeric strings; an empty,
    non-numeric or non-finite (NaN, inf) score is refused with one `DataError` naming its row."""
    values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in labels]
    numbers = [_number(v) for v in values]
    bad = [i for i, n in enumerate(numbers) if n is None]
    if bad:
        shown = ", ".join(f"row {i} ({values[i]!r})" for i in bad[:3])
        raise DataError(
            f"{source}: task=\"regression\" needs a finite number as every target, and {len(bad)} are not: "
            f"{shown}; give each text a numeric score (drop or fix those rows)"
        )
    return np.asarray([float(n) for n in numbers], dtype=np.float32)


def _number(value):
    """`value` as a finite number (a str that reads as one included), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value if np.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if np.isfinite(number) else None
    return None


def _is_integer_string(name: str) -> bool:
    return name.strip().lstrip("+-").isdigit()


def integer_names(count: int) -> tuple:
    """The label names of a model trained on `count` integer labels: "0".."count-1"."""
    return tuple(str(i) for i in range(count))
