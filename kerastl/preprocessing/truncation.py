"""Tokenize with truncation, reading of each long text only what the truncation can keep.

A Hugging Face tokenizer called with `truncation=True` tokenizes the whole text before it cuts
the ids: for 128 ids, a text of a million characters cost over a second and ~200 MB, one of ten
million 11 s and 1.7 GB.
`token_ids` gives exactly the same ids, but hands the tokenizer a part of each long text: the
first `16 * max_length` characters (the last ones for `truncation_side="left"`), then twice as
many as long as that part holds too few tokens.

A part ends (or starts) at a junction: a space after a character that is not whitespace. Where
the normalizer works per character and the pre-tokenizer splits at spaces, as those of BERT
(WordPiece) and RoBERTa (byte-level BPE) do, the tokens of a text are those of its part before a
junction followed by those of the rest, so a part that gives `max_length` ids gives the whole
text's. Other tokenizers get the whole text, as before.
"""

import json
import re
from typing import Optional, Sequence

# Tokenizer parts under which a junction splits the tokens (see `bounded_reading_unavailable`).
_NORMALIZERS = {"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD", "StripAccents"}
_SPLITTERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit", "ByteLevel"}  # split at spaces
_REFINERS = {"Punctuation", "Digits"}  # split pieces further, never join them
_WINDOW_CHARS_PER_TOKEN = 16

_LAST_JUNCTION = re.compile(r".*\S(?= )", re.DOTALL)  # its end is the last junction
_JUNCTION = re.compile(r"\S ")


def token_ids(texts: Sequence[str], tokenizer, max_length: int) -> list:
    """`tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]`, reading less.

    Args:
        texts: the texts.
        tokenizer: a Hugging Face tokenizer.
        max_length: longest token sequence, special tokens included.

    Returns:
        One list of ids per text.

    Example:
    >>> ids = token_ids(["good film " * 100_000], tokenizer, 8)  # reads a few words, not 1 MB
    >>> ids == [tokenizer("good film " * 100_000, truncation=True, max_length=8)["input_ids"]]
    True
    """
    def encode(batch):
        return tokenizer(batch, truncation=True, max_length=max_length,
                         return_attention_mask=False, return_token_type_ids=False)["input_ids"]

    return _bounded(list(texts), encode, tokenizer, max_length)[0]


def pair_token_ids(texts: Sequence[str], text_pairs: Sequence[str], tokenizer, max_length: int) -> tuple:
    """`tokenizer(texts, text_pairs, truncation="longest_first", max_length=max_length)`'s
    `input_ids` and `token_type_ids` (None where the tokenizer gives none), reading less.

    Each side is cut as `token_ids` cuts a text: to a part that holds at least `max_length`
    tokens, which is all longest-first truncation can keep of it. Which side is the longer still
    decides which one keeps the odd token of an odd budget, so where a side was cut and the other
    side is long too, the two whole texts are read, as the tokenizer itself would: the ids are
    the same.

    Example:
    >>> ids, types = pair_token_ids(["a cat sat"], ["a cat was sitting"], tokenizer, 16)
    >>> ids == [tokenizer("a cat sat", "a cat was sitting", truncation="longest_first", max_length=16)["input_ids"]]
    True
    >>> types is None  # this tokenizer (DistilBERT's) gives no segment ids; BERT's give 0s then 1s
    True
    """
    def encode(batch):
        return tokenizer(batch, truncation=True, max_length=max_length,
                         return_attention_mask=False, return_token_type_ids=False)["input_ids"]

    texts, text_pairs = list(texts), list(text_pairs)
    first_ids, first = _bounded(texts, encode, tokenizer, max_length)
    second_ids, second = _bounded(text_pairs, encode, tokenizer, max_length)
    if not first:
        return [], None
    for i in range(len(first)):
        cut = first[i] is not texts[i] or second[i] is not text_pairs[i]
        if cut and min(len(first_ids[i]), len(second_ids[i])) >= max_length:  # both long: which is longer?
            first[i], second[i] = texts[i], text_pairs[i]
    encoded = tokenizer(first, second, truncation="longest_first", max_length=max_length,
                        return_attention_mask=False)
    types = encoded.get("token_type_ids")
    return encoded["input_ids"], (None if types is None else list(types))


def _bounded(texts: list, encode, tokenizer, max_length: int) -> tuple:
    """`(ids, parts)`: `encode` of every text, and the part of it that gave those ids (the text
    itself unless it is long and the tokenizer allows parts)."""
    size = _WINDOW_CHARS_PER_TOKEN * max_length
    if all(not isinstance(text, str) or len(text) <= size for text in texts):
        return (encode(texts) if texts else []), texts  # nothing to save
    if bounded_reading_unavailable(tokenizer) is not None:
        return encode(texts), texts
    left = getattr(tokenizer, "truncation_side", "right") == "left"
    ids, chosen = [None] * len(texts), list(texts)
    window = dict.fromkeys(range(len(texts)), size)
    while window:
        parts = {i: text_part(texts[i], size, left=left) for i, size in window.items()}
        ready = [i for i, part in parts.items() if part is not None]
        for i, row in zip(ready, encode([parts[i] for i in ready]) if ready else []):
            if parts[i] is texts[i] or len(row) >= max_length:  # the whole text, or ids enough
                ids[i], chosen[i] = row, parts[i]
                del window[i]
        for i in window:
            window[i] *= 2
    return ids, chosen


def text_part(text: str, size: int, *, left: bool = False) -> Optional[str]:
    """What a window of `size` characters reads of `text`: all of it, or a part up to a junction.

    That is `text` itself when it holds at most `size` characters; else its longest part that
    ends at a junction within its first `size` characters (`left`: that starts at a junction
    within its last `size`), or `None` when there is no junction there.

    Example:
    >>> text_part("a good film", 8)
    'a good'
    """
    if not isinstance(text, str) or len(text) <= size:
        return text
    if left:
        match = _JUNCTION.search(text, len(text) - size - 1)
        return text[match.start() + 1:] if match else None
    match = _LAST_JUNCTION.match(text, 0, size + 1)
    return text[:match.end()] if match else None


def bounded_reading_unavailable(tokenizer) -> Optional[str]:
    """Why `token_ids` must give `tokenizer` whole texts, or `None` when parts are exact.

    Parts are exact for a fast tokenizer whose normalizer works per character, whose
    pre-tokenizer splits at spaces and never joins across one, and whose added tokens hold no
    whitespace (with `truncation_side="left"`, none that strips the whitespace on its right).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return f"{type(tokenizer).__name__} is a slow (Python) tokenizer"
    normalizers = _steps(backend.normalizer)
    odd = [step.get("type") for step in normalizers if step.get("type") not in _NORMALIZERS]
    if odd:
        return f"its normalizer {odd[0]} may change text across a space"
    pre_tokenizers = _steps(backend.pre_tokenizer)
    kinds = [step.get("type") for step in pre_tokenizers]
    odd = [kind for kind in kinds if kind not in _SPLITTERS | _REFINERS]
    if odd or not set(kinds) & _SPLITTERS:
        return f"its pre-tokenizer {odd[0] if odd else kinds or None} does not split every text at spaces"
    if any(step["type"] == "ByteLevel" and not step.get("use_regex", True) for step in pre_tokenizers):
        return "its ByteLevel pre-tokenizer does not split (use_regex=False)"
    left = getattr(tokenizer, "truncation_side", "right") == "left"
    for token in backend.get_added_tokens_decoder().values():
        content = token.content
        if token.normalized and backend.normalizer is not None:
            content += backend.normalizer.normalize_str(content)
        if any(ch.isspace() for ch in content):
            return f"its added token {token.content!r} holds whitespace"
        if left and token.rstrip:
            return f"its added token {token.content!r} strips the whitespace on its right"
    return None


def _steps(component) -> list:
    """The steps of a normalizer or pre-tokenizer, as configs: a Sequence's, or itself; [] for none."""
    if component is None:
        return []
    config = json.loads(component.__getstate__())  # this component's config alone, not the vocabulary's
    return list(_flat(config))


def _flat(config):
    if config.get("type") == "Sequence":
        for part in config.get("normalizers", config.get("pretokenizers", [])):
            yield from _flat(part)
    else:
        yield config
