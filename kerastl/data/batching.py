"""Batches by length: the one place kerastl sorts, cuts and pads token sequences.

- Training: `index_batches` shuffles every epoch and, with `bucket`, puts texts of similar length in
  the same batch; `EncodedExamples.dataset` pads each batch only to its own longest text.
- Inference over many texts: `by_length` cuts the texts sorted by length into batches
  (`length_batches`), padded in NumPy (`EncodedExamples.pad_now`; `pad_rows` for id lists, as
  the ONNX loader's).
- Serving: `logits_by_length` does the same inside a TensorFlow graph, in chunks of a fixed size.
"""

import dataclasses
import math
from typing import Optional

import numpy as np
import tensorflow as tf

from kerastl import distribute


@dataclasses.dataclass
class EncodedExamples:
    """Examples tokenized once: ragged token ids, label ids (or None), the pad id and, for
    sentence pairs where the tokenizer gives them, ragged segment ids (the rows of `ids`)."""

    ids: tf.RaggedTensor
    labels: Optional[np.ndarray]
    pad_id: int
    segment_ids: Optional[tf.RaggedTensor] = None

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
        """Features of the examples at `index`, padded to the longest of them (`token_type_ids`
        too, 0 on padding, where there are segment ids)."""
        rows = tf.gather(self.ids, index)  # (batch, None) ragged
        # At least one position, so that an empty batch (a replica's share of a last, short
        # global batch) still has a [CLS] column to read.
        width = tf.maximum(rows.bounding_shape(axis=1), 1)
        shape = tf.stack([rows.nrows(), width])
        features = {
            "input_ids": rows.to_tensor(self.pad_id, shape=shape),  # (batch, longest)
            "attention_mask": tf.sequence_mask(rows.row_lengths(), width, dtype=tf.int32),  # (batch, longest)
        }
        if self.segment_ids is not None:
            features["token_type_ids"] = tf.gather(self.segment_ids, index).to_tensor(0, shape=shape)
        return features

    def pad_now(self, index: np.ndarray) -> dict:
        """`pad(index)` computed in NumPy, for batches padded one at a time outside a `tf.data`
        pipeline: a few NumPy calls cost less than `pad`'s dozen eager TensorFlow ops."""
        return {name: tf.constant(value) for name, value in self.pad_numpy(index).items()}

    def pad_numpy(self, index: np.ndarray) -> dict:
        """`pad(index)` as NumPy int32 arrays, for runtimes other than TensorFlow (ONNX Runtime)."""
        flat, splits = self._host()
        segments = None
        if self.segment_ids is not None:
            if "_host_segments" not in self.__dict__:
                self.__dict__["_host_segments"] = self.segment_ids.flat_values.numpy()
            segments = self.__dict__["_host_segments"]
        return _pad_host(flat, splits[index], splits[index + 1] - splits[index], self.pad_id, segments)

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


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Batches in one pass over `num_examples` examples."""
    return math.ceil(num_examples / batch_size)


# A batch of texts sorted by length ends before `batch_size` once it holds at least `SHORT_BATCH`
# texts and the next one would pad it past `MAX_PADDING` times its real tokens. A list of
# thousands of texts sorted by length barely pads, and keeps whole batches (fewer, larger
# matmuls); a request of 32 texts of mixed lengths runs in a few batches, each padded only to its
# own longest (as the export's `serving_default` does). Measured with benchmarks/serving.py.
SHORT_BATCH = 8
MAX_PADDING = 1.25


def length_batches(lengths, batch_size: int) -> list:
    """The sizes of the consecutive batches that texts of `lengths` (ascending) run in.

    Example:
    >>> length_batches([5, 5, 5, 5, 5, 5], batch_size=4)
    [4, 2]
    >>> length_batches([3] * 8 + [40] * 2, batch_size=32)  # 10 x 40 would be 4.5 x the real tokens
    [8, 2]
    """
    sizes, count, real = [], 0, 0
    for length in lengths:
        length = int(length)
        if count == batch_size or (count >= SHORT_BATCH and (count + 1) * length > MAX_PADDING * (real + length)):
            sizes.append(count)
            count, real = 0, 0
        count, real = count + 1, real + length
    return sizes + [count] if count else sizes


def by_length(lengths, batch_size: int) -> tuple:
    """`(order, batches)`: the indices of texts of `lengths` sorted by length (stable), and the
    consecutive index arrays of the batches they run in (see `length_batches`).

    Example:
    >>> order, batches = by_length([3, 1, 2], batch_size=2)
    >>> order.tolist(), [b.tolist() for b in batches]
    ([1, 2, 0], [[1, 2], [0]])
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, received batch_size={batch_size}")
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    sizes = length_batches(lengths[order], batch_size)
    return order, np.split(order, np.cumsum(sizes)[:-1]) if sizes else []


def pad_rows(rows, pad_id: int, dtype=np.int64) -> dict:
    """NumPy `input_ids` and `attention_mask` of token id lists (a few texts' ids, no TensorFlow),
    padded on the right to the longest of them, as `EncodedExamples.pad_numpy` pads.

    Example:
    >>> pad_rows([[101, 7, 102], [101, 102]], pad_id=0)["input_ids"].tolist()
    [[101, 7, 102], [101, 102, 0]]
    """
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter((t for row in rows for t in row), dtype=np.int64, count=int(lengths.sum()))
    features = _pad_host(flat, np.cumsum(lengths) - lengths, lengths, pad_id)
    return {name: value.astype(dtype, copy=False) for name, value in features.items()}


def _pad_host(flat, starts, lengths, pad_id: int, segments=None) -> dict:
    """Rows `flat[start:start + length]` padded to the longest (at least one position, as in
    `EncodedExamples.pad`): int32 `input_ids`, `attention_mask` and, with `segments` (flat as the
    ids), `token_type_ids`."""
    width = max(int(lengths.max(initial=0)), 1)
    mask = np.arange(width) < lengths[:, None]  # (batch, longest)
    positions = np.minimum(starts[:, None] + np.arange(width), max(len(flat) - 1, 0))
    features = {"input_ids": np.where(mask, flat[positions] if len(flat) else 0, pad_id).astype(np.int32),
                "attention_mask": mask.astype(np.int32)}
    if segments is not None:
        features["token_type_ids"] = np.where(mask, segments[positions] if len(segments) else 0, 0).astype(np.int32)
    return features


def logits_by_length(forward, input_ids, attention_mask, *extra, chunk: int, num_outputs: int):
    """`forward(ids, mask, *extra)` over a right-padded batch, in a TensorFlow graph, as chunks of
    `chunk` texts of similar length, each cut to its own longest: a batch of short texts and one
    long one no longer pays for the long one's padding on every text. Rows come back in input
    order. `extra`: more (batch, length) features cut as the ids (a pair's `token_type_ids`).
    A batch of `chunk` texts or fewer runs whole, skipping the sort and the loop (at batch 1 they
    cost about as much as the tokenizer)."""
    count = tf.shape(input_ids)[0]

    def in_chunks():
        lengths = tf.reduce_sum(attention_mask, axis=1)  # (batch,)
        order = tf.argsort(lengths, stable=True)  # shortest first
        ids, mask, lengths = tf.gather(input_ids, order), tf.gather(attention_mask, order), tf.gather(lengths, order)
        sorted_extra = [tf.gather(feature, order) for feature in extra]

        def run_chunk(index, outputs):
            start = index * chunk
            end = tf.minimum(start + chunk, count)
            width = lengths[end - 1]  # the chunk's longest: the batch is sorted
            cut = [feature[start:end, :width] for feature in (ids, mask, *sorted_extra)]
            return index + 1, outputs.write(index, forward(*cut))

        chunks = (count + chunk - 1) // chunk
        empty = tf.TensorArray(tf.float32, size=chunks, infer_shape=False, element_shape=[None, num_outputs])
        _, outputs = tf.while_loop(lambda index, _: index < chunks, run_chunk, (0, empty))
        outputs = outputs.concat()  # in sorted order
        return tf.scatter_nd(order[:, None], outputs, tf.shape(outputs))  # back in input order

    # A batch of one chunk or less is already padded to its own longest: it runs as it is.
    return tf.cond(count <= chunk, lambda: forward(input_ids, attention_mask, *extra), in_chunks)
