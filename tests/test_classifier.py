"""TextClassifier: the forward pass, freezing, Keras compile/fit, saving and loading."""

import numpy as np
import pytest

import kerastl
from kerastl import keras
from kerastl.tasks.text_classifier import transformer_blocks
from tests.helpers import weight_names


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
    assert "head" in names and [w.name.split("/")[-1].split(":")[0] for w in model.head.weights] == [
        "kernel", "bias"]


def test_head_uses_the_first_token_only(make_classifier):
    model = make_classifier()
    batch = next(iter(model.make_dataset(["good film", "bad plot"], batch_size=2)))
    hidden = model.encoder.hidden_states(batch, training=False)
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


def test_partial_unfreeze_trains_exactly_the_top_blocks(make_classifier):
    model = make_classifier("bert")
    blocks = transformer_blocks(model.backbone)
    model.unfreeze_backbone(top_k=1)
    expected = weight_names(blocks[-1].weights) | weight_names(model.head.weights)
    assert weight_names(model.trainable_variables) == expected
    model.unfreeze_backbone()
    pooler = weight_names(model.encoder.unused_layers[0].weights)
    assert pooler and weight_names(model.trainable_variables) == weight_names(model.weights) - pooler
    model.freeze_backbone()
    assert weight_names(model.trainable_variables) == weight_names(model.head.weights)
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
def test_save_load_round_trip_gives_identical_logits(fine_tuned, corpus, tmp_path, kind):
    model = fine_tuned(kind).model  # labels ("neg", "pos"), trained in both phases
    path = model.save_pretrained(tmp_path / "model")
    loaded = kerastl.TextClassifier.from_pretrained(path)
    assert loaded.label_names == ("neg", "pos") and loaded.max_length == model.max_length
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


def test_pooled_features_are_the_cls_vectors_in_input_order(make_classifier, corpus):
    model = make_classifier()
    encoded = model.encode(corpus[0][:20])
    features = model.pooled_features(encoded, batch_size=6).numpy()
    batch = next(iter(encoded.dataset(20)))
    expected = model.encoder.hidden_states(batch, training=False)[:, 0].numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)
