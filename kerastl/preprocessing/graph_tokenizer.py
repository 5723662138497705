"""The model's WordPiece tokenizer in core TensorFlow ops, so a SavedModel can take raw text.

`GraphTokenizer` gives the same `input_ids` and `attention_mask` as the Hugging Face fast tokenizer
it is built from (`tokenizer(texts, truncation=True, max_length=max_length, padding=True)`), with
ops that a plain `import tensorflow` registers: no tensorflow-text, kerastl or transformers is
needed where the graph runs. `build_graph_tokenizer` builds one only when it matches the tokenizer
on `PROBE_TEXTS`, and otherwise says why not (byte-pair or unigram vocabularies, other
normalizers); `kerastl.serving.saved_model` calls it.
"""

from typing import Optional

import tensorflow as tf

from kerastl.errors import TextSignatureUnavailable
from kerastl.preprocessing.graph_wordpiece import GraphWordPiece
from kerastl.preprocessing.tokenizer_rules import character_tables, re2_class, re2_literal, wordpiece_spec

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

    0. of a long text, only a window is read: its first bytes (`truncation_side="left"`: its
       last), as many as give enough words to fill `max_length` (`read_lengths`); the last
       word, which the window may have cut, is left out;
    1. added tokens (`[CLS]`, `[MASK]`, ... typed in the text) are split out of the raw text;
    2. normalization (HF's `BertNormalizer`: control characters removed, whitespace to spaces,
       Chinese characters padded with spaces, accents stripped, lower-casing) runs as regex
       rewrites and a per-character lookup table, both read off the tokenizer itself, so they
       follow its Unicode tables and settings exactly;
    3. pre-tokenization splits on whitespace and isolates punctuation, with the tokenizer's
       own character classes;
    4. the words that can be kept (each gives one token or more) go through HF's WordPiece
       (`GraphWordPiece`: greedy longest match first, the whole word the unknown token when a
       part matches nothing or it is too long);
    5. the ids are truncated to leave room for the special tokens, wrapped in them, and padded
       to the longest text of the batch.

    Args:
        tokenizer: a Hugging Face fast tokenizer with a WordPiece model.
        max_length: longest token sequence, special tokens included.

    Raises:
        TextSignatureUnavailable: the tokenizer uses rules that ops cannot reproduce.

    Example:
    >>> ops = GraphTokenizer(model.tokenizer, model.max_length)
    >>> ids = ops(tf.constant(["the film was good"]))["input_ids"]  # (1, 6) int32
    >>> ids.numpy().tolist() == [model.tokenizer("the film was good")["input_ids"]]
    True
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
        self._wordpiece = GraphWordPiece(
            spec["vocab"], spec["unk_token"], spec["continuing_subword_prefix"], self._max_chars
        )

        added = spec["added_tokens"]  # content -> id
        self._added_pattern = "|".join(re2_literal(t) for t in sorted(added, key=len, reverse=True))
        # A long text is read in windows (`read_lengths`): 16 bytes per token of max_length,
        # twice as many when that held too few words, and so on.
        self._window_bytes = 16 * max_length
        # Near a window's cut, an added token may be cut and a character decoded from part of
        # its bytes (at most 3 of them): those last (first) characters are not trusted.
        self._margin = max(map(len, added), default=0) + 4
        # From the end, the added-token split agrees with the whole text's only when no two
        # occurrences of added tokens can overlap; otherwise a left-truncating tokenizer reads all.
        self._windowed = not self._left or _never_overlap(added)
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
        # Before the per-character map, `_words` squeezes what cannot change the ids: runs of
        # spaces (one splits words as well), and runs of ASCII letters and digits longer than
        # `max_input_chars_per_word` (the word is the unknown token either way), where the
        # tables say that these characters stay single characters inside words.
        split = set(tables["whitespace"]) | set(tables["punctuation"])
        self._squeezes = []
        if 0x20 in tables["whitespace"] and 0x20 not in tables["punctuation"] and " " not in tables["map"]:
            self._squeezes.append(("  +", " "))
        alnum = [c for c in map(chr, range(128)) if c.isalnum()]
        stay = all(len(tables["map"].get(c, c)) == 1 and not {ord(c), ord(tables["map"].get(c, c))} & split
                   for c in alnum)
        if stay and self._max_chars < 1000:  # RE2 repeats at most 1000 times
            self._squeezes.append((f"([0-9A-Za-z]{{{self._max_chars + 1}}})[0-9A-Za-z]+", r"\1"))

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
        """Unpadded ids with special tokens, truncated to `max_length`: (batch, None) int32.

        Of each text only the first (`truncation_side="left"`: last) `read_lengths(texts)`
        bytes are read; the ids are those of the whole text.
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        ids = self.plain_ids(texts, self.read_lengths(texts), self._budget)
        prefix = tf.RaggedTensor.from_tensor(tf.tile(self._prefix[None], [ids.nrows(), 1]))
        suffix = tf.RaggedTensor.from_tensor(tf.tile(self._suffix[None], [ids.nrows(), 1]))
        return tf.concat([prefix, ids, suffix], axis=1)  # (batch, None)

    def plain_ids(self, texts, read, budget) -> tf.RaggedTensor:
        """Ids of each text's first (left truncation: last) `budget` tokens, no special tokens,
        from its `read` bytes (n,): (n, None) int32. `graph_pairs` packs pairs from them."""
        batch = tf.size(texts, out_type=tf.int64)
        items = self._window_items(texts, read)
        # Every item (a word or an added token) gives one id or more: `budget` items are enough.
        begin, end = items["begin"], items["end"]  # (batch,) each
        if self._left:
            begin = tf.maximum(begin, end - budget)
        else:
            end = tf.minimum(end, begin + budget)
        row = items["row"]  # (items,)
        position = _positions(row, batch)  # (items,): each item's place in its text
        keep = (position >= tf.gather(begin, row)) & (position < tf.gather(end, row))
        word, added, row = (tf.boolean_mask(items[key], keep) for key in ("word", "added", "row"))

        # Ids: an added token's own, a word's from WordPiece, in the items' order.
        is_word = added < 0
        pieces = self.wordpiece(tf.boolean_mask(word, is_word))  # (words, None)
        word_item = tf.where(is_word)[:, 0]  # (words,): the item each word is
        item = tf.concat([tf.where(~is_word)[:, 0], tf.gather(word_item, pieces.value_rowids())], axis=0)
        ids = tf.concat([tf.boolean_mask(added, ~is_word), pieces.flat_values], axis=0)  # (ids,)
        order = tf.argsort(item, stable=True)
        ids, row = tf.gather(ids, order), tf.gather(row, tf.gather(item, order))  # (ids,) each
        position = _positions(row, batch)
        length = tf.math.unsorted_segment_sum(tf.ones_like(row), row, batch)  # (batch,)
        if self._left:
            keep = position >= tf.gather(length, row) - budget
        else:
            keep = position < budget
        return tf.RaggedTensor.from_value_rowids(
            tf.boolean_mask(ids, keep), tf.boolean_mask(row, keep), nrows=batch, validate=False
        )  # (batch, None)

    def read_lengths(self, texts) -> tf.Tensor:
        """How many bytes of each text `token_ids` reads: (n,) int64.

        A text is read in windows from its start (`truncation_side="left"`: its end): the first
        `16 * max_length` bytes, then twice as many as long as the window holds too few words
        to fill `max_length`. The cost per text is thus bounded by a multiple of `max_length`,
        whatever its length, except for a text that holds few words in many bytes (long runs
        of spaces or of removed characters, a very long word), which must be read.
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        size = tf.cast(tf.strings.length(texts), tf.int64)  # (n,) bytes
        if not self._windowed:
            return size
        read = tf.minimum(size, self._window_bytes)  # (n,)

        def grow(read, done):
            rows = tf.where(~done)[:, 0]  # only the texts still short of words are read again
            now = tf.gather(read, rows)
            items = self._window_items(tf.gather(texts, rows), now)
            enough = items["whole"] | (items["end"] - items["begin"] >= self._budget)
            later = tf.where(enough, now, tf.minimum(2 * now, tf.gather(size, rows)))
            return (tf.tensor_scatter_nd_update(read, rows[:, None], later),
                    tf.tensor_scatter_nd_update(done, rows[:, None], enough))

        read, _ = tf.while_loop(lambda read, done: tf.reduce_any(~done), grow, (read, read >= size))
        return read

    def _window_items(self, texts, read) -> dict:
        """The words and added tokens in each text's window of `read` bytes, and which to trust.

        Returns the window's items in order, flat: `word` (items,) strings ("" for an added
        token), `added` (items,) int32 (the added token's id, -1 for a word) and `row` (items,)
        int64, the text each is in; and per text, `begin` and `end` (n,): the items
        `begin:end` of a text are its own first (left truncation: last) items; `whole` (n,):
        the window is the whole text.

        Up to a cut, a window's items are the whole text's. Near it, an added token or the
        bytes of a character may be cut (`_cut` leaves the last `_margin` characters out), and
        then a word: the last item is not trusted. From the end, the same at the window's start.
        """
        n = tf.size(texts, out_type=tf.int64)
        size = tf.cast(tf.strings.length(texts), tf.int64)  # (n,) bytes
        whole = read >= size  # (n,)
        start = tf.maximum(size - read, 0) if self._left else tf.zeros_like(size)
        window = tf.strings.substr(texts, start, read)  # (n,)
        window = tf.strings.unicode_transcode(window, "UTF-8", "UTF-8", errors="replace")
        if self._added_ids is not None:
            pieces = _split(window, "(" + self._added_pattern + ")", keep=True)  # (n, pieces)
            pieces, piece_row = pieces.flat_values, pieces.value_rowids()  # (pieces,) each
        else:
            pieces, piece_row = window, tf.range(n)  # a piece per window
        pieces, piece_row = self._cut(pieces, piece_row, n, whole)  # (pieces,) each
        added = self._added_id(pieces)  # (pieces,)
        is_added = added >= 0
        words = self._words(tf.where(is_added, "", pieces), squeeze=True)  # (pieces, None): none in a token
        # A piece is an added token or text: its items are the token or its words.
        token = tf.where(is_added)[:, 0]  # (tokens,): the pieces that are added tokens
        piece = tf.concat([token, words.value_rowids()], axis=0)  # (items,)
        word = tf.concat([tf.fill(tf.shape(token), ""), words.flat_values], axis=0)
        added = tf.concat([tf.gather(added, token), tf.fill(tf.shape(words.flat_values), -1)], axis=0)
        order = tf.argsort(piece, stable=True)  # a stable sort keeps each piece's words in order
        row = tf.gather(piece_row, tf.gather(piece, order))  # (items,)
        count = tf.math.unsorted_segment_sum(tf.ones_like(row), row, n)  # (n,)
        cut = tf.cast(~whole, tf.int64)  # (n,): the item at the cut may be part of a word
        if self._left:
            begin, end = tf.minimum(cut, count), count
        else:
            begin, end = tf.zeros_like(count), tf.maximum(count - cut, 0)
        return {"word": tf.gather(word, order), "added": tf.gather(added, order), "row": row,
                "begin": begin, "end": end, "whole": whole}

    def _cut(self, pieces, row, n, whole) -> tuple:
        """Each window's pieces without the characters near its cut that the text may not hold.

        A window is cut `_margin` characters before its end (left truncation: after its start),
        or, when that line crosses an added token, before (after) the token: so an added token
        that the window cut, or that is only matched because the window was cut, is left out,
        and so are characters decoded from part of a character's bytes. `whole` rows are kept.
        Takes and returns `pieces` (pieces,) strings and the `row` (pieces,) each is in.
        """
        length = tf.cast(tf.strings.length(pieces, unit="UTF8_CHAR"), tf.int64)  # (pieces,)
        total = tf.math.unsorted_segment_sum(length, row, n)  # (n,): characters in each window
        end = _positions(row, n, length) + length  # (pieces,): where each piece ends in its window
        start = end - length  # (pieces,)
        if self._left:
            line = tf.fill([n], tf.constant(self._margin, tf.int64))  # (n,): trusted from here
        else:
            line = total - self._margin  # (n,): trusted up to here
        at = tf.gather(line, row)  # (pieces,)
        across = (self._added_id(pieces) >= 0) & (start < at) & (at < end)  # (pieces,)
        if self._left:  # moved to the end of an added token across it
            line = tf.maximum(line, tf.math.unsorted_segment_max(tf.where(across, end, at), row, n))
            line = tf.gather(tf.where(whole, tf.zeros_like(line), line), row)  # (pieces,)
            keep = end > line
            skip = tf.clip_by_value(line - start, 0, length)  # (pieces,): characters left out
            pieces = tf.strings.substr(pieces, skip, length - skip, unit="UTF8_CHAR")
        else:  # moved to the start of an added token across it
            line = tf.minimum(line, tf.math.unsorted_segment_min(tf.where(across, start, at), row, n))
            line = tf.gather(tf.where(whole, total, line), row)  # (pieces,)
            keep = start < line
            pieces = tf.strings.substr(pieces, tf.zeros_like(length), tf.clip_by_value(line - start, 0, length),
                                       unit="UTF8_CHAR")
        return tf.boolean_mask(pieces, keep), tf.boolean_mask(row, keep)

    def _added_id(self, pieces) -> tf.Tensor:
        """The id of each piece that is an added token, -1 for text: (pieces,) int32."""
        if self._added_ids is None:
            return tf.fill(tf.shape(pieces), -1)
        return self._added_ids.lookup(pieces)

    def normalize(self, texts) -> tf.Tensor:
        """The normalizer's output for each string (no special-token handling)."""
        return self._map_characters(self._rewrite(texts))

    def words(self, texts) -> tf.RaggedTensor:
        """Normalized, pre-tokenized words: (n, None) strings."""
        return self._words(texts)

    def _words(self, texts, squeeze: bool = False) -> tf.RaggedTensor:
        texts = self._rewrite(texts)
        for pattern, rewrite in self._squeezes if squeeze else ():  # the same ids, less to map
            texts = tf.strings.regex_replace(texts, pattern, rewrite)
        texts = self._map_characters(texts)
        if not self._split_pattern:
            return tf.RaggedTensor.from_tensor(texts[:, None])
        return _split(texts, self._split_pattern, keep=self._keep_punctuation)

    def _rewrite(self, texts) -> tf.Tensor:
        for pattern, rewrite in self._rewrites:
            texts = tf.strings.regex_replace(texts, pattern, rewrite)
        return texts

    def _map_characters(self, texts) -> tf.Tensor:
        if self._char_map is None:
            return texts
        chars = tf.strings.unicode_split(texts, "UTF-8")  # (n, None)
        mapped = self._char_map.lookup(chars.flat_values)
        mapped = tf.where(mapped == _UNMAPPED, chars.flat_values, mapped)
        return tf.strings.reduce_join(chars.with_flat_values(mapped), axis=-1)

    def wordpiece(self, words) -> tf.RaggedTensor:
        """HF's WordPiece model on each word: (n,) strings -> (n, None) int32 ids (`GraphWordPiece`)."""
        return self._wordpiece(words)


def text_signature_support(tokenizer, max_length: int = 128) -> Optional[str]:
    """Why `tokenizer` cannot run in a graph with identical output, or `None` when it can.

    The rules are checked first, then `PROBE_TEXTS` are tokenized both ways and compared.

    Example:
    >>> text_signature_support(model.tokenizer) is None  # a WordPiece tokenizer runs in a graph
    True

    For RoBERTa's BPE tokenizer it returns the reason: "RobertaTokenizerFast uses a BPE
    vocabulary; only WordPiece (...) has an exact ...".
    """
    return build_graph_tokenizer(tokenizer, max_length)[1]


def build_graph_tokenizer(tokenizer, max_length: int) -> tuple:
    """`(GraphTokenizer, None)` when it matches `tokenizer` on `PROBE_TEXTS`, else `(None, reason)`.

    Args:
        tokenizer: the model's Hugging Face tokenizer.
        max_length: longest token sequence, special tokens included.

    Example:
    >>> ops, reason = build_graph_tokenizer(model.tokenizer, model.max_length)
    >>> reason is None
    True
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


def _never_overlap(tokens) -> bool:
    """Whether no two occurrences of `tokens` can overlap in any text (nor one hold another)."""
    for a in tokens:
        for b in tokens:
            if a != b and a in b:
                return False
            if any(a[-k:] == b[:k] for k in range(1, min(len(a), len(b)))):
                return False
    return True


def _positions(row, n, length=None) -> tf.Tensor:
    """Where each element starts in its row: rows (k,) sorted, of `length` (k,) each (default 1)."""
    length = tf.ones_like(row) if length is None else length
    before = tf.cumsum(length, exclusive=True)  # (k,): over all rows
    return before - tf.gather(tf.cumsum(tf.math.unsorted_segment_sum(length, row, n), exclusive=True), row)
