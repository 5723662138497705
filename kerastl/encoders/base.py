"""The contract every encoder family meets: what the rest of kerastl may ask of an encoder."""

from typing import Optional


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
        takes_segments: whether it embeds segment ids (`token_type_ids`, BERT's sentence pairs);
            a pair task then adds `"token_type_ids"` to the features it feeds.
        no_decay_names: substrings of the weight names that skip weight decay.
    """

    layer = None
    hidden_dim: int
    position_limit: Optional[int] = None
    vocabulary_size: Optional[int] = None
    input_names: tuple = ("input_ids", "attention_mask")
    takes_segments: bool = False
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

    def unfreeze(self, top_k: Optional[int] = None) -> None:
        """Make the whole encoder trainable, or only its top `top_k` transformer blocks; layers no
        output reads (`unused_layers`) stay frozen."""
        self.layer.trainable = True
        # Keras 3 does not reach every sublayer of a KerasHub backbone through its own flag.
        for layer in [*self.other_layers, *self.transformer_layers]:
            layer.trainable = True
        if top_k is not None:
            blocks = self.transformer_layers
            if not 0 <= top_k <= len(blocks):
                raise ValueError(
                    f"top_k must be between 0 and the {len(blocks)} transformer blocks, "
                    f"received top_k={top_k}"
                )
            for layer in self.other_layers:  # embeddings and any other non-block layers
                layer.trainable = False
            for i, block in enumerate(blocks):
                block.trainable = i >= len(blocks) - top_k
        for layer in self.unused_layers:  # BERT's pooler feeds nothing here; training it only warns
            layer.trainable = False
