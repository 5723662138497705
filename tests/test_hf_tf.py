"""The hf_tf encoder family: what `kerastl.encoders.Encoder` reads off a transformers TF encoder,
and the [CLS] fast path (the top block for [CLS] alone)."""

import numpy as np
import pytest
import tensorflow as tf
from transformers import AlbertConfig, CamembertConfig, RobertaConfig, TFAutoModel, XLMRobertaConfig

from kerastl import keras
from kerastl.encoders import wrap
from kerastl.encoders.hf_tf import NO_DECAY, HFTFEncoder
from tests.helpers import padded_features, tiny_bert_config, tiny_distilbert_config

pytestmark = pytest.mark.keras2  # the transformers TF family runs on tf-keras only

BERT_SIZES = dict(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                  intermediate_size=37, max_position_embeddings=64, pad_token_id=1)
CONFIGS = {
    "distilbert": lambda **kw: tiny_distilbert_config(n_layers=3, **kw),
    "bert": lambda **kw: tiny_bert_config(num_hidden_layers=3, **kw),
    "roberta": lambda **kw: RobertaConfig(**BERT_SIZES, **kw),
    "xlm-roberta": lambda **kw: XLMRobertaConfig(**BERT_SIZES, **kw),
    "camembert": lambda **kw: CamembertConfig(**BERT_SIZES, **kw),
    "albert": lambda **kw: AlbertConfig(**{**BERT_SIZES, "embedding_size": 16}, **kw),  # runs whole
}
NO_DROPOUT = {
    "distilbert": dict(dropout=0.0, attention_dropout=0.0),
}


def cls_hidden_state(encoder, features, training=False):
    return HFTFEncoder(encoder).cls_hidden_state(features, training)


def _encoder(kind, **overrides):
    keras.utils.set_random_seed(0)
    encoder = TFAutoModel.from_config(CONFIGS[kind](**overrides))
    encoder(encoder.dummy_inputs, training=False)
    return encoder


def _whole(encoder, features, training=False):
    return encoder(**features, training=training).last_hidden_state[:, 0]


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_cls_hidden_state_equals_the_whole_encoders_first_position(kind):
    encoder = _encoder(kind)
    features = padded_features()
    np.testing.assert_allclose(cls_hidden_state(encoder, features), _whole(encoder, features),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("kind", ["distilbert", "bert", "roberta"])
def test_cls_hidden_state_trains_every_weight_as_the_whole_encoder_does(kind, precision):
    keras.mixed_precision.set_global_policy(precision)
    no_dropout = NO_DROPOUT.get(kind, dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    encoder = _encoder(kind, **no_dropout)
    features = padded_features(seed=1)
    direction = tf.constant(np.random.default_rng(2).normal(size=(1, 32)), tf.float32)

    def gradients(pool):
        with tf.GradientTape() as tape:
            pooled = pool(encoder, features, training=True)  # (batch, dim), in the compute dtype
            loss = tf.reduce_sum(tf.tanh(tf.cast(pooled, tf.float32)) * direction)
        grads = tape.gradient(loss, encoder.trainable_variables)
        return [None if g is None else tf.convert_to_tensor(g) for g in grads]

    fast, whole = gradients(cls_hidden_state), gradients(_whole)
    # bf16 rounds the two orders of summation apart: compare on the scale of the largest gradient.
    scale = max(float(tf.reduce_max(tf.abs(g))) for g in whole if g is not None)
    tolerance = dict(rtol=1e-4, atol=1e-6) if precision == "float32" else dict(rtol=0, atol=1e-2 * scale)
    for variable, fast_gradient, whole_gradient in zip(encoder.trainable_variables, fast, whole):
        if whole_gradient is None:  # BERT's pooler feeds neither
            assert fast_gradient is None, variable.name
            continue
        assert fast_gradient.dtype == whole_gradient.dtype, variable.name
        fast_moves, whole_moves = (float(tf.reduce_max(tf.abs(g))) > 0 for g in (fast_gradient, whole_gradient))
        if precision == "float32":
            assert whole_moves, variable.name
        else:  # a key bias's gradient is zero but for rounding, which bf16 can make exactly zero
            assert fast_moves == whole_moves, variable.name
        np.testing.assert_allclose(fast_gradient, whole_gradient, **tolerance, err_msg=variable.name)


@pytest.mark.parametrize("kind", sorted(set(CONFIGS) - {"albert"}))
def test_top_block_runs_its_feed_forward_on_cls_only(kind, monkeypatch):
    encoder = _encoder(kind)
    main = getattr(encoder, encoder.base_model_prefix)
    blocks = main.transformer.layer if kind == "distilbert" else main.encoder.layer
    widths = []
    for block in blocks:
        feed_forward = block.ffn if kind == "distilbert" else block.intermediate
        original = feed_forward.call

        def spy(hidden, *args, _original=original, **kwargs):
            widths.append(hidden.shape[1])
            return _original(hidden, *args, **kwargs)

        monkeypatch.setattr(feed_forward, "call", spy)
    cls_hidden_state(encoder, padded_features())
    assert widths == [9, 9, 1]  # the lower blocks see all 9 positions, the top block [CLS] only


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_cls_hidden_state_under_mixed_bfloat16(kind):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # conftest restores float32
    encoder = _encoder(kind)
    fast, whole = cls_hidden_state(encoder, padded_features()), _whole(encoder, padded_features())
    assert fast.dtype == whole.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(fast, tf.float32), tf.cast(whole, tf.float32), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_encoder_face_of_a_transformers_encoder(kind):
    layer = _encoder(kind)
    encoder = wrap(layer)
    assert isinstance(encoder, HFTFEncoder) and wrap(encoder) is encoder and encoder.layer is layer
    assert (encoder.hidden_dim, encoder.position_limit) == (32, layer.config.max_position_embeddings)
    assert encoder.input_names == ("input_ids", "attention_mask")
    assert encoder.no_decay_names == NO_DECAY
    main = getattr(layer, layer.base_model_prefix)
    blocks = main.transformer.layer if kind == "distilbert" else main.encoder.layer
    assert encoder.transformer_layers == list(blocks)
    others = {id(layer) for layer in encoder.other_layers}
    assert id(main.embeddings) in others and not others & {id(block) for block in blocks}
    assert encoder.unused_layers == ([main.pooler] if kind == "bert" else [])
    rebuilt = HFTFEncoder.from_config_dict(encoder.config_dict())
    assert rebuilt.config_dict() == encoder.config_dict()
