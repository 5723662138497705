"""The one seam for all that an encoder family knows.

The rest of kerastl asks an encoder for what it needs through `Encoder`, a small face in the
spirit of KerasHub's backbone contract (`hidden_dim`, `transformer_layers`, `cls_token_index`),
and never imports transformers or reads an encoder's internals. A family is one file here:

- `kerashub` (Keras 3, `KERASTL_KERAS=3`): KerasHub backbones (`BertBackbone`,
  `DistilBertBackbone`, `RobertaBackbone`, ...), loaded by `kerashub_loading`;
- `hf_tf` (Keras 2, `KERASTL_KERAS=2`): Hugging Face transformers' TF encoders
  (`TFDistilBertModel`, `TFBertModel`, ...), loaded by `hf_tf_loading`.

Each loads from a hub name, a local Hugging Face folder, an offline preset or a config; both
tokenize with the checkpoint's Hugging Face fast tokenizer (`sources`). A new family is a new
`Encoder` subclass and a branch in `wrap`, `from_config_dict` and `kerastl.backbone`.
"""

from typing import Optional

from kerastl.errors import ModelFileError


class Encoder:
    """What kerastl asks of a headless encoder, whatever its family.

    An `Encoder` wraps the Keras layer that holds the encoder's weights (`layer`), which the
    classifier keeps as its `backbone` sublayer, so weight names do not depend on the wrapper.

    Attributes:
        layer: the Keras layer of the encoder; calling it is the family's business.
        hidden_dim: the width of its hidden states, and of the pooled [CLS] vector.
        position_limit: the longest token sequence it embeds, or None where it has no limit.
        vocabulary_size: the number of token ids it embeds (ids are 0 to this - 1), or None.
        input_names: the features it reads, in order (e.g. `("input_ids", "attention_mask")`).
        no_decay_names: substrings of the weight names that skip weight decay.
    """

    layer = None
    hidden_dim: int
    position_limit: Optional[int] = None
    vocabulary_size: Optional[int] = None
    input_names: tuple = ("input_ids", "attention_mask")
    no_decay_names: tuple = ()

    @property
    def transformer_layers(self) -> list:
        """The transformer blocks, bottom to top; a ValueError where they cannot be found."""
        raise NotImplementedError

    @property
    def other_layers(self) -> list:
        """Every layer of the encoder that is no transformer block (embeddings, a pooler ...):
        what `unfreeze_backbone(top_k)` freezes."""
        raise NotImplementedError

    @property
    def unused_layers(self) -> list:
        """Layers whose output the [CLS] hidden state never reads (BERT's pooler): kept frozen."""
        return []

    def hidden_states(self, features: dict, training=False):
        """The top layer's hidden states of every token, (batch, seq, hidden_dim), from `features`."""
        raise NotImplementedError

    def cls_hidden_state(self, features: dict, training=False):
        """The top-layer hidden state of the first token, (batch, hidden_dim), from `features`
        (the `input_names`, each (batch, seq))."""
        raise NotImplementedError

    def config_dict(self) -> dict:
        """What rebuilds this encoder, with random weights, through `from_config_dict`."""
        raise NotImplementedError

    def serving_tokenizer(self, tokenizer, max_length: int) -> tuple:
        """`(ops, None)`: `tokenizer` rebuilt as a Keras layer of TensorFlow ops that maps a
        `tf.string` batch to the `input_names`, for a raw-text serving signature; or `(None,
        reason)` where that cannot be done exactly.

        Every family tokenizes with a Hugging Face fast tokenizer: a WordPiece one is rebuilt in
        TensorFlow ops (`kerastl.graph_tokenizer`) and checked on probe texts.
        """
        from kerastl.graph_tokenizer import build_graph_tokenizer

        return build_graph_tokenizer(tokenizer, max_length)


def wrap(layer) -> Encoder:
    """The `Encoder` of a Keras encoder layer (an `Encoder` is returned as it is).

    Example:
    >>> encoder = wrap(model.backbone)
    >>> encoder.hidden_dim, len(encoder.transformer_layers), encoder.input_names
    (32, 2, ('input_ids', 'attention_mask'))
    """
    if isinstance(layer, Encoder):
        return layer
    return _family().Encoder(layer)


def from_config_dict(config: dict) -> Encoder:
    """A randomly initialised encoder from `Encoder.config_dict()` (the weights are loaded after).

    A KerasHub backbone's config names its class (Keras 3); a transformers config its
    `model_type` (Keras 2). A model saved under the other Keras is refused, naming the fix.
    """
    from kerastl._keras import KERAS_ENV, KERAS_VERSION

    saved_under = 3 if "class_name" in config else 2 if "model_type" in config else KERAS_VERSION
    if saved_under != KERAS_VERSION:
        family = "a KerasHub backbone" if saved_under == 3 else "a transformers TF encoder"
        raise ModelFileError(
            f"this model was saved under Keras {saved_under} ({family}), and this program runs kerastl on "
            f"Keras {KERAS_VERSION}: load it with {KERAS_ENV}={saved_under}, or serve its exported "
            f"SavedModel (kerastl export), which needs neither"
        )
    return _family().Encoder.from_config_dict(config)


def with_precision(config: dict, policy: str) -> dict:
    """`Encoder.config_dict()` output that rebuilds the encoder under the precision `policy`.

    A KerasHub backbone's config names its policy, which is replaced; a transformers encoder
    takes the global policy at construction, so build it inside `precision_scope(policy)`.
    """
    if "class_name" not in config:
        return config
    return {**config, "config": {**config["config"], "dtype": policy}}


def load_tokenizer(tokenizer):
    """A tokenizer object as it is, or the tokenizer saved in a folder."""
    from kerastl.encoders.sources import load_tokenizer

    return load_tokenizer(tokenizer)


class _Family:
    def __init__(self, encoder, loading):
        self.Encoder, self.loading = encoder, loading


def _family() -> _Family:
    """The encoder family of the Keras kerastl runs on: its `Encoder` class and loading module."""
    from kerastl._keras import KERAS_VERSION

    if KERAS_VERSION == 2:
        from kerastl.encoders import hf_tf_loading
        from kerastl.encoders.hf_tf import HFTFEncoder

        return _Family(HFTFEncoder, hf_tf_loading)
    from kerastl.encoders import kerashub_loading
    from kerastl.encoders.kerashub import KerasHubEncoder

    return _Family(KerasHubEncoder, kerashub_loading)


def load_backbone(source, *, tokenizer=None):
    """`Backbone(encoder layer, tokenizer)` from `source`, by the family of the selected Keras."""
    return _family().loading.load_backbone(source, tokenizer=tokenizer)
