"""The in-graph WordPiece tokenizer: parity with the Hugging Face tokenizer, WordPiece oracles, support checks."""

import collections
import functools
import json
import random
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from transformers import AutoTokenizer, BertTokenizerFast

import kerastl
from kerastl.errors import BackboneError
from kerastl.preprocessing import graph_tokenizer as graph_lib
from kerastl.preprocessing import tokenizer_rules
from kerastl.preprocessing.graph_tokenizer import GraphTokenizer
from tests.tokenizer_cases import HARD_TEXTS, hf_features, long_texts, train_roberta_tokenizer, vocab_tokenizer

EMOTION = Path(__file__).resolve().parents[2] / "shared" / "data" / "emotion"


@pytest.fixture(scope="session")
def roberta_tokenizer(tmp_path_factory):
    return train_roberta_tokenizer(tmp_path_factory.mktemp("roberta-tokenizer"))


def assert_same_features(ops, tokenizer, texts, max_length):
    received = ops(tf.constant(texts))
    expected = hf_features(tokenizer, texts, max_length)
    for i, text in enumerate(texts):  # one text at a time first, for a readable failure
        np.testing.assert_array_equal(
            received["input_ids"][i].numpy(), expected["input_ids"][i], err_msg=repr(text[:80])
        )
    np.testing.assert_array_equal(received["attention_mask"].numpy(), expected["attention_mask"])
    assert received["input_ids"].dtype == tf.int32 and received["attention_mask"].dtype == tf.int32


# -- tokenizer parity -------------------------------------------------------------------------


# Normalizer settings other than the default: each reads its own tables off all 1.1M code points
# (slow); `test_character_tables_on_a_sample_of_every_unicode_category` covers them on a sample.
OTHER_NORMALIZERS = [
    {"do_lower_case": False},
    {"do_lower_case": False, "strip_accents": True},
    {"strip_accents": False, "tokenize_chinese_chars": False},
]


@pytest.mark.parametrize("kind, options, max_length", [
    ("fixture", {}, 24),
    ("vocab", {}, 128),
    ("vocab", {}, 8),
    *(pytest.param("vocab", options, 64, marks=pytest.mark.slow) for options in OTHER_NORMALIZERS),
    ("vocab", {"truncation_side": "left"}, 8),
])
def test_graph_tokenizer_matches_hugging_face_on_hard_texts(distilbert_tokenizer, kind, options, max_length):
    tokenizer = distilbert_tokenizer if kind == "fixture" else vocab_tokenizer(**options)
    assert_same_features(GraphTokenizer(tokenizer, max_length), tokenizer, HARD_TEXTS, max_length)


@functools.lru_cache(maxsize=1)
def unicode_sample(per_category: int = 120) -> tuple:
    """A few thousand code points: some of every Unicode general category, and all of HARD_TEXTS."""
    rng = random.Random(0)
    by_category = collections.defaultdict(list)
    for point in range(0x110000):
        by_category[unicodedata.category(chr(point))].append(point)
    del by_category["Cs"]  # surrogates are no text
    sample = {point for points in by_category.values() for point in rng.sample(points, min(per_category, len(points)))}
    sample |= {ord(char) for text in HARD_TEXTS for char in text} | set(range(128))
    return tuple(sorted(sample))


@pytest.mark.parametrize("options", [{}, *OTHER_NORMALIZERS])
def test_character_tables_on_a_sample_of_every_unicode_category(options, monkeypatch):
    # The tables read off a sample of code points are right for texts made of them: the same
    # code as the full sweep, on a few thousand code points instead of 1.1M.
    sample = unicode_sample()
    assert 2000 < len(sample) < 5000
    monkeypatch.setattr(graph_lib, "character_tables", functools.partial(tokenizer_rules.character_tables,
                                                                         points=sample))
    tokenizer = BertTokenizerFast(vocab_file=str(Path(__file__).parent / "fixtures" / "vocab.txt"), **options)
    ops = GraphTokenizer(tokenizer, 64)
    rng = random.Random(1)
    # Characters alone (each between spaces) and in runs: every sampled character is read.
    texts = [" ".join(chr(point) for point in sample[i:i + 50]) for i in range(0, len(sample), 50)]
    texts += ["".join(chr(rng.choice(sample)) for _ in range(rng.randint(1, 30))) for _ in range(300)]
    normalizer = tokenizer.backend_tokenizer.normalizer
    received = [text.decode() for text in ops.normalize(tf.constant(texts)).numpy()]
    assert received == [normalizer.normalize_str(text) for text in texts]
    assert_same_features(ops, tokenizer, texts + HARD_TEXTS, 64)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("kind, max_length", [("fixture", 24), ("vocab", 128)])
def test_graph_tokenizer_matches_hugging_face_on_long_and_adversarial_texts(kind, max_length, side):
    if kind == "fixture":
        tokenizer = BertTokenizerFast(vocab_file=str(Path(__file__).parent / "fixtures" / "vocab.txt"),
                                      truncation_side=side)
    else:
        tokenizer = vocab_tokenizer(truncation_side=side)
    texts = long_texts(max_length)
    expected = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    ops = GraphTokenizer(tokenizer, max_length)
    received = ops.token_ids(tf.constant(texts)).to_list()
    for text, got, want in zip(texts, received, expected):  # one text at a time, for a readable failure
        assert got == want, repr(text[:80])
    # In a graph too, as served: there the window loop is a tf.while_loop.
    graph = tf.function(ops.token_ids, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    assert graph(tf.constant(texts)).to_list() == expected
    # Bytes that are not UTF-8, around the first window's end: the graph reads them as U+FFFD,
    # which the normalizer removes, as Python's decoder with errors="replace" does.
    window = 16 * max_length
    raw = [b"good film " * (window // 10) + bad + b"plot " * window
           for bad in (b"\xff", b"\xe6\x97", b"\xf0\x9f\x98", b"\x80" * 7, b"\xe6\x97\xa5\xff\xfe")]
    raw = [text[shift:] if side == "left" else text[:len(text) - shift] for text in raw for shift in range(4)]
    decoded = [text.decode("utf-8", errors="replace") for text in raw]
    expected = tokenizer(decoded, truncation=True, max_length=max_length)["input_ids"]
    assert ops.token_ids(tf.constant(raw)).to_list() == expected


def test_graph_tokenizer_reads_as_much_of_a_10_mb_text_as_of_a_10_kb_one(distilbert_tokenizer):
    ops = GraphTokenizer(distilbert_tokenizer, 24)
    short = ("The movie was good, the plot very dull. " * 250)[:10_000]
    long = short * 1_000  # 10 MB
    texts = tf.constant([short, long])
    read = ops.read_lengths(texts).numpy().tolist()
    assert read[0] == read[1] == 16 * 24  # the first window: 384 bytes of 10 kB or of 10 MB
    ids = ops.token_ids(texts).to_list()
    assert ids[0] == ids[1] == distilbert_tokenizer(short, truncation=True, max_length=24)["input_ids"]
    # What must be read is read: a text whose words start after a megabyte of spaces.
    late = " " * 1_000_000 + short
    assert ops.read_lengths(tf.constant([late])).numpy()[0] > 1_000_000
    assert ops.token_ids(tf.constant([late])).to_list()[0] == ids[0]


def test_graph_tokenizer_matches_the_training_pipeline(bert_tokenizer):
    ops = GraphTokenizer(bert_tokenizer, 16)
    encoded = kerastl.preprocessing.encode_examples(kerastl.TextExamples(HARD_TEXTS), bert_tokenizer, max_length=16)
    expected = encoded.pad(tf.range(len(HARD_TEXTS)))
    received = ops(tf.constant(HARD_TEXTS))
    for key in ("input_ids", "attention_mask"):
        np.testing.assert_array_equal(received[key].numpy(), expected[key].numpy())


def test_graph_tokenizer_edge_batches(bert_tokenizer):
    ops = GraphTokenizer(bert_tokenizer, 16)
    empty = ops(tf.constant([], tf.string))
    assert empty["input_ids"].shape == (0, 2) and empty["attention_mask"].shape == (0, 2)
    # Invalid UTF-8 cannot reach a Python tokenizer; in the graph it becomes U+FFFD, which the
    # normalizer removes, so the bad bytes vanish as a removed control character would.
    bad = ops(tf.constant([b"good\xff\xfefilm"]))["input_ids"].numpy()[0].tolist()
    assert bad == bert_tokenizer("goodfilm")["input_ids"]


def wordpiece_oracles(tokenizer, words):
    """Each word's ids from HF's WordPiece model itself and from tensorflow-text's FastWordpiece."""
    tft = pytest.importorskip("tensorflow_text")
    config = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    hf = [[t.id for t in tokenizer.backend_tokenizer.model.tokenize(w)] for w in words]
    vocab = sorted(config["vocab"], key=config["vocab"].get)
    assert [config["vocab"][t] for t in vocab] == list(range(len(vocab)))  # ids are positions
    fast = tft.FastWordpieceTokenizer(
        vocab=vocab, suffix_indicator=config["continuing_subword_prefix"], unknown_token=config["unk_token"],
        max_bytes_per_word=4 * config["max_input_chars_per_word"], token_out_type=tf.int32,
        no_pretokenization=True,
    )
    return hf, fast.tokenize(tf.constant(words)).to_list()


def test_wordpiece_matches_hugging_face_and_tensorflow_text_on_random_words(tmp_path):
    # A small vocabulary over a few letters (one of 2 bytes, one of 3, one of 4) splits words into
    # many pieces; "c" alone is no piece, so many words hold a part that matches nothing.
    rng = random.Random(0)
    letters = "abcé日😀"
    pieces = {"".join(rng.choices(letters, k=rng.randint(1, 4))) for _ in range(60)} - {"c"}
    suffixes = {"##" + "".join(rng.choices(letters, k=rng.randint(1, 3))) for _ in range(60)} - {"##c"}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(pieces | suffixes)]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    words = sorted({"".join(rng.choices(letters, k=rng.randint(1, 12))) for _ in range(400)})
    words += ["a" * 99, "a" * 100]  # the longest word WordPiece splits (max_input_chars_per_word=100)

    received = GraphTokenizer(tokenizer, 24).wordpiece(tf.constant(words)).to_list()
    hf, fast = wordpiece_oracles(tokenizer, words)
    for word, got, want, also in zip(words, received, hf, fast):
        assert got == want == also, word
    assert sum(ids == [1] for ids in received) > 50 and max(map(len, received)) > 5  # both occur
    too_long = "a" * 101  # tensorflow-text counts bytes, HF code points: only HF is the judge here
    assert GraphTokenizer(tokenizer, 24).wordpiece(tf.constant([too_long, "é" * 101])).to_list() == [[1], [1]]


def test_wordpiece_matches_hugging_face_and_tensorflow_text_on_a_real_vocabulary():
    tokenizer = vocab_tokenizer()
    ops = GraphTokenizer(tokenizer, 128)
    words = sorted({w.decode() for w in ops.words(tf.constant(HARD_TEXTS)).flat_values.numpy()})
    words = [w for w in words if len(w) <= 100] + ["unaffable", "##", "xxxxxxxxxxxxxxxxxxxq", "télécommunications"]
    received = ops.wordpiece(tf.constant(words)).to_list()
    hf, fast = wordpiece_oracles(tokenizer, words)
    for word, got, want, also in zip(words, received, hf, fast):
        assert got == want == also, word


def test_text_signature_support_names_what_cannot_be_rebuilt(distilbert_tokenizer, roberta_tokenizer):
    assert graph_lib.text_signature_support(distilbert_tokenizer, 24) is None
    assert "BPE vocabulary" in graph_lib.text_signature_support(roberta_tokenizer, 24)
    custom = BertTokenizerFast(vocab_file=str(Path(__file__).parent / "fixtures" / "vocab.txt"))
    custom.add_tokens(["plot twist"])  # a normalized added token: matched after normalization
    assert "added token 'plot twist'" in graph_lib.text_signature_support(custom, 24)
    assert "leaves no room" in graph_lib.text_signature_support(distilbert_tokenizer, 2)


@pytest.mark.slow
def test_graph_tokenizer_matches_on_the_emotion_validation_split():
    if not (EMOTION / "validation.txt").is_file():
        pytest.skip(f"no emotion data at {EMOTION}")
    texts = kerastl.read_examples(EMOTION / "validation.txt", sep=";", names=["text", "label"]).texts
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(kerastl.preset_path("all-minilm-l6-v2")))
    except BackboneError as err:
        pytest.skip(str(err))
    assert len(texts) == 2000
    for max_length in (128, 32):
        assert_same_features(GraphTokenizer(tokenizer, max_length), tokenizer, texts, max_length)

