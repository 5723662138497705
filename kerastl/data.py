"""Texts and labels in, padded `tf.data` batches out.

`as_examples` turns everything kerastl accepts as examples (a data file, a DataFrame, a Hugging
Face `Dataset`, a dict of columns, a `(texts, labels)` tuple, texts with labels, one text) into
`TextExamples`, and refuses anything else; `make_dataset` tokenizes them once, truncates to
`max_length`, and pads every batch only to its own longest text.
"""

import csv
import dataclasses
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from kerastl import distribute, truncation
from kerastl.config import DEFAULT_MAX_LENGTH
from kerastl.errors import DataError

logger = logging.getLogger(__name__)

# Extension -> pandas reader. Headerless delimited text (".txt") needs sep= and names=.
_READERS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}

# Where examples are expected, a `str` that ends in one of these, or names a file or folder that
# exists, is a path; any other `str` is one text.
DATA_EXTENSIONS = tuple(sorted(_READERS))

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

    Example:
    >>> data = TextExamples(["good film", "dull"], ["pos", "neg"])
    >>> data.label_names()
    ('neg', 'pos')
    """

    texts: list
    labels: Optional[list] = None
    source: str = "data"
    label_set: Optional[tuple] = None

    def __post_init__(self):
        for field, value in (("texts", self.texts), ("labels", self.labels)):
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
        return label_names_from(self.labels, self.source)

    def label_ids(self, label_names: Sequence[str]) -> np.ndarray:
        """The id of every label under the label set `label_names` (int32); see `encode_labels`.

        Under a model whose labels are "0".."n-1", labels that came from a `ClassLabel` of n names
        keep their `ClassLabel` ids.
        """
        if self.labels is None:
            raise DataError(f"{self.source} has no labels; give label_column= (--label-column)")
        names = tuple(label_names)
        if (self.label_set is not None and names == _integer_names(len(self.label_set))
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
) -> TextExamples:
    """The one way kerastl turns what it is given as examples into `TextExamples`.

    Accepted:

    - a data file: a `pathlib.Path` (any `os.PathLike`), or a `str` that ends in `.csv`, `.tsv`,
      `.txt`, `.json`, `.jsonl` or `.parquet` or names a file or folder that exists (read as
      `read_examples` describes; a missing file or another kind of file is a `DataError`);
    - a `pandas.DataFrame`, a `datasets.Dataset` or a dict of columns: `text_column` and, where
      there is one, `label_column`. A `ClassLabel` label column gives label names in its id order;
    - a `(texts, labels)` tuple;
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

    Example:
    >>> as_examples(["good film", "dull"], ["pos", "neg"]).labels
    ['pos', 'neg']
    >>> as_examples("what a film").texts  # one str is one text
    ['what a film']
    """
    if labelled is False:
        label_column = None
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
    elif (isinstance(value, (pd.DataFrame, dict, os.PathLike)) or _is_hf_dataset(value)
          or (isinstance(value, str) and names_a_path(value))):
        _refuse_separate_labels(labels, value, what)
        tabular = True
        examples = _read_table(value, text_column=text_column, label_column=label_column, sep=sep, names=names,
                               labels_required=bool(labelled))
    elif isinstance(value, tuple):
        if len(value) != 2 or not _is_text_sequence(value[0]):
            raise TypeError(
                f"{what}: received {_describe(value)}; a tuple is read as (texts, labels), with texts "
                f"a list of str. For texts alone give a list; {what} accepts {ACCEPTED}"
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
    return examples


def names_a_path(value: str) -> bool:
    """Whether a `str` given as examples is a path: one line that ends in a data extension or
    names a file or folder that exists. Any other `str` is one text."""
    if "\n" in value or not value.strip():
        return False
    return Path(value).suffix.lower() in _READERS or os.path.exists(value)


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


def _is_hf_dataset(value) -> bool:
    return hasattr(value, "to_pandas") and hasattr(value, "column_names")  # datasets.Dataset


def _is_text_sequence(value) -> bool:
    return isinstance(value, (list, np.ndarray, pd.Series, pd.Index, tf.Tensor))


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
    return _plain_labels(pd.Series(values, dtype=object)) if values else []


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


def _integer_names(count: int) -> tuple:
    return tuple(str(i) for i in range(count))


def read_examples(
    source,
    *,
    text_column: str = "text",
    label_column: Optional[str] = "label",
    sep: Optional[str] = None,
    names: Optional[Sequence[str]] = None,
) -> TextExamples:
    """Read texts and labels from a file, a DataFrame, a Hugging Face `Dataset` or a dict.

    It accepts everything `as_examples` does (see there how a `str` is read).
    Files: `.csv`, `.tsv`, `.json`, `.jsonl`, `.parquet`, and headerless delimited text such as
    `text;label` lines (give `sep=";"` and `names=["text", "label"]`). Rows with a missing text
    or label, or a text that is empty or only whitespace, are dropped with a warning that counts
    them; non-string texts (numbers) are converted with `str`.

    Args:
        source: a path, a `pandas.DataFrame`, a `datasets.Dataset` (a `ClassLabel` label column
            gives names, in its id order) or a dict of columns.
        text_column: the column holding the texts.
        label_column: the column holding the labels; `None` to read texts only.
        sep: field separator for delimited text; inferred from the extension otherwise.
        names: column names for a file without a header row.

    Example (headerless `text;label` lines, as in the emotion data):
    >>> from pathlib import Path
    >>> _ = Path("train.txt").write_text("i feel great;joy\\ni am so sad;sadness\\n")
    >>> examples = read_examples("train.txt", sep=";", names=["text", "label"])
    >>> examples.texts, examples.labels
    (['i feel great', 'i am so sad'], ['joy', 'sadness'])
    """
    return as_examples(source, text_column=text_column, label_column=label_column, sep=sep, names=names,
                       labelled=label_column is not None, what="read_examples(source)")


def _read_table(source, *, text_column, label_column, sep, names, labels_required) -> TextExamples:
    """Examples from a file, DataFrame, `datasets.Dataset` or dict; the label column is optional
    unless `labels_required`."""
    frame, name = _as_frame(source, sep=sep, names=names)
    if label_column is not None and label_column not in frame.columns and not labels_required:
        label_column = None
    missing = [c for c in (text_column, label_column) if c is not None and c not in frame.columns]
    if missing:
        hint = "" if names else "; for a file without a header row give names= (--names)"
        raise DataError(
            f"{name}: no column {missing[0]!r}; the columns are {list(map(str, frame.columns))}. "
            f"Choose the text and label columns with text_column=/label_column= of kerastl.read_examples "
            f"(--text-column/--label-column){hint}"
        )
    columns = [text_column] + ([label_column] if label_column is not None else [])
    frame = frame[columns]
    label_set = _class_label_names(source, label_column)
    if label_set is not None:  # ClassLabel ids -> names; -1 (no label) becomes a missing label
        ids = frame[label_column]
        frame = frame.assign(**{label_column: [label_set[i] if 0 <= i < len(label_set) else None for i in ids]})
    keep = frame.notna().all(axis=1)
    if not keep.all():
        logger.warning("%s: dropped %d rows with a missing text or label", name, (~keep).sum())
        frame = frame[keep]
    if frame.empty:
        wanted = "both a text and a label" if label_column is not None else "a text"
        raise DataError(f"{name}: no rows with {wanted}; check the file and --sep")
    texts = [t if isinstance(t, str) else str(t) for t in frame[text_column].tolist()]
    blank = [i for i, t in enumerate(texts) if not t.strip()]
    if blank:
        logger.warning("%s: dropped %d rows whose text is empty or only whitespace", name, len(blank))
        frame = frame.drop(frame.index[blank])
        texts = [t for i, t in enumerate(texts) if t.strip()]
        if not texts:
            raise DataError(f"{name}: every text is empty or only whitespace; check --text-column")
    labels = None
    if label_column is not None:
        labels = _plain_labels(frame[label_column])
    return TextExamples(texts, labels, source=name, label_set=label_set)


def _class_label_names(source, label_column) -> Optional[tuple]:
    """The names of a `datasets.ClassLabel` label column, in id order; None for any other column."""
    if label_column is None or not _is_hf_dataset(source):
        return None
    feature = (getattr(source, "features", None) or {}).get(label_column)
    if type(feature).__name__ == "ClassLabel" and getattr(feature, "names", None):
        return tuple(str(name) for name in feature.names)
    return None


def _as_frame(source, *, sep, names):
    if isinstance(source, pd.DataFrame):
        return source, "DataFrame"
    if isinstance(source, dict):
        scalars = [key for key, column in source.items()
                   if isinstance(column, (str, bytes)) or not hasattr(column, "__len__")]
        if scalars:
            raise TypeError(
                f"a dict is read as columns, one list per column; received a single value under "
                f"{scalars[0]!r}: give {{{scalars[0]!r}: [...]}}"
            )
        try:
            return pd.DataFrame(source), "dict"
        except ValueError as err:
            raise DataError(
                f"dict of columns: {_first_line(err)}; give one list per column, all of the same length"
            ) from None
    if _is_hf_dataset(source):
        return source.to_pandas(), f"Dataset({getattr(source, 'split', None) or 'data'})"
    path = Path(source)
    if path.is_dir():
        raise DataError(f"{path} is a folder: give one data file in it ({', '.join(DATA_EXTENSIONS)})")
    if not path.is_file():
        also = ""
        if isinstance(source, str):
            also = f"; a str ending in {path.suffix} is read as a data file (to use it as one text, give [text])"
        raise DataError(f"no data file at {str(path)!r}: check the path{also}")
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"{path}: unknown extension {path.suffix!r}; kerastl reads {sorted(_READERS)}"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty: give a file with one example per row")
    try:
        if kind == "csv":
            if sep is None:
                sep = "\t" if path.suffix.lower() == ".tsv" else ","
            # .csv and .tsv follow CSV quoting; in plain .txt lines a quote character is text.
            quoting = csv.QUOTE_NONE if path.suffix.lower() == ".txt" else csv.QUOTE_MINIMAL
            frame = pd.read_csv(
                path, sep=sep, header=None if names else "infer",
                quoting=quoting, keep_default_na=False, na_values=[""], dtype_backend="numpy_nullable",
            )
        elif kind == "json":
            lines = path.suffix.lower() == ".jsonl" or _first_char(path) == "{"
            frame = pd.read_json(path, lines=lines)
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not UTF-8 text (byte {err.start}: {err.reason}); re-save it as UTF-8"
        ) from None
    except (ValueError, pd.errors.ParserError, OSError) as err:
        raise DataError(
            f"{path} is not valid {kind.upper()} ({_first_line(err)}): fix or re-export it"
        ) from None
    if names and kind == "csv":
        if len(frame.columns) != len(names):
            raise DataError(
                f"{path}: names={list(names)} but the rows have {len(frame.columns)} fields; check --sep"
            )
        frame.columns = list(names)
    return frame, str(path)


def _first_char(path: Path) -> str:
    with open(path, "rb") as f:
        return f.read(64).lstrip()[:1].decode("ascii", "replace")


def _first_line(err: BaseException) -> str:
    return (str(err).strip() or type(err).__name__).splitlines()[0]


def _plain_labels(column: pd.Series) -> list:
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


def tokenize(texts: Sequence[str], tokenizer, max_length: int) -> tf.RaggedTensor:
    """Token ids of every text, truncated to `max_length` and unpadded: (n, None) int32.

    The ids are the tokenizer's with `truncation=True`; of a long text only a part is read
    (`kerastl.truncation`), so a text of megabytes costs about what one of kilobytes does.
    """
    ids = truncation.token_ids(texts, tokenizer, max_length)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter((t for row in ids for t in row), dtype=np.int32, count=int(lengths.sum()))
    return tf.RaggedTensor.from_row_lengths(flat, lengths)


@dataclasses.dataclass
class EncodedExamples:
    """Examples tokenized once: ragged token ids, label ids (or None) and the pad id."""

    ids: tf.RaggedTensor
    labels: Optional[np.ndarray]
    pad_id: int

    def __len__(self):
        return int(self.ids.nrows())

    def index_batches(self, batch_size: int, *, shuffle: bool = False, seed=None, bucket: bool = True):
        """Batches of example indices; see `index_batches`."""
        return index_batches(self.ids.row_lengths(), batch_size, shuffle=shuffle, seed=seed, bucket=bucket)

    def pad(self, index) -> dict:
        """Features of the examples at `index`, padded to the longest of them."""
        rows = tf.gather(self.ids, index)  # (batch, None) ragged
        # At least one position, so that an empty batch (a replica's share of a last, short
        # global batch) still has a [CLS] column to read.
        width = tf.maximum(rows.bounding_shape(axis=1), 1)
        return {
            "input_ids": rows.to_tensor(self.pad_id, shape=tf.stack([rows.nrows(), width])),  # (batch, longest)
            "attention_mask": tf.sequence_mask(rows.row_lengths(), width, dtype=tf.int32),  # (batch, longest)
        }

    def dataset(self, batch_size: int, *, shuffle: bool = False, seed=None, bucket: bool = True,
                repeat: bool = False, strategy=None):
        """`(features, label_ids)` batches, or features alone when there are no labels.

        With `repeat` the batches cycle without end, reshuffled on every pass: give Keras
        `steps_per_epoch`. With a `tf.distribute` strategy of several replicas, `batch_size` is
        per replica and a distributed dataset comes back, which always repeats: each global batch
        of `batch_size * replicas` examples is cut into one part per replica (see
        `kerastl.distribute`).
        """
        labels = self.labels

        def gather(index):
            if labels is None:
                return self.pad(index)
            return self.pad(index), tf.gather(labels, index)  # (batch,)

        return self.batches(gather, batch_size, shuffle=shuffle, seed=seed, bucket=bucket, repeat=repeat,
                            strategy=strategy)

    def batches(self, to_element, batch_size: int, *, shuffle: bool = False, seed=None, bucket: bool = True,
                repeat: bool = False, strategy=None):
        """`to_element(index)` for every index batch, one device or distributed as in `dataset`."""
        replicas = strategy.num_replicas_in_sync if strategy is not None else 1
        if replicas > 1:
            return distribute.distribute_batches(
                strategy,
                lambda: self.index_batches(batch_size * replicas, shuffle=shuffle, seed=seed, bucket=bucket),
                to_element,
            )
        batches = self.index_batches(batch_size, shuffle=shuffle, seed=seed, bucket=bucket)
        batches = batches.repeat() if repeat else batches
        return batches.map(to_element, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def index_batches(lengths, batch_size: int, *, shuffle: bool = False, seed=None, bucket: bool = True,
                  window_batches: int = 100) -> tf.data.Dataset:
    """A dataset of int64 index vectors, one per batch.

    Without `shuffle` the batches follow the input order. With it, the examples are reshuffled
    every epoch; with `bucket` as well, each shuffled window of `window_batches` batches is
    sorted by length before it is cut into batches, and the batches are shuffled again, so a
    batch holds texts of similar length (little padding) yet every epoch sees a new order.
    """
    lengths = tf.convert_to_tensor(lengths, tf.int64)
    count = int(lengths.shape[0])
    order = tf.data.Dataset.range(count)
    if not shuffle:
        return order.batch(batch_size)
    order = order.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    if not bucket:
        return order.batch(batch_size)

    def by_length(window):
        return tf.gather(window, tf.argsort(tf.gather(lengths, window), stable=True))

    num_batches = -(-count // batch_size)
    batches = order.batch(batch_size * window_batches).map(by_length).unbatch().batch(batch_size)
    batches = batches.shuffle(num_batches, seed=seed, reshuffle_each_iteration=True)
    return batches.apply(tf.data.experimental.assert_cardinality(num_batches))  # for progress bars


def encode_examples(examples, tokenizer, *, label_names=None, max_length: int = DEFAULT_MAX_LENGTH):
    """Tokenize `examples` (anything `as_examples` accepts) once and map their labels to ids under
    `label_names`."""
    examples = as_examples(examples, what="encode_examples(examples)")
    if len(examples) == 0:
        raise DataError(f"{examples.source} holds no examples")
    ids = tokenize(examples.texts, tokenizer, max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    labels = None
    if examples.labels is not None and label_names is not None:
        labels = examples.label_ids(label_names)
    return EncodedExamples(ids, labels, pad_id)


def make_dataset(
    examples,
    tokenizer,
    *,
    label_names: Optional[Sequence[str]] = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: Optional[int] = None,
    bucket: bool = True,
) -> tf.data.Dataset:
    """A `tf.data.Dataset` of `({"input_ids", "attention_mask"}, label_id)` batches.

    Texts are tokenized once. Each batch is padded to its own longest text, never beyond
    `max_length`. With `shuffle=True` the order changes every epoch and, with `bucket`, texts of
    similar length share a batch; otherwise the order is that of `examples`, so predictions
    line up with the inputs.

    Args:
        examples: the texts and, unless predicting, their labels: anything `as_examples`
            accepts (a file, a DataFrame, a `datasets.Dataset`, `(texts, labels)`, texts, ...).
        tokenizer: a Hugging Face tokenizer.
        label_names: the model's label set; labels are mapped to their index in it. Without
            labels in `examples` the dataset yields features only.
        max_length: longest token sequence, special tokens included.
        batch_size: examples per batch.
        shuffle: reshuffle the examples every epoch.
        seed: seed for the shuffle.
        bucket: when shuffling, batch texts of similar length together.

    Example:
    >>> examples = TextExamples(["a b", "c"], ["x", "y"])
    >>> ds = make_dataset(examples, tokenizer, label_names=("x", "y"))
    >>> features, label_ids = next(iter(ds))
    >>> features["input_ids"].shape, label_ids.numpy().tolist()  # [CLS] a b [SEP]; [CLS] c [SEP] [PAD]
    (TensorShape([2, 4]), [0, 1])
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, received batch_size={batch_size}")
    examples = as_examples(examples, what="make_dataset(examples)")
    encoded = encode_examples(examples, tokenizer, label_names=label_names, max_length=max_length)
    return encoded.dataset(batch_size, shuffle=shuffle, seed=seed, bucket=bucket)


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Batches in one pass over `num_examples` examples."""
    return math.ceil(num_examples / batch_size)
