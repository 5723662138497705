"""Sentence pairs in core TensorFlow ops: the in-graph tokenizer of a pair model's SavedModel.

`GraphPairTokenizer` gives the same `input_ids`, `token_type_ids` and `attention_mask` as the
Hugging Face fast tokenizer it is built from, called on a batch of pairs
(`tokenizer(texts, text_pairs, truncation="longest_first", max_length=max_length, padding=True)`).
Each side is tokenized by `GraphTokenizer` without special tokens; the two are truncated by HF's
longest-first rule (`longest_first`) and packed by the tokenizer's pair template, read off its
post-processor (`pair_template`): BERT's `[CLS] a [SEP] b [SEP]`, segment 0 then 1.
`build_graph_pair_tokenizer` builds one only when it matches the tokenizer on probe pairs.
"""

import json
from typing import Optional

import tensorflow as tf

from kerastl.errors import TextSignatureUnavailable
from kerastl.preprocessing.graph_tokenizer import PROBE_TEXTS, GraphTokenizer

# More tokens than any text holds (each token is at least one byte): "no truncation".
_NO_LIMIT = 2**40

# Pairs the export tokenizes both ways before it promises a raw-text pair signature.
PROBE_PAIRS = (
    ("", ""),
    ("Hello, World!!", ""),
    ("", "Café naïve RÉSUMÉ"),
    *zip(PROBE_TEXTS, reversed(PROBE_TEXTS)),
    ("a " * 200, "b " * 200),  # both long: truncated to halves
    ("a b c", "d " * 300),  # one long: the other kept whole
)


def longest_first(len_a, len_b, budget: int, a_shorter=None):
    """How many tokens of each side HF's `truncation="longest_first"` keeps: `(keep_a, keep_b)`.

    Pairs that fit `budget` (`max_length` less the pair's special tokens) are kept whole.
    Otherwise the shorter side keeps `min(its length, budget // 2)` tokens and the longer side
    the rest of the budget; on equal lengths `text_pair` counts as the longer. (Read off the
    tokenizer: `tests/test_graph_pairs.py` checks every length pair up to 20 at several budgets.)

    Args:
        len_a, len_b: (n,) int64 token counts of each side, special tokens left out.
        budget: the tokens left for the two texts.
        a_shorter: (n,) bool, whether `len_a <= len_b`; by default computed from the counts,
            given when the counts are capped and the true order is known otherwise.

    Example:
    >>> [k.numpy().tolist() for k in longest_first(tf.constant([3, 30]), tf.constant([30, 30]), 9)]
    [[3, 4], [6, 5]]
    """
    a_shorter = len_a <= len_b if a_shorter is None else a_shorter
    short = tf.minimum(tf.minimum(len_a, len_b), budget // 2)
    fits = len_a + len_b <= budget
    keep_a = tf.where(fits, len_a, tf.where(a_shorter, short, budget - short))
    keep_b = tf.where(fits, len_b, tf.where(a_shorter, budget - short, short))
    return keep_a, keep_b


def pair_template(tokenizer) -> dict:
    """The pair template of a fast tokenizer's post-processor, as `prefix + a + middle + b + suffix`.

    Returns `{"prefix", "middle", "suffix"}`: each a list of `(id, type_id)`, and `"type_a"`,
    `"type_b"`: the segment ids of the two texts' tokens.

    Raises:
        TextSignatureUnavailable: the template is not of that form (or not the same for every pair).
    """
    from tokenizers import Tokenizer

    name = type(tokenizer).__name__
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())  # without saved padding/truncation
    backend.no_padding()
    backend.no_truncation()
    template = None
    for a, b in (("a b c", "d e"), ("", ""), ("x", ""), ("", "y z")):
        plain_a, plain_b = (backend.encode(t, add_special_tokens=False).ids for t in (a, b))
        full = backend.encode(a, b, add_special_tokens=True)
        pairs = list(zip(full.ids, full.type_ids))
        template = template or _split_template(pairs, plain_a, plain_b)  # read off the first pair
        if template is None or pairs != _pack(template, plain_a, plain_b):
            raise TextSignatureUnavailable(
                f"{name}'s post-processor does not pack a pair as fixed special tokens around and "
                f"between the two texts; its pairs are not rebuilt in the graph"
            )
    count = len(template["prefix"]) + len(template["middle"]) + len(template["suffix"])
    if count != tokenizer.num_special_tokens_to_add(pair=True):
        raise TextSignatureUnavailable(
            f"{name} adds {tokenizer.num_special_tokens_to_add(pair=True)} special tokens to a pair, "
            f"its template {count}; its pairs are not rebuilt in the graph"
        )
    return template


def _pack(template, plain_a, plain_b) -> list:
    return (template["prefix"] + [(i, template["type_a"]) for i in plain_a] + template["middle"]
            + [(i, template["type_b"]) for i in plain_b] + template["suffix"])


def _split_template(pairs, plain_a, plain_b) -> Optional[dict]:
    """`pairs` ((id, type_id) of a packed pair) cut around the plain ids of its texts, or None."""
    ids = [i for i, _ in pairs]
    for start_a in range(len(ids) - len(plain_a) + 1):
        if ids[start_a:start_a + len(plain_a)] != plain_a:
            continue
        end_a = start_a + len(plain_a)
        for start_b in range(end_a, len(ids) - len(plain_b) + 1):
            if ids[start_b:start_b + len(plain_b)] != plain_b:
                continue
            types_a = {t for _, t in pairs[start_a:end_a]}
            types_b = {t for _, t in pairs[start_b:start_b + len(plain_b)]}
            if len(types_a) > 1 or len(types_b) > 1:
                return None
            return {"prefix": pairs[:start_a], "middle": pairs[end_a:start_b],
                    "suffix": pairs[start_b + len(plain_b):],
                    "type_a": types_a.pop() if types_a else None, "type_b": types_b.pop() if types_b else None}
    return None


class GraphPairTokenizer(tf.Module):
    """A Hugging Face WordPiece tokenizer's pair packing rebuilt from core TensorFlow ops.

    Each side is tokenized as `GraphTokenizer` tokenizes a text (reading a window of a long
    text), without special tokens and up to the tokens a single text keeps; when both sides
    fill that, their true lengths decide which side is the longer (`longest_first`), and are
    counted on the whole texts. The kept tokens are packed by the tokenizer's template.

    Args:
        tokenizer: a Hugging Face fast tokenizer with a WordPiece model.
        max_length: longest token sequence of a pair, special tokens included.

    Raises:
        TextSignatureUnavailable: the tokenizer or its pair template cannot be rebuilt.

    Example:
    >>> ops = GraphPairTokenizer(model.tokenizer, model.max_length)
    >>> features = ops(tf.constant(["a good film"]), tf.constant(["a fine movie"]))
    >>> sorted(features)  # int32 (1, longest) each
    ['attention_mask', 'input_ids', 'token_type_ids']
    """

    def __init__(self, tokenizer, max_length: int):
        super().__init__(name="graph_pair_tokenizer")
        self.single = GraphTokenizer(tokenizer, max_length)
        template = pair_template(tokenizer)
        special = len(template["prefix"]) + len(template["middle"]) + len(template["suffix"])
        self.max_length = max_length
        self._budget = max_length - special  # tokens for the two texts
        self._cap = self.single._budget  # tokens of a side `plain_ids` reads (a single text's)
        if self._budget < 1:
            raise TextSignatureUnavailable(
                f"max_length={max_length} leaves no room for a pair beside {special} special tokens")
        if self._budget > self._cap:
            raise TextSignatureUnavailable("its pairs hold fewer special tokens than a single text")
        self._pad_id = self.single._pad_id
        self._parts = {
            key: (tf.constant([i for i, _ in template[key]], tf.int32, shape=[len(template[key])]),
                  tf.constant([t for _, t in template[key]], tf.int32, shape=[len(template[key])]))
            for key in ("prefix", "middle", "suffix")
        }
        self._type_a, self._type_b = template["type_a"], template["type_b"]

    def __call__(self, texts, text_pairs) -> dict:
        """`{"input_ids", "token_type_ids", "attention_mask"}`, int32 `(batch, longest)`, for two
        string vectors of one length; padding has id `pad_id`, segment 0 and mask 0."""
        ids, types = self.pair_ids(texts, text_pairs)  # (batch, None) each
        width = tf.maximum(ids.bounding_shape(axis=1), self.max_length - self._budget)
        shape = tf.stack([ids.nrows(), width])
        return {
            "input_ids": ids.to_tensor(self._pad_id, shape=shape),
            "token_type_ids": types.to_tensor(0, shape=shape),
            "attention_mask": tf.sequence_mask(ids.row_lengths(), width, dtype=tf.int32),
        }

    def pair_ids(self, texts, text_pairs) -> tuple:
        """Unpadded `(input_ids, token_type_ids)` of each pair, (batch, None) int32 each."""
        texts = tf.convert_to_tensor(texts, tf.string)
        text_pairs = tf.convert_to_tensor(text_pairs, tf.string)
        a, b = (self.single.plain_ids(t, self.single.read_lengths(t), self._cap) for t in (texts, text_pairs))
        len_a, len_b = a.row_lengths(), b.row_lengths()  # (batch,): exact below the cap
        a_shorter = len_a <= len_b
        if self._budget % 2:  # an odd budget: the longer side keeps one token more
            capped = (len_a >= self._cap) & (len_b >= self._cap)
            a_shorter = tf.cond(tf.reduce_any(capped), lambda: self._true_order(texts, text_pairs, capped, a_shorter),
                                lambda: a_shorter)
        keep_a, keep_b = longest_first(len_a, len_b, self._budget, a_shorter)
        a, b = self._truncate(a, keep_a), self._truncate(b, keep_b)
        n = a.nrows()
        parts = {key: [tf.RaggedTensor.from_tensor(tf.tile(v[None], [n, 1])) for v in pair]
                 for key, pair in self._parts.items()}

        def segment(side, type_id):
            return side.with_flat_values(tf.fill(tf.shape(side.flat_values), tf.constant(type_id, tf.int32)))

        ids = tf.concat([parts["prefix"][0], a, parts["middle"][0], b, parts["suffix"][0]], axis=1)
        types = tf.concat([parts["prefix"][1], segment(a, self._type_a), parts["middle"][1],
                           segment(b, self._type_b), parts["suffix"][1]], axis=1)
        return ids, types

    def _true_order(self, texts, text_pairs, capped, a_shorter):
        """`a_shorter` with the rows where both sides fill the cap decided on the whole texts."""
        rows = tf.where(capped)[:, 0]
        return tf.tensor_scatter_nd_update(a_shorter, rows[:, None], self._count_order(texts, text_pairs, rows))

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string)] * 2
                 + [tf.TensorSpec([None], tf.int64)])
    def _count_order(self, texts, text_pairs, rows):
        """Whether `texts[row]` has no more tokens than `text_pairs[row]`, for each of `rows`: (k,)
        bool. A row at a time, as a batch of whole long texts would be padded to the longest."""

        def shorter(row):
            counts = [self.single.plain_ids(t, tf.cast(tf.strings.length(t), tf.int64), _NO_LIMIT).row_lengths()[0]
                      for t in ([texts[row]], [text_pairs[row]])]
            return counts[0] <= counts[1]

        return tf.map_fn(shorter, rows, fn_output_signature=tf.bool)

    def _truncate(self, ids, keep):
        """The first (left truncation: last) `keep` (n,) ids of each row of `ids`."""
        length = ids.row_lengths()
        start = length - keep if self.single._left else tf.zeros_like(length)
        position = tf.ragged.range(length)  # (n, None)
        mask = (position >= start[:, None]) & (position < (start + keep)[:, None])
        return tf.ragged.boolean_mask(ids, mask)


def build_graph_pair_tokenizer(tokenizer, max_length: int) -> tuple:
    """`(GraphPairTokenizer, None)` when it matches `tokenizer` on `PROBE_PAIRS`, else `(None, reason)`.

    Example:
    >>> ops, reason = build_graph_pair_tokenizer(model.tokenizer, model.max_length)
    >>> reason is None
    True
    """
    try:
        ops = GraphPairTokenizer(tokenizer, max_length)
    except TextSignatureUnavailable as err:
        return None, str(err)
    a, b = (list(side) for side in zip(*PROBE_PAIRS))
    expected = tokenizer(a, b, truncation="longest_first", max_length=max_length, return_token_type_ids=True)
    ids, types = (x.to_list() for x in ops.pair_ids(tf.constant(a), tf.constant(b)))
    for i, pair in enumerate(PROBE_PAIRS):
        if list(expected["input_ids"][i]) != ids[i] or list(expected["token_type_ids"][i]) != types[i]:
            return None, (
                f"the in-graph tokenizer packs the pair {json.dumps([p[:30] for p in pair])} otherwise "
                f"than {type(tokenizer).__name__} ({ids[i][:12]} instead of {list(expected['input_ids'][i])[:12]})"
            )
    return ops, None
