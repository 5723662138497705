"""Hugging Face fast tokenizers: loading one, and token ids of many texts at once.

Every encoder family tokenizes with the checkpoint's Hugging Face fast tokenizer (the files beside
the weights: `tokenizer.json`, `vocab.txt`, ...). Only the tokenizer half of transformers is used
here, and it is imported without PyTorch (`kerastl._keras.transformers_without_torch`): with
TensorFlow loaded, PyTorch's default wheel (which brings triton) would end the process.
"""

import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from kerastl._keras import transformers_without_torch
from kerastl.errors import BackboneError
from kerastl.preprocessing import truncation


def load_tokenizer(tokenizer):
    """A tokenizer object as it is, or the tokenizer saved in a folder."""
    if isinstance(tokenizer, (str, os.PathLike)):
        transformers = transformers_without_torch()
        try:
            return transformers.AutoTokenizer.from_pretrained(str(tokenizer))
        except (OSError, ValueError) as err:
            raise BackboneError(f"cannot load a tokenizer from {str(tokenizer)!r}: {err}") from None
    if not callable(getattr(tokenizer, "batch_decode", None)):
        raise BackboneError(
            f"tokenizer must be a transformers tokenizer or a folder, "
            f"received {type(tokenizer).__name__}"
        )
    return tokenizer


def tokenize(texts: Sequence[str], tokenizer, max_length: int) -> tf.RaggedTensor:
    """Token ids of every text, truncated to `max_length` and unpadded: (n, None) int32.

    The ids are the tokenizer's with `truncation=True`; of a long text only a part is read
    (`kerastl.preprocessing.truncation`), so a text of megabytes costs about what one of kilobytes does.
    """
    ids = truncation.token_ids(texts, tokenizer, max_length)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter((t for row in ids for t in row), dtype=np.int32, count=int(lengths.sum()))
    return tf.RaggedTensor.from_row_lengths(flat, lengths, validate=False)  # valid as built


def tokenize_pairs(texts: Sequence[str], text_pairs: Sequence[str], tokenizer, max_length: int) -> tuple:
    """Token ids of every sentence pair as the checkpoint's tokenizer packs it (`[CLS] a [SEP] b
    [SEP]` for BERT), truncated longest-first to `max_length`, and its segment ids: `(ids,
    segment_ids)`, both (n, None) int32 ragged; `segment_ids` is None where the tokenizer gives
    none (DistilBERT's, RoBERTa's)."""
    ids, types = truncation.pair_token_ids(texts, text_pairs, tokenizer, max_length)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))

    def ragged(rows):
        flat = np.fromiter((t for row in rows for t in row), dtype=np.int32, count=int(lengths.sum()))
        return tf.RaggedTensor.from_row_lengths(flat, lengths, validate=False)  # valid as built

    return ragged(ids), (None if types is None else ragged(types))
