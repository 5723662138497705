"""The serving forward pass of a BERT-family classifier written for TensorFlow's CPU graph optimizer.

`export_saved_model(..., fast_graph=True)` (the default) serves a classifier on a BERT, MiniLM or
DistilBERT encoder (`kerastl.serving.onnx_weights.read_weights`: KerasHub backbones under Keras 3,
transformers' TF encoders under Keras 2) with `FastEncoder` in place of the Keras model's call.
The weights are the same numbers, read once into plain `tf.Variable`s (or graph constants, below);
the graph is the same arithmetic in the form grappler's oneDNN remapper fuses:

- every projection a 2-D `MatMul` + `BiasAdd` on the (tokens, hidden) rows, which becomes one
  `_FusedMatMul`, with the exact or tanh GELU folded in for the feed-forward layer;
- query, key and value as one matmul against their (hidden, 3 * hidden) kernel, read as
  (batch, length, 3, heads, head_dim); the scores and the context as two einsums over that
  layout, with no `Transpose` op: oneDNN's transpose costs some 90 us a call even on one short
  text, and with einsums MiniLM's bf16 `serving_default` went from 6.8 to 5.7 ms at batch 1 and
  from 539 to 638 texts/s at batch 32 (float32 11.9 to 11.0 ms, 329 to 341 texts/s), on a 2-core
  AMX Xeon;
- layer normalization in float32 in the fewest ops (the form of `kerashub_kernels.layer_norm`,
  faster here than the `FusedBatchNormV3` form or `tf.nn.batch_normalization`);
- with "cls" pooling the last block computes its attention, feed-forward and norms for the
  [CLS] row only (the keys and values still read every token).

Under a mixed policy the matmul weights are stored in the compute dtype (bf16 or float16) and
the matmuls, GELU and softmax run in it, as the Keras path does; the embeddings, the layer norms,
the mean pooling and the head stay float32. Any other encoder or pooling keeps the Keras path
(`build` returns None).

The four matmul kernels of each block are graph constants under a mixed policy, variables in
float32 (`constant_kernels`). oneDNN reorders a bf16 weight into its blocked (AMX) layout once
and keeps it when the weight is a constant, but on every call when it is read from a variable:
on a 2-core AMX Xeon, MiniLM's bf16 `serving_default` went from 11.4 to 7.4 ms at batch 1 and
from 423 to 544 texts/s at batch 32 (`benchmarks/serving.py`), while the float32 graph was
slower at batch 1 with constants (18.8 against 13.7 ms), so float32 keeps its variables. The
constants live in the SavedModel's graph (`saved_model.pb`) instead of `variables/`, once: the
export calls one concrete function of the encoder from both signatures.
"""

import logging
import math
from typing import Optional

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

_NEGATIVE = -1e9  # added to the scores of padding keys (-6e4 under float16, whose range ends at 65504)


def _variable(array, dtype, name):
    return tf.Variable(tf.cast(np.asarray(array, np.float32), dtype), trainable=False, name=name)


def _constant(array, dtype):
    """`array` in `dtype` as NumPy (bf16 through ml_dtypes): a graph constant where a function reads it."""
    return np.asarray(array, np.float32).astype(tf.as_dtype(dtype).as_numpy_dtype)


class _Block(tf.Module):
    def __init__(self, block, dtype, index: int, constant_kernels: bool = False):
        super().__init__(name=f"block_{index}")

        def var(array, name, dt=dtype):
            return _variable(array, dt, f"block_{index}/{name}")

        kernel = (lambda array, _: _constant(array, dtype)) if constant_kernels else var
        self.qkv_kernel, self.qkv_bias = kernel(block.qkv_kernel, "qkv_kernel"), var(block.qkv_bias, "qkv_bias")
        self.output_kernel = kernel(block.output_kernel, "output_kernel")
        self.output_bias = var(block.output_bias, "output_bias")
        self.attention_norm = (var(block.attention_norm[0], "attention_gamma", tf.float32),
                               var(block.attention_norm[1], "attention_beta", tf.float32))
        self.intermediate_kernel = kernel(block.intermediate_kernel, "intermediate_kernel")
        self.intermediate_bias = var(block.intermediate_bias, "intermediate_bias")
        self.feedforward_kernel = kernel(block.feedforward_kernel, "feedforward_kernel")
        self.feedforward_bias = var(block.feedforward_bias, "feedforward_bias")
        self.feedforward_norm = (var(block.feedforward_norm[0], "feedforward_gamma", tf.float32),
                                 var(block.feedforward_norm[1], "feedforward_beta", tf.float32))


class FastEncoder(tf.Module):
    """`encoder + pooling + head` of one classifier: (input_ids, attention_mask) -> float32 logits.

    `constant_kernels`: the blocks' matmul kernels as constants of the traced graph rather than
    variables (see the module's notes)."""

    def __init__(self, weights, pooling: str, dtype=tf.float32, constant_kernels: bool = False):
        super().__init__(name="fast_encoder")
        if pooling not in ("cls", "mean"):
            raise NotImplementedError(f"the fast serving graph pools 'cls' or 'mean', not {pooling!r}")
        self._dtype = tf.as_dtype(dtype)
        self._pooling, self._cls = pooling, int(weights.cls_index)
        self._heads, self._hidden = int(weights.num_heads), int(weights.hidden)
        self._head_dim = self._hidden // self._heads
        self._epsilon, self._approximate = float(weights.epsilon), bool(weights.approximate_gelu)
        self._scale = 1.0 / math.sqrt(self._head_dim)
        self.word_embeddings = _variable(weights.word_embeddings, tf.float32, "word_embeddings")
        self.position_embeddings = _variable(weights.position_embeddings, tf.float32, "position_embeddings")
        self.embedding_norm = (_variable(weights.embedding_norm[0], tf.float32, "embedding_gamma"),
                               _variable(weights.embedding_norm[1], tf.float32, "embedding_beta"))
        self.blocks = [_Block(block, self._dtype, i, constant_kernels) for i, block in enumerate(weights.blocks)]
        self.head_kernel = _variable(weights.head_kernel, tf.float32, "head_kernel")
        self.head_bias = _variable(weights.head_bias, tf.float32, "head_bias")

    # -- pieces

    def _norm(self, x, gamma, beta):
        """Layer normalization over the last axis in float32, returned in the compute dtype."""
        x = tf.cast(x, tf.float32)
        centred = x - tf.reduce_mean(x, -1, keepdims=True)
        inverse = tf.math.rsqrt(tf.reduce_mean(tf.square(centred), -1, keepdims=True) + self._epsilon)
        return tf.cast(centred * inverse * gamma + beta, self._dtype)

    def _dense(self, x, kernel, bias):
        return tf.nn.bias_add(tf.matmul(x, kernel), bias)  # one _FusedMatMul

    def _attention(self, x, block, mask_bias, batch, length, cls_only: bool):
        """Self-attention of the (batch * length, hidden) rows `x`: (rows out, hidden) in the compute
        dtype, the rows out being every token's, or each text's [CLS] only."""
        qkv = self._dense(x, block.qkv_kernel, block.qkv_bias)  # (batch * length, 3 * hidden)
        qkv = tf.reshape(qkv, [batch, length, 3, self._heads, self._head_dim])
        query, key, value = tf.unstack(qkv, axis=2)  # each (batch, length, heads, dim)
        if cls_only:
            query = query[:, self._cls:self._cls + 1]  # (batch, 1, heads, dim)
        # Einsums over the (batch, length, heads, dim) layout: no Transpose ops (see the module notes).
        scores = tf.einsum("blhd,bmhd->bhlm", query, key) * tf.cast(self._scale, self._dtype) + mask_bias
        context = tf.einsum("bhlm,bmhd->blhd", tf.nn.softmax(scores), value)  # (batch, queries, heads, dim)
        return tf.reshape(context, [-1, self._hidden])

    def _block(self, x, block, mask_bias, batch, length, cls_only: bool):
        attended = self._attention(x, block, mask_bias, batch, length, cls_only)
        if cls_only:
            x = tf.reshape(x, [batch, length, self._hidden])[:, self._cls]  # the residual of [CLS]
        x = self._norm(self._dense(attended, block.output_kernel, block.output_bias) + x, *block.attention_norm)
        inner = tf.nn.gelu(self._dense(x, block.intermediate_kernel, block.intermediate_bias),
                           approximate=self._approximate)  # fused into the matmul
        return self._norm(self._dense(inner, block.feedforward_kernel, block.feedforward_bias) + x,
                          *block.feedforward_norm)

    # -- the forward pass

    def __call__(self, input_ids, attention_mask):
        shape = tf.shape(input_ids)
        batch, length = shape[0], shape[1]
        embedded = tf.gather(self.word_embeddings, input_ids) + self.position_embeddings[:length]
        x = self._norm(tf.reshape(embedded, [-1, self._hidden]), *self.embedding_norm)  # (batch * length, hidden)
        keep = tf.cast(attention_mask, self._dtype)[:, None, None, :]  # (batch, 1, 1, length): 1 = a token
        mask_bias = (1.0 - keep) * tf.cast(_NEGATIVE if self._dtype != tf.float16 else -6e4, self._dtype)
        cls_pool = self._pooling == "cls"
        last = len(self.blocks) - 1
        for index, block in enumerate(self.blocks):
            x = self._block(x, block, mask_bias, batch, length, cls_only=cls_pool and index == last)
        if cls_pool:
            pooled = tf.cast(x, tf.float32)  # (batch, hidden): [CLS] rows
        else:  # the mean of the real tokens, in float32 (as TextClassifier._pool)
            hidden = tf.cast(tf.reshape(x, [batch, length, self._hidden]), tf.float32)
            weight = tf.cast(attention_mask, tf.float32)[:, :, None]
            pooled = tf.reduce_sum(hidden * weight, axis=1) / tf.maximum(tf.reduce_sum(weight, axis=1), 1.0)
        return tf.nn.bias_add(tf.matmul(pooled, self.head_kernel), self.head_bias)  # (batch, num_labels)


def build(model) -> Optional[FastEncoder]:
    """The `FastEncoder` of `model` (a `TextClassifier`, as the export computes it), or None when its
    encoder or pooling is not one this graph writes (the export then serves the Keras model)."""
    from kerastl.serving.onnx_weights import read_weights

    try:
        weights = read_weights(model)
        compute = tf.as_dtype(getattr(model, "compute_dtype", None) or "float32")
        if compute not in (tf.float32, tf.bfloat16, tf.float16):
            raise NotImplementedError(
                f"the fast serving graph computes in float32, bf16 or float16, not {compute.name}")
        return FastEncoder(weights, model.pooling, compute, constant_kernels=compute != tf.float32)
    except NotImplementedError as reason:
        logger.info("export: serving the Keras model's own graph (%s)", reason)
        return None
