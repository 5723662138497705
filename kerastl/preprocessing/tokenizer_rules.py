"""What a Hugging Face WordPiece tokenizer does, read off the tokenizer itself.

`GraphTokenizer` rebuilds a fast BERT-style tokenizer from core TensorFlow ops. Everything it needs
to know comes from here: the settings of its WordPiece model, added tokens and post-processor
(`wordpiece_spec`), and what its normalizer and pre-tokenizer do to each of the 1.1M Unicode code
points (`character_tables`), written as RE2 character classes (`re2_class`).
"""

import json

from kerastl.errors import TextSignatureUnavailable

LAST_CODEPOINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def wordpiece_spec(tokenizer, max_length: int) -> dict:
    """What GraphTokenizer needs from a fast WordPiece tokenizer; raises when it has other rules."""
    name = type(tokenizer).__name__
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TextSignatureUnavailable(f"{name} is a slow (Python) tokenizer; a fast one is needed")
    config = json.loads(backend.to_str())
    model = config["model"]
    if model.get("type") != "WordPiece":
        raise TextSignatureUnavailable(
            f"{name} uses a {model.get('type')} vocabulary; only WordPiece (BERT, DistilBERT, "
            f"MiniLM, ...) is rebuilt in the graph"
        )
    normalizer = (config.get("normalizer") or {}).get("type", "BertNormalizer")
    pre_tokenizer = (config.get("pre_tokenizer") or {}).get("type")
    if normalizer != "BertNormalizer" or pre_tokenizer != "BertPreTokenizer":
        raise TextSignatureUnavailable(
            f"{name} uses the normalizer {normalizer} and pre-tokenizer {pre_tokenizer}; "
            f"only BertNormalizer and BertPreTokenizer are rebuilt in the graph"
        )
    added = {}
    for token in config.get("added_tokens", []):
        if token["normalized"] or token["lstrip"] or token["rstrip"] or token["single_word"]:
            raise TextSignatureUnavailable(
                f"{name} has the added token {token['content']!r} with normalized/lstrip/rstrip/"
                f"single_word matching, which the graph does not reproduce"
            )
        added[token["content"]] = token["id"]
    side = getattr(tokenizer, "truncation_side", "right")
    if side not in ("left", "right"):
        raise TextSignatureUnavailable(f"{name} has truncation_side={side!r}")
    prefix, suffix = special_tokens_around(backend)
    if max_length <= len(prefix) + len(suffix):
        raise TextSignatureUnavailable(
            f"max_length={max_length} leaves no room for text beside "
            f"{len(prefix) + len(suffix)} special tokens"
        )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return {
        "vocab": model["vocab"],
        "unk_token": model["unk_token"],
        "continuing_subword_prefix": model["continuing_subword_prefix"],
        "max_input_chars_per_word": int(model["max_input_chars_per_word"]),
        "added_tokens": added,
        "prefix": prefix,
        "suffix": suffix,
        "truncation_side": side,
        "pad_id": int(pad_id),
    }


def special_tokens_around(backend) -> tuple:
    """The ids the post-processor puts before and after a single text, e.g. ([101], [102])."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(backend.to_str())  # a copy without the saved padding/truncation
    backend.no_padding()
    backend.no_truncation()
    probe = "a b c"
    plain = backend.encode(probe, add_special_tokens=False).ids
    full = backend.encode(probe, add_special_tokens=True).ids
    for start in range(len(full) - len(plain) + 1):
        if full[start:start + len(plain)] == plain:
            prefix, suffix = full[:start], full[start + len(plain):]
            if backend.encode("", add_special_tokens=True).ids == prefix + suffix:
                return prefix, suffix
    raise TextSignatureUnavailable("its post-processor does not wrap a text in fixed special tokens")




_TABLES = {}


def character_tables(backend, points=None) -> dict:
    """Per-character behaviour of the normalizer and pre-tokenizer, over all of Unicode.

    HF's `BertNormalizer` maps each character independently (remove, to space, pad with spaces,
    strip accents, lower-case), and `BertPreTokenizer` classifies each character as whitespace,
    punctuation or part of a word. Running every code point through them gives tables that
    follow their own Unicode data, whatever version the tokenizers library carries:

    - `remove`, `space`, `pad`: code points mapped to "", to " " and to " c ";
    - `map`: every other changed character -> its normalized form;
    - `whitespace`, `punctuation`: the pre-tokenizer's split characters.

    Reading all 1.1M code points takes a second or two per configuration; the tables are kept
    for the next tokenizer with the same one. Tests pass `points`, a sample of code points: the
    tables then hold those alone, and are right for texts made of them only.
    """
    config = json.loads(backend.to_str())
    points = None if points is None else sorted(set(points) - set(_SURROGATES))
    key = json.dumps([config.get("normalizer"), config.get("pre_tokenizer"), points], sort_keys=True)
    if key not in _TABLES:
        if points is None:
            points = [c for c in range(LAST_CODEPOINT + 1) if c not in _SURROGATES]
        normalized = _normalize_each(backend.normalizer, points)
        tables = {"remove": [], "space": [], "pad": [], "map": {}}
        for point, out in zip(points, normalized):
            char = chr(point)
            if out == char:
                continue
            if out == "":
                tables["remove"].append(point)
            elif out == " ":
                tables["space"].append(point)
            elif out == f" {char} ":
                tables["pad"].append(point)
            else:
                tables["map"][char] = out
        tables.update(_split_classes(backend.pre_tokenizer, points))
        _TABLES[key] = tables
    return _TABLES[key]


def _normalize_each(normalizer, points, chunk: int = 4096) -> list:
    """`normalizer.normalize_str(chr(c))` for every code point, a chunk per call.

    The characters of a chunk are joined by a separator the normalizer keeps as it is; a chunk
    whose output does not split back into one piece per character is redone one by one.
    """
    if normalizer is None:
        return [chr(c) for c in points]
    separator = "\u2603"  # a snowman: a starter character that no normalizer here changes
    if normalizer.normalize_str(separator) != separator:
        return [normalizer.normalize_str(chr(c)) for c in points]
    out = []
    for start in range(0, len(points), chunk):
        chars = [chr(c) for c in points[start:start + chunk]]
        joined = separator + separator.join(chars) + separator
        pieces = normalizer.normalize_str(joined).split(separator)[1:-1]
        if len(pieces) != len(chars) or separator in chars:
            pieces = [normalizer.normalize_str(c) for c in chars]
        out.extend(pieces)
    return out


def _split_classes(pre_tokenizer, points, chunk: int = 4096) -> dict:
    """The code points the pre-tokenizer drops as whitespace and isolates as punctuation.

    Each character is placed between two "a"s: a whitespace character is left out of every
    piece, a punctuation character becomes a piece of its own, any other joins the "a"s.
    """
    classes = {"whitespace": [], "punctuation": []}
    if pre_tokenizer is None:
        return classes
    for start in range(0, len(points), chunk):
        part = points[start:start + chunk]
        text = "a" + "".join(chr(c) + "a" for c in part)
        covered = {}
        for _, (begin, end) in pre_tokenizer.pre_tokenize_str(text):
            for position in range(begin, end):
                covered[position] = end - begin
        for i, point in enumerate(part):
            width = covered.get(2 * i + 1)
            if width is None:
                classes["whitespace"].append(point)
            elif width == 1:
                classes["punctuation"].append(point)
    return classes



def _ranges(points) -> list:
    ranges = []
    for point in sorted(points):
        if ranges and point == ranges[-1][1] + 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return ranges


def re2_class(points) -> str:
    """An RE2 character class matching exactly `points`, or "" for none."""
    if not points:
        return ""
    parts = [f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in _ranges(points)]
    return "[" + "".join(parts) + "]"


def re2_literal(text: str) -> str:
    return "".join(f"\\x{{{ord(ch):x}}}" for ch in text)

