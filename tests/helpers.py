"""Tiny random encoders and a tiny labelled corpus, so the fast suite needs no network or data.

Plain functions, imported by the tests and by the fixtures in `conftest.py`.
"""

import random
from pathlib import Path

import numpy as np
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


def weight_names(variables) -> set:
    """Unique names of Keras variables: the path under Keras 3 (where `name` is its last part)."""
    return {getattr(v, "path", None) or v.name for v in variables}


def weight_values(variables) -> dict:
    """{unique name: a copy of the value} of Keras variables."""
    return {getattr(v, "path", None) or v.name: v.numpy().copy() for v in variables}


def hf_state_dict(config, seed=0) -> dict:
    """Random weights of a transformers DistilBERT or BERT encoder, under the names and in the
    layouts a PyTorch `save_pretrained` writes (DistilBERT's prefixed as hub checkpoints are)."""
    rng = np.random.default_rng(seed)
    state = {}

    def add(name, *shape):
        scale = 1.0 if name.endswith("LayerNorm.weight") or name.endswith("norm.weight") else 0.05
        state[name] = (rng.normal(0.0, 0.05, shape) + (scale if scale == 1.0 else 0.0)).astype("float32")

    if config.model_type == "distilbert":
        dim, hidden, prefix = config.dim, config.hidden_dim, "distilbert."
        add(prefix + "embeddings.word_embeddings.weight", config.vocab_size, dim)
        add(prefix + "embeddings.position_embeddings.weight", config.max_position_embeddings, dim)
        add(prefix + "embeddings.LayerNorm.weight", dim)
        add(prefix + "embeddings.LayerNorm.bias", dim)
        for i in range(config.n_layers):
            block = f"{prefix}transformer.layer.{i}."
            for part in ("q_lin", "k_lin", "v_lin", "out_lin"):
                add(block + f"attention.{part}.weight", dim, dim)
                add(block + f"attention.{part}.bias", dim)
            for norm in ("sa_layer_norm", "output_layer_norm"):
                add(block + f"{norm}.weight", dim)
                add(block + f"{norm}.bias", dim)
            add(block + "ffn.lin1.weight", hidden, dim)
            add(block + "ffn.lin1.bias", hidden)
            add(block + "ffn.lin2.weight", dim, hidden)
            add(block + "ffn.lin2.bias", dim)
        return state
    dim, hidden = config.hidden_size, config.intermediate_size
    add("embeddings.word_embeddings.weight", config.vocab_size, dim)
    add("embeddings.position_embeddings.weight", config.max_position_embeddings, dim)
    add("embeddings.token_type_embeddings.weight", config.type_vocab_size, dim)
    add("embeddings.LayerNorm.weight", dim)
    add("embeddings.LayerNorm.bias", dim)
    for i in range(config.num_hidden_layers):
        block = f"encoder.layer.{i}."
        for part in ("query", "key", "value"):
            add(block + f"attention.self.{part}.weight", dim, dim)
            add(block + f"attention.self.{part}.bias", dim)
        add(block + "attention.output.dense.weight", dim, dim)
        add(block + "attention.output.dense.bias", dim)
        add(block + "attention.output.LayerNorm.weight", dim)
        add(block + "attention.output.LayerNorm.bias", dim)
        add(block + "intermediate.dense.weight", hidden, dim)
        add(block + "intermediate.dense.bias", hidden)
        add(block + "output.dense.weight", dim, hidden)
        add(block + "output.dense.bias", dim)
        add(block + "output.LayerNorm.weight", dim)
        add(block + "output.LayerNorm.bias", dim)
    add("pooler.dense.weight", dim, dim)
    add("pooler.dense.bias", dim)
    return state


def write_checkpoint_folder(folder, config, tokenizer) -> Path:
    """A local checkpoint folder the selected Keras's family loads: TF weights (`tf_model.h5`)
    under Keras 2, PyTorch-layout `model.safetensors` (what KerasHub converts) under Keras 3."""
    from kerastl._keras import KERAS_VERSION

    if KERAS_VERSION == 3:
        return write_hf_folder(folder, config, tokenizer)
    from transformers import TFAutoModel

    encoder = TFAutoModel.from_config(config)
    encoder(encoder.dummy_inputs)
    encoder.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)


def write_hf_folder(folder, config, tokenizer, seed=0) -> Path:
    """A Hugging Face model folder as a PyTorch user's save_pretrained leaves it: config.json,
    the tokenizer files and random weights in model.safetensors (written without torch)."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_file(hf_state_dict(config, seed), str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def padded_features(seed=0):
    """Ids of 5 texts, lengths 1..9, padded to 9 with id 1 (every tiny config's padding), as the
    `input_ids` and `attention_mask` an encoder takes."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    lengths = np.array([9, 1, 4, 7, 2])
    mask = (np.arange(9)[None, :] < lengths[:, None]).astype("int32")
    ids = np.where(mask == 1, rng.integers(5, 99, size=mask.shape), 1).astype("int32")
    ids[:, 0] = 2  # a [CLS]-like first token
    return {"input_ids": tf.constant(ids), "attention_mask": tf.constant(mask)}
