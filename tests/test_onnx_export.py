"""kerastl.serving.onnx_export: the ONNX graph of a tiny random classifier against its Keras predictions.

Runs under both Kerases (KerasHub backbones under KERASTL_KERAS=3, transformers' TF encoders
under 2). float32 probabilities agree within 1e-4; int8 (dynamic quantization of the matmuls and
attention) within 0.03 absolute, with at least 90% of the labels agreeing (a random head puts
many texts near a tie, where int8 rounding may flip the label).
"""

import json

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import kerastl  # noqa: E402
from kerastl.serving.onnx_export import METADATA_FILE, MODEL_FILE, TOKENIZER_DIR, export_onnx, load_onnx  # noqa: E402
from tests.helpers import synthetic_corpus  # noqa: E402

TEXTS, _ = synthetic_corpus(48, seed=3)
TEXTS = TEXTS + ["", "good", " ".join(["very"] * 40)]  # empty, one word, truncated to max_length

INT8_TOLERANCE = 0.03
INT8_LABEL_AGREEMENT = 0.9


@pytest.fixture(scope="module")
def exported(tmp_path_factory, distilbert_tokenizer, bert_tokenizer):
    """{(kind, pooling, quantize): (Keras probabilities, the loaded export)}, each built once."""
    from tests.helpers import tiny_classifier

    cache = {}

    def get(kind, pooling, quantize=None):
        key = (kind, pooling, quantize)
        if key not in cache:
            tokenizer = distilbert_tokenizer if kind == "distilbert" else bert_tokenizer
            model = tiny_classifier(kind, labels=("neg", "neutral", "pos"), tokenizer=tokenizer, pooling=pooling)
            expected = kerastl.predict(model, TEXTS).probabilities
            folder = export_onnx(model, tmp_path_factory.mktemp("onnx") / "export", quantize=quantize)
            cache[key] = expected, load_onnx(folder)
        return cache[key]

    return get


@pytest.mark.parametrize("kind,pooling", [("distilbert", "cls"), ("bert", "cls"), ("distilbert", "mean"),
                                          ("bert", "mean")])
def test_float32_matches_predict(exported, kind, pooling):
    expected, onnx_model = exported(kind, pooling)
    predictions = onnx_model.predict(TEXTS)
    np.testing.assert_allclose(predictions.probabilities, expected, atol=1e-4)
    assert predictions.labels == [onnx_model.label_names[i] for i in expected.argmax(-1)]
    np.testing.assert_allclose(onnx_model.probabilities(TEXTS), expected, atol=1e-4)


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_int8_close_to_predict(exported, kind):
    expected, onnx_model = exported(kind, "cls", "int8")
    probabilities = onnx_model.probabilities(TEXTS)
    assert np.abs(probabilities - expected).max() < INT8_TOLERANCE
    assert np.mean(probabilities.argmax(-1) == expected.argmax(-1)) >= INT8_LABEL_AGREEMENT
    graph = onnx_model_graph(onnx_model)
    ops = {node.op_type for node in graph.node}
    assert ops & {"DynamicQuantizeMatMul", "MatMulInteger", "QAttention"}, ops
    # A scale per output channel of every quantized weight, not one per matrix.
    scales = [list(i.dims) for i in graph.initializer if i.name.endswith("_scale")]
    assert scales and all(len(dims) == 1 and dims[0] > 1 for dims in scales), scales


def onnx_model_graph(onnx_model):
    import onnx

    return onnx.load(str(onnx_model.folder / MODEL_FILE)).graph


def test_order_and_chunking(exported):
    """Rows come back in input order whatever the chunk size; one string is one text."""
    expected, onnx_model = exported("distilbert", "cls")
    for batch_size in (1, 3, 64):
        np.testing.assert_allclose(onnx_model.probabilities(TEXTS, batch_size=batch_size), expected, atol=1e-4)
    assert onnx_model.predict("good").probabilities.shape == (1, 3)
    assert onnx_model.predict([]).probabilities.shape == (0, 3)
    with pytest.raises(ValueError, match="batch_size"):
        onnx_model.probabilities(TEXTS, batch_size=0)


def test_folder_graph_and_metadata(exported):
    import onnx

    _, onnx_model = exported("bert", "cls")
    folder = onnx_model.folder
    assert (folder / MODEL_FILE).is_file() and (folder / TOKENIZER_DIR / "tokenizer.json").is_file()
    metadata = json.loads((folder / METADATA_FILE).read_text())
    assert metadata["label_names"] == ["neg", "neutral", "pos"] and metadata["max_length"] == 24
    assert metadata["pooling"] == "cls" and metadata["quantize"] is None
    # The transformer fusions: one attention and two layer norms per block (2 blocks), the
    # embeddings once; the norms as ONNX's LayerNormalization, not ONNX Runtime's slower
    # SkipLayerNormalization (see build_graph).
    fused = metadata["fused_operators"]
    assert fused["Attention"] == 2 and fused["LayerNormalization"] == 4 and fused["EmbedLayerNormalization"] == 1
    assert "SkipLayerNormalization" not in fused
    graph = onnx.load(str(folder / MODEL_FILE)).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.INT64 for i in graph.input)
    assert [o.name for o in graph.output] == ["logits", "probabilities"]
    ops = [n.op_type for n in graph.node]
    assert ops.count("LayerNormalization") == 4 and "SkipLayerNormalization" not in ops
    assert not {"ReduceMean", "Sqrt", "Pow", "Erf"} & set(ops)  # no norm or GELU left unfused
    assert [n.name for n in graph.node if n.op_type == "Softmax"] == ["probabilities"]


def test_refusals(tmp_path, make_classifier):
    model = make_classifier()
    with pytest.raises(ValueError, match="quantize"):
        export_onnx(model, tmp_path / "a", quantize="fp16")
    export_onnx(model, tmp_path / "b")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_onnx(model, tmp_path / "b")
    export_onnx(model, tmp_path / "b", overwrite=True)
    with pytest.raises(FileNotFoundError, match="export_onnx"):
        load_onnx(tmp_path)
