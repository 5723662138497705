"""Raw text given to a model's `fit`, `evaluate`, `predict` or call, turned into token datasets.

Keras' own arguments pass through unchanged; where `x` (or `validation_data`) is raw text, as
KerasHub's classifiers take it, `TextInputs` tokenizes it with the model's tokenizer and replaces
it with a `tf.data` dataset of padded batches. Integer labels given with raw text are label ids,
as in Keras; labels read from a file or `TextExamples` are names, as everywhere in kerastl.
"""

import inspect
import math
from typing import Optional

import numpy as np
import pandas as pd
import tensorflow as tf

from kerastl.data.text_examples import TextExamples, as_examples
from kerastl.errors import DataError

KERAS_BATCH_SIZE = 32  # Keras' default for fit, evaluate and predict; raw text follows it


class TextInputs:
    """The raw-text arguments of one model's Keras methods, as token datasets.

    Args:
        encode: `TextExamples` -> `kerastl.data.batching.EncodedExamples` under the model's tokenizer,
            `max_length` and label names.
        label_names: the model's label names, in id order; None for a regressor, whose targets
            are numbers, passed through as float scores (an empty, non-numeric or NaN one is refused).
        prepare: called with the training targets before `fit` (a regressor takes its target
            scaling there), or None.
        task: `"multi_label"` reads each label as a set of names; None reads names or ids.
        text_pair: the model's `text_pair`: `True` reads a tuple `(a, b)` of two string sequences
            as sentence pairs whatever the words (`kerastl.as_examples`' `text_pair`).
    """

    def __init__(self, encode, label_names, prepare=None, task=None, text_pair=None):
        self.encode = encode
        self.text_pair = text_pair
        self.label_names = None if label_names is None else tuple(label_names)
        self.prepare = prepare
        self.task = task

    def features(self, inputs) -> dict:
        """Raw text given to the model's call, as features padded to its longest text; rows keep
        their order."""
        examples = as_examples(inputs, labelled=False, what="model(inputs)", text_pair=self.text_pair)
        encoded = self.encode(TextExamples(examples.texts, source=examples.source, text_pairs=examples.text_pairs))
        return encoded.pad(tf.range(len(encoded)))

    def fit_arguments(self, arguments) -> dict:
        """fit's arguments with raw text (x, y, validation data) turned into token datasets."""
        _refuse_sample_weight(arguments, "fit")
        examples, given = self._examples(arguments["x"], arguments.get("y"), True, "fit(x, y)")
        batch_size = _given(arguments.get("batch_size"), given)
        validation = arguments.get("validation_data")
        split = arguments.get("validation_split") or 0.0
        if split and validation is None:  # as Keras does: the last `split` of the data, before shuffling
            if not 0.0 < split < 1.0:
                raise ValueError(f"validation_split must be between 0 and 1, received validation_split={split}")
            at = int(math.floor(len(examples) * (1.0 - split)))
            if at == 0 or at == len(examples):
                raise ValueError(
                    f"validation_split={split} of {len(examples)} examples leaves no training or no validation "
                    f"examples; give more data or another split"
                )
            validation = _take(examples, slice(at, None))
            examples = _take(examples, slice(0, at))
        if validation is not None:
            validation = self._validation(validation, _given(arguments.get("validation_batch_size"), batch_size))
        if self.prepare is not None:
            self.prepare(examples.labels)
        return {
            "x": self._dataset(examples, batch_size, shuffle=arguments.get("shuffle", True)),
            "y": None,
            "batch_size": None,
            "validation_split": 0.0,
            "validation_data": validation,
            "shuffle": False,  # the dataset reshuffles itself every epoch
        }

    def evaluate_arguments(self, arguments) -> dict:
        """evaluate's arguments with raw text and labels turned into a token dataset in input order."""
        _refuse_sample_weight(arguments, "evaluate")
        examples, given = self._examples(arguments["x"], arguments.get("y"), True, "evaluate(x, y)")
        batch_size = _given(arguments.get("batch_size"), given)
        return dict(x=self._dataset(examples, batch_size, shuffle=False), y=None, batch_size=None)

    def predict_arguments(self, arguments) -> Optional[dict]:
        """predict's arguments with raw text turned into a token dataset in input order; None
        for no texts at all (their logits are an empty array, as `kerastl.predict`'s)."""
        examples, given = self._examples(arguments["x"], None, False, "predict(x)")
        if len(examples) == 0:
            return None
        texts = TextExamples(examples.texts, source=examples.source, text_pairs=examples.text_pairs)
        return dict(x=self._dataset(texts, _given(arguments.get("batch_size"), given), shuffle=False), batch_size=None)

    def _validation(self, data, batch_size):
        """Raw-text validation data as a token dataset in input order; anything else unchanged."""
        what = "fit(validation_data)"
        if isinstance(data, tuple) and data and is_text_input(data[0], what):
            if len(data) != 2:
                raise TypeError(
                    f"{what}: received a tuple of {len(data)} with raw texts; give (texts, labels) "
                    f"(sample weights are not supported on raw text)"
                )
            examples, given = self._examples(data[0], data[1], True, what)
        elif is_text_input(data, what):
            examples, given = self._examples(data, None, True, what)
        else:
            return data
        return self._dataset(examples, _given(batch_size, given), shuffle=False)

    def _examples(self, x, y, labelled, what):
        """(TextExamples, the batch size of a batched text dataset or None) from raw-text x and y.

        As in Keras, integer labels in `y` (or in a dataset's pairs) are label ids: they become the
        model's label names. A file's integer column is read as ids too (`encode_labels`).
        """
        batch_size = None
        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise TypeError(f"{what}: y must be None when x is a tf.data.Dataset, which holds the labels")
            x, y, batch_size = _read_text_dataset(x, what)
            y = y if labelled else None
        task = "regression" if self.label_names is None else self.task
        examples = as_examples(x, y, labelled=labelled, what=what, task=task, text_pair=self.text_pair)
        if y is not None and task is None:
            examples = TextExamples(examples.texts, self._names_of_ids(examples.labels, what),
                                    examples.source, examples.label_set, examples.text_pairs)
        return examples, batch_size

    def _names_of_ids(self, labels, what) -> list:
        """Labels with every integer id replaced by its label name; names stay as they are."""
        count = len(self.label_names)
        ids = [v for v in labels if isinstance(v, (int, np.integer)) and not isinstance(v, bool)]
        bad = sorted({int(v) for v in ids if not 0 <= v < count})
        if bad:
            raise DataError(
                f"{what}: label ids {bad[:10]} are outside 0..{count - 1}, the ids of the model's labels "
                f"{list(self.label_names)}"
            )
        if not ids:
            return labels
        return [self.label_names[v] if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
                for v in labels]

    def _dataset(self, examples, batch_size, *, shuffle):
        batch_size = KERAS_BATCH_SIZE if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, received batch_size={batch_size}")
        return self.encode(examples).dataset(batch_size, shuffle=shuffle)


def _given(value, default):
    """An argument the caller gave (0 included, and refused later), else `default`."""
    return default if value is None else value


def _refuse_sample_weight(arguments, method):
    if arguments.get("sample_weight") is not None:
        raise TypeError(
            f"{method}(sample_weight=): per-text weights are not supported with raw texts; weight "
            f"the labels with class_weight={{label id: weight}} (fit), or pass token batches of "
            f"(features, label ids, weights) as a tf.data.Dataset"
        )


def bind(method, model, args, kwargs) -> dict:
    """The arguments of a call to the Keras `method`, by name (its **kwargs merged in)."""
    signature = inspect.signature(method)
    arguments = {}
    for name, value in signature.bind(model, *args, **kwargs).arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif name != "self":
            arguments[name] = value
    return arguments


def is_text_input(x, what: str) -> bool:
    """Whether Keras input `x` is raw text (strings, TextExamples); a DataFrame or None is refused."""
    if x is None:
        raise TypeError(
            f"{what}: received None; give texts (a list of strings, a NumPy array or tf.Tensor of "
            f"strings, a tf.data.Dataset of strings or (string, label) pairs) or token batches"
        )
    if isinstance(x, pd.DataFrame):
        raise TypeError(
            f"{what}: received a DataFrame where texts were expected; give its columns, "
            f"x=df['text'] (and y=df['label']), or turn it into batches with model.make_dataset(df)"
        )
    if isinstance(x, (str, TextExamples)):
        return True
    if isinstance(x, tuple) and len(x) == 2 and not isinstance(x[0], tuple):  # (texts_a, texts_b) pairs
        return all(isinstance(part, (list, np.ndarray, pd.Series, tf.Tensor)) and is_text_input(part, what)
                   for part in x)
    if isinstance(x, list):
        return not x or isinstance(x[0], (str, bytes))  # [] is no texts, not a Keras input
    if isinstance(x, pd.Series):
        x = x.to_numpy()
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "US" or (x.dtype.kind == "O" and x.size > 0 and isinstance(x.flat[0], (str, bytes)))
    if isinstance(x, tf.Tensor):
        return x.dtype == tf.string
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        spec = spec[0] if isinstance(spec, tuple) and spec else spec
        return isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string
    return False


def _read_text_dataset(dataset, what):
    """(texts, labels or None, batch size or None) of a tf.data.Dataset of strings or (string, label)."""
    if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            f"{what}: the dataset repeats forever, and kerastl reads a dataset of texts once to tokenize "
            f"it; drop .repeat() (epochs= repeats the data)"
        )
    spec = dataset.element_spec
    paired = isinstance(spec, tuple)
    if paired and len(spec) != 2:
        raise TypeError(f"{what}: a dataset of texts yields strings or (string, label) pairs, received {spec}")
    rank = (spec[0] if paired else spec).shape.rank
    if rank not in (0, 1):
        raise TypeError(f"{what}: a dataset of texts yields one string or a batch of strings, received {spec}")
    texts, labels, batch_size = [], [] if paired else None, None
    for element in dataset.as_numpy_iterator():
        text, label = element if paired else (element, None)
        texts.extend(np.asarray(text).reshape(-1).tolist())
        if paired:
            labels.extend(np.asarray(label).reshape(-1).tolist())
        if rank == 1:
            batch_size = max(batch_size or 0, len(text))
    return texts, labels, batch_size or None


def _take(examples: TextExamples, part: slice) -> TextExamples:
    pairs = None if examples.text_pairs is None else examples.text_pairs[part]
    return TextExamples(examples.texts[part], examples.labels[part], examples.source, examples.label_set, pairs)
