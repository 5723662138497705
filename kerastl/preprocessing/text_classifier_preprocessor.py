"""The preprocessor of kerastl's tasks: texts to token ids and masks, padded per batch.

As KerasHub's `TextClassifierPreprocessor` does for its models, one object holds the tokenizer and
`max_length`, and feeds training (`make_dataset`, `encode`), prediction (`features`) and the
export's graph (`graph_tokenizer`); it is saved with its tokenizer beside the model's weights.
"""

from pathlib import Path
from typing import Optional, Sequence

import tensorflow as tf

from kerastl.config import DEFAULT_MAX_LENGTH
from kerastl.data.batching import EncodedExamples
from kerastl.data.pairs import mismatch_message
from kerastl.data.text_examples import TextExamples, as_examples
from kerastl.errors import DataError
from kerastl.preprocessing.tokenizers import load_tokenizer, tokenize, tokenize_pairs


class TextClassifierPreprocessor:
    """Texts to the features of a headless encoder: `input_ids` and `attention_mask` (and, for
    sentence pairs where the tokenizer gives them, `token_type_ids`).

    Args:
        tokenizer: a Hugging Face fast tokenizer, or a folder holding one.
        max_length: longest token sequence, special tokens included; longer texts are truncated
            (pairs longest-first).
        text_pair: whether the examples are sentence pairs: `True`, `False`, or `None` until
            examples tell (the first pairs, or the first labelled single texts, decide).

    Example:
    >>> preprocessor = TextClassifierPreprocessor(tokenizer, max_length=8)
    >>> preprocessor.features(["a b", "c"])["input_ids"].shape  # [CLS] a b [SEP]; [CLS] c [SEP] [PAD]
    TensorShape([2, 4])
    """

    def __init__(self, tokenizer, max_length: int = DEFAULT_MAX_LENGTH, text_pair: Optional[bool] = None):
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length must be an integer >= 2, received max_length={max_length!r}")
        self.tokenizer = None if tokenizer is None else load_tokenizer(tokenizer)
        self.max_length = max_length
        self.text_pair = None if text_pair is None else bool(text_pair)

    def check_pairs(self, examples: TextExamples, *, labelled: Optional[bool] = None) -> None:
        """Refuse single texts once the examples are pairs, and pairs once they are single texts
        (a `DataError` naming the fix); until then, pairs (or labelled single texts) decide."""
        pairs = examples.text_pairs is not None
        if self.text_pair is None:
            if pairs or (examples.labels is not None if labelled is None else labelled):
                self.text_pair = pairs
        elif pairs != self.text_pair:
            raise DataError(mismatch_message(examples.source, self.text_pair))

    @property
    def pad_id(self) -> int:
        pad = self._require_tokenizer().pad_token_id
        return pad if pad is not None else 0

    def encode(self, examples, labels=None, *, label_names: Optional[Sequence[str]] = None,
               what: str = "encode(texts)", labelled: Optional[bool] = None) -> EncodedExamples:
        """Tokenize examples once (truncated to `max_length`) and map their labels to ids under
        `label_names` (without `label_names`, or without labels, the examples carry none).

        `examples` is anything `kerastl.as_examples` accepts: a data file, a DataFrame, a
        `datasets.Dataset`, `(texts, labels)`, `((texts_a, texts_b), labels)`, `TextExamples`, or
        texts with `labels`. Pairs must match `text_pair` (see `check_pairs`; `labelled` says
        whether the examples are training or evaluation data when their labels were taken off).
        """
        examples = as_examples(examples, labels, what=what, text_pair=self.text_pair)
        if len(examples) == 0:
            raise DataError(f"{examples.source} holds no examples")
        self.check_pairs(examples, labelled=labelled)
        segments = None
        if examples.text_pairs is not None:
            ids, segments = tokenize_pairs(examples.texts, examples.text_pairs, self._require_tokenizer(),
                                           self.max_length)
        else:
            ids = tokenize(examples.texts, self._require_tokenizer(), self.max_length)
        label_ids = None
        if examples.labels is not None and label_names is not None:
            label_ids = examples.label_ids(label_names)
        return EncodedExamples(ids, label_ids, self.pad_id, segments)

    def features(self, texts) -> dict:
        """Raw texts as features padded to their longest text; rows keep their order."""
        examples = as_examples(texts, labelled=False, what="model(inputs)", text_pair=self.text_pair)
        encoded = self.encode(TextExamples(examples.texts, source=examples.source, text_pairs=examples.text_pairs))
        return encoded.pad(tf.range(len(encoded)))

    def make_dataset(self, examples, labels=None, *, label_names=None, batch_size: int = 32,
                     shuffle: bool = False, seed=None, bucket: bool = True) -> tf.data.Dataset:
        """Padded-per-batch `(features, label_id)` batches (features alone without labels); see
        `kerastl.make_dataset`."""
        if batch_size < 1:
            raise DataError(f"batch_size must be >= 1, received batch_size={batch_size}")
        encoded = self.encode(examples, labels, label_names=label_names, what="make_dataset(texts)")
        return encoded.dataset(batch_size, shuffle=shuffle, seed=seed, bucket=bucket)

    def graph_tokenizer(self) -> tuple:
        """`(ops, None)`: this tokenizer rebuilt from TensorFlow ops (a `tf.string` batch to
        `input_ids` and `attention_mask`) for a raw-text serving signature; or `(None, reason)`
        where that cannot be done exactly (`kerastl.preprocessing.graph_tokenizer`)."""
        from kerastl.preprocessing.graph_tokenizer import build_graph_tokenizer

        return build_graph_tokenizer(self._require_tokenizer(), self.max_length)

    def save(self, directory) -> None:
        """Write the tokenizer's files into `directory`."""
        self._require_tokenizer().save_pretrained(str(directory))

    @classmethod
    def load(cls, directory, max_length: int = DEFAULT_MAX_LENGTH) -> "TextClassifierPreprocessor":
        """The preprocessor whose tokenizer `save` wrote into `directory`."""
        return cls(load_tokenizer(Path(directory)), max_length)

    def get_config(self) -> dict:
        return {"max_length": self.max_length}

    def _require_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer: pass tokenizer= when creating it")
        return self.tokenizer


def encode_examples(examples, tokenizer, *, label_names=None, max_length: int = DEFAULT_MAX_LENGTH):
    """Tokenize `examples` (anything `as_examples` accepts) once and map their labels to ids under
    `label_names`."""
    return TextClassifierPreprocessor(tokenizer, max_length).encode(
        examples, label_names=label_names, what="encode_examples(examples)")


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
    return TextClassifierPreprocessor(tokenizer, max_length).make_dataset(
        examples, label_names=label_names, batch_size=batch_size, shuffle=shuffle, seed=seed, bucket=bucket)
