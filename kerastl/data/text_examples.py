"""Texts and labels: everything kerastl accepts as examples, turned into `TextExamples`.

`as_examples` turns a data file, a DataFrame, a Hugging Face `Dataset`, a dict of columns, a
`(texts, labels)` tuple, texts with labels, or one text into `TextExamples`, and refuses anything
else. Tables and files are read by `kerastl.data.tables`, label sets come from `kerastl.data.labels`, and
`kerastl.data.batching` tokenizes the examples into batches.
"""

import dataclasses
import os
from collections.abc import Mapping
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from kerastl.config import TEXT_PAIR_COLUMN
from kerastl.data import label_sets
from kerastl.data.labels import encode_labels, integer_names, label_names_from, plain_labels, scores_from
from kerastl.data.pairs import NEEDS_LABELS, bare_pair_message, check_text_pairs, is_text_sequence, pair_tuple
from kerastl.data.tables import DATA_EXTENSIONS, is_hf_dataset, names_a_path, read_table
from kerastl.errors import DataError

ACCEPTED = (
    "a data file (a pathlib.Path, or a str ending in " + ", ".join(DATA_EXTENSIONS) + " or naming a file), "
    "a pandas DataFrame, a datasets.Dataset or a dict of columns (a text column and a label column), "
    "a (texts, labels) tuple, texts (a list of str, a numpy or tf.string array, or one str) with "
    "labels= given apart, or TextExamples"
)


@dataclasses.dataclass
class TextExamples:
    """Texts and, for training and evaluation, their labels.

    `as_examples` builds them from files, DataFrames, `datasets.Dataset`s, dicts and tuples.

    Args:
        texts: the texts, as Python strings.
        labels: one label per text (strings or integers), or `None` for unlabelled data.
        source: where they came from, for messages.
        label_set: the whole label set in id order, when the source declares one (a `datasets`
            `ClassLabel`); otherwise `label_names()` derives it from `labels`.
        text_pairs: the second text of every example (sentence pairs), as Python strings, or
            `None` for single texts.

    Example:
    >>> data = TextExamples(["good film", "dull"], ["pos", "neg"])
    >>> data.label_names()
    ('neg', 'pos')
    """

    texts: list
    labels: Optional[list] = None
    source: str = "data"
    label_set: Optional[tuple] = None
    text_pairs: Optional[list] = None

    def __post_init__(self):
        for field, value in (("texts", self.texts), ("labels", self.labels), ("text_pairs", self.text_pairs)):
            if isinstance(value, (str, bytes, Mapping, pd.DataFrame)):
                raise TypeError(
                    f"TextExamples({field}=...) takes one entry per example, received {_describe(value)}; "
                    f"kerastl.as_examples reads files, DataFrames, dicts and single texts"
                )
        self.texts = list(self.texts)
        bad = next((i for i, text in enumerate(self.texts) if not isinstance(text, str)), None)
        if bad is not None:
            raise TypeError(
                f"{self.source}: every text must be a str, received texts[{bad}] = "
                f"{_short(repr(self.texts[bad]))} ({type(self.texts[bad]).__name__})"
            )
        if self.text_pairs is not None:
            self.text_pairs = check_text_pairs(self.text_pairs, len(self.texts), self.source)
        if self.label_set is not None:
            self.label_set = tuple(str(name) for name in self.label_set)
        if self.labels is not None:
            self.labels = list(self.labels)
            if len(self.labels) != len(self.texts):
                raise DataError(
                    f"{self.source}: {len(self.texts)} texts but {len(self.labels)} labels; "
                    f"give one label per text"
                )

    def __len__(self):
        return len(self.texts)

    def label_names(self) -> tuple:
        """The label set these examples define: the `ClassLabel`'s names in id order when the
        source declared them, else sorted names, or "0".."n-1" for integer labels."""
        if self.label_set is not None:
            if len(self.label_set) < 2:
                raise DataError(f"{self.source}: the label set {list(self.label_set)} has fewer than two labels")
            return self.label_set
        if label_sets.holds_label_sets(self.labels):  # multi-label: the sorted union of the sets
            return label_sets.set_label_names(self.labels, self.source)
        return label_names_from(self.labels, self.source)

    def label_ids(self, label_names: Sequence[str]) -> np.ndarray:
        """The id of every label under the label set `label_names` (int32); see `encode_labels`.

        Under a model whose labels are "0".."n-1", labels that came from a `ClassLabel` of n names
        keep their `ClassLabel` ids.
        """
        if self.labels is None:
            raise DataError(f"{self.source} has no labels; give label_column= (--label-column)")
        names = tuple(label_names)
        if label_sets.holds_label_sets(self.labels):  # multi-label: (n, len(names)) float32 multi-hot
            return label_sets.multi_hot(self.labels, names, self.source)
        if (self.label_set is not None and names == integer_names(len(self.label_set))
                and not set(names) & set(self.label_set)):
            index = {name: i for i, name in enumerate(self.label_set)}
            return np.fromiter((index[label] for label in self.labels), dtype=np.int32, count=len(self.labels))
        return encode_labels(self.labels, names, self.source)


def as_examples(
    value,
    labels=None,
    *,
    text_column: str = "text",
    label_column: Optional[str] = "label",
    sep: Optional[str] = None,
    names: Optional[Sequence[str]] = None,
    labelled: Optional[bool] = None,
    what: str = "data",
    task: Optional[str] = None,
    label_sep: str = label_sets.MULTI_LABEL_SEP,
    text_pair_column: Optional[str] = TEXT_PAIR_COLUMN,
    text_pair: Optional[bool] = None,
) -> TextExamples:
    """The one way kerastl turns what it is given as examples into `TextExamples`.

    Accepted:

    - a data file: a `pathlib.Path` (any `os.PathLike`), or a `str` that ends in `.csv`, `.tsv`,
      `.txt`, `.json`, `.jsonl` or `.parquet` or names a file or folder that exists (read as
      `read_examples` describes; a missing file or another kind of file is a `DataError`);
    - a `pandas.DataFrame`, a `datasets.Dataset` or a dict of columns: `text_column` and, where
      there is one, `label_column`. A `ClassLabel` label column gives label names in its id order;
    - a `(texts, labels)` tuple;
    - sentence pairs: a table's `text_pair_column`, `((texts_a, texts_b), labels)`, or
      `(texts_a, texts_b)` with `labels` given apart (or alone, to predict);
    - texts: a list of `str` (always texts, whatever they say), a 1-D numpy array or
      `pandas.Series` of strings, a `tf.string` tensor, or one `str` that is no path as above,
      which is one text; their labels, if any, as `labels`;
    - `TextExamples`, returned as they are.

    Anything else is a `TypeError` naming what was received and what is accepted, and so is an
    ambiguous call: `labels` given with a source that holds its own (a DataFrame, a file, a
    tuple ...), a tuple that is not `(texts, labels)`, a `datasets.DatasetDict` (the message names
    its splits), or texts without labels where labels are needed.

    Args:
        value: the examples, or the texts when `labels` is given.
        labels: one label per text, only with texts: names (an integer names the label "0",
            "1", ... of a model trained on integer labels).
        text_column: the column holding the texts, for tables and files.
        label_column: the column holding the labels, for tables and files.
        sep: field separator of a delimited text file.
        names: column names of a file without a header row.
        labelled: `True` where labels are needed (training, evaluation), `False` where only the
            texts are used (prediction; a table's label column is then not read), `None` to take
            labels when there are some.
        what: how messages name `value`, e.g. `"fine_tune(train)"`.
        task: `"regression"` reads the labels as float scores, refusing an empty, non-numeric
            or NaN one with a `DataError` that names its line (row); `"multi_label"` (or
            `"multi-label"`) reads each label as a set of names (see `label_sep`); otherwise
            (`None`, `"classification"`) labels are read as written, names or integer ids.
        label_sep: with `task="multi_label"`, the separator a str of names is split on.
        text_pair_column: the column holding the second text of sentence pairs, read where
            present; a row without it is a `DataError` naming its line. `None` ignores it.
        text_pair: `True` for a model that reads sentence pairs: a tuple `(a, b)` of two string
            sequences is then always `(texts_a, texts_b)`, even of single words; otherwise such
            a tuple is pairs only where `b` reads as texts (distinct, mostly several words).

    Example:
    >>> as_examples(["good film", "dull"], ["pos", "neg"]).labels
    ['pos', 'neg']
    >>> as_examples("what a film").texts  # one str is one text
    ['what a film']
    """
    if labelled is False:
        label_column = None
    task = label_sets.task_name(task)
    tabular = False
    if isinstance(value, TextExamples):
        _refuse_separate_labels(labels, value, what)
        examples = value
    elif _is_dataset_dict(value):
        splits = list(value)
        example = "train" if "train" in splits else (splits[0] if splits else "train")
        raise TypeError(
            f"{what}: received a datasets.DatasetDict with the splits {splits}; give one split, "
            f"e.g. dataset[{example!r}]"
        )
    elif (isinstance(value, (pd.DataFrame, dict, os.PathLike)) or is_hf_dataset(value)
          or (isinstance(value, str) and names_a_path(value))):
        _refuse_separate_labels(labels, value, what)
        tabular = True
        table = read_table(value, text_column=text_column, label_column=label_column, sep=sep, names=names,
                           labels_required=bool(labelled), task=task, text_pair_column=text_pair_column,
                           label_sep=label_sep)
        examples = TextExamples(table.texts, table.labels, source=table.name, label_set=table.label_set,
                                text_pairs=table.text_pairs)
    elif isinstance(value, tuple) and pair_tuple(value, labels, labelled, text_pair) is not None:
        first, second, pair_labels = pair_tuple(value, labels, labelled, text_pair)
        if pair_labels is NEEDS_LABELS:
            raise DataError(bare_pair_message(what, _describe(value)))
        if isinstance(value[0], tuple):
            _refuse_separate_labels(labels, value, what)
        labels = pair_labels
        examples = TextExamples(_text_list(first, what), _label_list(labels, what), source=what,
                                text_pairs=_text_list(second, what))
    elif isinstance(value, tuple):
        if len(value) != 2 or not _is_text_sequence(value[0]):
            raise TypeError(
                f"{what}: received {_describe(value)}; a tuple is read as (texts, labels) or "
                f"((texts_a, texts_b), labels), with texts a list of str. For texts alone give a list; "
                f"{what} accepts {ACCEPTED}"
            )
        _refuse_separate_labels(labels, value, what)
        examples = TextExamples(_text_list(value[0], what), _label_list(value[1], what), source=what)
    elif isinstance(value, str):
        examples = TextExamples([value], _label_list(labels, what, one_text=True), source=what)
    elif _is_text_sequence(value):
        examples = TextExamples(_text_list(value, what), _label_list(labels, what), source=what)
    else:
        raise TypeError(f"{what}: received {_describe(value)}; {what} accepts {ACCEPTED}")
    if labelled and examples.labels is None:
        if tabular or isinstance(value, TextExamples):
            raise DataError(f"{examples.source} has no labels; give label_column= (--label-column)")
        raise TypeError(_unlabelled_message(value, what, label_column))
    if task == "regression" and examples.labels is not None and not tabular:
        examples = TextExamples(examples.texts, scores_from(examples.labels, examples.source).tolist(),
                                examples.source, text_pairs=examples.text_pairs)
    return label_sets.with_label_sets(examples, label_sep) if task == "multi_label" and not tabular else examples



def _unlabelled_message(value, what, label_column) -> str:
    note = ""
    if isinstance(value, str):
        note = (f" A str is read as a data file only when it ends in {', '.join(DATA_EXTENSIONS)} or "
                f"names a file that exists.")
    return (
        f"{what}: received {_describe(value)} without labels, and labelled examples are needed here.{note} "
        f"Give the labels too: (texts, labels), or texts with labels=, or a DataFrame, dict, "
        f"datasets.Dataset or data file with a {label_column or 'label'!r} column"
    )


def _refuse_separate_labels(labels, value, what) -> None:
    if labels is not None:
        raise TypeError(
            f"{what}: received labels= together with {_describe(value)}, which holds its own labels "
            f"(or none); give labels= only with a list of texts, and choose a table's label column "
            f"with label_column="
        )


def _is_dataset_dict(value) -> bool:
    kind = type(value)
    return kind.__module__.startswith("datasets") and kind.__name__ in ("DatasetDict", "IterableDatasetDict")



_is_text_sequence = is_text_sequence


def _text_list(value, what) -> list:
    """Texts as Python str: from a list, a 1-D numpy array or Series, or a tf.string tensor."""
    if isinstance(value, tf.Tensor):
        if value.dtype != tf.string:
            raise TypeError(f"{what}: texts must be strings, received {_describe(value)}")
        if tf.is_symbolic_tensor(value):
            raise TypeError(
                f"{what}: received a symbolic tf.string tensor (inside a tf.function or a tf.data map); "
                f"kerastl tokenizes in Python, so give the texts eagerly, or tokenize with model.make_dataset"
            )
        value = value.numpy()
    if isinstance(value, np.ndarray):
        if value.ndim > 1:
            raise TypeError(f"{what}: texts must be one-dimensional, received {_describe(value)}")
        value = value.reshape(-1).tolist()
    texts = []
    for i, text in enumerate(value):
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"{what}: text {i} is not UTF-8 ({err.reason}); decode it first") from None
        elif not isinstance(text, str):
            pairs = " (pairs? give (texts, labels) instead)" if isinstance(text, (tuple, list)) else ""
            raise TypeError(
                f"{what}: every text must be a str, received texts[{i}] = {_short(repr(text))} "
                f"({type(text).__name__}){pairs}"
            )
        texts.append(str(text))
    return texts


def _label_list(labels, what, *, one_text: bool = False) -> Optional[list]:
    """Labels as Python str or int, one per text; a single label only for a single text."""
    if labels is None:
        return None
    if isinstance(labels, tf.Tensor):
        labels = labels.numpy()
    if isinstance(labels, np.ndarray):
        if labels.ndim == 2 and labels.shape[1] == 1:  # Keras' (n, 1) sparse labels
            labels = labels[:, 0]
        if labels.ndim > 1:
            raise TypeError(
                f"{what}: labels must be one name or id per text, received {_describe(labels)} "
                f"(one-hot labels? give labels.argmax(axis=1))"
            )
        labels = labels.reshape(-1).tolist()
    elif isinstance(labels, (str, bytes, int, np.integer, np.str_)):
        if not one_text:
            raise TypeError(
                f"{what}: labels must be a list with one label per text, received {_describe(labels)}"
            )
        labels = [labels]
    elif isinstance(labels, Mapping) or not hasattr(labels, "__iter__"):
        raise TypeError(f"{what}: labels must be a list with one label per text, received {_describe(labels)}")
    values = [v.decode("utf-8") if isinstance(v, bytes) else v for v in labels]
    if any(isinstance(v, (list, tuple, set, frozenset, np.ndarray)) for v in values):
        return values  # label sets: multi-label, or refused as such without the task
    return plain_labels(pd.Series(values, dtype=object)) if values else []


def _describe(value) -> str:
    """What a value is, for messages: its kind, and its size or start."""
    if isinstance(value, str):
        return f"the str {_short(repr(value))}"
    if isinstance(value, pd.DataFrame):
        return f"a DataFrame with the columns {list(map(str, value.columns))[:10]}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} ({', '.join(type(v).__name__ for v in value[:4])})"
    if isinstance(value, list):
        return f"a list of {len(value)}" + (f" {type(value[0]).__name__}" if value else "")
    if isinstance(value, Mapping):
        return f"a dict with the keys {list(value)[:10]}"
    if isinstance(value, tf.Tensor):
        return f"a tf.Tensor of {value.dtype.name} with shape {value.shape}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of {value.dtype} with shape {value.shape}"
    kind = type(value)
    return f"a {kind.__name__}" if kind.__module__ == "builtins" else f"a {kind.__module__}.{kind.__qualname__}"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."



def read_examples(
    source,
    *,
    text_column: str = "text",
    label_column: Optional[str] = "label",
    sep: Optional[str] = None,
    names: Optional[Sequence[str]] = None,
    task: Optional[str] = None,
    label_sep: str = label_sets.MULTI_LABEL_SEP,
    text_pair_column: Optional[str] = TEXT_PAIR_COLUMN,
) -> TextExamples:
    """Read texts and labels from a file, a DataFrame, a Hugging Face `Dataset` or a dict.

    It accepts everything `as_examples` does (see there how a `str` is read).
    Files: `.csv`, `.tsv`, `.json`, `.jsonl`, `.parquet`, and headerless delimited text such as
    `text;label` lines (give `sep=";"` and `names=["text", "label"]`). Of labelled examples, rows
    with a missing text or label, or a text that is empty or only whitespace, are dropped with a
    warning that counts them. Unlabelled texts (to predict) keep one row each, in order: an empty
    text is kept, and a missing one is refused with a `DataError`. Non-string texts (numbers)
    are converted with `str`.

    Args:
        source: a path, a `pandas.DataFrame`, a `datasets.Dataset` (a `ClassLabel` label column
            gives names, in its id order) or a dict of columns.
        text_column: the column holding the texts.
        label_column: the column holding the labels; `None` to read texts only. Left at
            `"label"`, a table without a `label` column has its labels found in `labels` or
            `score`. A `text_pair` column holds the second text of sentence pairs
            (`TextExamples.text_pairs`): a row without it is a `DataError` naming its line.
        sep: field separator for delimited text; inferred from the extension otherwise.
        names: column names for a file without a header row.
        task: how the labels are read: as written (`None` or `"classification"`: names or integer
            ids), or `"regression"`: float scores (the `score` column by header), where an
            empty, non-numeric or NaN score stops with a `DataError` naming its file and line;
            or `"multi_label"`: a set of names per row, the field split on `label_sep` (an empty
            field or name is a `DataError` naming file and line).
        label_sep: the separator of the names in a multi-label field (default ",").
        text_pair_column: the column of the second texts of sentence pairs (read where present).

    Example (headerless `text;label` lines, as in the emotion data):
    >>> from pathlib import Path
    >>> _ = Path("train.txt").write_text("i feel great;joy\\ni am so sad;sadness\\n")
    >>> examples = read_examples("train.txt", sep=";", names=["text", "label"])
    >>> examples.texts, examples.labels
    (['i feel great', 'i am so sad'], ['joy', 'sadness'])
    """
    return as_examples(source, text_column=text_column, label_column=label_column, sep=sep, names=names,
                       labelled=label_column is not None, what="read_examples(source)", task=task, label_sep=label_sep,
                       text_pair_column=text_pair_column)

