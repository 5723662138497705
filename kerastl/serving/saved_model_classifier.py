"""Loading an export of `kerastl.export_saved_model` back, to predict in Python."""

import json
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf

from kerastl.analysis.multi_label import MultiLabelPredictions
from kerastl.analysis.predictions import Predictions
from kerastl.config import INFERENCE_BATCH_SIZE, SAVED_CONFIG_FILE, SAVED_TOKENIZER_DIR
from kerastl.data.text_examples import as_examples
from kerastl.errors import ModelFileError
from kerastl.preprocessing import TextClassifierPreprocessor
from kerastl.serving.saved_model import EXTRA_DIR, IDS_SIGNATURE, TEXT_SIGNATURE, _versions


def resolve_saved_model(path) -> Optional[Path]:
    """The SavedModel folder `path` names, or `None` when it names none.

    `path` is either a SavedModel folder (holding saved_model.pb) or a TF Serving base folder,
    whose highest numbered version holding a saved_model.pb is taken.
    """
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    versions = [v for v in _versions(path) if (path / str(v) / "saved_model.pb").is_file()]
    return path / str(max(versions)) if versions else None


# -- loading ----------------------------------------------------------------------------------


class SavedModelClassifier:
    """An exported classifier loaded with `tf.saved_model.load`, for `kerastl predict` and tests.

    Uses the raw-text signature when the export has one; otherwise tokenizes with the tokenizer
    saved in `assets.extra/` and calls `predict_ids`.

    Args:
        path: a SavedModel folder or a TF Serving base folder (the highest version is used).

    Example:

        served = SavedModelClassifier("serving/emotion")
        served.predict(["what a lovely day"]).labels  # ['joy']
    """

    def __init__(self, path):
        folder = resolve_saved_model(path)
        if folder is None:
            raise ModelFileError(
                f"{path} holds no SavedModel (no saved_model.pb, nor numbered version folders "
                f"holding one): give the --output of `kerastl export` or a version folder in it"
            )
        self.path = folder
        self._loaded = tf.saved_model.load(str(folder))
        regression = hasattr(self._loaded, "task") and self._loaded.task.numpy().decode() == "regression"
        if not (hasattr(self._loaded, "labels") or regression) or IDS_SIGNATURE not in self._loaded.signatures:
            raise ModelFileError(
                f"{folder} is a SavedModel but not one written by kerastl export (no labels or "
                f"{IDS_SIGNATURE} signature): export the model with `kerastl export`"
            )
        # A regressor's export serves `score`: `predict` then gives the scores, (n,) float32.
        # A multi-label model's export serves `probabilities`, `predicted` and `labels` (its set).
        self.task = self._loaded.task.numpy().decode() if hasattr(self._loaded, "task") else "classification"
        self.label_names = None if regression else tuple(v.decode() for v in self._loaded.labels.numpy())
        self.max_length = int(self._loaded.max_length.numpy())
        self.has_text_signature = TEXT_SIGNATURE in self._loaded.signatures
        # A pair model's export takes text and text_pair (token_type_ids in predict_ids).
        self.text_pair = hasattr(self._loaded, "text_pair")
        metadata = folder / EXTRA_DIR / SAVED_CONFIG_FILE
        # The policy the graph computes under; None for an export of kerastl before 0.4.0.
        self.precision = json.loads(metadata.read_text()).get("precision") if metadata.is_file() else None
        self._tokenizer = None
        if not self.has_text_signature:
            self._tokenizer = TextClassifierPreprocessor.load(folder / EXTRA_DIR / SAVED_TOKENIZER_DIR, self.max_length)
            self._tokenizer.text_pair = self.text_pair

    @property
    def labels(self) -> tuple:
        """Deprecated name of `label_names`, kept for one release."""
        warnings.warn("SavedModelClassifier.labels is deprecated: use label_names", DeprecationWarning, stacklevel=2)
        return self.label_names

    @property
    def signatures(self) -> tuple:
        """The names of the exported signatures."""
        return tuple(sorted(self._loaded.signatures))

    def probabilities(self, texts, *, batch_size: int = INFERENCE_BATCH_SIZE) -> np.ndarray:
        """Class probabilities, (n, num_labels) float32, in input order; one `str` is one text."""
        if self.task == "regression":
            raise TypeError(f"{self.path} is a regressor's export: it serves scores (predict), not probabilities")
        return self._run(texts, "probabilities", (0, len(self.label_names)), batch_size)

    def _run(self, texts, output: str, empty: tuple, batch_size: int) -> np.ndarray:
        examples = as_examples(texts, labelled=False, what="predict(texts)", text_pair=self.text_pair)
        texts, pairs = examples.texts, examples.text_pairs
        out = [np.zeros(empty, np.float32)]
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            second = None if pairs is None else pairs[start:start + batch_size]
            if self._tokenizer is None:
                pair_batch = {} if second is None else {"text_pair": tf.constant(second)}
                result = self._loaded.signatures[TEXT_SIGNATURE](text=tf.constant(batch), **pair_batch)
            else:
                features = self._tokenizer.features(batch if second is None else (batch, second))
                if pairs is not None and "token_type_ids" not in features:  # a tokenizer without segment ids
                    features["token_type_ids"] = tf.zeros_like(features["input_ids"])
                result = self._loaded.signatures[IDS_SIGNATURE](**features)
            out.append(result[output].numpy())
        return np.concatenate(out)

    def predict(self, texts, *, batch_size: int = INFERENCE_BATCH_SIZE):
        """`Predictions` for `texts`; its logits are log-probabilities (the same softmax). For a
        regressor's export, the scores: (n,) float32, in input order."""
        if self.task == "regression":
            return self._run(texts, "score", (0,), batch_size)
        if self.task == "multi_label":  # the label sets at the exported thresholds, and every probability
            thresholds = tuple(float(t) for t in self._loaded.thresholds.numpy())
            return MultiLabelPredictions(self.label_names, self.probabilities(texts, batch_size=batch_size), thresholds)
        probabilities = self.probabilities(texts, batch_size=batch_size)
        with np.errstate(divide="ignore"):
            return Predictions(self.label_names, np.log(probabilities))


def load_saved_model(path) -> SavedModelClassifier:
    """Load an export of `export_saved_model`: a SavedModel folder or a TF Serving base folder.

    Example:

        load_saved_model("serving/emotion").predict(["i feel great"]).records()
    """
    return SavedModelClassifier(path)

