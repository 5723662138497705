"""Tiny random encoders and a tiny labelled corpus, so the fast suite needs no network or data.

Plain functions, imported by the tests and by the fixtures in `conftest.py`.
"""

import random
from pathlib import Path

from transformers import BertConfig, BertTokenizerFast, DistilBertConfig, DistilBertTokenizerFast

import kerastl

FIXTURES = Path(__file__).parent / "fixtures"
VOCAB = FIXTURES / "vocab.txt"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

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


def tiny_tokenizer(kind="distilbert"):
    """A fast WordPiece tokenizer on the 93-token fixture vocabulary."""
    tokenizer_class = DistilBertTokenizerFast if kind == "distilbert" else BertTokenizerFast
    return tokenizer_class(vocab_file=str(VOCAB))


def tiny_classifier(kind="distilbert", labels=("neg", "pos"), max_length=24, seed=0, tokenizer=None, **kwargs):
    """A TextClassifier on a tiny random DistilBERT or BERT, the same one for the same seed."""
    kerastl.keras.utils.set_random_seed(seed)
    config = tiny_distilbert_config() if kind == "distilbert" else tiny_bert_config()
    return kerastl.TextClassifier.from_backbone(
        config, labels, tokenizer=tokenizer or tiny_tokenizer(kind), max_length=max_length, **kwargs
    )


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
