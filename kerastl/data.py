"""Texts and labels in, padded `tf.data` batches out.

A file, DataFrame, Hugging Face `Dataset` or plain lists become `TextExamples`; `make_dataset`
tokenizes them once, truncates to `max_length`, and pads every batch only to its own longest text.
"""

import csv
import dataclasses
import logging
import math
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from kerastl import distribute
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


@dataclasses.dataclass
class TextExamples:
    """Texts and, for training and evaluation, their labels.

    Args:
        texts: the texts, as Python strings.
        labels: one label per text (strings or integers), or `None` for unlabelled data.
        source: where they came from, for messages.

    Example:
    >>> data = TextExamples(["good film", "dull"], ["pos", "neg"])
    >>> data.label_names()
    ('neg', 'pos')
    """

    texts: list
    labels: Optional[list] = None
    source: str = "data"

    def __post_init__(self):
        self.texts = list(self.texts)
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
        """The label set these examples define: sorted names, or "0".."n-1" for integer labels."""
        return label_names_from(self.labels, self.source)


def read_examples(
    source,
    *,
    text_column: str = "text",
    label_column: Optional[str] = "label",
    sep: Optional[str] = None,
    names: Optional[Sequence[str]] = None,
) -> TextExamples:
    """Read texts and labels from a file, a DataFrame, a Hugging Face `Dataset` or a dict.

    Files: `.csv`, `.tsv`, `.json`, `.jsonl`, `.parquet`, and headerless delimited text such as
    `text;label` lines (give `sep=";"` and `names=["text", "label"]`). Rows with a missing text
    or label, or a text that is empty or only whitespace, are dropped with a warning that counts
    them; non-string texts (numbers) are converted with `str`.

    Args:
        source: a path, a `pandas.DataFrame`, a `datasets.Dataset` or a dict of columns.
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
    frame, name = _as_frame(source, sep=sep, names=names)
    missing = [c for c in (text_column, label_column) if c is not None and c not in frame.columns]
    if missing:
        hint = "" if names else "; for a file without a header row give names= (--names)"
        raise DataError(
            f"{name}: no column {missing[0]!r}; the columns are {list(map(str, frame.columns))}. "
            f"Choose the text and label columns with text_column=/label_column= "
            f"(--text-column/--label-column){hint}"
        )
    columns = [text_column] + ([label_column] if label_column is not None else [])
    frame = frame[columns]
    keep = frame.notna().all(axis=1)
    if not keep.all():
        logger.warning("%s: dropped %d rows with a missing text or label", name, (~keep).sum())
        frame = frame[keep]
    if frame.empty:
        raise DataError(f"{name}: no rows with both a text and a label; check the file and --sep")
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
    return TextExamples(texts, labels, source=name)


def _as_frame(source, *, sep, names):
    if isinstance(source, pd.DataFrame):
        return source, "DataFrame"
    if isinstance(source, dict):
        return pd.DataFrame(source), "dict"
    if hasattr(source, "to_pandas") and hasattr(source, "column_names"):  # datasets.Dataset
        return source.to_pandas(), f"Dataset({getattr(source, 'split', None) or 'data'})"
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(
            f"data must be a file path, a DataFrame, a datasets.Dataset or a dict of columns, "
            f"received {type(source).__name__}"
        )
    path = Path(source)
    if not path.is_file():
        raise DataError(f"no data file at {str(path)!r}: check the path")
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
    """Label ids (int32) for `labels` under a fixed label set; unknown labels are an error."""
    index = {name: i for i, name in enumerate(label_names)}
    keys = [str(v) for v in labels]
    unknown = sorted(set(keys) - index.keys())
    if unknown:
        raise DataError(
            f"{source}: labels {unknown[:10]} are not among the model's labels "
            f"{list(label_names)}; remove those rows or train a model that has them"
        )
    return np.fromiter((index[k] for k in keys), dtype=np.int32, count=len(keys))


def tokenize(texts: Sequence[str], tokenizer, max_length: int) -> tf.RaggedTensor:
    """Token ids of every text, truncated to `max_length` and unpadded: (n, None) int32."""
    ids = tokenizer(
        list(texts), truncation=True, max_length=max_length,
        return_attention_mask=False, return_token_type_ids=False,
    )["input_ids"]
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


def encode_examples(examples: TextExamples, tokenizer, *, label_names=None, max_length: int = 128):
    """Tokenize `examples` once and map their labels to ids under `label_names`."""
    if len(examples) == 0:
        raise DataError(f"{examples.source} holds no examples")
    ids = tokenize(examples.texts, tokenizer, max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    labels = None
    if examples.labels is not None and label_names is not None:
        labels = encode_labels(examples.labels, label_names, examples.source)
    return EncodedExamples(ids, labels, pad_id)


def make_dataset(
    examples: TextExamples,
    tokenizer,
    *,
    label_names: Optional[Sequence[str]] = None,
    max_length: int = 128,
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
        examples: the texts and, unless predicting, their labels.
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
    encoded = encode_examples(examples, tokenizer, label_names=label_names, max_length=max_length)
    return encoded.dataset(batch_size, shuffle=shuffle, seed=seed, bucket=bucket)


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Batches in one pass over `num_examples` examples."""
    return math.ceil(num_examples / batch_size)
