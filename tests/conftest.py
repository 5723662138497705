"""Fixtures of the test suite: tiny tokenizers, models, checkpoint folders and data files.

The plain helpers live in `tests/helpers.py`; they are imported here too, so `from tests.conftest
import ...` keeps working. The precision policy and the docstring examples' names are set up by
the `conftest.py` at the repository root.
"""

from typing import NamedTuple

import pytest

import kerastl
from tests.helpers import (  # noqa: F401 (re-exported)
    FILLER,
    FIXTURES,
    NEGATIVE,
    POSITIVE,
    VOCAB,
    synthetic_corpus,
    tiny_bert_config,
    tiny_classifier,
    tiny_distilbert_config,
    tiny_tokenizer,
    weight_values,
    write_checkpoint_folder,
)


@pytest.fixture(scope="session")
def distilbert_tokenizer():
    return tiny_tokenizer("distilbert")


@pytest.fixture(scope="session")
def bert_tokenizer():
    return tiny_tokenizer("bert")


@pytest.fixture
def make_classifier(distilbert_tokenizer, bert_tokenizer):
    """Build a tiny TextClassifier: make_classifier(kind="distilbert" | "bert", **kwargs)."""

    def build(kind="distilbert", labels=("neg", "pos"), max_length=24, seed=0, **kwargs):
        tokenizer = distilbert_tokenizer if kind == "distilbert" else bert_tokenizer
        return tiny_classifier(kind, labels, max_length, seed, tokenizer=tokenizer, **kwargs)

    return build


class FineTuned(NamedTuple):
    model: kerastl.TextClassifier
    before: dict  # the backbone's trainable weights before training, by name
    history: dict


@pytest.fixture(scope="session")
def fine_tuned(distilbert_tokenizer, bert_tokenizer):
    """fine_tune(head_epochs=1, epochs=2) of a tiny model on the tiny corpus, validated on it too.

    `fine_tuned(kind="distilbert", precision="float32")` trains once per session and returns a
    `FineTuned`; the tests that share it read the model and must not change it.
    """
    runs = {}

    def get(kind="distilbert", precision="float32"):
        if (kind, precision) not in runs:
            previous = kerastl.keras.mixed_precision.global_policy()
            kerastl.keras.mixed_precision.set_global_policy(precision)
            try:
                tokenizer = distilbert_tokenizer if kind == "distilbert" else bert_tokenizer
                model = tiny_classifier(kind, tokenizer=tokenizer)
                before = weight_values(model.backbone.trainable_weights)
                corpus = synthetic_corpus()
                history = kerastl.fine_tune(model, corpus, corpus, head_epochs=1, epochs=2, batch_size=8, verbose=0)
            finally:
                kerastl.keras.mixed_precision.set_global_policy(previous)
            runs[kind, precision] = FineTuned(model, before, history)
        return runs[kind, precision]

    return get


@pytest.fixture
def encoder_folder(tmp_path, distilbert_tokenizer):
    """A tiny DistilBERT in save_pretrained layout, as a user's local checkpoint would be."""
    return write_checkpoint_folder(tmp_path / "tiny-distilbert", tiny_distilbert_config(), distilbert_tokenizer)


@pytest.fixture
def corpus():
    return synthetic_corpus()


@pytest.fixture
def csv_files(tmp_path):
    """train.csv and validation.csv with text,label headers, and a headerless train.txt."""
    train_texts, train_labels = synthetic_corpus(64, seed=1)
    val_texts, val_labels = synthetic_corpus(16, seed=2)
    paths = {}
    for name, texts, labels in (("train", train_texts, train_labels), ("validation", val_texts, val_labels)):
        path = tmp_path / f"{name}.csv"
        path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels)))
        paths[name] = path
    txt = tmp_path / "train.txt"
    txt.write_text("".join(f"{t};{y}\n" for t, y in zip(train_texts, train_labels)))
    paths["txt"] = txt
    return paths
