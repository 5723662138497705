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

