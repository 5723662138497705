"""Hugging Face transformers' TF encoders (`TFDistilBertModel`, `TFBertModel`, `TFRobertaModel`,
...) behind `kerastl.encoders.Encoder`: the one module that reads their internals.

Loading is in `hf_tf_loading`. This module knows where a family keeps its transformer blocks and
pooler, its hidden size and position limit, the inputs its `call` takes, which weights skip
weight decay, and how to read the [CLS] hidden state fast.

The [CLS] fast path: the classifier reads one position of the encoder's top layer. Below the top
block every position feeds the next layer, but inside the top block only the keys and values need
all positions: the query, the attention output, the feed-forward network and both layer norms
are needed for [CLS] only. `HFTFEncoder.cls_hidden_state` runs the encoder's own layers that way
for the families listed in `_TOP_BLOCK_FOR_CLS` (10 of the top block's 12 d^2 multiply-adds per
position are skipped: about 14% of a 6-block encoder's work, forward and backward). The result is
the same function of the same weights as `encoder(...).last_hidden_state[:, 0]`; any other
encoder runs whole.
"""

import inspect

import tensorflow as tf

from kerastl._keras import keras
from kerastl.encoders.base import Encoder

# Inputs a single-text task feeds the encoder. token_type_ids are all zero for one segment, which
# is every encoder's default, so they are sent only for sentence pairs (`takes_segments`).
MODEL_INPUTS = ("input_ids", "attention_mask")

# Weights that AdamW leaves undecayed: layer norms (BERT names them "LayerNorm", DistilBERT
# "layer_norm") and biases.
NO_DECAY = ("LayerNorm", "layer_norm", "bias")


class HFTFEncoder(Encoder):
    """A transformers TF encoder (`TFAutoModel`) as a `kerastl.encoders.Encoder`.

    Args:
        layer: a headless Hugging Face TF encoder, built (its weights exist).

    Example:
    >>> encoder = HFTFEncoder(model.backbone)
    >>> encoder.hidden_dim, encoder.position_limit, len(encoder.transformer_layers)
    (32, 64, 2)
    """

    no_decay_names = NO_DECAY

    def __init__(self, layer):
        if not hasattr(layer, "config") or not hasattr(layer, "base_model_prefix"):
            raise TypeError(
                f"expected a Hugging Face TF encoder (TFAutoModel), received {type(layer).__name__}"
            )
        self.layer = layer
        self.hidden_dim = int(layer.config.hidden_size)
        self.position_limit = getattr(layer.config, "max_position_embeddings", None)
        self.vocabulary_size = getattr(layer.config, "vocab_size", None)
        accepted = inspect.signature(layer.call).parameters
        self.input_names = tuple(name for name in MODEL_INPUTS if name in accepted)
        self.takes_segments = "token_type_ids" in accepted

    @classmethod
    def from_config_dict(cls, config: dict) -> "HFTFEncoder":
        """A randomly initialised encoder from `config_dict()` output (the weights are loaded after)."""
        from kerastl.encoders.hf_tf_loading import encoder_from_config_dict

        return cls(encoder_from_config_dict(config))

    def config_dict(self) -> dict:
        return self.layer.config.to_dict()

    @property
    def _main(self):
        return getattr(self.layer, self.layer.base_model_prefix, None)

    def _parts(self):
        """(main layer, block stack, blocks)."""
        main = self._main
        for name in ("transformer", "encoder"):  # DistilBERT; BERT, RoBERTa and most others
            stack = getattr(main, name, None)
            blocks = getattr(stack, "layer", None)
            if blocks is not None and len(blocks) > 0:
                return main, stack, list(blocks)
        raise ValueError(
            f"cannot find the transformer blocks of {type(self.layer).__name__}: "
            f"unfreeze it whole with unfreeze_backbone()"
        )

    @property
    def transformer_layers(self) -> list:
        return self._parts()[2]

    @property
    def other_layers(self) -> list:
        main, stack, _ = self._parts()
        return [layer for layer in vars(main).values() if isinstance(layer, keras.layers.Layer) and layer is not stack]

    @property
    def unused_layers(self) -> list:
        pooler = getattr(self._main, "pooler", None)  # BERT's pooler feeds nothing the classifier reads
        return [pooler] if pooler is not None else []

    def hidden_states(self, features, training=False):
        return self.layer(**features, training=training).last_hidden_state  # (batch, seq, dim)

    def cls_hidden_state(self, features, training=False):
        """The top-layer hidden state of the first token: (batch, dim).

        Args:
            features: `input_ids` and, where the encoder takes them, `attention_mask` and
                `token_type_ids` (batch, seq).
            training: dropout on or off inside the encoder.
        """
        encoder = self.layer
        main = self._main
        top_block_for_cls = _TOP_BLOCK_FOR_CLS.get(f"{type(main).__module__}.{type(main).__qualname__}")
        if top_block_for_cls is None or getattr(encoder.config, "is_decoder", False):
            return self.hidden_states(features, training)[:, 0]
        input_ids = features["input_ids"]
        attention_mask = features.get("attention_mask")
        if attention_mask is None:
            attention_mask = tf.ones_like(input_ids)
        return top_block_for_cls(main, input_ids, attention_mask, training, features.get("token_type_ids"))


def _distilbert(main, input_ids, attention_mask, training, token_type_ids=None):  # no segments in DistilBERT
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


def _bert(main, input_ids, attention_mask, training, token_type_ids=None):
    # As TFBertMainLayer (and its RoBERTa copies) run it, up to the top block.
    hidden = main.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, training=training)  # (batch, seq, dim)
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
