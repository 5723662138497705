"""SavedModel export for TF Serving: raw text in, probabilities out, with no kerastl at serving time.

`export_saved_model` writes TF Serving's layout, `BASE/<version>/saved_model.pb` + `variables/`,
with two signatures:

- `serving_default`: `text` (a `tf.string` vector) -> `probabilities`, `label_id`, `label`. The
  model's Hugging Face WordPiece tokenizer is rebuilt from core TensorFlow ops (`GraphTokenizer`)
  and gives the same `input_ids` and `attention_mask` as in training.
- `predict_ids`: `input_ids`, `attention_mask` (int32, `[batch, seq]`) -> the same outputs, for
  clients that tokenize themselves.

The graph holds only ops that a plain `import tensorflow` registers: loading it needs no
kerastl, transformers or tensorflow-text. A tokenizer that ops cannot reproduce exactly
(byte-pair or unigram vocabularies, custom normalizers) gets `predict_ids` only, and the export
says so. The label names live inside the graph; `assets.extra/` (which TF Serving ignores) keeps
the tokenizer files and a small `kerastl.json` for `load_saved_model` and `kerastl predict`.
"""

import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf

from kerastl import data as data_lib
from kerastl import distribute
from kerastl._files import replace_dir
from kerastl.classifier import TextClassifier
from kerastl.errors import ModelFileError, TextSignatureUnavailable
from kerastl.evaluation import Predictions

logger = logging.getLogger(__name__)

TEXT_SIGNATURE = "serving_default"
IDS_SIGNATURE = "predict_ids"
EXTRA_DIR = "assets.extra"  # TF Serving's place for files it does not read
METADATA_FILE = "kerastl.json"
TOKENIZER_DIR = "tokenizer"

# Every text is made valid UTF-8 first, so the byte 0xff can mark what text never holds.
_UNMAPPED = b"\xff"  # the character table's default: "this character is not in the table"
_SEPARATOR = b"\xff"  # cut marks for splitting strings with core ops
_LAST_CODEPOINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)

# Texts the export tokenizes both ways before it promises a raw-text signature. The tests hold a
# longer list; these catch a tokenizer whose rules differ from the ones GraphTokenizer copies.
PROBE_TEXTS = (
    "",
    "Hello, World!! It's 3:45pm -- ok?",
    "Café naïve RÉSUMÉ Ångström İstanbul ΣΊΣΥΦΟΣ straße ﬁne",
    "我爱自然语言处理 and 日本語のテキスト, 한국어 텍스트",
    "emoji 😀👍🏽 🇫🇷 a\u200bb soft\xadhyphen\ufeffbom",
    "tabs\tand\nnew\r\nlines\u00a0nbsp\u3000ideographic\u2028sep",
    "ctrl\x00\x01\x07\x1b\x7f\x85chars \ufffd",
    "punct...!!!???((([[[ ]]]))) «quotes» “curly” — dash ¿que? ‹›",
    "[CLS] [SEP] [MASK] [mask] x[SEP]y [UNK]",
    "supercalifragilisticexpialidocious " * 3 + "x" * 120,
)


# -- the in-graph tokenizer ------------------------------------------------------------------


class GraphTokenizer(tf.Module):
    """A Hugging Face WordPiece tokenizer rebuilt from core TensorFlow ops.

    It reproduces a fast BERT-style tokenizer (`tokenizer(texts, truncation=True,
    max_length=max_length, padding=True)`) inside a graph, so a SavedModel can take raw text:

    1. added tokens (`[CLS]`, `[MASK]`, ... typed in the text) are split out of the raw text;
    2. normalization (HF's `BertNormalizer`: control characters removed, whitespace to spaces,
       Chinese characters padded with spaces, accents stripped, lower-casing) runs as regex
       rewrites and a per-character lookup table, both read off the tokenizer itself, so they
       follow its Unicode tables and settings exactly;
    3. pre-tokenization splits on whitespace and isolates punctuation, with the tokenizer's
       own character classes;
    4. each word goes through HF's WordPiece (`wordpiece`: greedy longest match first, the
       whole word the unknown token when a part matches nothing or it is too long);
    5. the ids are truncated to leave room for the special tokens, wrapped in them, and padded
       to the longest text of the batch.

    Args:
        tokenizer: a Hugging Face fast tokenizer with a WordPiece model.
        max_length: longest token sequence, special tokens included.

    Raises:
        TextSignatureUnavailable: the tokenizer uses rules that ops cannot reproduce.

    Example:
    >>> ops = GraphTokenizer(model.tokenizer, model.max_length)  # doctest: +SKIP
    >>> ops(tf.constant(["Hello, World!"]))["input_ids"]  # doctest: +SKIP
    <tf.Tensor: shape=(1, 6), dtype=int32, numpy=array([[ 101, 7592, 1010, 2088,  999,  102]])>
    """

    def __init__(self, tokenizer, max_length: int):
        super().__init__(name="graph_tokenizer")
        spec = _wordpiece_spec(tokenizer, max_length)
        self.max_length = max_length
        self._num_special = tf.constant(len(spec["prefix"]) + len(spec["suffix"]), tf.int64)
        self._budget = max_length - len(spec["prefix"]) - len(spec["suffix"])
        self._left = spec["truncation_side"] == "left"
        self._pad_id = spec["pad_id"]
        self._prefix = tf.constant(spec["prefix"], tf.int32)
        self._suffix = tf.constant(spec["suffix"], tf.int32)
        self._max_chars = spec["max_input_chars_per_word"]
        vocab = spec["vocab"]  # token -> id
        if spec["unk_token"] not in vocab:
            raise TextSignatureUnavailable(f"its unknown token {spec['unk_token']!r} is not in its vocabulary")
        self._unk_id = tf.constant(vocab[spec["unk_token"]], tf.int32)
        self._subword_prefix = spec["continuing_subword_prefix"]
        # No vocabulary entry matches more code points than the longest one holds.
        self._longest_token = tf.constant(max(len(token) for token in vocab), tf.int64)
        self._vocab = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(vocab), tf.string), tf.constant(list(vocab.values()), tf.int32)
            ),
            default_value=-1,
        )

        added = spec["added_tokens"]  # content -> id
        self._added_pattern = "|".join(_re2_literal(t) for t in sorted(added, key=len, reverse=True))
        self._added_ids = None
        if added:
            self._added_ids = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(list(added), tf.string), tf.constant(list(added.values()), tf.int32)
                ),
                default_value=-1,
            )

        tables = _character_tables(tokenizer.backend_tokenizer)
        rewrites = [
            (_re2_class(tables["remove"]), ""),  # control characters; combining marks if stripping accents
            (_re2_class(tables["space"]), " "),  # whitespace
            ("(" + _re2_class(tables["pad"]) + ")" if tables["pad"] else "", r" \1 "),  # Chinese
        ]
        self._rewrites = [(pattern, rewrite) for pattern, rewrite in rewrites if pattern]
        self._char_map = None
        if tables["map"]:
            keys, values = zip(*tables["map"].items())
            self._char_map = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(keys), tf.constant(values)),
                default_value=_UNMAPPED,
            )
        # Punctuation is kept as a word of its own (group 1); whitespace runs are dropped.
        punct = _re2_class(tables["punctuation"])
        whitespace = _re2_class(tables["whitespace"])
        self._keep_punctuation = bool(punct)
        self._split_pattern = "|".join(
            p for p in ("(" + punct + ")" if punct else "", whitespace + "+" if whitespace else "") if p
        )

    def __call__(self, texts) -> dict:
        """`{"input_ids", "attention_mask"}`, int32 `(batch, longest)`, for a string vector."""
        ids = self.token_ids(texts)  # (batch, None) ragged
        # Every row holds the special tokens; the floor only matters for an empty batch.
        width = tf.maximum(ids.bounding_shape(axis=1), self._num_special)
        shape = tf.stack([ids.nrows(), width])
        return {
            "input_ids": ids.to_tensor(self._pad_id, shape=shape),  # (batch, longest)
            "attention_mask": tf.sequence_mask(ids.row_lengths(), width, dtype=tf.int32),  # (batch, longest)
        }

    def token_ids(self, texts) -> tf.RaggedTensor:
        """Unpadded ids with special tokens, truncated to `max_length`: (batch, None) int32."""
        texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
        if self._added_ids is not None:
            pieces = _split(texts, "(" + self._added_pattern + ")", keep=True)  # (batch, pieces)
            flat = pieces.flat_values  # (pieces,)
            added = self._added_ids.lookup(flat)  # (pieces,): the id of an added token, else -1
            is_added = added >= 0
            ids = self._text_ids(tf.where(is_added, "", flat))  # (pieces, None)
            added = tf.RaggedTensor.from_row_lengths(
                tf.boolean_mask(added, is_added), tf.cast(is_added, tf.int64)
            )  # (pieces, 0 or 1)
            ids = tf.concat([added, ids], axis=1)  # (pieces, None): a piece is one or the other
            ids = pieces.with_flat_values(ids).merge_dims(1, 2)  # (batch, None)
        else:
            ids = self._text_ids(texts)  # (batch, None)
        if self._left:
            ids = ids[:, -self._budget:] if self._budget > 0 else ids[:, :0]
        else:
            ids = ids[:, : self._budget]
        batch = ids.nrows()
        prefix = tf.RaggedTensor.from_tensor(tf.tile(self._prefix[None], [batch, 1]))
        suffix = tf.RaggedTensor.from_tensor(tf.tile(self._suffix[None], [batch, 1]))
        return tf.concat([prefix, ids, suffix], axis=1)  # (batch, None)

    def normalize(self, texts) -> tf.Tensor:
        """The normalizer's output for each string (no special-token handling)."""
        for pattern, rewrite in self._rewrites:
            texts = tf.strings.regex_replace(texts, pattern, rewrite)
        if self._char_map is not None:
            chars = tf.strings.unicode_split(texts, "UTF-8")  # (n, None)
            mapped = self._char_map.lookup(chars.flat_values)
            mapped = tf.where(mapped == _UNMAPPED, chars.flat_values, mapped)
            texts = tf.strings.reduce_join(chars.with_flat_values(mapped), axis=-1)
        return texts

    def words(self, texts) -> tf.RaggedTensor:
        """Normalized, pre-tokenized words: (n, None) strings."""
        texts = self.normalize(texts)
        if not self._split_pattern:
            return tf.RaggedTensor.from_tensor(texts[:, None])
        return _split(texts, self._split_pattern, keep=self._keep_punctuation)

    def wordpiece(self, words) -> tf.RaggedTensor:
        """HF's WordPiece model on each word: (n,) strings -> (n, None) int32 ids.

        From a word's first character, the longest vocabulary entry that matches there (looked
        up with the continuing-subword prefix, `##`, after the first position) is the next
        token, and the walk goes on from its end. A word that gets stuck at a position where
        nothing matches, or that holds more than `max_input_chars_per_word` characters, becomes
        the single unknown token. Characters are code points.

        In ops: most words are a vocabulary entry as a whole, found by one lookup. For the rest,
        the longest match at every start position of every word is found at once (one lookup
        of all candidate substrings), then a small loop walks the words' greedy paths side by
        side, one token per iteration.

        Example (bert-base-uncased's vocabulary: "una", "##ffa", "##ble"; no "##é" and no
        "##" + combining accent, so the last word is stuck after "q", "##x"):
        >>> ops.wordpiece(tf.constant(["film", "unaffable", "qx\u00e9\u0301z"])).to_list()  # doctest: +SKIP
        [[2143], [14477, 20961, 3468], [100]]
        """
        words = tf.convert_to_tensor(words, tf.string)
        lengths = tf.cast(tf.strings.length(words, unit="UTF8_CHAR"), tf.int64)  # (n,)
        too_long = lengths > self._max_chars  # (n,)
        whole = self._vocab.lookup(words)  # (n,): the word's id, or -1
        single = too_long | (whole >= 0)  # (n,): one token, no split needed
        n = tf.size(words, out_type=tf.int64)

        def split_words():  # (tokens,) ids and the word each belongs to, in order
            remaining = tf.where(single, tf.zeros_like(lengths), lengths)  # no candidates for them

            # Every start position of the words left, and at each one every candidate length.
            starts = tf.ragged.range(remaining)  # (n, None)
            word, start = starts.value_rowids(), starts.flat_values  # (positions,) each
            room = tf.minimum(tf.gather(remaining, word) - start, self._longest_token)  # (positions,)
            sizes = tf.ragged.range(1, room + 1)  # (positions, None)
            position = sizes.value_rowids()  # (candidates,)
            offset = tf.gather(start, position)  # (candidates,)
            pieces = tf.strings.substr(
                tf.gather(words, tf.gather(word, position)), offset, sizes.flat_values, unit="UTF8_CHAR"
            )  # (candidates,)
            pieces = tf.strings.join([tf.where(offset > 0, self._subword_prefix, ""), pieces])
            ids = self._vocab.lookup(pieces)  # (candidates,): -1 when not in the vocabulary
            matched = sizes.with_flat_values(tf.where(ids >= 0, sizes.flat_values, 0))
            longest = tf.reduce_max(matched, axis=1)  # (positions,): 0 when nothing matches
            # Candidates run from length 1 up, so the longest match sits at row start + length - 1.
            token = tf.gather(ids, sizes.row_starts() + tf.maximum(longest - 1, 0))  # (positions,)

            # The greedy paths: each word jumps from match to match until its end, or gets stuck.
            first = starts.row_starts()  # (n,): the flat index of each word's position 0
            done = tf.size(start, out_type=tf.int64)  # a slot past the positions, for finished words
            longest = tf.concat([longest, tf.zeros([1], tf.int64)], axis=0)  # (positions + 1,)

            def walk(at, visited, stuck):
                live = at < remaining  # (n,)
                index = tf.where(live, first + at, done)
                jump = tf.gather(longest, index)  # (n,)
                moves = live & (jump > 0)
                visited += tf.scatter_nd(index[:, None], tf.cast(moves, tf.int32), tf.shape(longest, tf.int64))
                return tf.where(moves, at + jump, remaining), visited, stuck | (live & (jump == 0))

            _, visited, stuck = tf.while_loop(
                lambda at, *_: tf.reduce_any(at < remaining),
                walk,
                (tf.zeros_like(remaining), tf.zeros_like(longest, tf.int32), tf.zeros_like(single)),
            )
            keep = (visited[:-1] > 0) & ~tf.gather(stuck, word)  # (positions,): a token starts here
            single_or_stuck = single | stuck
            rows = tf.concat([tf.where(single_or_stuck)[:, 0], tf.boolean_mask(word, keep)], axis=0)  # (tokens,)
            ids = tf.concat([
                tf.boolean_mask(tf.where(too_long | stuck, self._unk_id, whole), single_or_stuck),
                tf.boolean_mask(token, keep),
            ], axis=0)  # (tokens,)
            # A word is one or the other, so a stable sort by word keeps each word's tokens in order.
            order = tf.argsort(rows, stable=True)
            return tf.gather(ids, order), tf.gather(rows, order)

        def whole_words():  # the common case, a text whose words are all in the vocabulary
            return tf.where(too_long, self._unk_id, whole), tf.range(n)

        ids, rows = tf.cond(tf.reduce_all(single), whole_words, split_words)
        return tf.RaggedTensor.from_value_rowids(ids, rows, nrows=n, validate=False)  # (n, None)

    def _text_ids(self, texts) -> tf.RaggedTensor:
        words = self.words(texts)  # (n, None)
        return words.with_flat_values(self.wordpiece(words.flat_values)).merge_dims(1, 2)  # (n, None)


def text_signature_support(tokenizer, max_length: int = 128) -> Optional[str]:
    """Why `tokenizer` cannot run in a graph with identical output, or `None` when it can.

    The rules are checked first, then `PROBE_TEXTS` are tokenized both ways and compared.

    Example:
    >>> text_signature_support(RobertaTokenizerFast.from_pretrained("roberta-base"))  # doctest: +SKIP
    'RobertaTokenizerFast uses a BPE vocabulary; only WordPiece (...) has an exact ...'
    """
    return _graph_tokenizer(tokenizer, max_length)[1]


def _graph_tokenizer(tokenizer, max_length: int) -> tuple:
    """`(GraphTokenizer, None)` when it matches `tokenizer` on `PROBE_TEXTS`, else `(None, reason)`."""
    try:
        ops = GraphTokenizer(tokenizer, max_length)
    except TextSignatureUnavailable as err:
        return None, str(err)
    texts = list(PROBE_TEXTS)
    expected = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    received = ops.token_ids(tf.constant(texts)).to_list()
    for text, want, got in zip(texts, expected, received):
        if list(want) != got:
            return None, (
                f"the in-graph tokenizer gives other ids than {type(tokenizer).__name__} for "
                f"{text[:40]!r} ({got[:12]} instead of {list(want)[:12]})"
            )
    return ops, None


def _wordpiece_spec(tokenizer, max_length: int) -> dict:
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
    prefix, suffix = _special_tokens_around(backend)
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


def _special_tokens_around(backend) -> tuple:
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


# Tables are read off the tokenizer once per normalizer and pre-tokenizer configuration.
_TABLES = {}


def _character_tables(backend) -> dict:
    """Per-character behaviour of the normalizer and pre-tokenizer, over all of Unicode.

    HF's `BertNormalizer` maps each character independently (remove, to space, pad with spaces,
    strip accents, lower-case), and `BertPreTokenizer` classifies each character as whitespace,
    punctuation or part of a word. Running every code point through them gives tables that
    follow their own Unicode data, whatever version the tokenizers library carries:

    - `remove`, `space`, `pad`: code points mapped to "", to " " and to " c ";
    - `map`: every other changed character -> its normalized form;
    - `whitespace`, `punctuation`: the pre-tokenizer's split characters.
    """
    config = json.loads(backend.to_str())
    key = json.dumps([config.get("normalizer"), config.get("pre_tokenizer")], sort_keys=True)
    if key not in _TABLES:
        points = [c for c in range(_LAST_CODEPOINT + 1) if c not in _SURROGATES]
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


def _split(texts, pattern: str, keep: bool) -> tf.RaggedTensor:
    """Split strings around matches of `pattern`, dropping them or, with `keep`, keeping group 1.

    Core ops only: each match becomes `\\xff` (or `\\xff<group 1>\\xff`), then the strings are
    split on `\\xff` and empty pieces dropped. (tensorflow-text's `regex_split` would add a
    dependency, and it stops at a NUL byte, which a text may hold.)
    """
    rewrite = _SEPARATOR + b"\\1" + _SEPARATOR if keep else _SEPARATOR
    pieces = tf.strings.split(tf.strings.regex_replace(texts, pattern, rewrite), sep=_SEPARATOR)  # (n, None)
    return tf.ragged.boolean_mask(pieces, tf.strings.length(pieces) > 0)


def _ranges(points) -> list:
    ranges = []
    for point in sorted(points):
        if ranges and point == ranges[-1][1] + 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return ranges


def _re2_class(points) -> str:
    """An RE2 character class matching exactly `points`, or "" for none."""
    if not points:
        return ""
    parts = [f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in _ranges(points)]
    return "[" + "".join(parts) + "]"


def _re2_literal(text: str) -> str:
    return "".join(f"\\x{{{ord(ch):x}}}" for ch in text)


# -- the serving module -----------------------------------------------------------------------


class _ServingModule(tf.Module):
    """The classifier's variables, its tokenizer ops and label names, with the two signatures."""

    def __init__(self, model: TextClassifier, tokenizer: Optional[GraphTokenizer]):
        super().__init__(name="kerastl_serving")
        # The Keras model is kept out of tf.Module's tracking, so the SavedModel holds plain
        # functions and variables rather than a re-serialised Keras model.
        object.__setattr__(self, "_model", model)
        self.model_variables = list(model.variables)  # tracked: saved in variables/
        self.tokenizer = tokenizer
        self.labels = tf.Variable(list(model.labels), trainable=False, name="labels")
        self.max_length = tf.Variable(model.max_length, trainable=False, name="max_length")
        self._label_names = tf.constant(list(model.labels))
        # Only the signatures that exist are attributes: tf.saved_model.save traces them all.
        # The code is graph-safe as written; without autograph, tracing is several times faster.
        self.predict_ids = tf.function(self._predict_ids, autograph=False, input_signature=[
            tf.TensorSpec([None, None], tf.int32, name="input_ids"),
            tf.TensorSpec([None, None], tf.int32, name="attention_mask"),
        ])
        if tokenizer is not None:
            self.serve_text = tf.function(self._serve_text, autograph=False, input_signature=[
                tf.TensorSpec([None], tf.string, name="text"),
            ])

    def _serve_text(self, text):
        features = self.tokenizer(text)  # (batch, longest) ids and mask
        return self._outputs(features["input_ids"], features["attention_mask"])

    def _predict_ids(self, input_ids, attention_mask):
        return self._outputs(input_ids, attention_mask)

    def _outputs(self, input_ids, attention_mask):
        logits = self._model({"input_ids": input_ids, "attention_mask": attention_mask}, training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)  # (batch, num_labels)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)  # (batch,)
        return {
            "probabilities": probabilities,
            "label_id": label_id,
            "label": tf.gather(self._label_names, label_id),  # (batch,) string
        }


# -- export -----------------------------------------------------------------------------------


def export_saved_model(
    model,
    base,
    *,
    version: Optional[int] = None,
    overwrite: bool = False,
    text_signature: Optional[bool] = None,
) -> Path:
    """Export a classifier for TF Serving as `base/<version>/` (saved_model.pb + variables/).

    The SavedModel needs TensorFlow, nothing else: its graph holds core ops only. It is written
    to a hidden folder beside the version (`base/.<version>.<host>.<pid>.*.tmp`, which TF Serving
    ignores) and renamed into place, so a crash or a kill never leaves a partial version. Such
    folders left by killed exports are removed by a later export on the same host, once their
    process is gone and they are an hour old. Under a multi-worker strategy only the chief keeps
    an export; every worker must call this, as saving can need all of them.

    Args:
        model: a `TextClassifier`, or the folder of one saved with `save_pretrained`.
        base: TF Serving's model base folder; created if missing.
        version: the version number; by default one more than the highest present (1 if none).
        overwrite: replace `base/<version>` if it exists.
        text_signature: `None` adds the raw-text `serving_default` signature when the tokenizer
            can be rebuilt exactly in the graph, and warns when it cannot; `True` raises
            instead of warning; `False` exports `predict_ids` only.

    Returns:
        The version folder written.

    Raises:
        ModelFileError: the version exists and `overwrite` is false, or `model` is no model.
        TextSignatureUnavailable: `text_signature=True` and the tokenizer cannot be rebuilt.

    Example:
    >>> export_saved_model("runs/emotion", "serving/emotion")  # doctest: +SKIP
    PosixPath('serving/emotion/1')
    """
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise ValueError(f"version must be an integer >= 0, received version={version!r}")
    base = Path(base)
    if base.exists() and not base.is_dir():
        raise ModelFileError(f"{base} is a file: give a folder for the SavedModel versions")
    if version is None:
        version = max(_versions(base), default=0) + 1
    target = base / str(version)
    # Under a multi-worker strategy only the chief exports; the others save and discard.
    chief = not isinstance(model, TextClassifier) or distribute.is_chief(model.distribute_strategy)
    if target.exists() and not overwrite and chief:
        raise ModelFileError(
            f"{target} already exists: give another --version, or add --overwrite (overwrite=True)"
        )
    if not isinstance(model, TextClassifier):
        logger.info("export: loading the model from %s", model)
        model = TextClassifier.from_pretrained(model)
    if model.tokenizer is None:
        raise ModelFileError("this model has no tokenizer: pass tokenizer= when creating it")

    tokenizer, reason = None, "text_signature=False"
    if text_signature is not False:
        logger.info("export: rebuilding the tokenizer in TensorFlow ops and checking it on probe texts")
        tokenizer, reason = _graph_tokenizer(model.tokenizer, model.max_length)
    if tokenizer is None and text_signature:
        raise TextSignatureUnavailable(
            f"cannot export a raw-text signature: {reason}. Export without it "
            f"(text_signature=None) and tokenize on the client for predict_ids"
        )
    if tokenizer is None and text_signature is None:
        logger.warning(
            "exporting predict_ids only, WITHOUT the raw-text serving_default signature: %s. "
            "Clients must tokenize with the model's own tokenizer (saved in %s/%s/) and call "
            "predict_ids", reason, EXTRA_DIR, TOKENIZER_DIR,
        )

    logger.info("export: tracing the serving functions")
    module = _ServingModule(model, tokenizer)
    signatures = {IDS_SIGNATURE: module.predict_ids.get_concrete_function()}
    if tokenizer is not None:
        signatures[TEXT_SIGNATURE] = module.serve_text.get_concrete_function()
    if not chief:  # saving distributed variables can run collective ops that need every worker
        with tempfile.TemporaryDirectory(prefix="kerastl-worker-") as scratch:
            tf.saved_model.save(module, scratch, signatures=signatures)
        logger.info("not the chief worker: the chief exports %s", target)
        return target

    base.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(base)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.{_host()}.{os.getpid()}.", suffix=".tmp", dir=base))
    try:
        logger.info("export: writing the SavedModel")
        tf.saved_model.save(module, str(staging), signatures=signatures)
        extra = staging / EXTRA_DIR
        extra.mkdir()
        model.tokenizer.save_pretrained(str(extra / TOKENIZER_DIR))
        metadata = {
            "labels": list(model.labels),
            "max_length": model.max_length,
            "text_signature": tokenizer is not None,
            "text_signature_unavailable": reason,
        }
        (extra / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
        replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("exported %s with the signatures %s", target, ", ".join(sorted(signatures)))
    return target


def _versions(base: Path) -> list:
    """The version numbers of the folders in `base` (names that are all digits)."""
    if not base.is_dir():
        return []
    return [int(p.name) for p in base.iterdir() if p.is_dir() and re.fullmatch(r"[0-9]+", p.name)]


# A staging folder's name: `.<version>.<host>.<pid>.<random>.tmp` (mkdtemp's random part).
_STAGING = re.compile(r"\.[0-9]+\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[0-9]+)\.[a-z0-9_]+\.tmp")
_STALE_AFTER_S = 3600


def _host() -> str:
    """This machine's name, with no dots or odd characters, for staging folder names."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _remove_stale_staging(base: Path) -> None:
    """Remove staging folders of killed exports: this host's, whose process is gone, an hour old.

    The age guards against a live export whose pid this process cannot see (another pid
    namespace under the same host name); folders of other hosts are never touched.
    """
    if os.name != "posix":  # os.kill(pid, 0) probes a process only on POSIX
        return
    for path in base.iterdir():
        match = _STAGING.fullmatch(path.name)
        if match is None or match["host"] != _host() or _running(int(match["pid"])):
            continue
        if time.time() - path.stat().st_mtime > _STALE_AFTER_S:
            logger.info("removing %s, left by an export that was killed", path)
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def resolve_saved_model(path) -> Optional[Path]:
    """The SavedModel folder `path` names, or `None` when it names none.

    `path` is either a SavedModel folder (holding saved_model.pb) or a TF Serving base folder,
    whose highest numbered version holding a saved_model.pb is taken.
    """
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    versions = [v for v in _versions(path) if (path / str(v) / "saved_model.pb").is_file()]
    return path / str(max(versions)) if versions else None


# -- loading ----------------------------------------------------------------------------------


class SavedModelClassifier:
    """An exported classifier loaded with `tf.saved_model.load`, for `kerastl predict` and tests.

    Uses the raw-text signature when the export has one; otherwise tokenizes with the tokenizer
    saved in `assets.extra/` and calls `predict_ids`.

    Args:
        path: a SavedModel folder or a TF Serving base folder (the highest version is used).

    Example:
    >>> served = SavedModelClassifier("serving/emotion")  # doctest: +SKIP
    >>> served.predict(["what a lovely day"]).labels  # doctest: +SKIP
    ['joy']
    """

    def __init__(self, path):
        folder = resolve_saved_model(path)
        if folder is None:
            raise ModelFileError(
                f"{path} holds no SavedModel (no saved_model.pb, nor numbered version folders "
                f"holding one): give the --output of `kerastl export` or a version folder in it"
            )
        self.path = folder
        self._loaded = tf.saved_model.load(str(folder))
        if not hasattr(self._loaded, "labels") or IDS_SIGNATURE not in self._loaded.signatures:
            raise ModelFileError(
                f"{folder} is a SavedModel but not one written by kerastl export (no labels or "
                f"{IDS_SIGNATURE} signature): export the model with `kerastl export`"
            )
        self.labels = tuple(v.decode() for v in self._loaded.labels.numpy())
        self.max_length = int(self._loaded.max_length.numpy())
        self.has_text_signature = TEXT_SIGNATURE in self._loaded.signatures
        self._tokenizer = None
        if not self.has_text_signature:
            from kerastl.backbone import load_tokenizer

            self._tokenizer = load_tokenizer(folder / EXTRA_DIR / TOKENIZER_DIR)

    @property
    def signatures(self) -> tuple:
        """The names of the exported signatures."""
        return tuple(sorted(self._loaded.signatures))

    def probabilities(self, texts, *, batch_size: int = 64) -> np.ndarray:
        """Class probabilities, (n, num_labels) float32, in input order; one `str` is one text."""
        texts = data_lib.as_examples(texts, labelled=False, what="predict(texts)").texts
        out = [np.zeros((0, len(self.labels)), np.float32)]
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            if self._tokenizer is None:
                result = self._loaded.signatures[TEXT_SIGNATURE](text=tf.constant(batch))
            else:
                features = data_lib.encode_examples(
                    data_lib.TextExamples(batch), self._tokenizer, max_length=self.max_length
                ).pad(tf.range(len(batch)))
                result = self._loaded.signatures[IDS_SIGNATURE](**features)
            out.append(result["probabilities"].numpy())
        return np.concatenate(out)

    def predict(self, texts, *, batch_size: int = 64) -> Predictions:
        """`Predictions` for `texts`; its logits are log-probabilities (the same softmax)."""
        probabilities = self.probabilities(texts, batch_size=batch_size)
        with np.errstate(divide="ignore"):
            return Predictions(self.labels, np.log(probabilities))


def load_saved_model(path) -> SavedModelClassifier:
    """Load an export of `export_saved_model`: a SavedModel folder or a TF Serving base folder.

    Example:
    >>> load_saved_model("serving/emotion").predict(["i feel great"]).records()  # doctest: +SKIP
    """
    return SavedModelClassifier(path)

