"""The KerasHub encoder family's [CLS] fast path: the top block for [CLS] alone, against the whole
backbone's first position, in values and in every weight's gradient."""

import numpy as np
import pytest
import tensorflow as tf

from kerastl import keras
from tests.helpers import padded_features

pytestmark = pytest.mark.keras3  # KerasHub backbones run on Keras 3 only

SIZES = dict(vocabulary_size=99, num_layers=3, num_heads=4, hidden_dim=32, intermediate_dim=37,
             max_sequence_length=64)


def _backbone(kind, dropout=0.1):
    import keras_hub

    keras.utils.set_random_seed(0)
    if kind == "albert":  # one block shared by every layer: runs whole
        return keras_hub.models.AlbertBackbone(**SIZES, embedding_dim=16, num_groups=1, num_inner_repetitions=1,
                                               dropout=dropout)
    backbone = {"distilbert": keras_hub.models.DistilBertBackbone, "bert": keras_hub.models.BertBackbone,
                "roberta": keras_hub.models.RobertaBackbone}[kind]
    return backbone(**SIZES, dropout=dropout)


def _encoder(backbone):
    from kerastl.encoders.kerashub import KerasHubEncoder

    return KerasHubEncoder(backbone)


def _whole(encoder, features, training=False):
    return encoder.hidden_states(features, training)[:, 0]


@pytest.mark.parametrize("kind", ["distilbert", "bert", "roberta", "albert"])
def test_cls_hidden_state_equals_the_whole_backbones_first_position(kind):
    encoder = _encoder(_backbone(kind))
    features = padded_features()
    np.testing.assert_allclose(encoder.cls_hidden_state(features), _whole(encoder, features), rtol=1e-5, atol=1e-5)
    assert (encoder._below_top is None) == (kind == "albert")  # the fast path where it applies, else whole


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_cls_hidden_state_trains_every_weight_as_the_whole_backbone_does(kind, precision):
    keras.mixed_precision.set_global_policy(precision)  # conftest restores float32
    encoder = _encoder(_backbone(kind, dropout=0.0))
    features = padded_features(seed=1)
    direction = tf.constant(np.random.default_rng(2).normal(size=(1, 32)), tf.float32)
    variables = encoder.layer.trainable_variables

    def gradients(pool):
        with tf.GradientTape() as tape:
            pooled = pool(features, training=True)  # (batch, dim), in the compute dtype
            loss = tf.reduce_sum(tf.tanh(tf.cast(pooled, tf.float32)) * direction)
        return [None if g is None else tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]

    fast = gradients(encoder.cls_hidden_state)
    whole = gradients(lambda f, training: _whole(encoder, f, training))
    assert encoder._below_top is not None
    scale = max(float(tf.reduce_max(tf.abs(g))) for g in whole if g is not None)
    tolerance = dict(rtol=1e-4, atol=1e-6) if precision == "float32" else dict(rtol=0, atol=1e-2 * scale)
    for variable, fast_gradient, whole_gradient in zip(variables, fast, whole):
        if whole_gradient is None:  # BERT's pooler feeds neither
            assert fast_gradient is None, variable.path
            continue
        if precision == "float32":
            assert float(tf.reduce_max(tf.abs(whole_gradient))) > 0, variable.path
        np.testing.assert_allclose(fast_gradient, whole_gradient, **tolerance, err_msg=variable.path)


@pytest.mark.parametrize("kind", ["distilbert", "bert", "roberta"])
def test_top_block_runs_its_feed_forward_on_cls_only(kind, monkeypatch):
    encoder = _encoder(_backbone(kind))
    widths = []
    for block in encoder.transformer_layers:
        feed_forward = block._feedforward_intermediate_dense
        original = feed_forward.call

        def spy(hidden, *args, _original=original, **kwargs):
            widths.append(hidden.shape[1])
            return _original(hidden, *args, **kwargs)

        monkeypatch.setattr(feed_forward, "call", spy)
    encoder.cls_hidden_state(padded_features())
    assert widths == [9, 9, 1]  # the lower blocks see all 9 positions, the top block [CLS] only


def test_a_classifier_on_cls_pooling_answers_as_the_whole_backbone(make_classifier):
    model = make_classifier("distilbert")
    assert model.pooling == "cls"
    features = padded_features()
    fast = model(features, training=False)
    whole = model.head(model.encoder.hidden_states(features)[:, 0], training=False)
    np.testing.assert_allclose(fast, whole, rtol=1e-5, atol=1e-5)
    assert model.encoder._below_top is not None



# The float32 kernels with their own gradients (kerastl.encoders.kerashub_kernels).


def _value_and_gradients(function, x, variables=()):
    """`function(x)` and the gradients of its dot product with fixed weights that vary by position."""
    upstream = tf.reshape(tf.cos(tf.range(tf.size(x), dtype=tf.float64) * 0.7), x.shape)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = function(x)
        loss = tf.reduce_sum(tf.cast(y, tf.float64) * upstream)
    return y, tape.gradient(loss, [x, *variables])


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_gelu_kernel_is_keras_exact_gelu_in_value_and_gradient(precision):
    from kerastl.encoders.kerashub_kernels import gelu

    x = tf.cast(tf.constant(np.linspace(-6.0, 6.0, 241), tf.float32), precision)
    y, (dx,) = _value_and_gradients(gelu, x)
    assert y.dtype == dx.dtype == x.dtype
    reference = tf.cast(x, tf.float64)  # Keras' GELU in float64: the exact function
    expected, (expected_dx,) = _value_and_gradients(lambda v: keras.activations.gelu(v, approximate=False),
                                                    reference)
    tolerance = dict(rtol=1e-5, atol=1e-6) if precision == "float32" else dict(rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(tf.cast(y, tf.float64), expected, **tolerance)
    np.testing.assert_allclose(tf.cast(dx, tf.float64), expected_dx, **tolerance)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_layer_norm_kernel_is_keras_layer_norm_in_value_and_every_gradient(precision):
    from kerastl.encoders.kerashub_kernels import LayerNormalization

    keras.mixed_precision.set_global_policy(precision)  # conftest restores float32
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(2.0, 3.0, size=(4, 5, 16)), tf.float32)
    results = []
    for layer_class in (keras.layers.LayerNormalization, LayerNormalization):
        layer = layer_class(epsilon=1e-5)
        layer.build(x.shape)
        layer.gamma.assign(rng.normal(1.0, 0.2, size=16) if not results else results[0][2].gamma)
        layer.beta.assign(rng.normal(0.0, 0.2, size=16) if not results else results[0][2].beta)
        results.append((*_value_and_gradients(layer, tf.cast(x, layer.compute_dtype), [layer.gamma, layer.beta]),
                        layer))
    (keras_y, keras_grads, _), (fast_y, fast_grads, _) = results
    assert fast_y.dtype == keras_y.dtype
    tolerance = dict(rtol=1e-5, atol=1e-5) if precision == "float32" else dict(rtol=0, atol=3e-2)
    np.testing.assert_allclose(tf.cast(fast_y, tf.float32), tf.cast(keras_y, tf.float32), **tolerance)
    for name, fast, expected in zip(["x", "gamma", "beta"], fast_grads, keras_grads):
        scale = float(tf.reduce_max(tf.abs(tf.cast(expected, tf.float32))))
        assert scale > 0, name
        atol = 1e-5 * scale if precision == "float32" else 3e-2 * scale
        np.testing.assert_allclose(tf.cast(fast, tf.float32), tf.cast(expected, tf.float32), rtol=0, atol=atol,
                                   err_msg=name)


def test_layer_norm_kernel_leaves_other_axes_and_missing_weights_to_keras():
    from kerastl.encoders.kerashub_kernels import LayerNormalization

    x = tf.constant(np.random.default_rng(4).normal(size=(3, 4, 6)), tf.float32)
    for options in (dict(axis=1), dict(axis=[1, 2]), dict(center=False), dict(scale=False)):
        expected = keras.layers.LayerNormalization(**options)(x)
        np.testing.assert_allclose(LayerNormalization(**options)(x), expected, rtol=1e-6, atol=1e-6,
                                   err_msg=str(options))


@pytest.mark.parametrize("kind", ["distilbert", "bert", "albert"])
def test_encoder_runs_its_backbones_gelu_and_layer_norms_with_the_kernels_and_the_same_answers(kind):
    from kerastl.encoders import kerashub_kernels

    backbone = _backbone(kind, dropout=0.0)
    config = backbone.get_config()
    features = padded_features()
    norms = [layer for layer in backbone._flatten_layers() if isinstance(layer, keras.layers.LayerNormalization)]
    assert norms and not any(isinstance(n, kerashub_kernels.LayerNormalization) for n in norms)
    feed_forward = [layer for layer in backbone._flatten_layers() if layer.name == "feedforward_intermediate_dense"]
    exact = [dense.activation is keras.activations.gelu for dense in feed_forward]
    assert feed_forward and all(exact) == (kind == "distilbert")  # KerasHub builds BERT and ALBERT with the tanh GELU
    inputs = {"token_ids": features["input_ids"], "padding_mask": features["attention_mask"]}
    if kind != "distilbert":
        inputs["segment_ids"] = tf.zeros_like(features["input_ids"])
    expected = backbone(inputs)
    expected = expected["sequence_output"] if isinstance(expected, dict) else expected
    encoder = _encoder(backbone)
    assert all(type(n) is kerashub_kernels.LayerNormalization for n in norms)
    for dense, was_exact in zip(feed_forward, exact):  # the exact GELU is the kernel's, the tanh one Keras'
        assert (dense.activation is kerashub_kernels.gelu) == was_exact
    assert backbone.get_config() == config  # nothing saved changes
    np.testing.assert_allclose(encoder.hidden_states(features), expected, rtol=1e-5, atol=1e-5)
