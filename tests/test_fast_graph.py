"""kerastl.serving.fast_graph: the SavedModel's fused serving graph of a BERT-family classifier.

Its answers against `kerastl.predict` (float32 within 1e-5, bf16 within the bf16 export's
tolerance of tests/test_export.py), both signatures, both poolings, under both Kerases; its op
count against the Keras path's, with a ceiling so the graph cannot grow back; and the Keras path
kept for an encoder it does not write.
"""

import collections

import numpy as np
import pytest
import tensorflow as tf

from kerastl.analysis.evaluation import predict
from kerastl.serving import export_saved_model, onnx_weights
from tests.tokenizer_cases import hf_features

TEXTS = ["a good film", "awful plot!!", "", "Très BIEN, the movie 电影 😀", "fun " * 40,
         "the movie was very good and fun", "dull"]
# serving_default's ops (the tokenizer, the chunk loop and the encoder, function bodies included)
# of the tiny 2-block models: 2866 (BERT) and 2854 (DistilBERT) when written, against 3069 and
# 3067 through the Keras model (Keras 3).
OP_CEILING = 2880


def graph_ops(function) -> collections.Counter:
    """Op types of a concrete function's graph and every function of its library (loop bodies)."""
    graph = function.graph.as_graph_def()
    ops = collections.Counter(node.op for node in graph.node)
    for body in graph.library.function:
        ops.update(node.op for node in body.node_def)
    return ops


@pytest.fixture(scope="module")
def exports(tmp_path_factory, distilbert_tokenizer, bert_tokenizer):
    """{(kind, pooling, precision, fast): (model, loaded SavedModel)}, each exported once."""
    from tests.helpers import tiny_classifier

    models, cache = {}, {}

    def get(kind, pooling="cls", precision=None, fast=True):
        if (kind, pooling) not in models:
            tokenizer = distilbert_tokenizer if kind == "distilbert" else bert_tokenizer
            models[kind, pooling] = tiny_classifier(kind, labels=("neg", "pos", "meh"), tokenizer=tokenizer,
                                                    pooling=pooling)
        key = (kind, pooling, precision, fast)
        if key not in cache:
            model = models[kind, pooling]
            folder = tmp_path_factory.mktemp("fast") / "serving"
            cache[key] = model, tf.saved_model.load(str(export_saved_model(model, folder, precision=precision,
                                                                           fast_graph=fast)))
        return cache[key]

    return get


def _both_signatures(model, loaded):
    features = hf_features(model.tokenizer, TEXTS, model.max_length)
    by_text = loaded.signatures["serving_default"](text=tf.constant(TEXTS))["probabilities"].numpy()
    by_ids = loaded.signatures["predict_ids"](input_ids=tf.constant(features["input_ids"], tf.int32),
                                              attention_mask=tf.constant(features["attention_mask"], tf.int32))
    return by_text, by_ids["probabilities"].numpy()


@pytest.mark.parametrize("kind,pooling", [("distilbert", "cls"), ("bert", "cls"), ("distilbert", "mean"),
                                          ("bert", "mean")])
def test_float32_fast_graph_answers_as_predict(exports, kind, pooling):
    model, loaded = exports(kind, pooling)
    assert any("qkv_kernel" in v.name for v in loaded.model_variables)  # the fast graph served it
    expected = predict(model, TEXTS).probabilities
    for out in _both_signatures(model, loaded):
        np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("kind,pooling", [("distilbert", "cls"), ("bert", "mean")])
def test_bf16_fast_graph_computes_in_bf16_near_predict(exports, kind, pooling):
    model, loaded = exports(kind, pooling, "mixed_bfloat16")
    stored = {v.dtype for v in loaded.model_variables if v.dtype.is_floating}
    assert stored == {tf.float32, tf.bfloat16}  # matmul weights bf16; embeddings, norms, head float32
    expected = predict(model, TEXTS).probabilities
    for out in _both_signatures(model, loaded):
        assert out.dtype == np.float32
        assert 1e-6 < np.abs(out - expected).max() < 2e-2  # test_export's bf16 tolerance


def _kernel_constants(loaded, hidden) -> dict:
    """{function name: [dtype of each 2-D constant of a (hidden, n * hidden) matmul kernel's shape]}
    in `serving_default`'s function library."""
    graph = loaded.signatures["serving_default"].graph.as_graph_def()
    found = collections.defaultdict(list)
    for body in graph.library.function:
        for node in body.node_def:
            if node.op == "Const" and node.attr["dtype"].type in (tf.bfloat16.as_datatype_enum,
                                                                  tf.float32.as_datatype_enum):
                dims = [d.size for d in node.attr["value"].tensor.tensor_shape.dim]
                if len(dims) == 2 and hidden in dims and max(dims) >= hidden:
                    found[body.signature.name].append(tf.as_dtype(node.attr["dtype"].type).name)
    return dict(found)


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_bf16_kernels_are_graph_constants_saved_once_float32_kernels_stay_variables(exports, kind):
    # oneDNN keeps a constant bf16 weight in its blocked layout instead of reordering it every call.
    model, bf16 = exports(kind, "cls", "mixed_bfloat16")
    weights = onnx_weights.read_weights(model)
    constants = _kernel_constants(bf16, weights.hidden)
    assert len(constants) == 1, f"the kernels should be in one function both signatures call: {list(constants)}"
    assert list(constants.values())[0] == ["bfloat16"] * 4 * len(weights.blocks)
    assert not any("qkv_kernel" in v.name for v in bf16.model_variables)
    _, float32 = exports(kind)
    assert _kernel_constants(float32, weights.hidden) == {}
    assert sum("qkv_kernel" in v.name for v in float32.model_variables) == len(weights.blocks)


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_fast_graph_has_fewer_ops_than_the_keras_path_and_stays_under_its_ceiling(exports, kind):
    _, fast = exports(kind)
    _, keras_path = exports(kind, fast=False)
    fast_ops, keras_ops = (graph_ops(loaded.signatures["serving_default"]) for loaded in (fast, keras_path))
    total = sum(fast_ops.values())
    assert total < sum(keras_ops.values())
    assert total <= OP_CEILING, f"serving_default grew to {total} ops (ceiling {OP_CEILING}): {fast_ops}"
    # Per block: one query-key-value matmul, the output, intermediate and feed-forward
    # matmuls, each with its BiasAdd, and two einsums for the attention; and the head's matmul.
    # No transposes: oneDNN's cost some 90 us each even on one short text.
    assert (fast_ops["MatMul"], fast_ops["BiasAdd"], fast_ops["Einsum"]) == (9, 9, 4)
    graph = fast.signatures["serving_default"].graph.as_graph_def()
    encoder = [f for f in graph.library.function if "_logits" in f.signature.name]
    assert len(encoder) == 1 and not [n for n in encoder[0].node_def if n.op == "Transpose"]
    assert fast_ops["Transpose"] < keras_ops["Transpose"]


def test_an_encoder_the_fast_graph_does_not_write_keeps_the_keras_path(make_classifier, tmp_path, monkeypatch):
    def refuse(model):
        raise NotImplementedError("not a BERT-family encoder")

    monkeypatch.setattr(onnx_weights, "read_weights", refuse)
    model = make_classifier("bert", labels=("neg", "pos", "meh"))
    loaded = tf.saved_model.load(str(export_saved_model(model, tmp_path / "serving")))
    assert not any("qkv_kernel" in v.name for v in loaded.model_variables)
    out = loaded.signatures["serving_default"](text=tf.constant(TEXTS))["probabilities"].numpy()
    np.testing.assert_allclose(out, predict(model, TEXTS).probabilities, atol=1e-5)
