"""The model's WordPiece tokenizer in core TensorFlow ops, so a SavedModel can take raw text.

`GraphTokenizer` gives the same `input_ids` and `attention_mask` as the Hugging Face fast tokenizer
it is built from (`tokenizer(texts, truncation=True, max_length=max_length, padding=True)`), with
ops that a plain `import tensorflow` registers: no tensorflow-text, kerastl or transformers is
needed where the graph runs. `build_graph_tokenizer` builds one only when it matches the tokenizer
on `PROBE_TEXTS`, and otherwise says why not (byte-pair or unigram vocabularies, other
normalizers); `kerastl.export` calls it.
"""

from typing import Optional

import tensorflow as tf

from kerastl.errors import TextSignatureUnavailable
from kerastl.tokenizer_rules import character_tables, re2_class, re2_literal, wordpiece_spec

# Every text is made valid UTF-8 first, so the byte 0xff can mark what text never holds.
_UNMAPPED = b"\xff"  # the character table's default: "this character is not in the table"
_SEPARATOR = b"\xff"  # cut marks for splitting strings with core ops

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
        spec = wordpiece_spec(tokenizer, max_length)
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
        self._added_pattern = "|".join(re2_literal(t) for t in sorted(added, key=len, reverse=True))
        self._added_ids = None
        if added:
            self._added_ids = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(list(added), tf.string), tf.constant(list(added.values()), tf.int32)
                ),
                default_value=-1,
            )

        tables = character_tables(tokenizer.backend_tokenizer)
        rewrites = [
            (re2_class(tables["remove"]), ""),  # control characters; combining marks if stripping accents
            (re2_class(tables["space"]), " "),  # whitespace
            ("(" + re2_class(tables["pad"]) + ")" if tables["pad"] else "", r" \1 "),  # Chinese
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
        punct = re2_class(tables["punctuation"])
        whitespace = re2_class(tables["whitespace"])
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
    return build_graph_tokenizer(tokenizer, max_length)[1]


def build_graph_tokenizer(tokenizer, max_length: int) -> tuple:
    """`(GraphTokenizer, None)` when it matches `tokenizer` on `PROBE_TEXTS`, else `(None, reason)`.

    Args:
        tokenizer: the model's Hugging Face tokenizer.
        max_length: longest token sequence, special tokens included.

    Example:
    >>> ops, reason = build_graph_tokenizer(model.tokenizer, model.max_length)  # doctest: +SKIP
    """
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


def _split(texts, pattern: str, keep: bool) -> tf.RaggedTensor:
    """Split strings around matches of `pattern`, dropping them or, with `keep`, keeping group 1.

    Core ops only: each match becomes `\\xff` (or `\\xff<group 1>\\xff`), then the strings are
    split on `\\xff` and empty pieces dropped. (tensorflow-text's `regex_split` would add a
    dependency, and it stops at a NUL byte, which a text may hold.)
    """
    rewrite = _SEPARATOR + b"\\1" + _SEPARATOR if keep else _SEPARATOR
    pieces = tf.strings.split(tf.strings.regex_replace(texts, pattern, rewrite), sep=_SEPARATOR)  # (n, None)
    return tf.ragged.boolean_mask(pieces, tf.strings.length(pieces) > 0)

