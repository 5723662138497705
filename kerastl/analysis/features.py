"""The frozen encoder's pooled vectors of examples, the features every baseline is fitted on."""

import dataclasses
import logging

import numpy as np

from kerastl.config import INFERENCE_BATCH_SIZE, POOLED_NAMES
from kerastl.data.text_examples import as_examples

logger = logging.getLogger("kerastl.analysis.baseline")


def extract_features(model, examples, *, batch_size: int = INFERENCE_BATCH_SIZE, verbose=0) -> np.ndarray:
    """The frozen encoder's pooled vector (what the head reads: [CLS] or the mean) of every example,
    in input order: (n, hidden_size) float32. A pair is encoded as a pair, as the model reads it.

    Args:
        model: a kerastl task model (`TextClassifier`, `TextRegressor` ...); only its encoder and
            preprocessor are used.
        examples: a list of texts, or anything `kerastl.as_examples` accepts (its texts are used).
        batch_size: texts per forward pass.
        verbose: 0 (silent), 1 (a progress bar), 2 (a line at the end) or `"auto"` (as Keras).

    Example:
    >>> extract_features(model, ["a good film", "dull"]).shape
    (2, 32)
    """
    examples = as_examples(examples, labelled=False, what="extract_features(examples)")
    encoded = model.encode(dataclasses.replace(examples, labels=None, label_set=None))  # texts (and pairs) only
    return model.pooled_features(encoded, batch_size=batch_size, verbose=verbose).numpy().astype(np.float32)


def split_features(model, examples, name: str, batch_size: int, verbose) -> np.ndarray:
    """`extract_features` of one split, logged by its name ("training", "validation")."""
    logger.info("baseline: computing the frozen encoder's %s vectors of the %d %s examples",
                POOLED_NAMES[model.pooling], len(examples), name)
    return extract_features(model, examples, batch_size=batch_size, verbose=verbose)
