"""Sentence pairs in examples: the second text of every example (`TextExamples.text_pairs`).

A pair arrives as a table's `text_pair` column (`kerastl.data.tables`), a `((texts_a, texts_b),
labels)` tuple, or `(texts_a, texts_b)` with the labels given apart, as Keras' `fit(x, y)` has
them (`kerastl.data.text_examples.as_examples`). This module checks the second texts and words
the messages about pairs.
"""

import numpy as np
import pandas as pd
import tensorflow as tf

from kerastl.errors import DataError

NEEDS_LABELS = object()  # `pair_tuple`'s labels for `(texts_a, texts_b)` where labels are needed


def is_text_sequence(value) -> bool:
    """Whether `value` can hold one text per example (a list, array, Series or tensor)."""
    return isinstance(value, (list, np.ndarray, pd.Series, pd.Index, tf.Tensor))


def pair_tuple(value: tuple, labels, labelled, text_pair=None):
    """`(texts_a, texts_b, labels)` of a tuple holding sentence pairs, or `None` for any other.

    Pairs are `((a, b), labels)`, or `(a, b)` of string sequences with `labels` given apart or,
    to predict (`labelled=False`), alone. Without labels, `(a, b)` is pairs for a model that reads
    pairs (`text_pair=True`) whatever the words; otherwise only where `b` reads as texts rather
    than label names (all distinct, most holding a space). Where labels are needed its labels are
    then `NEEDS_LABELS`, for the caller to refuse.
    """
    if len(value) != 2:
        return None
    first, second = value
    if isinstance(first, tuple) and len(first) == 2 and all(map(is_text_sequence, first)):
        return first[0], first[1], second
    if not (is_text_sequence(first) and is_text_sequence(second)):
        return None
    entries = second.numpy().tolist() if isinstance(second, tf.Tensor) else list(second)
    if not all(isinstance(v, (str, bytes)) for v in entries) or not (entries or text_pair):
        return None
    if labels is not None:
        return first, second, labels
    if text_pair:  # a pair model: the tuple is its two texts, even single words
        return first, second, (NEEDS_LABELS if labelled else None)
    spaced = sum(1 for v in entries if len((v.decode("utf-8", "replace") if isinstance(v, bytes) else v).split()) > 1)
    texts_like = len(set(entries)) == len(entries) and spaced * 2 > len(entries)
    if not texts_like or (len(entries) < 2 and labelled is not False):
        return None
    return first, second, (None if labelled is False else NEEDS_LABELS)


def check_text_pairs(text_pairs, count: int, source: str) -> list:
    """The second texts as a list of str, one per first text; a `DataError` naming the first bad
    one otherwise.

    Example:
    >>> check_text_pairs(["a cat sat"], 1, "data")
    ['a cat sat']
    """
    pairs = list(text_pairs)
    if len(pairs) != count:
        raise DataError(f"{source}: {count} first texts but {len(pairs)} second texts (texts_a and texts_b, or "
                        f"text_pairs, of different lengths); give one second text per first text")
    bad = next((i for i, text in enumerate(pairs) if not isinstance(text, str)), None)
    if bad is not None:
        raise DataError(
            f"{source}: every second text (text_pair) must be a str, received text_pairs[{bad}] = "
            f"{repr(pairs[bad])[:60]} ({type(pairs[bad]).__name__}); a missing second text changes the "
            f"task, so fill or drop that example"
        )
    return pairs


def missing_second_text(name: str, where: str, column: str) -> DataError:
    """The error of a row without its second text: named by file and line (or row)."""
    return DataError(
        f"{name}, {where}: no second text in the {column!r} column; every example of a sentence-pair "
        f"task needs both texts (a missing one is not dropped, as it changes the task): fill it "
        f"or remove that row"
    )


def bare_pair_message(what: str, described: str) -> str:
    """Why `(texts_a, texts_b)` without labels is refused where labels are needed."""
    return (
        f"{what}: received {described} of two string sequences, which reads as (texts_a, texts_b) "
        f"sentence pairs without labels, and labelled examples are needed here. Give the labels "
        f"too: fit((texts_a, texts_b), labels), or ((texts_a, texts_b), labels), or a table with "
        f"'text', 'text_pair' and 'label' columns; if the second member really holds label names, "
        f"give TextExamples(texts, labels)"
    )


def mismatch_message(what: str, model_pairs: bool) -> str:
    """Why a pair model refuses single texts, or a single-text model refuses pairs."""
    if model_pairs:
        return (f"{what}: this model reads sentence pairs (text_pair=True) and received single texts; give "
                f"both texts: (texts_a, texts_b), a 'text_pair' column (--text-pair for one pair on the "
                f"command line)")
    return (f"{what}: this model reads single texts (text_pair=False) and received sentence pairs; give "
            f"texts alone (no 'text_pair' column), or train a pair model (fit on pairs, or text_pair=True)")
