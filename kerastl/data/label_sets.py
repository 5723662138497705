"""Multi-label targets: a set of label names per text (`task="multi_label"`).

In Python each example's labels are a list, tuple or set of names (a str is split on the
separator); in a file they are one field split on `label_sep` (default ","). Names are stripped
and duplicates dropped. The model's label names are the sorted union of the training sets, and
`multi_hot` turns the sets into the (n, num_labels) float32 targets of a sigmoid head.

Example:
>>> sets = label_sets_from(["joy,love", ["anger"], "joy"])
>>> names = set_label_names(sets)
>>> names, multi_hot(sets, names).tolist()
(('anger', 'joy', 'love'), [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
"""

import dataclasses
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from kerastl.config import MULTI_LABEL_SEP
from kerastl.errors import DataError

MULTI_LABEL = "multi_label"
TASK_ALIASES = {"multi-label": MULTI_LABEL}  # accepted spellings of a task name


def task_name(task: Optional[str]) -> Optional[str]:
    """`task` with its aliases normalised (`"multi-label"` -> `"multi_label"`)."""
    return TASK_ALIASES.get(task, task) if isinstance(task, str) else task


class LabelSet(tuple):
    """The label names of one example, in the order given; `where` says where it was read (a
    file's line) for messages, or is None; `sep` is the separator a str of names was split on
    (None for a list of names)."""

    where: Optional[str] = None
    sep: Optional[str] = None

    @classmethod
    def of(cls, names, where: Optional[str] = None, sep: Optional[str] = None) -> "LabelSet":
        label_set = cls(names)
        label_set.where, label_set.sep = where, sep
        return label_set


def is_label_set(value) -> bool:
    """Whether one example's label is a collection of names rather than one name."""
    return isinstance(value, (list, tuple, set, frozenset, np.ndarray))


def parse_label_set(value, *, source: str = "data", where: str = "", sep: str = MULTI_LABEL_SEP) -> LabelSet:
    """One example's labels as a `LabelSet` of stripped, distinct names; a str is split on `sep`.
    An empty set, an empty name (`"joy,,love"`) or a value that is no name is a `DataError`."""
    at = f"{source}, {where}" if where else source
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        names = value.split(sep)
    elif is_label_set(value):
        names = list(value.tolist() if isinstance(value, np.ndarray) else value)
    elif value is None or pd.isna(value):
        names = []
    else:
        names = [value]
    cleaned = []
    for name in names:
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if isinstance(name, (bool, float)) or not isinstance(name, (str, int, np.integer)):
            raise DataError(f"{at}: the label {name!r} is not a label name; give each text's labels as names "
                            f"(str), e.g. ['joy', 'love'] or \"joy{sep}love\"")
        cleaned.append(str(name).strip())
    if not cleaned or cleaned == [""]:
        raise DataError(f"{at}: no labels; task=\"multi_label\" needs at least one label name per text: "
                        f"fill it in or remove that row")
    if "" in cleaned:
        raise DataError(f"{at}: an empty label name in {_shown(value)}; remove the doubled or trailing "
                        f"{sep!r}, or, if {sep!r} is part of the names, choose another separator with "
                        f"label_sep= (--label-sep)")
    split = sep if isinstance(value, str) else getattr(value, "sep", None)  # a set read before keeps its own
    return LabelSet.of(dict.fromkeys(cleaned), where or None, split)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def label_sets_from(labels, source: str = "data", *, sep: str = MULTI_LABEL_SEP,
                    first_line: Optional[int] = None) -> list:
    """Every example's `LabelSet`; messages name the line (`first_line`: the line of the first
    row in its file) or the row."""
    if not sep:
        raise ValueError("label_sep must be a non-empty str, received label_sep=''")
    return [parse_label_set(value, source=source, sep=sep,
                            where=f"line {i + first_line}" if first_line is not None else f"row {i}")
            for i, value in enumerate(labels)]


def set_label_names(sets: Sequence, source: str = "data") -> tuple:
    """The label names of multi-label training sets: the sorted union, at least two names."""
    names = tuple(sorted({name for label_set in sets for name in label_set}))
    if len(names) < 2:
        raise DataError(f"{source}: the label sets name only {list(names)}; a multi-label model needs at least "
                        f"two label names in the training data")
    return names


def multi_hot(sets: Sequence, label_names: Sequence[str], source: str = "data") -> np.ndarray:
    """The (n, len(label_names)) float32 multi-hot targets of `sets`; a name the model does not
    know is a `DataError` naming its line (or row) and the fix."""
    index = {name: i for i, name in enumerate(label_names)}
    targets = np.zeros((len(sets), len(index)), np.float32)
    for row, label_set in enumerate(sets):
        if not is_label_set(label_set):
            label_set = parse_label_set(label_set, source=source, where=f"row {row}")
        for name in label_set:
            column = index.get(str(name))
            if column is None:
                where = getattr(label_set, "where", None) or f"row {row}"
                raise DataError(
                    f"{source}, {where}: the label {str(name)!r} is not among the model's labels "
                    f"{list(label_names)}; remove or rename it, or train a model that has it"
                )
            targets[row, column] = 1.0
    return targets


def holds_label_sets(labels) -> bool:
    """Whether `labels` were read as multi-label sets (`task="multi_label"`): every one a `LabelSet`.
    Lists of names given without the task are not, and are refused as classification labels."""
    return bool(labels) and all(isinstance(label, LabelSet) for label in labels)


def split_on(sets) -> Optional[str]:
    """The separator the label sets' strs of names were split on (a file's fields), or None where
    they were given as lists of names; the first one found."""
    return next((label_set.sep for label_set in sets if getattr(label_set, "sep", None)), None)


def kept_separator(model_sep: str, sets) -> str:
    """The separator a multi-label model keeps after training on `sets`: the one their fields were
    split on where that was chosen (not the default ","), else the model's own."""
    read = split_on(sets)
    return read if read is not None and read != MULTI_LABEL_SEP else model_sep


def with_label_sets(examples, sep: str = MULTI_LABEL_SEP):
    """`examples` (`TextExamples`) with every label read as a `LabelSet` (see `parse_label_set`)."""
    if examples.labels is None:
        return examples
    return dataclasses.replace(examples, labels=label_sets_from(examples.labels, examples.source, sep=sep))
