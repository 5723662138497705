"""KerasHub backbones (`BertBackbone`, `DistilBertBackbone`, `RobertaBackbone`, ...) behind
`kerastl.encoders.Encoder`: the Keras 3 family, and the one module that reads their internals.

Loading is in `kerashub_loading`. A KerasHub backbone is a functional Keras model whose inputs are
`token_ids`, `padding_mask` and, for BERT, `segment_ids`, and whose output holds the
`sequence_output`; kerastl's batches carry `input_ids` and `attention_mask`, the names its data
pipeline and serving signatures share with the other family, and this module maps one onto the
other. Single texts send segment 0 everywhere, as the other family does; sentence pairs send
their `token_type_ids` as the `segment_ids` of a backbone that takes them.

The [CLS] fast path, as in the other family (`kerastl.encoders.hf_tf`): the classifier reads one
position of the top layer, so inside the top block only the keys and values need every
position; the query, the attention output and the feed-forward network are computed for [CLS]
alone. `KerasHubEncoder.cls_hidden_state` runs the backbone's own functional graph up to the top
block, then that block's own sublayers as `TransformerEncoder.call` runs them with the query cut
to [CLS]: for a 6-block encoder about 14% less work in training and inference, with the same
values and gradients (`tests/test_kerashub.py`). It applies where the top block is KerasHub's
`TransformerEncoder`, called once, fed by the layer below and the backbone's padding mask, and
giving the backbone's sequence output (BERT, DistilBERT, RoBERTa, ...); any other backbone runs
whole.
"""

import tensorflow as tf

from kerastl._keras import keras
from kerastl.encoders import kerashub_kernels
from kerastl.encoders.base import Encoder

# Hugging Face's names of the feed-forward activation -> whether it is the tanh approximation of
# GELU. KerasHub builds BERT and ELECTRA with the approximation, though their checkpoints were
# trained with the exact GELU ("gelu"); kerastl runs the one the checkpoint names.
GELU_APPROXIMATE = {"gelu": False, "gelu_new": True, "gelu_pytorch_tanh": True, "gelu_fast": True}

# Weights that AdamW leaves undecayed: biases and the layer norms' scale and offset (Keras 3
# names a variable by its last path component).
NO_DECAY = ("bias", "gamma", "beta")


class KerasHubEncoder(Encoder):
    """A KerasHub backbone as a `kerastl.encoders.Encoder`.

    Args:
        layer: a `keras_hub.models.Backbone` of an encoder-only family (built: its weights exist).

    Example:
    >>> encoder = KerasHubEncoder(model.backbone)
    >>> encoder.hidden_dim, encoder.position_limit, len(encoder.transformer_layers)
    (32, 64, 2)
    """

    no_decay_names = NO_DECAY

    def __init__(self, layer):
        import keras_hub

        if not isinstance(layer, keras_hub.models.Backbone):
            raise TypeError(f"expected a KerasHub backbone (keras_hub.models.Backbone), received "
                            f"{type(layer).__name__}")
        inputs = layer.input if isinstance(layer.input, dict) else {}
        if "token_ids" not in inputs or "padding_mask" not in inputs:
            raise TypeError(f"{type(layer).__name__} does not take token_ids and padding_mask: kerastl "
                            f"classifies with encoder-only backbones (BERT, DistilBERT, RoBERTa, ...)")
        self.layer = layer
        kerashub_kernels.use_kernels(layer)  # float32 GELU and layer norms
        self.hidden_dim = int(layer.hidden_dim)
        self.position_limit = getattr(layer, "max_sequence_length", None)
        self.vocabulary_size = getattr(layer, "vocabulary_size", None)
        self._segments = self.takes_segments = "segment_ids" in inputs
        self._cls_index = int(getattr(layer, "cls_token_index", None) or 0)
        # The checkpoint's feed-forward activation, where kerastl set it (kept on the layer, so
        # every view of it, and its saved config, agree).
        self.activation = getattr(layer, "_kerastl_activation", None)
        self._below_top = False  # built at the first [CLS] call: a model, or None to run whole

    def use_activation(self, hidden_act) -> None:
        """Run every block's feed-forward layer with the Hugging Face activation `hidden_act`
        ("gelu" exact, "gelu_new" the tanh approximation); any other name leaves KerasHub's."""
        if hidden_act not in GELU_APPROXIMATE:
            return
        approximate = GELU_APPROXIMATE[hidden_act]

        def gelu(x):
            return keras.activations.gelu(x, approximate=True) if approximate else kerashub_kernels.gelu(x)

        for block in self.transformer_layers:
            block.activation = gelu
            block._feedforward_intermediate_dense.activation = gelu
        self.activation = self.layer._kerastl_activation = hidden_act

    @classmethod
    def from_config_dict(cls, config: dict) -> "KerasHubEncoder":
        """A randomly initialised backbone from `config_dict()` output (the weights are loaded after)."""
        import keras_hub  # noqa: F401  (registers the backbone classes the config names)

        config = dict(config)
        activation = config.pop("kerastl_activation", None)
        encoder = cls(keras.saving.deserialize_keras_object(config))
        encoder.use_activation(activation)
        return encoder

    def config_dict(self) -> dict:
        config = keras.saving.serialize_keras_object(self.layer)
        if self.activation is not None:
            config["kerastl_activation"] = self.activation
        return config

    @property
    def transformer_layers(self) -> list:
        blocks = list(getattr(self.layer, "transformer_layers", None) or [])
        if not blocks:
            raise ValueError(f"cannot find the transformer blocks of {type(self.layer).__name__}: "
                             f"unfreeze it whole with unfreeze_backbone()")
        return blocks

    @property
    def other_layers(self) -> list:
        blocks = {id(block) for block in self.transformer_layers}
        return [layer for layer in self.layer.layers
                if id(layer) not in blocks and not isinstance(layer, keras.layers.InputLayer)]

    @property
    def unused_layers(self) -> list:
        # BERT's and ALBERT's pooler: it feeds the pooled output, which the classifier never reads.
        return [layer for layer in self.layer.layers if layer.name == "pooled_dense"]

    def backbone_inputs(self, features: dict) -> dict:
        """kerastl's `input_ids`, `attention_mask` and `token_type_ids` (zeros where absent) as the
        backbone's own inputs."""
        ids = tf.convert_to_tensor(features["input_ids"])
        mask = features.get("attention_mask")
        mask = None if mask is None else tf.convert_to_tensor(mask)
        inputs = {"token_ids": ids, "padding_mask": tf.ones_like(ids) if mask is None else mask}
        if self._segments:
            segments = features.get("token_type_ids")
            inputs["segment_ids"] = tf.zeros_like(ids) if segments is None else tf.convert_to_tensor(segments)
        return inputs

    def hidden_states(self, features, training=False):
        outputs = self.layer(self.backbone_inputs(features), training=training)
        return outputs["sequence_output"] if isinstance(outputs, dict) else outputs  # (batch, seq, dim)

    def cls_hidden_state(self, features, training=False):
        if self._below_top is False:
            self._below_top = _below_top_block(self.layer)
        if self._below_top is None:
            return self.hidden_states(features, training)[:, self._cls_index]  # (batch, dim)
        inputs = self.backbone_inputs(features)
        hidden = self._below_top(inputs, training=training)  # (batch, seq, dim): the top block's input
        return _top_block_for_cls(self.transformer_layers[-1], hidden, inputs["padding_mask"], self._cls_index,
                                  training)


def _below_top_block(backbone):
    """A functional model of `backbone`'s own layers from its inputs to its top block's input, where
    the top block can run for [CLS] alone (see the module's docstring); `None` where it cannot."""
    import keras_hub

    blocks = list(getattr(backbone, "transformer_layers", None) or [])
    try:
        outputs = backbone.output  # a functional model's symbolic outputs
    except (AttributeError, ValueError):
        return None
    sequence_output = outputs.get("sequence_output") if isinstance(outputs, dict) else outputs
    if not blocks or sequence_output is None:
        return None
    top = blocks[-1]
    if type(top) is not keras_hub.layers.TransformerEncoder or len(top._inbound_nodes) != 1:
        return None  # another block class, or one block shared by several layers (ALBERT)
    arguments = top._inbound_nodes[0].arguments
    history = getattr(sequence_output, "_keras_history", None)
    if (len(arguments.args) != 1 or set(arguments.kwargs) != {"padding_mask"}
            or arguments.kwargs["padding_mask"] is not backbone.input.get("padding_mask")
            or history is None or history.operation is not top):
        return None
    return keras.Model(backbone.input, arguments.args[0], name=f"{backbone.name}_below_top_block")


def _top_block_for_cls(block, hidden, padding_mask, index, training):
    """KerasHub's `TransformerEncoder.call` on `hidden` (batch, seq, dim) with its query cut to the
    position `index`: that position's output, (batch, dim)."""
    normalized = block._self_attention_layer_norm(hidden) if block.normalize_first else hidden
    residual = hidden[:, index:index + 1]  # (batch, 1, dim)
    x = block._self_attention_layer(
        query=normalized[:, index:index + 1],
        value=normalized,  # the keys too, as in the whole block
        attention_mask=keras.ops.expand_dims(padding_mask, 1),  # (batch, 1, seq): every token, no padding
        training=training,
    )
    x = block._self_attention_dropout(x, training=training) + residual
    if not block.normalize_first:
        x = block._self_attention_layer_norm(x)
    residual = x
    if block.normalize_first:
        x = block._feedforward_layer_norm(x)
    x = block._feedforward_output_dense(block._feedforward_intermediate_dense(x))
    x = block._feedforward_dropout(x, training=training) + residual
    if not block.normalize_first:
        x = block._feedforward_layer_norm(x)
    return x[:, 0]  # (batch, dim)

