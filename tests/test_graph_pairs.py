"""The in-graph pair tokenizer: the same ids and segment ids as Hugging Face's `tokenizer(a, b)`."""

import csv
import itertools

import numpy as np
import pytest
import tensorflow as tf
from tokenizers.processors import TemplateProcessing
from transformers import AutoTokenizer

import kerastl
from kerastl.errors import BackboneError
from kerastl.preprocessing.graph_pairs import (
    GraphPairTokenizer,
    build_graph_pair_tokenizer,
    longest_first,
    pair_template,
)
from tests.helpers import SHARED_DATA, tiny_tokenizer
from tests.tokenizer_cases import HARD_TEXTS, long_texts, train_roberta_tokenizer, vocab_tokenizer

WORDS = ["the", "movie", "film", "good", "bad", "great", "awful", "not", "very", "plot", "fun", "dull"]


def hf_pairs(tokenizer, texts, pairs, max_length) -> dict:
    """HF's packing of a batch of pairs, as lists of lists (the batch call: an empty `text_pair`
    is a pair with an empty second text, `[CLS] a [SEP] [SEP]`)."""
    encoded = tokenizer(list(texts), list(pairs), truncation="longest_first", max_length=max_length,
                        return_token_type_ids=True)
    return {key: [list(row) for row in encoded[key]] for key in ("input_ids", "token_type_ids")}


def assert_same_pairs(ops, tokenizer, texts, pairs, max_length):
    expected = hf_pairs(tokenizer, texts, pairs, max_length)
    ids, types = (x.to_list() for x in ops.pair_ids(tf.constant(texts), tf.constant(pairs)))
    for i, (a, b) in enumerate(zip(texts, pairs)):  # one pair at a time, for a readable failure
        assert ids[i] == expected["input_ids"][i], (a[:60], b[:60])
        assert types[i] == expected["token_type_ids"][i], (a[:60], b[:60])


def sentence(n, offset=0) -> str:
    """`n` words of the fixture vocabulary, each one token, in an order that shows which are kept."""
    return " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(n))


# -- the truncation rule ------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["right", "left"])
def test_longest_first_matches_hugging_face_on_every_small_length_pair(side):
    tokenizer = tiny_tokenizer("bert")
    tokenizer.truncation_side = side
    grid = list(itertools.product(range(21), repeat=2))
    texts = [sentence(a) for a, _ in grid]
    pairs = [sentence(b, offset=5) for _, b in grid]
    for max_length in (4, 12, 13):
        budget = max_length - 3  # [CLS] a [SEP] b [SEP]
        expected = hf_pairs(tokenizer, texts, pairs, max_length)
        kept = np.array([[types.count(0) - 2, types.count(1) - 1] for types in expected["token_type_ids"]])
        len_a, len_b = (tf.constant([g[i] for g in grid], tf.int64) for i in (0, 1))
        keep_a, keep_b = longest_first(len_a, len_b, budget)
        np.testing.assert_array_equal(np.stack([keep_a.numpy(), keep_b.numpy()], axis=1), kept,
                                      err_msg=f"max_length={max_length}")
        assert_same_pairs(GraphPairTokenizer(tokenizer, max_length), tokenizer, texts, pairs, max_length)


def test_pair_template_of_bert_and_refusals(tmp_path):
    template = pair_template(tiny_tokenizer("bert"))
    assert template == {"prefix": [(2, 0)], "middle": [(3, 0)], "suffix": [(3, 1)], "type_a": 0, "type_b": 1}
    # A template that puts the second text first is not rebuilt, and says why.
    swapped = tiny_tokenizer("bert")
    swapped.backend_tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $B [SEP] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    ops, reason = build_graph_pair_tokenizer(swapped, 24)
    assert ops is None and "does not pack a pair" in reason
    ops, reason = build_graph_pair_tokenizer(train_roberta_tokenizer(tmp_path), 24)
    assert ops is None and "BPE vocabulary" in reason
    ops, reason = build_graph_pair_tokenizer(tiny_tokenizer("bert"), 3)
    assert ops is None and "leaves no room for a pair" in reason
    assert build_graph_pair_tokenizer(tiny_tokenizer("bert"), 4)[1] is None


# -- parity on hard pairs -------------------------------------------------------------------------


def adversarial_pairs(max_length) -> list:
    """One side empty, both empty, one side past max_length, both long, equal lengths, hard texts."""
    long_a, long_b = sentence(3 * max_length), sentence(3 * max_length + 7, offset=3)
    pairs = [("", ""), ("", "the film"), ("the film", ""), (long_a, ""), ("", long_b), (long_a, long_b),
             (long_b, long_a), (long_a, long_a), ("the film was good", "the plot was dull"),
             (sentence(max_length), sentence(max_length, offset=1)), (long_a, "good"), ("good", long_b)]
    for n in range(max_length - 4, max_length + 2):  # both sides filling the window of a single text
        pairs += [(sentence(n), sentence(n + 1, 2)), (sentence(n + 1), sentence(n, 2)), (sentence(n), sentence(n, 2))]
    pairs += [(text, "") for text in HARD_TEXTS] + [("", text) for text in HARD_TEXTS]
    pairs += list(zip(HARD_TEXTS, reversed(HARD_TEXTS))) + [(text, text) for text in HARD_TEXTS]
    pairs += [(text, long_b) for text in HARD_TEXTS[::3]]
    return pairs


@pytest.mark.parametrize("kind, side, max_length", [
    ("fixture", "right", 24), ("fixture", "left", 24),
    ("vocab", "right", 128), ("vocab", "right", 9), ("vocab", "left", 16),
])
def test_graph_pairs_match_hugging_face_on_adversarial_pairs(kind, side, max_length):
    tokenizer = tiny_tokenizer("bert") if kind == "fixture" else vocab_tokenizer()
    tokenizer.truncation_side = side
    texts, pairs = (list(x) for x in zip(*adversarial_pairs(max_length)))
    ops = GraphPairTokenizer(tokenizer, max_length)
    assert_same_pairs(ops, tokenizer, texts, pairs, max_length)
    # Padded as the training features are: pad id, segment 0 and mask 0 after each pair.
    features = ops(tf.constant(texts), tf.constant(pairs))
    expected = tokenizer(texts, pairs, truncation="longest_first", max_length=max_length, padding=True,
                         return_token_type_ids=True, return_tensors="np")
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        np.testing.assert_array_equal(features[key].numpy(), expected[key], err_msg=key)
        assert features[key].dtype == tf.int32


@pytest.mark.parametrize("side", ["right", "left"])
def test_graph_pairs_of_long_texts_read_windows_and_order_by_true_length(side):
    # Long texts are read in windows; when both sides fill theirs, the whole texts decide which
    # is longer (with an odd budget, the longer keeps one token more).
    tokenizer = tiny_tokenizer("bert")
    tokenizer.truncation_side = side
    max_length = 24  # a budget of 21: odd
    texts = long_texts(max_length)[14::9]  # words and added tokens at every distance from a window's cut
    pairs = [(a, b) for a, b in zip(texts, reversed(texts))] + [(text, "good") for text in texts]
    pairs += [(sentence(40), sentence(50, 1)), (sentence(50), sentence(40, 1)), (sentence(45), sentence(45, 1)),
              ("film " * 2000, "good " * 2001), ("good " * 2001, "film " * 2000),
              (" " * 100_000 + "film", "good " * 99), ("a" * 200_000, "film " * 5000), ("film " * 5000, "")]
    a, b = (list(x) for x in zip(*pairs))
    ops = GraphPairTokenizer(tokenizer, max_length)
    assert_same_pairs(ops, tokenizer, a, b, max_length)
    # In a graph too, as served (the windows' loop and the true order's branch in the graph).
    graph = tf.function(lambda x, y: ops(x, y)["input_ids"], autograph=False,
                        input_signature=[tf.TensorSpec([None], tf.string)] * 2)
    expected = tokenizer(a, b, truncation="longest_first", max_length=max_length, padding=True)["input_ids"]
    assert graph(tf.constant(a), tf.constant(b)).numpy().tolist() == expected


def test_graph_pairs_edge_batches():
    ops = GraphPairTokenizer(tiny_tokenizer("bert"), 16)
    empty = ops(tf.constant([], tf.string), tf.constant([], tf.string))
    assert all(empty[key].shape == (0, 3) for key in empty)
    both_empty = ops(tf.constant([""]), tf.constant([""]))
    assert both_empty["input_ids"].numpy().tolist() == [[2, 3, 3]]
    assert both_empty["token_type_ids"].numpy().tolist() == [[0, 0, 1]]


# -- the real tokenizer on the shared pair data (slow) ----------------------------------------


def read_pairs(path) -> tuple:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [row["text"] for row in rows], [row["text_pair"] for row in rows]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["mrpc", "stsb"])
def test_graph_pairs_match_on_the_shared_pair_data(dataset):
    if not (SHARED_DATA / dataset / "validation.tsv").is_file():
        pytest.skip(f"no {dataset} data at {SHARED_DATA / dataset}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(kerastl.preset_path("all-minilm-l6-v2")))
    except BackboneError as err:
        pytest.skip(str(err))
    for split in ("validation", "train"):
        texts, pairs = read_pairs(SHARED_DATA / dataset / f"{split}.tsv")
        assert len(texts) > 400
        for max_length in (128, 32):
            ops = GraphPairTokenizer(tokenizer, max_length)
            for start in range(0, len(texts), 512):
                chunk = slice(start, start + 512)
                assert_same_pairs(ops, tokenizer, texts[chunk], pairs[chunk], max_length)
