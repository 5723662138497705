"""Tiny random encoders and a tiny labelled corpus, so the fast suite needs no network or data."""

import random
from pathlib import Path

import pytest
from transformers import BertConfig, BertTokenizerFast, DistilBertConfig, DistilBertTokenizerFast, TFAutoModel

import kerastl

FIXTURES = Path(__file__).parent / "fixtures"
VOCAB = FIXTURES / "vocab.txt"

POSITIVE = ["good", "great", "love", "fun"]
NEGATIVE = ["bad", "awful", "hate", "dull"]
FILLER = ["the", "movie", "film", "plot", "is", "was", "very", "and", "it"]


def tiny_distilbert_config(**overrides):
    """The transformers tester's tiny DistilBERT: vocab 99, dim 32, 2 layers, 4 heads."""
    values = dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64)
    return DistilBertConfig(**{**values, **overrides})


def tiny_bert_config(**overrides):
    values = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=37, max_position_embeddings=64)
    return BertConfig(**{**values, **overrides})


def synthetic_corpus(n=64, seed=0):
    """Texts whose sentiment word decides the label, with filler of random length (1..20 words)."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = [rng.choice(FILLER) for _ in range(rng.randint(0, 19))]
        words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if label == "pos" else NEGATIVE))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="session")
def distilbert_tokenizer():
    return DistilBertTokenizerFast(vocab_file=str(VOCAB))


@pytest.fixture(scope="session")
def bert_tokenizer():
    return BertTokenizerFast(vocab_file=str(VOCAB))


@pytest.fixture
def make_classifier(distilbert_tokenizer, bert_tokenizer):
    """Build a tiny TextClassifier: make_classifier(kind="distilbert" | "bert", **kwargs)."""

    def build(kind="distilbert", labels=("neg", "pos"), max_length=24, seed=0, **kwargs):
        kerastl.keras.utils.set_random_seed(seed)
        if kind == "distilbert":
            config, tokenizer = tiny_distilbert_config(), distilbert_tokenizer
        else:
            config, tokenizer = tiny_bert_config(), bert_tokenizer
        return kerastl.TextClassifier.from_backbone(
            config, labels, tokenizer=tokenizer, max_length=max_length, **kwargs
        )

    return build


@pytest.fixture
def encoder_folder(tmp_path, distilbert_tokenizer):
    """A tiny DistilBERT in save_pretrained layout, as a user's local checkpoint would be."""
    folder = tmp_path / "tiny-distilbert"
    encoder = TFAutoModel.from_config(tiny_distilbert_config())
    encoder(encoder.dummy_inputs)
    encoder.save_pretrained(folder)
    distilbert_tokenizer.save_pretrained(folder)
    return folder


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
