"""Phase 2's optimizer: AdamW whose learning rate can be scaled weight by weight.

Layer-wise learning-rate decay (`TrainingConfig.layer_lr_decay`) gives the head and the top
encoder block the full learning rate and every block below a fixed fraction of the rate of the
one above, so that the general features of the lower blocks move less than the task-specific
top. Neither Keras' AdamW takes a rate per weight, so `AdamW` here scales the rate it hands to
the update of each weight it was told about, and leaves the rest of the update to Keras.
"""

from typing import Iterable

from kerastl._keras import KERAS_VERSION, keras


def layer_multipliers(encoder, decay: float) -> list:
    """`[(weights, multiplier), ...]`: the encoder's weights with their learning-rate multiplier.

    The top transformer block gets `decay`, each block below `decay` times the one above, and
    the other layers (the embeddings) `decay` times the bottom block; weights outside the
    encoder (the head) keep the full rate.

    Example:
    >>> [round(factor, 3) for _, factor in layer_multipliers(model.encoder, 0.5)]
    [0.5, 0.25, 0.125]
    """
    blocks = encoder.transformer_layers
    depth = len(blocks)
    pairs = [(block.weights, decay ** (depth - index)) for index, block in reversed(list(enumerate(blocks)))]
    pairs.append(([w for layer in encoder.other_layers for w in layer.weights], decay ** (depth + 1)))
    return pairs


@keras.saving.register_keras_serializable(package="kerastl")
class AdamW(keras.optimizers.AdamW):
    """Keras' AdamW, with a learning-rate multiplier for each weight named by `scale_learning_rate`.

    The multipliers are not part of the saved config: an optimizer rebuilt from a saved model
    trains every weight at the scheduled rate.
    """

    def scale_learning_rate(self, weights: Iterable, multiplier: float) -> None:
        """Train `weights` at `multiplier` times the scheduled learning rate."""
        if not 0 < multiplier <= 1:
            raise ValueError(f"a learning-rate multiplier must be in (0, 1], received {multiplier}")
        multipliers = self.__dict__.setdefault("_kerastl_multipliers", {})
        for weight in weights:
            multipliers[self._var_key(weight)] = float(multiplier)

    def _multiplier(self, variable) -> float:
        return self.__dict__.get("_kerastl_multipliers", {}).get(self._var_key(variable), 1.0)

    if KERAS_VERSION == 3:

        def update_step(self, gradient, variable, learning_rate):
            multiplier = self._multiplier(variable)
            if multiplier != 1.0:
                learning_rate = learning_rate * multiplier
            return super().update_step(gradient, variable, learning_rate)

    else:  # tf-keras' update_step reads `self.learning_rate`: scale it while one weight updates

        def update_step(self, gradient, variable):
            self.__dict__["_kerastl_scale"] = self._multiplier(variable)
            try:
                return super().update_step(gradient, variable)
            finally:
                self.__dict__["_kerastl_scale"] = 1.0

        @property
        def learning_rate(self):
            scale = self.__dict__.get("_kerastl_scale", 1.0)
            rate = keras.optimizers.AdamW.learning_rate.fget(self)
            return rate * scale if scale != 1.0 else rate

        @learning_rate.setter
        def learning_rate(self, value):
            keras.optimizers.AdamW.learning_rate.fset(self, value)
