import numpy as np
import pytest

import kerastl
from kerastl import keras
from kerastl.classifier import transformer_blocks


def _weights(variables):
    return {v.name: v.numpy().copy() for v in variables}


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_logits_shape_and_inputs(make_classifier, kind):
    model = make_classifier(kind, labels=("a", "b", "c"))
    assert model.input_names_ == ("input_ids", "attention_mask")
    batch = next(iter(model.make_dataset(["good film"] * 13, batch_size=13)))
    assert model(batch).shape == (13, 3)
    assert model(batch).dtype == "float32"
    names = [layer.name for layer in model.layers]
    assert "head" in names and [w.name for w in model.head.weights] == [
        "text_classifier/head/logits/kernel:0", "text_classifier/head/logits/bias:0"]


def test_head_uses_the_first_token_only(make_classifier):
    model = make_classifier()
    batch = next(iter(model.make_dataset(["good film", "bad plot"], batch_size=2)))
    hidden = model.backbone(**batch, training=False).last_hidden_state
    expected = model.head(hidden[:, 0], training=False)
    np.testing.assert_allclose(model(batch, training=False), expected, rtol=1e-6)


def test_frozen_backbone_runs_in_inference_mode(make_classifier):
    model = make_classifier(dropout=0.0)
    batch = next(iter(model.make_dataset(["good film and plot"] * 4, batch_size=4)))
    model.freeze_backbone()
    first, second = model(batch, training=True), model(batch, training=True)
    np.testing.assert_array_equal(first, second)  # no dropout anywhere
    model.unfreeze_backbone()
    assert not np.array_equal(model(batch, training=True), model(batch, training=True))


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_head_phase_leaves_backbone_bitwise_unchanged_and_trains_head(make_classifier, corpus, kind):
    model = make_classifier(kind)
    backbone_before = _weights(model.backbone.weights)
    head_before = _weights(model.head.weights)
    kerastl.fine_tune(model, corpus, head_epochs=2, epochs=0, batch_size=8, verbose=0)
    for name, value in _weights(model.backbone.weights).items():
        np.testing.assert_array_equal(value, backbone_before[name], err_msg=name)
    for name, value in _weights(model.head.weights).items():
        assert not np.array_equal(value, head_before[name]), name


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_fine_tuning_changes_backbone_and_history_has_both_phases(make_classifier, corpus, kind):
    model = make_classifier(kind)
    before = _weights(model.backbone.trainable_weights)
    history = kerastl.fine_tune(model, corpus, corpus, head_epochs=1, epochs=2, batch_size=8, verbose=0)
    after = _weights(model.backbone.weights)
    changed = {name for name, value in before.items() if not np.array_equal(value, after[name])}
    unused = {v.name for v in model.backbone.bert.pooler.weights} if kind == "bert" else set()
    assert changed == set(before) - unused  # every weight but BERT's pooler, which feeds nothing
    assert len(history["head"]["val_accuracy"]) == 1
    assert len(history["fine_tune"]["val_accuracy"]) == 2
    assert model.training_history == history


def test_xla_optimizer_update_gives_the_plain_update(make_classifier, corpus):
    weights = []
    for xla in (False, True):
        model = make_classifier()
        kerastl.fine_tune(model, corpus, head_epochs=0, epochs=2, batch_size=8, learning_rate=1e-3,
                          xla_optimizer_update=xla, verbose=0)
        assert model.optimizer.jit_compile == xla
        weights.append(_weights(model.weights))
    start = _weights(make_classifier().weights)
    assert max(np.abs(weights[0][k] - start[k]).max() for k in start) > 1e-3  # the weights moved ...
    for name, plain in weights[0].items():  # ... and by the same steps both ways
        np.testing.assert_allclose(weights[1][name], plain, atol=1e-5, err_msg=name)


def test_partial_unfreeze_trains_exactly_the_top_blocks(make_classifier):
    model = make_classifier("bert")
    blocks = transformer_blocks(model.backbone)
    model.unfreeze_backbone(top_k=1)
    expected = {v.name for v in blocks[-1].weights} | {v.name for v in model.head.weights}
    assert {v.name for v in model.trainable_variables} == expected
    model.unfreeze_backbone()
    pooler = {v.name for v in model.backbone.bert.pooler.weights}
    assert {v.name for v in model.trainable_variables} == {v.name for v in model.weights} - pooler
    model.freeze_backbone()
    assert {v.name for v in model.trainable_variables} == {v.name for v in model.head.weights}
    with pytest.raises(ValueError, match="top_k must be between 0 and the 2 transformer blocks"):
        model.unfreeze_backbone(top_k=3)


def test_fit_after_changing_trainable_without_compile_is_refused(make_classifier, corpus):
    model = make_classifier()
    model.compile()
    model.freeze_backbone()
    with pytest.raises(RuntimeError, match="call compile\\(\\) again"):
        model.fit(model.make_dataset(*corpus, batch_size=8), epochs=1, verbose=0)


def test_works_with_keras_callbacks_evaluate_predict_summary(make_classifier, corpus, tmp_path):
    model = make_classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds = model.make_dataset(*corpus, batch_size=8)
    logger = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=5)
    model.fit(ds, epochs=2, callbacks=[logger, stop], verbose=0)
    assert (tmp_path / "log.csv").read_text().count("\n") == 3
    loss, accuracy = model.evaluate(ds, verbose=0)
    assert 0 <= accuracy <= 1 and loss > 0
    assert model.predict(ds, verbose=0).shape == (len(corpus[0]), 2)
    lines = []
    model.summary(print_fn=lines.append)
    assert any("head" in line for line in lines)


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_save_load_round_trip_gives_identical_logits(make_classifier, corpus, tmp_path, kind):
    model = make_classifier(kind, labels=("neg", "pos"))
    kerastl.fine_tune(model, corpus, head_epochs=1, epochs=1, batch_size=8, verbose=0)
    path = model.save_pretrained(tmp_path / "model")
    loaded = kerastl.TextClassifier.from_pretrained(path)
    assert loaded.labels == ("neg", "pos") and loaded.max_length == model.max_length
    assert loaded.training_history == model.training_history
    batch = next(iter(model.make_dataset(corpus[0], batch_size=64)))
    np.testing.assert_array_equal(model(batch), loaded(batch))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left


def test_save_refuses_to_replace_unless_asked(make_classifier, tmp_path):
    model = make_classifier()
    model.save_pretrained(tmp_path / "m")
    with pytest.raises(kerastl.ModelFileError, match="already exists"):
        model.save_pretrained(tmp_path / "m")
    model.save_pretrained(tmp_path / "m", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_loading_a_damaged_model_names_the_file(make_classifier, tmp_path):
    model = make_classifier()
    path = model.save_pretrained(tmp_path / "m")
    (path / "model.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(kerastl.ModelFileError, match="model.weights.h5 cannot be read"):
        kerastl.TextClassifier.from_pretrained(path)
    with pytest.raises(kerastl.ModelFileError, match="is not a saved kerastl model"):
        kerastl.TextClassifier.from_pretrained(tmp_path)


@pytest.mark.parametrize("kwargs, match", [
    ({"labels": ("a",)}, "num_labels must be >= 2"),
    ({"labels": ("a", "a")}, "label_names must be distinct"),
    ({"max_length": 65}, "position limit 64"),
    ({"dropout": 1.5}, "dropout must be in"),
])
def test_bad_model_arguments(make_classifier, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_classifier(**kwargs)


def test_head_on_cached_features_equals_head_on_frozen_backbone(make_classifier, corpus):
    """Phase 1 on cached [CLS] vectors ends with the same head as phase 1 on the live encoder."""
    heads = []
    for cache in (True, False):
        model = make_classifier(dropout=0.0, seed=7)
        kerastl.fine_tune(model, corpus, corpus, head_epochs=3, epochs=0, batch_size=8,
                          cache_head_features=cache, verbose=0)
        heads.append([w.numpy() for w in model.head.weights])
    for cached, live in zip(*heads):
        np.testing.assert_allclose(cached, live, rtol=1e-4, atol=1e-5)
    assert not np.allclose(heads[0][0], make_classifier(dropout=0.0, seed=7).head.weights[0].numpy())


def test_pooled_features_are_the_cls_vectors_in_input_order(make_classifier, corpus):
    model = make_classifier()
    encoded = model.encode(corpus[0][:20])
    features = model.pooled_features(encoded, batch_size=6).numpy()
    batch = next(iter(encoded.dataset(20)))
    expected = model.backbone(**batch, training=False).last_hidden_state[:, 0].numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("phase", ["head", "fine_tune"])
def test_nan_loss_stops_at_once_with_the_likely_causes(make_classifier, corpus, phase):
    model = make_classifier()
    rates = {"head_learning_rate": 1e38} if phase == "head" else {"head_epochs": 0, "learning_rate": 1e38}
    with pytest.raises(kerastl.errors.TrainingError, match="loss became NaN at batch .* learning rate too high"):
        kerastl.fine_tune(model, corpus, epochs=3, batch_size=8, verbose=0, **rates)
