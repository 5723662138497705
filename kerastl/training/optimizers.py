"""Phase 2's optimizer: AdamW whose learning rate can be scaled weight by weight.

Layer-wise learning-rate decay (`TrainingConfig.layer_lr_decay`) gives the head and the top
encoder block the full learning rate and every block below a fixed fraction of the rate of the
one above, so that the general features of the lower blocks move less than the task-specific
top. Neither Keras' AdamW takes a rate per weight, so `AdamW` here scales the rate it hands to
the update of each weight it was told about.

Under Keras 3 it also runs each float32 weight's update as TensorFlow's fused Adam kernel
(`ResourceApplyAdam`), one pass over the weight and its two moments where Keras' own update
takes several, and applies the weight decay as one multiplication: the update of
DistilBERT-base's 66M weights takes 0.066 s a step on a 2-core CPU against 0.165 s (`make
bench`). The arithmetic is Keras' (`tests/test_optimizers.py`), except that a row of an
IndexedSlices gradient given twice (a token twice in a batch) takes the step of its summed
gradient, as a dense gradient does and PyTorch's AdamW does; Keras' sparse path squares the
parts apart. Under a distribution strategy, and for other dtypes or AMSGrad, Keras' update runs,
on the same summed gradient, so one device and several train alike. Keras 2 compiles its update
with XLA instead (`TrainingConfig.xla_optimizer_update`).
"""

from typing import Iterable

import tensorflow as tf

from kerastl._keras import by_keras, keras, tf_variable


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


class _FusedAdamUpdate:
    """Keras 3: each float32 weight's update as TensorFlow's fused Adam kernel, at its scaled rate
    (the module docstring); Keras' update elsewhere."""

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self._multiplier(variable)
        if multiplier != 1.0:
            learning_rate = learning_rate * multiplier
        if not self._fused(variable):
            if isinstance(gradient, tf.IndexedSlices):  # summed, as the fused kernel takes it
                gradient = tf.convert_to_tensor(gradient)
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        # The arithmetic of Keras' Adam.update_step, in one kernel. An IndexedSlices gradient
        # (the token embeddings) becomes dense: a row given twice takes its summed step.
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.convert_to_tensor(tf.cast(gradient, dtype)),
        )

    def _fused(self, variable) -> bool:
        """Whether `variable` takes the fused update: float32, no AMSGrad, no strategy."""
        return (variable.dtype == tf.float32 and not self.amsgrad and not tf.distribute.has_strategy()
                and isinstance(variable, tf.Variable))


class _ScaledRateUpdate:
    """tf-keras: its update_step reads `self.learning_rate`, scaled while one weight updates."""

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


@keras.saving.register_keras_serializable(package="kerastl")
class AdamW(by_keras(keras2=_ScaledRateUpdate, keras3=_FusedAdamUpdate), keras.optimizers.AdamW):
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

    def _apply_weight_decay(self, variables):
        """Keras' decoupled decay, `w -= w * decay * rate`, at each weight's scaled rate.

        Both Kerases decay every weight at the unscaled rate, outside `update_step`; a weight
        trained at a fraction of the rate is decayed at that fraction of it here, as a
        parameter group's rate scales its decay in PyTorch's AdamW. One product a weight.
        """
        if self.weight_decay is None:
            return
        decay = tf.cast(self.weight_decay, tf.float32) * tf.cast(self.learning_rate, tf.float32)
        keeps = [(tf_variable(variable), 1.0 - decay * self._multiplier(variable))
                 for variable in variables if self._use_weight_decay(variable)]
        if not tf.distribute.has_strategy():
            for variable, keep in keeps:
                _scale(variable, keep)
            return

        def apply(distribution, keeps):
            for variable, keep in keeps:
                distribution.extended.update(variable, _scale, args=(keep,), group=False)

        tf.__internal__.distribute.interim.maybe_merge_call(apply, self._distribution_strategy, keeps)


def _scale(variable, factor):
    variable.assign(variable * tf.cast(factor, variable.dtype))
