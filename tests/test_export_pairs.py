"""A pair model's SavedModel: `text` and `text_pair` in, the same answers as `predict` on the pairs."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import kerastl
from tests.helpers import tiny_bert_config, tiny_tokenizer

A = ["the movie was good", "it was bad", "the plot is fun", "", "love it " * 30, "very dull"]
B = ["great film and fun", "", "love the plot", "hate the plot", "good fun " * 40, "bad and awful"]


def pair_model(task="classification", seed=0):
    kerastl.keras.utils.set_random_seed(seed)
    kwargs = dict(tokenizer=tiny_tokenizer("bert"), max_length=24, text_pair=True)
    if task == "regression":
        return kerastl.TextRegressor.from_backbone(tiny_bert_config(), **kwargs)
    return kerastl.TextClassifier.from_backbone(tiny_bert_config(), ("neg", "pos"), **kwargs)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_pair_export_serves_text_and_text_pair_as_predict(task, tmp_path):
    model = pair_model(task)
    path = kerastl.export_saved_model(model, tmp_path / "serving")
    loaded = tf.saved_model.load(str(path))
    text_inputs = loaded.signatures["serving_default"].structured_input_signature[1]
    assert sorted(text_inputs) == ["text", "text_pair"]
    ids_inputs = loaded.signatures["predict_ids"].structured_input_signature[1]
    assert sorted(ids_inputs) == ["attention_mask", "input_ids", "token_type_ids"]
    assert json.loads((path / "assets.extra" / "kerastl.json").read_text())["text_pair"] is True

    served = loaded.signatures["serving_default"](text=tf.constant(A), text_pair=tf.constant(B))
    expected = kerastl.predict(model, (A, B)) if task == "classification" else model.predict((A, B), verbose=0)
    if task == "regression":
        np.testing.assert_allclose(served["score"].numpy(), np.reshape(expected, -1), atol=1e-5)
    else:
        np.testing.assert_allclose(served["probabilities"].numpy(), expected.probabilities, atol=1e-5)
        assert [v.decode() for v in served["label"].numpy()] == list(expected.labels)
    # The segment ids reach the encoder: the pairs swapped give other answers.
    swapped = loaded.signatures["serving_default"](text=tf.constant(B[:1]), text_pair=tf.constant(A[:1]))
    key = "score" if task == "regression" else "probabilities"
    assert not np.allclose(swapped[key].numpy()[0], served[key].numpy()[0], atol=1e-6)
    # One pair as two scalars is a batch of one; texts and second texts must match in shape.
    one = loaded.signatures["serving_default"](text=tf.constant(A[0]), text_pair=tf.constant(B[0]))
    np.testing.assert_allclose(one[key].numpy()[0], served[key].numpy()[0], atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="text and text_pair must have the same shape"):
        loaded.signatures["serving_default"](text=tf.constant(A), text_pair=tf.constant(B[:2]))


def test_pair_export_predict_ids_and_load_saved_model_in_a_fresh_process(tmp_path):
    model = pair_model()
    path = kerastl.export_saved_model(model, tmp_path / "serving")
    expected = kerastl.predict(model, (A, B)).probabilities
    features = model.preprocessor.features((A, B))
    ids = tf.saved_model.load(str(path)).signatures["predict_ids"](**features)
    np.testing.assert_allclose(ids["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(kerastl.load_saved_model(path).predict((A, B)).probabilities, expected, atol=1e-5)
    np.save(tmp_path / "expected.npy", expected)
    # Served by TensorFlow alone, in a process that never imports kerastl.
    script = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        f"a, b = json.loads({json.dumps(json.dumps([A, B]))})\n"
        f"f = tf.saved_model.load({str(path)!r}).signatures['serving_default']\n"
        "p = f(text=tf.constant(a), text_pair=tf.constant(b))['probabilities'].numpy()\n"
        f"np.testing.assert_allclose(p, np.load({str(tmp_path / 'expected.npy')!r}), atol=1e-5)\n"
        "assert 'kerastl' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=str(tmp_path))


def test_onnx_export_refuses_a_pair_model(tmp_path):
    pytest.importorskip("onnx")
    with pytest.raises(NotImplementedError, match="sentence pairs"):
        kerastl.export_onnx(pair_model(), tmp_path / "onnx")
