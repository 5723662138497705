"""Phase 2's AdamW with per-weight learning-rate multipliers (layer-wise learning-rate decay)."""

import contextlib

import numpy as np
import pytest
import tensorflow as tf

import kerastl
from kerastl import keras
from kerastl._keras import KERAS_VERSION
from kerastl.training.optimizers import AdamW, layer_multipliers
from tests.helpers import weight_values


def _variable():
    return keras.Variable(np.ones(3, "float32")) if KERAS_VERSION == 3 else keras.backend.variable(np.ones(3))


@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.keras2)])
def test_a_multiplier_scales_the_update_of_its_weight_only(jit):
    full, scaled = _variable(), _variable()
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=10)
    optimizer = AdamW(learning_rate=schedule, weight_decay=0.0)
    if jit:
        optimizer.jit_compile = True
    optimizer.scale_learning_rate([scaled], 0.25)
    reference = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.0)
    gradient = np.array([1.0, -2.0, 3.0], "float32")
    other = _variable()
    for _ in range(3):
        optimizer.apply_gradients([(gradient, full), (gradient, scaled)])
        reference.apply_gradients([(gradient, other)])
    moved_full = 1 - np.asarray(full.numpy())
    moved_scaled = 1 - np.asarray(scaled.numpy())
    assert np.abs(moved_full).min() > 0.1  # three Adam steps of about the rate each
    np.testing.assert_allclose(moved_scaled, 0.25 * moved_full, rtol=1e-5)
    assert float(optimizer.learning_rate) == float(reference.learning_rate)  # read outside an update: unscaled


@pytest.mark.parametrize("mirrored", [False, True])
def test_weight_decay_follows_the_multiplier_and_keras_otherwise(mirrored):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"]) if mirrored else None
    with strategy.scope() if strategy else contextlib.nullcontext():
        full, scaled, other = _variable(), _variable(), _variable()
        optimizer = AdamW(learning_rate=0.1, weight_decay=0.5)
        reference = keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
        optimizer.scale_learning_rate([scaled], 0.25)
    zero = tf.zeros(3)  # Adam's own step is then 0: only the decay moves a weight

    def step():
        optimizer.apply_gradients([(zero, full), (zero, scaled)])
        reference.apply_gradients([(zero, other)])

    for _ in range(2):
        strategy.run(tf.function(step)) if strategy else step()
    np.testing.assert_allclose(full.numpy(), other.numpy(), rtol=1e-6)
    np.testing.assert_allclose(full.numpy(), (1 - 0.5 * 0.1) ** 2, rtol=1e-6)
    np.testing.assert_allclose(scaled.numpy(), (1 - 0.25 * 0.5 * 0.1) ** 2, rtol=1e-6)


@pytest.mark.parametrize("multiplier", [0, -0.5, 1.5])
def test_a_multiplier_outside_zero_to_one_is_refused(multiplier):
    with pytest.raises(ValueError, match=r"multiplier must be in \(0, 1\]"):
        AdamW(learning_rate=0.1).scale_learning_rate([_variable()], multiplier)


def test_layer_multipliers_cover_every_encoder_weight_once_and_decay_downwards(make_classifier):
    model = make_classifier("bert")
    pairs = layer_multipliers(model.encoder, 0.5)
    depth = len(model.encoder.transformer_layers)
    assert [factor for _, factor in pairs] == [0.5 ** k for k in range(1, depth + 2)]
    covered = [id(weight) for weights, _ in pairs for weight in weights]
    assert sorted(covered) == sorted(id(weight) for weight in model.backbone.weights)
    assert not {id(weight) for weight in model.head.weights} & set(covered)


def test_fine_tune_with_layer_lr_decay_barely_moves_the_embeddings(make_classifier, corpus):
    moved = {}
    for decay in (1.0, 0.01):
        model = make_classifier("distilbert")
        embeddings = model.encoder.other_layers
        before = weight_values([w for layer in embeddings for w in layer.weights])
        kerastl.fine_tune(model, corpus, head_epochs=0, epochs=1, batch_size=8, layer_lr_decay=decay,
                          weight_decay=0.0, verbose=0)
        after = weight_values([w for layer in embeddings for w in layer.weights])
        moved[decay] = max(np.abs(after[name] - value).max() for name, value in before.items())
    assert moved[1.0] > 1e-5
    assert moved[0.01] < moved[1.0] / 100  # 0.01 ** (blocks + 1) of the rate


@pytest.mark.parametrize("decay", [0, 1.5])
def test_layer_lr_decay_outside_zero_to_one_is_refused(decay):
    with pytest.raises(ValueError, match="layer_lr_decay must be in"):
        kerastl.TrainingConfig(layer_lr_decay=decay)


def test_a_model_fine_tuned_with_layer_lr_decay_saves_and_loads_with_its_optimizer(make_classifier, corpus, tmp_path):
    model = make_classifier("distilbert")
    kerastl.fine_tune(model, corpus, head_epochs=0, epochs=1, batch_size=16, layer_lr_decay=0.5, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is AdamW
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) > 0
    texts = corpus[0][:8]
    np.testing.assert_array_equal(loaded.predict(texts, verbose=0), model.predict(texts, verbose=0))


@pytest.mark.keras3
@pytest.mark.parametrize("multiplier, decay", [(1.0, 0.1), (0.5, 0.0)])  # a multiplier leaves the decay as it is
def test_the_fused_update_matches_keras_adamw_step_by_step(multiplier, decay):
    """kerastl's AdamW runs TF's fused Adam kernel under Keras 3: the weights must follow Keras'
    own AdamW, for a dense gradient, an embedding's IndexedSlices gradient and a weight kept out
    of weight decay, under a warmup-and-cosine schedule. A row twice in the IndexedSlices (a
    token twice in a batch) takes the Adam step of its summed gradient, as a dense gradient does
    (and PyTorch's AdamW); Keras' sparse path squares the two parts apart, so the reference is
    given the same gradient made dense."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    start = {"kernel": rng.normal(size=(4, 3)), "embeddings": rng.normal(size=(10, 3)), "bias": rng.normal(size=3)}

    def weights():
        return {name: keras.Variable(value.astype("float32"), name=name) for name, value in start.items()}

    def gradients(step):
        g = np.random.default_rng(step)
        rows = tf.constant([1, 4, 4, 7])
        return [
            tf.constant(g.normal(size=(4, 3)), tf.float32),
            tf.IndexedSlices(tf.constant(g.normal(size=(4, 3)), tf.float32), rows, tf.constant([10, 3])),
            tf.constant(g.normal(size=3), tf.float32),
        ]

    schedule = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=8, warmup_target=0.05, warmup_steps=2)
    ours, theirs = weights(), weights()
    fused = AdamW(learning_rate=schedule, weight_decay=decay)
    reference = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=decay)
    for optimizer in (fused, reference):
        optimizer.exclude_from_weight_decay(var_names=["bias"])
    if multiplier != 1.0:
        fused.scale_learning_rate([ours["kernel"]], multiplier)
        reference_scaled = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.1)
    def compiled(optimizer, variables):
        optimizer.build(variables)
        return tf.function(lambda grads: optimizer.apply(grads, variables))

    fused_step = compiled(fused, list(ours.values()))
    if multiplier == 1.0:
        reference_steps = [compiled(reference, list(theirs.values()))]
    else:  # the scaled weight alone, under the schedule times the multiplier
        reference_scaled = keras.optimizers.AdamW(
            learning_rate=lambda: schedule(reference_scaled.iterations) * multiplier, weight_decay=decay)
        reference_steps = [compiled(reference_scaled, [theirs["kernel"]]),
                           compiled(reference, [theirs["embeddings"], theirs["bias"]])]
    for index in range(6):
        grads = gradients(index)
        fused_step(grads)
        grads = [tf.convert_to_tensor(g) for g in grads]  # the reference: the IndexedSlices made dense
        if multiplier == 1.0:
            reference_steps[0](grads)
        else:
            reference_steps[0](grads[:1])
            reference_steps[1](grads[1:])
    graph = fused_step.get_concrete_function(gradients(0)).graph
    assert "ResourceApplyAdam" in {op.type for op in graph.get_operations()}
    for name in start:
        assert np.abs(ours[name].numpy() - start[name]).max() > 1e-3  # it trained
        np.testing.assert_allclose(ours[name].numpy(), theirs[name].numpy(), atol=1e-6, err_msg=name)
