"""Read a table of examples (a data file, a DataFrame, a `datasets.Dataset`, a dict of columns)
into its texts and labels.

`kerastl.data.text_examples.as_examples` is the way in; this module knows the file formats, the columns
and the rows it drops.
"""

import csv
import logging
import os
from pathlib import Path
from typing import NamedTuple, Optional

import pandas as pd

from kerastl._files import utf8_error
from kerastl.config import LABEL_COLUMNS
from kerastl.data.label_sets import MULTI_LABEL_SEP, label_sets_from
from kerastl.data.labels import plain_labels
from kerastl.data.pairs import missing_second_text
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


def names_a_path(value: str) -> bool:
    """Whether a `str` given as examples is a path: one line that ends in a data extension or
    names a file or folder that exists. Any other `str` is one text."""
    if "\n" in value or not value.strip():
        return False
    return Path(value).suffix.lower() in _READERS or os.path.exists(value)


def is_hf_dataset(value) -> bool:
    """Whether `value` is a `datasets.Dataset` (read by its duck type: datasets is not imported)."""
    return hasattr(value, "to_pandas") and hasattr(value, "column_names")


class Table(NamedTuple):
    """The examples of a table: texts, labels (or None), the name messages give the table, and
    the label set its label column declares (a `ClassLabel`'s names) or None, and the second texts
    of sentence pairs (a `text_pair` column) or None."""

    texts: list
    labels: Optional[list]
    name: str
    label_set: Optional[tuple]
    text_pairs: Optional[list] = None


def read_table(source, *, text_column, label_column, sep, names, labels_required, task=None,
               label_sep=MULTI_LABEL_SEP,
               text_pair_column=None) -> Table:
    """The examples of a file, DataFrame, `datasets.Dataset` or dict; the label column is optional
    unless `labels_required`. A `text_pair_column` present gives the second texts of pairs."""
    frame, name = _as_frame(source, sep=sep, names=names)
    first_line = None if isinstance(source, (pd.DataFrame, dict)) or is_hf_dataset(source) else (1 if names else 2)
    pair_column = text_pair_column if text_pair_column in map(str, frame.columns) else None
    if pair_column == text_column:
        raise DataError(f"{name}: the column {text_column!r} cannot hold both texts of a pair; choose another "
                        f"text column with text_column= (--text-column)")
    if label_column == LABEL_COLUMNS[0]:  # left at its default: the target is found by header
        label_column = _target_column(frame.columns, name)
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
    if pair_column is not None:
        _check_second_texts(frame[pair_column], name, pair_column, first_line)
        columns.append(pair_column)
    frame = frame[columns]
    label_set = _class_label_names(source, label_column)
    if label_set is not None:  # ClassLabel ids -> names; -1 (no label) becomes a missing label
        ids = frame[label_column]
        frame = frame.assign(**{label_column: [label_set[i] if 0 <= i < len(label_set) else None for i in ids]})
    if label_column is None:  # texts to predict or encode: one answer per row, in row order
        table = _unlabelled_table(frame[text_column], name)
        return table._replace(text_pairs=None if pair_column is None else _strings(frame[pair_column]))
    if task == "regression":  # a score must be a number on every row: refused, never dropped
        frame = frame.assign(**{label_column: _scores(frame[label_column], name, label_column,
                                                      first_line=first_line)})
    if task == "multi_label":  # a set of names on every row: an empty field is refused, never dropped
        line = None if isinstance(source, (pd.DataFrame, dict)) or is_hf_dataset(source) else (1 if names else 2)
        frame = frame.assign(**{label_column: label_sets_from(frame[label_column].tolist(), name, sep=label_sep,
                                                              first_line=line)})
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
        raw = task in ("regression", "multi_label")  # scores and label sets, as read above
        labels = frame[label_column].tolist() if raw else plain_labels(frame[label_column])
    return Table(texts, labels, name, label_set, None if pair_column is None else _strings(frame[pair_column]))


def _check_second_texts(column, name, pair_column, first_line) -> None:
    """A row without its second text is refused, naming its line (its row in a table)."""
    missing = column.isna().to_numpy().nonzero()[0]
    if len(missing):
        where = f"line {missing[0] + first_line}" if first_line is not None else f"row {missing[0]}"
        raise missing_second_text(name, where, pair_column)


def _strings(column) -> list:
    return [t if isinstance(t, str) else str(t) for t in column.tolist()]


def _scores(column, name, label_column, *, first_line) -> list:
    """The float scores of a regression target column; the first empty, non-numeric or non-finite
    one is a `DataError` naming its line (its row in a table), and how to fix it."""
    for position, value in enumerate(column.tolist()):
        try:
            number = float(value) if value is not None and not (isinstance(value, str) and not value.strip()) else None
        except (TypeError, ValueError):
            number = None
        if number is None or number != number or number in (float("inf"), float("-inf")):
            where = f"line {position + first_line}" if first_line is not None else f"row {position}"
            shown = "an empty score" if value is None or pd.isna(value) or not str(value).strip() else f"{value!r}"
            raise DataError(
                f"{name}, {where}: {shown} in the {label_column!r} column is not a number, and "
                f"task=\"regression\" needs a finite number on every row; fix or remove that row"
            )
    return [float(value) for value in column.tolist()]


def _target_column(columns, name) -> str:
    """The label column found by header: `label`, else the one of `labels` and `score` present
    (the header names the column, never the task)."""
    present = [c for c in LABEL_COLUMNS if c in map(str, columns)]
    if len(present) > 1 and present[0] != LABEL_COLUMNS[0]:
        raise DataError(
            f"{name}: both {present[0]!r} and {present[1]!r} could hold the labels; choose one with "
            f"label_column= (--label-column)"
        )
    return present[0] if present else LABEL_COLUMNS[0]


def _unlabelled_table(texts, name) -> Table:
    """Every row's text, none dropped: an empty text is a text like any other (predicted as
    a list's would be), and a missing one is refused rather than dropped, which would shift every
    answer after it against the rows it belongs to."""
    missing = texts.isna().to_numpy().nonzero()[0]
    if len(missing):
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise DataError(
            f"{name}: {len(missing)} rows have no text (rows {shown}, counting from 0); every row gets "
            f"an answer in row order, so fill them (e.g. df[column].fillna('')) or drop them first"
        )
    if texts.empty:
        raise DataError(f"{name}: no rows with a text; check the file and --sep")
    return Table([t if isinstance(t, str) else str(t) for t in texts.tolist()], None, name, None)


def _class_label_names(source, label_column) -> Optional[tuple]:
    """The names of a `datasets.ClassLabel` label column, in id order; None for any other column."""
    if label_column is None or not is_hf_dataset(source):
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
    if is_hf_dataset(source):
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
    except UnicodeDecodeError as err:  # its offset counts from the field pandas was decoding
        where = utf8_error(path) or f"{err.reason}"
        raise DataError(f"{path} is not UTF-8 text (at {where}); re-save it as UTF-8") from None
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

