"""HF's WordPiece model in core TensorFlow ops: words in, token ids out."""

import tensorflow as tf

from kerastl.errors import TextSignatureUnavailable


class GraphWordPiece(tf.Module):
    """A Hugging Face WordPiece model (the step after pre-tokenization) in core TensorFlow ops.

    Args:
        vocab: token -> id, the continuing-subword prefix included in tokens that carry it.
        unk_token: the token of a word that cannot be split.
        continuing_subword_prefix: the prefix of tokens that continue a word, e.g. "##".
        max_input_chars_per_word: longer words are the unknown token.

    Raises:
        TextSignatureUnavailable: `unk_token` is not in `vocab`.

    Example:
    >>> wordpiece = GraphWordPiece({"[UNK]": 0, "un": 1, "##able": 2}, "[UNK]", "##", 100)
    >>> wordpiece(tf.constant(["unable", "able"])).to_list()
    [[1, 2], [0]]
    """

    def __init__(self, vocab: dict, unk_token: str, continuing_subword_prefix: str, max_input_chars_per_word: int):
        super().__init__(name="wordpiece")
        if unk_token not in vocab:
            raise TextSignatureUnavailable(f"its unknown token {unk_token!r} is not in its vocabulary")
        self._unk_id = tf.constant(vocab[unk_token], tf.int32)
        self._subword_prefix = continuing_subword_prefix
        self._max_chars = max_input_chars_per_word
        # No vocabulary entry matches more code points than the longest one holds.
        self._longest_token = tf.constant(max(len(token) for token in vocab), tf.int64)
        self._vocab = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(vocab), tf.string), tf.constant(list(vocab.values()), tf.int32)
            ),
            default_value=-1,
        )

    def __call__(self, words) -> tf.RaggedTensor:
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

        Example, with bert-base-uncased's vocabulary ("una", "##ffa", "##ble"; no "##é" and no
        "##" + combining accent, so the last word is stuck after "q", "##x"):

            wordpiece(tf.constant(["film", "unaffable", "qx\u00e9\u0301z"])).to_list()
            # [[2143], [14477, 20961, 3468], [100]]
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
