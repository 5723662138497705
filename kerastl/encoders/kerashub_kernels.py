"""The elementwise work between a transformer's matmuls, in float32 with hand-written gradients:
the exact GELU and layer normalization, for the KerasHub family (Keras 3 on TensorFlow).

Keras 3 computes the exact GELU as `tf.nn.gelu`, which under `mixed_bfloat16` evaluates `erfc`
in bfloat16, and leaves the backward pass of its layer normalization to autodiff over a dozen
ops. Here both run in float32 (the precision Keras' layer normalization already computes in, and
a finer one than its bfloat16 GELU), and each backward pass reuses what its forward pass
computed. On a batch of 704 tokens of DistilBERT-base's shapes under `mixed_bfloat16`, forward
and backward: the GELU 12.8 -> 7.5 ms (3072 wide), the layer normalization 4.6 -> 2.8 ms (768
wide); a phase-2 training step about 7% faster (`benchmarks/README.md`). In float32 the values
and gradients are Keras' own to rounding (`tests/test_kerashub.py`).

`KerasHubEncoder` puts them into its backbone (`use_kernels`): `gelu` as the activation of every
`Dense` layer that had Keras' exact GELU (and where kerastl sets the exact GELU a checkpoint
names), and `LayerNormalization` as the class of every Keras `LayerNormalization`. No weight,
name or saved config changes.
"""

import math

import tensorflow as tf

from kerastl._keras import keras

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@tf.custom_gradient
def gelu(x):
    """The exact GELU, `x * Phi(x)`, computed in float32 and returned in `x`'s dtype.

    Example:
    >>> [round(float(v), 4) for v in gelu(tf.constant([-1.0, 0.0, 2.0]))]
    [-0.1587, 0.0, 1.9545]
    """
    x32 = tf.cast(x, tf.float32)
    cdf = 0.5 * (1.0 + tf.math.erf(x32 * _SQRT_HALF))  # Phi(x)

    def gradient(upstream):
        slope = cdf + x32 * tf.exp(-0.5 * tf.square(x32)) * _INV_SQRT_2PI  # Phi(x) + x * phi(x)
        return tf.cast(tf.cast(upstream, tf.float32) * slope, x.dtype)

    return tf.cast(x32 * cdf, x.dtype), gradient


def layer_norm(x, gamma, beta, epsilon: float):
    """Layer normalization over the last axis, computed in float32 and returned in `x`'s dtype:
    `(x - mean) / sqrt(variance + epsilon) * gamma + beta`, as Keras' `LayerNormalization`."""
    normalized = _standardize(tf.cast(x, tf.float32), epsilon)
    return tf.cast(normalized * tf.cast(gamma, tf.float32) + tf.cast(beta, tf.float32), x.dtype)


def _standardize(x, epsilon: float):
    @tf.custom_gradient
    def standardize(x):
        # tf.nn.moments' values, bit for bit, but its SquaredDifference against the broadcast
        # mean is TensorFlow's slow path: 2.6x this whole function at 8 x 24 x 384.
        centred = x - tf.reduce_mean(x, -1, keepdims=True)
        inverse = tf.math.rsqrt(tf.reduce_mean(tf.square(centred), -1, keepdims=True) + epsilon)
        normalized = centred * inverse

        def gradient(upstream):
            # The gradient of (x - mean) * inverse through the mean and the variance too.
            return inverse * (upstream - tf.reduce_mean(upstream, -1, keepdims=True)
                              - normalized * tf.reduce_mean(upstream * normalized, -1, keepdims=True))

        return normalized, gradient

    return standardize(x)


class LayerNormalization(keras.layers.LayerNormalization):
    """Keras' `LayerNormalization` that normalizes over the last axis with `layer_norm`, and
    otherwise (another axis, RMS scaling, no scale or no offset) as Keras does."""

    def call(self, inputs):
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        last = len(inputs.shape) - 1
        if (self.rms_scaling or self.gamma is None or self.beta is None
                or len(axes) != 1 or axes[0] % (last + 1) != last):
            return super().call(inputs)
        return tf.cast(layer_norm(inputs, self.gamma, self.beta, self.epsilon), self.compute_dtype)


def use_kernels(layer) -> None:
    """Run `layer`'s exact GELUs and layer normalizations with this module's kernels: every
    `Dense` inside it whose activation is Keras' exact GELU gets `gelu`, and every Keras
    `LayerNormalization` this module's subclass (same weights, same config)."""
    for sublayer in layer._flatten_layers(include_self=True, recursive=True):
        if type(sublayer) is keras.layers.LayerNormalization:
            sublayer.__class__ = LayerNormalization
        elif isinstance(sublayer, keras.layers.Dense) and sublayer.activation is keras.activations.gelu:
            sublayer.activation = gelu  # keras.activations.gelu's default is the exact GELU
