"""Examples in, padded `tf.data` batches out.

`make_dataset` tokenizes examples (anything `kerastl.examples.as_examples` accepts) once,
truncates them to `max_length`, and pads every batch only to its own longest text.

The examples side (`TextExamples`, `as_examples`, `read_examples`, label sets) lives in
`kerastl.examples`, `kerastl.tables` and `kerastl.labels`; its public names are importable from
here too.
"""

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from kerastl import distribute, truncation
from kerastl.config import DEFAULT_MAX_LENGTH
from kerastl.errors import DataError
from kerastl.examples import ACCEPTED, TextExamples, as_examples, read_examples
from kerastl.labels import encode_labels, label_names_from
from kerastl.tables import DATA_EXTENSIONS, names_a_path

__all__ = [
    # the examples side, re-exported: `kerastl.data` is where they were public first
    "ACCEPTED", "DATA_EXTENSIONS", "TextExamples", "as_examples", "encode_labels", "label_names_from",
    "names_a_path", "read_examples",
    # batches
    "EncodedExamples", "encode_examples", "index_batches", "make_dataset", "steps_per_epoch", "tokenize",
]


def tokenize(texts: Sequence[str], tokenizer, max_length: int) -> tf.RaggedTensor:
    """Token ids of every text, truncated to `max_length` and unpadded: (n, None) int32.

    The ids are the tokenizer's with `truncation=True`; of a long text only a part is read
    (`kerastl.truncation`), so a text of megabytes costs about what one of kilobytes does.
    """
    ids = truncation.token_ids(texts, tokenizer, max_length)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter((t for row in ids for t in row), dtype=np.int32, count=int(lengths.sum()))
    return tf.RaggedTensor.from_row_lengths(flat, lengths, validate=False)  # valid as built


@dataclasses.dataclass
class EncodedExamples:
    """Examples tokenized once: ragged token ids, label ids (or None) and the pad id."""

    ids: tf.RaggedTensor
    labels: Optional[np.ndarray]
    pad_id: int

    def __len__(self):
        return int(self.ids.nrows())

    def lengths(self) -> np.ndarray:
        """The number of tokens of every example: (n,) int64."""
        return np.diff(self._host()[1])

    def _host(self):
        """The ids as NumPy arrays, `(flat ids, row splits)`, made once."""
        if "_host_ids" not in self.__dict__:
            self.__dict__["_host_ids"] = (self.ids.flat_values.numpy(), self.ids.row_splits.numpy())
        return self.__dict__["_host_ids"]

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

    def pad_now(self, index: np.ndarray) -> dict:
        """`pad(index)` computed in NumPy, for batches padded one at a time outside a `tf.data`
        pipeline: a few NumPy calls cost less than `pad`'s dozen eager TensorFlow ops."""
        flat, splits = self._host()
        starts, lengths = splits[index], splits[index + 1] - splits[index]
        width = max(int(lengths.max(initial=0)), 1)  # at least one position, as in `pad`
        mask = np.arange(width) < lengths[:, None]  # (batch, longest)
        positions = np.minimum(starts[:, None] + np.arange(width), max(len(flat) - 1, 0))
        ids = np.where(mask, flat[positions] if len(flat) else 0, self.pad_id).astype(np.int32)
        return {"input_ids": tf.constant(ids), "attention_mask": tf.constant(mask.astype(np.int32))}

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
