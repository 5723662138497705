"""Texts and tokenizers that the tokenizer tests share (graph tokenizer, export, truncation)."""

from pathlib import Path

import pytest
from transformers import BertTokenizerFast, RobertaTokenizerFast

import kerastl
from kerastl.errors import BackboneError

# Hard cases for the in-graph tokenizer; every one is compared with the Hugging Face tokenizer.
HARD_TEXTS = [
    "",
    " ",
    "\t\n\r ",
    "a",
    "Hello, World!",
    "The MOVIE was GoOd",
    # accents, precomposed and combining; letters whose lower case or decomposition is special
    "Café naïve RÉSUMÉ façade Ångström Øre Łódź Dvořák",
    "e\u0301te\u0301 n\u0303 a\u0308\u0301\u0316",  # combining marks, out of canonical order
    "İstanbul ΣΊΣΥΦΟΣ straße ẞ Ǆ ǅ ﬁne ﬀ Ⅻ ①",
    "ＦＵＬＬＷＩＤＴＨ ｆｕｌｌ ＡＢＣ１２３",
    "Ελληνικά Русский текст עברית العربية हिन्दी ไทย",
    # CJK and other scripts handled as Chinese characters or not
    "我爱自然语言处理",
    "mixed中文text日本語のテキストand한국어텍스트",
    "\U00020000\U0002a6d6 㐀 豈 \U0002f800",
    # emoji: single, skin tones, ZWJ sequences, flags, keycaps, variation selectors
    "emoji 😀👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 1️⃣ ❤️ ☃",
    "new emoji 🫠🥲🪿",
    # control and format characters, replacement character, private use
    "ctrl\x00\x01\x07\x08\x1b\x7f\x85chars",
    "zero\u200bwidth\u200c\u200djoin\u2060word\ufeffbom soft\xadhyphen",
    "bidi \u202atext\u202c \u200eltr\u200f rtl \u2066iso\u2069",
    "replacement \ufffd char and private \ue000\uf8ff\U000f0000",
    "tag chars \U000e0041\U000e007f and unassigned \u0378 \U000e0080",
    # unusual whitespace
    "non\u00a0breaking\u2007figure\u202fnarrow",
    "em\u2003space\u3000ideographic\u1680ogham\u205fmath",
    "line\u2028separator\u2029paragraph\x0bvtab\x0cform\x1cfile\x1dgroup\x1erecord\x1funit",
    "  leading and trailing  \n\n",
    # punctuation runs, ASCII and Unicode, and symbols that are not punctuation
    "wait...!!!???",
    "(((nested))) [[brackets]] {{braces}} <<angles>>",
    "«quotes» “curly” ‘single’ „low“ ‹angle› — dash – en ¿que? ¡si! 。、「」",
    "$100 + 50% = ~$150 | a^b `code` @user #tag & co. * _ \\ /",
    "€5 £3 ¥2 © ® ™ ° ± × ÷ § ¶ • … ‰ ′ ″",
    "don't won't it's y'all rock'n'roll",
    "e-mail co-operate state-of-the-art 3.14159 1,000,000 10:30pm",
    "http://example.com/path?q=1&r=2#frag user@example.com",
    # added tokens typed in the text
    "[CLS] [SEP] [MASK] [PAD] [UNK]",
    "[mask] [Cls] x[SEP]y [[MASK]] [MASK][MASK]",
    # long words, long texts
    "a" * 99 + " " + "b" * 100 + " " + "c" * 101,
    "é" * 101 + " " + "日" * 150,
    "supercalifragilisticexpialidocious " * 40,
    "The film is good. " * 200,
    "x" * 5000,
]


def vocab_tokenizer(**kwargs):
    """A fast BERT tokenizer on the real 30522-token bert-base-uncased vocabulary (MiniLM's)."""
    try:
        vocab = kerastl.preset_path("all-minilm-l6-v2") / "vocab.txt"
    except BackboneError as err:
        pytest.skip(str(err))
    return BertTokenizerFast(vocab_file=str(vocab), **kwargs)


def hf_features(tokenizer, texts, max_length):
    return tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="np")



def train_roberta_tokenizer(folder: Path) -> RobertaTokenizerFast:
    """A byte-level BPE tokenizer trained offline on a few sentences, as RoBERTa's."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    sentences = ["the movie was good", "the film was bad", "a great plot", "an awful dull film"] * 5
    bpe.train_from_iterator(sentences, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(folder))
    return RobertaTokenizerFast(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"))


def long_texts(max_length: int) -> list:
    """Long and adversarial texts for tokenizers that read a window of each text (`max_length`).

    Both the in-graph tokenizer (in bytes) and `kerastl.preprocessing.truncation` (in characters) first read
    16 per token of `max_length`; every text here must still get the whole text's ids.
    """
    window = 16 * max_length
    texts = [
        "The film is good. " * 12_000,  # ordinary text, 216 kB
        " " * 1_000_000 + "good film " * max_length,  # a megabyte of spaces, then words
        "\t\n\u3000\xa0\r\x0b" * 50_000 + "good film " * max_length,  # other whitespace
        "\x00\x07\u200b\ufeff" * 20_000 + "good film " * max_length,  # characters the normalizer removes
        "good\u200b\xad" * 5_000 + " film" * max_length,  # ... inside a word
        "a" * 200_000,  # one word, far longer than max_input_chars_per_word
        "a" * 200_000 + " good film" * max_length,
        "e\u0301" * 50_000 + " ok" * max_length,  # combining accents: one long word
        "日本語のテキスト" * 10_000,  # a word per Chinese character
        "Café naïve RÉSUMÉ İstanbul " * 5_000,
        "😀👍🏽 🇫🇷 👨‍👩‍👧‍👦 " * 10_000,
        "[MASK] [SEP]x[CLS]" * 5_000,  # added tokens typed in the text
        "[MASK][MASK]" * 5_000,
        "punct...!!!???((([[[" * 5_000,
    ]
    # A word or added token every 14 to 21 bytes: a window holds about as many as max_length
    # keeps, so the one it cuts would count. Shifting a text moves the cut through it.
    for period in range(14, 22):
        for word in ("film", "[SEP]", "日本"):
            unit = word + " " * (period - len(word.encode()))
            for shift in range(0, period, 2):
                texts.append(" " * shift + unit * (3 * max_length) + " " * shift)
    budget = max_length - 2  # [CLS] and [SEP]
    for count in (budget - 1, budget, budget + 1):  # the words just fill max_length, or not
        texts.append("film " * count)
    for size in (window - 1, window, window + 1, 2 * window + 1):  # just within the first window, or not
        texts.append(("good film " * window)[:size])
        texts.append(("film " * window)[-size:])
    return texts
