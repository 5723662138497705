"""`kerastl.preprocessing.truncation`: the Hugging Face tokenizer's truncated ids, from a window of each long text."""

from pathlib import Path

import pytest
from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

from kerastl.preprocessing import truncation
from tests.tokenizer_cases import HARD_TEXTS, long_texts, train_roberta_tokenizer, vocab_tokenizer

FIXTURE_VOCAB = Path(__file__).parent / "fixtures" / "vocab.txt"


@pytest.fixture(scope="session")
def roberta_tokenizer(tmp_path_factory):
    return train_roberta_tokenizer(tmp_path_factory.mktemp("roberta-tokenizer"))


class Spy:
    """A tokenizer that notes the length of every text it is given."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.lengths = []

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)

    def __call__(self, texts, **kwargs):
        self.lengths += [len(text) for text in texts]
        return self.tokenizer(texts, **kwargs)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("kind, max_length", [("wordpiece", 24), ("bpe", 24), ("vocab", 128)])
def test_token_ids_match_the_whole_texts_on_long_and_adversarial_texts(roberta_tokenizer, kind, max_length, side):
    if kind == "wordpiece":
        tokenizer = BertTokenizerFast(vocab_file=str(FIXTURE_VOCAB))
    elif kind == "vocab":
        tokenizer = vocab_tokenizer()
    else:  # byte-level BPE, as RoBERTa's: a word carries the space before it
        tokenizer = roberta_tokenizer
    tokenizer.truncation_side = side
    try:
        assert truncation.bounded_reading_unavailable(tokenizer) is None
        texts = long_texts(max_length) + HARD_TEXTS + [" <mask> film" * 1000, "film <mask> " * 1000]
        many, spaces = "film " * 40 * max_length, " " * 40 * max_length  # a first window with too few tokens:
        texts += ["good good" + spaces + many, many + spaces + "good good"]
        expected = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        spy = Spy(tokenizer)
        received = truncation.token_ids(texts, spy, max_length)
        for text, got, want in zip(texts, received, expected):  # one text at a time, for a readable failure
            assert got == want, repr(text[:80])
        assert len(spy.lengths) > len(texts)  # some texts needed a second, longer window
    finally:
        tokenizer.truncation_side = "right"


def test_token_ids_of_a_tokenizer_with_sequences_of_steps():
    backend = Tokenizer(models.WordLevel({"[UNK]": 0, "good": 1, "film": 2, "cafe": 3, ".": 4}, unk_token="[UNK]"))
    backend.normalizer = normalizers.Sequence([normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase()])
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    assert truncation.bounded_reading_unavailable(tokenizer) is None
    texts = long_texts(16) + ["Café. Good FILM " * 1000]
    spy = Spy(tokenizer)
    assert truncation.token_ids(texts, spy, 16) == tokenizer(texts, truncation=True, max_length=16)["input_ids"]
    assert spy.lengths[0] <= 16 * 16 < len(texts[0])  # a window of the first, ordinary, text


def test_token_ids_read_as_much_of_a_10_mb_text_as_of_a_10_kb_one(distilbert_tokenizer, roberta_tokenizer):
    short = ("The movie was good, the plot very dull. " * 250)[:10_000]
    for tokenizer in (distilbert_tokenizer, roberta_tokenizer):
        read = []
        for text in (short, short * 1_000):  # 10 kB, 10 MB
            spy = Spy(tokenizer)
            ids = truncation.token_ids([text], spy, 24)
            assert ids == tokenizer([short], truncation=True, max_length=24)["input_ids"]
            read.append(spy.lengths)
        assert read[0] == read[1] and max(read[1]) <= 16 * 24  # one window of at most 384 characters


def test_tokenizers_whose_rules_allow_no_window_get_whole_texts(tmp_path):
    spaced = BertTokenizerFast(vocab_file=str(FIXTURE_VOCAB))
    spaced.add_tokens(["plot twist"])  # an added token across a space
    backend = Tokenizer(models.WordLevel({"[UNK]": 0, "good": 1, "film": 2}, unk_token="[UNK]"))
    backend.normalizer = normalizers.Replace(" ", "_")  # a normalizer that changes spaces
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    replacing = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    no_split = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")),
                                       unk_token="[UNK]")
    right_stripping = train_roberta_tokenizer(tmp_path)  # from the end, it would take the space a window starts with
    right_stripping.add_special_tokens({"additional_special_tokens": [AddedToken("<x>", rstrip=True)]})
    right_stripping.truncation_side = "left"
    cases = [
        (spaced, "added token 'plot twist' holds whitespace"),
        (replacing, "normalizer Replace may change text across a space"),
        (no_split, "does not split every text at spaces"),
        (right_stripping, "added token '<x>' strips the whitespace on its right"),
    ]
    text = "good film plot twist <x> " * 1000
    for tokenizer, reason in cases:
        assert reason in truncation.bounded_reading_unavailable(tokenizer)
        spy = Spy(tokenizer)
        assert truncation.token_ids([text], spy, 16) == tokenizer([text], truncation=True, max_length=16)["input_ids"]
        assert spy.lengths == [len(text)]  # the whole text, as before


def test_text_part_ends_at_a_space_after_a_word():
    assert truncation.text_part("a good film", 8) == "a good"
    assert truncation.text_part("a good film", 6) == "a good"  # the space after "good" is the 7th
    assert truncation.text_part("a good film", 5) == "a"
    assert truncation.text_part("a good  film", 7) == "a good"  # not inside a run of spaces
    assert truncation.text_part("abcdefgh", 4) is None  # no junction yet: read more
    assert truncation.text_part("short", 8) == "short"
    assert truncation.text_part("a good film", 5, left=True) == " film"
    assert truncation.text_part("a good film", 4, left=True) is None


@pytest.mark.parametrize("max_length", [24, 25])
def test_pair_token_ids_keep_the_odd_token_where_the_whole_texts_say(bert_tokenizer, max_length):
    """Longest-first gives an odd budget's extra token to the longer side of the whole texts;
    windows of two long texts (or of one long text beside a long short one) must not decide it."""
    pairs = [("good " * 2001, "film " * 2000), ("film " * 800, "good " * 700), ("good " * 700, "film " * 800),
             ("the " * 30, "plot " * 400), ("plot " * 400, "the " * 30), ("dull " * 400, "fun " * 401),
             ("fun " * 401, "dull " * 400), ("great", "awful " * 3000)]
    for a, b in pairs:
        ids, types = truncation.pair_token_ids([a], [b], bert_tokenizer, max_length)
        whole = bert_tokenizer([a], [b], truncation="longest_first", max_length=max_length)
        assert (ids, types) == (whole["input_ids"], whole["token_type_ids"]), (len(a), len(b))
