"""The [CLS] hidden state of an encoder, with the top block computed for [CLS] alone.

The classifier reads one position of the encoder's top layer. Below the top block every position
feeds the next layer, but inside the top block only the keys and values need all positions: the
query, the attention output, the feed-forward network and both layer norms are needed for [CLS]
only. `cls_hidden_state` runs the encoder's own layers that way for the families listed in
`_TOP_BLOCK_FOR_CLS` (10 of the top block's 12 d^2 multiply-adds per position are skipped: about
14% of a 6-block encoder's work, forward and backward). The result is the same function of the
same weights as `encoder(...).last_hidden_state[:, 0]`; any other encoder runs whole.
"""

import tensorflow as tf


def cls_hidden_state(encoder, features, training=False):
    """The top-layer hidden state of the first token: (batch, dim).

    Args:
        encoder: a headless Hugging Face TF encoder (`TFDistilBertModel`, `TFBertModel`, ...).
        features: `input_ids` and, where the encoder takes one, `attention_mask` (batch, seq).
        training: dropout on or off inside the encoder.
    """
    main = getattr(encoder, encoder.base_model_prefix, None)
    top_block_for_cls = _TOP_BLOCK_FOR_CLS.get(f"{type(main).__module__}.{type(main).__qualname__}")
    if top_block_for_cls is None or getattr(encoder.config, "is_decoder", False):
        return encoder(**features, training=training).last_hidden_state[:, 0]
    input_ids = features["input_ids"]
    attention_mask = features.get("attention_mask")
    if attention_mask is None:
        attention_mask = tf.ones_like(input_ids)
    return top_block_for_cls(main, input_ids, attention_mask, training)


def _distilbert(main, input_ids, attention_mask, training):
    # As TFDistilBertMainLayer and TFTransformer run it, up to the top block.
    # HF passes no training flag here: the embeddings' dropout follows the main layer's call.
    hidden = main.embeddings(input_ids, training=training)  # (batch, seq, dim)
    mask = tf.cast(attention_mask, tf.float32)  # (batch, seq): 1 = a token, 0 = padding
    *lower, top = main.transformer.layer
    for block in lower:
        hidden = block(hidden, mask, None, False, training=training)[-1]
    # TFTransformerBlock with the query, and all that follows it, cut to [CLS].
    cls = hidden[:, :1]  # (batch, 1, dim)
    attended = top.attention(cls, hidden, hidden, mask, None, False, training=training)[0]
    attended = top.sa_layer_norm(attended + cls)
    output = top.output_layer_norm(top.ffn(attended, training=training) + attended)
    return output[:, 0]  # (batch, dim)


def _bert(main, input_ids, attention_mask, training):
    # As TFBertMainLayer (and its RoBERTa copies) run it, up to the top block.
    hidden = main.embeddings(input_ids=input_ids, training=training)  # (batch, seq, dim)
    keep = tf.cast(attention_mask[:, None, None, :], hidden.dtype)  # (batch, 1, 1, seq)
    mask = (tf.constant(1.0, hidden.dtype) - keep) * tf.constant(-10000.0, hidden.dtype)
    *lower, top = main.encoder.layer
    for block in lower:
        hidden = block(hidden, mask, None, None, None, None, False, training=training)[0]
    # TFBertLayer with the query cut to [CLS]: its self-attention run as attention from [CLS]
    # to every position (the encoder_hidden_states path), which reads the mask given with them.
    cls = hidden[:, :1]  # (batch, 1, dim)
    attention = top.attention
    attended = attention.self_attention(
        cls, None, None, hidden, mask, None, False, training=training
    )[0]
    attended = attention.dense_output(attended, cls, training=training)
    output = top.bert_output(top.intermediate(attended), attended, training=training)
    return output[:, 0]  # (batch, dim)


# Main-layer classes whose top block runs for [CLS] alone; any other runs whole. Named, not
# imported: importing transformers' TF modules fails in a process that turned TF off (USE_TF=0).
_TOP_BLOCK_FOR_CLS = {
    "transformers.models.distilbert.modeling_tf_distilbert.TFDistilBertMainLayer": _distilbert,
    "transformers.models.bert.modeling_tf_bert.TFBertMainLayer": _bert,
    "transformers.models.roberta.modeling_tf_roberta.TFRobertaMainLayer": _bert,
    "transformers.models.xlm_roberta.modeling_tf_xlm_roberta.TFXLMRobertaMainLayer": _bert,
    "transformers.models.camembert.modeling_tf_camembert.TFCamembertMainLayer": _bert,
}
