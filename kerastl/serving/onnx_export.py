"""Export a trained `TextClassifier` to ONNX for ONNX Runtime, float32 or int8, and load it back.

`export_onnx(model, path)` writes a folder:

- `model.onnx`: the encoder, the pooling and the head; inputs `input_ids` and `attention_mask`
  (int64, (batch, sequence), padded on the right), outputs `logits` and `probabilities`
  (float32, (batch, num_labels));
- `tokenizer/`: the model's own Hugging Face tokenizer (`save_pretrained`);
- `kerastl_onnx.json`: the label names, `max_length`, the pooling, the quantization and the
  fused operators of the graph.

`load_onnx(path)` gives an `OnnxClassifier` whose `predict(texts)` tokenizes with the saved
tokenizer, runs the texts sorted by length in chunks padded to their own longest (as the
SavedModel's raw-text signature does) and returns `kerastl.Predictions` in input order.

**Ids in, tokenizer beside.** The model takes token ids rather than raw strings: ONNX Runtime
tokenizes only through the custom operators of onnxruntime-extensions, a separate native
library that every serving host would then need, whose BertTokenizer is not the checkpoint's
Hugging Face fast tokenizer (accents, CJK and control characters, truncation differ), and whose
int8 runtime gains nothing. Ids in keep the graph to ONNX Runtime's own operators, give exactly
the ids `predict` feeds the Keras model, and let any client (Python, C#, Java, a server with
its own tokenizer) batch as it likes. int64 because that is what Hugging Face tokenizers return
(`return_tensors="np"`) and what PyTorch-exported BERT graphs take, so existing clients fit.

**How the graph is built.** kerastl never imports PyTorch, and tf2onnx (the TensorFlow converter)
pins protobuf 3 and supports TensorFlow up to 2.15, not the 2.21 kerastl runs on. So the graph is
written here with `onnx.helper` from the Keras weights (`kerastl.serving.onnx_weights`: KerasHub
`BertBackbone`/`DistilBertBackbone` under Keras 3, transformers' `TFBertModel`/`TFDistilBertModel`
under Keras 2), directly in fused form: one `EmbedLayerNormalization`, per block one `Attention`
(query, key and value as one matmul, the mask as a raw (batch, sequence) mask) and one `BiasGelu`
(`FastGelu` for a tanh-GELU encoder), all in ONNX Runtime's `com.microsoft` domain, and two
ONNX `LayerNormalization`s. The blocks run on 2-D (tokens, hidden) rows, 3-D only into and out
of `Attention`: ONNX Runtime rewrites a 3-D `Add` + `LayerNormalization` into its
`SkipLayerNormalization`, the form its transformer optimizer writes for BERT, whose CPU kernel
took 101 us where the 2-D pair took 44 on (8 texts x 14 tokens, 384) and 322 against 73 on (8 x 40):
MiniLM int8 at batch 32 went from 729 to 936 texts/s (ONNX Runtime 1.32, 2-core AMX Xeon).
Writing the unfused pattern only for the optimizer to match it back would tie the export to its
pattern matcher. The optimizer (`onnxruntime.transformers.optimizer.optimize_model`, model type
`bert`, skip-layer-norm fusion off) still runs over the result, for its remaining fusions and
clean-ups, and its fused-operator counts go into `kerastl_onnx.json`. `quantize="int8"` then
applies ONNX Runtime's dynamic quantization (int8 weights with a scale per output channel, uint8
activations quantized per call) to the matmuls and attention.

Needs `onnx` and `onnxruntime` (`pip install 'kerastl[onnx]'`), imported only when called.
"""

import json
import logging
from pathlib import Path
from typing import Optional

import numpy as np

from kerastl.analysis.predictions import Predictions
from kerastl.data.batching import by_length, pad_rows
from kerastl.data.text_examples import as_examples
from kerastl.preprocessing import TextClassifierPreprocessor, truncation

logger = logging.getLogger("kerastl")

MODEL_FILE = "model.onnx"
TOKENIZER_DIR = "tokenizer"
METADATA_FILE = "kerastl_onnx.json"
OPSET = 17
MS_OPSET = 1
# Most texts per forward pass in `OnnxClassifier.predict`: sorted by length and cut where padding
# would pass 1.25x their real tokens (`by_length`); 32 against 8: 762 against 707 int8 texts/s.
SERVING_CHUNK = 32
QUANTIZATIONS = (None, "int8")
INSTALL = "pip install 'kerastl[onnx]'"


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"the ONNX export needs {module.split('.')[0]}, which is not installed: "
                          f"{INSTALL}") from error


def build_graph(weights, pooling: str = "cls"):
    """The `onnx.ModelProto` of an `onnx_weights.EncoderWeights` with `pooling` ("cls" or "mean")."""
    onnx = _require("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers = [], []

    def const(name, array):
        initializers.append(numpy_helper.from_array(np.asarray(array, order="C"), name))
        return name

    def node(op, inputs, output, domain=None, **attributes):
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attributes))
        return output

    ms = "com.microsoft"
    ids = node("Cast", ["input_ids"], "ids_int32", to=TensorProto.INT32)
    mask = node("Cast", ["attention_mask"], "mask_int32", to=TensorProto.INT32)
    gamma, beta = weights.embedding_norm
    nodes.append(helper.make_node(
        "EmbedLayerNormalization",
        [ids, "", const("word_embeddings", weights.word_embeddings),
         const("position_embeddings", weights.position_embeddings), "",
         const("embeddings_gamma", gamma), const("embeddings_beta", beta), mask],
        ["embeddings", "mask_index"], name="embeddings", domain=ms, epsilon=weights.epsilon))
    # The blocks run on the (batch * length, hidden) rows, 3-D only into and out of `Attention`.
    rows_shape = const("rows_shape", np.array([-1, weights.hidden], np.int64))
    text_shape = node("Concat", [node("Shape", ["input_ids"], "ids_shape"),
                                 const("hidden_size", np.array([weights.hidden], np.int64))], "text_shape", axis=0)
    hidden = node("Reshape", ["embeddings", rows_shape], "embedding_rows")
    gelu = "FastGelu" if weights.approximate_gelu else "BiasGelu"

    def add_norm(x, residual, bias, norm, name):
        """LayerNormalization(x + bias + residual) on 2-D rows: ONNX Runtime's CPU kernel for it
        runs 2-4x faster than its fused SkipLayerNormalization (which it substitutes for 3-D)."""
        x = node("Add", [node("Add", [x, const(name + "_bias", bias)], name + "_biased"), residual], name + "_sum")
        return node("LayerNormalization", [x, const(name + "_gamma", norm[0]), const(name + "_beta", norm[1])],
                    name, axis=-1, epsilon=weights.epsilon)

    for i, block in enumerate(weights.blocks):
        p = f"block{i}_"
        attended = node("Attention", [node("Reshape", [hidden, text_shape], p + "texts"),
                                      const(p + "qkv_kernel", block.qkv_kernel), const(p + "qkv_bias", block.qkv_bias),
                                      mask], p + "attention", domain=ms, num_heads=weights.num_heads)
        attended = node("Reshape", [attended, rows_shape], p + "attention_rows")
        projected = node("MatMul", [attended, const(p + "output_kernel", block.output_kernel)], p + "attention_out")
        normed = add_norm(projected, hidden, block.output_bias, block.attention_norm, p + "attention_norm")
        inner = node("MatMul", [normed, const(p + "intermediate_kernel", block.intermediate_kernel)],
                     p + "intermediate")
        inner = node(gelu, [inner, const(p + "intermediate_bias", block.intermediate_bias)], p + "gelu", domain=ms)
        outer = node("MatMul", [inner, const(p + "feedforward_kernel", block.feedforward_kernel)], p + "feedforward")
        hidden = add_norm(outer, normed, block.feedforward_bias, block.feedforward_norm, p + "output")
    hidden = node("Reshape", [hidden, text_shape], "encoded")  # (batch, length, hidden)
    if pooling == "cls":
        pooled = node("Gather", [hidden, const("cls_index", np.array(weights.cls_index, np.int64))], "pooled", axis=1)
    elif pooling == "mean":
        weight = node("Cast", ["attention_mask"], "mask_float", to=TensorProto.FLOAT)
        weight = node("Unsqueeze", [weight, const("last_axis", np.array([-1], np.int64))], "mask_weight")
        axis = const("sequence_axis", np.array([1], np.int64))
        total = node("ReduceSum", [node("Mul", [hidden, weight], "masked"), axis], "token_sum", keepdims=0)
        count = node("ReduceSum", [weight, "sequence_axis"], "token_count", keepdims=0)
        count = node("Max", [count, const("one", np.array(1.0, np.float32))], "token_count_at_least_1")
        pooled = node("Div", [total, count], "pooled")
    else:
        raise ValueError(f"export_onnx writes the pooling 'cls' or 'mean', received {pooling!r}")
    logits = node("MatMul", [pooled, const("head_kernel", weights.head_kernel)], "head_matmul")
    node("Add", [logits, const("head_bias", weights.head_bias)], "logits")
    node("Softmax", ["logits"], "probabilities", axis=-1)

    ids_type = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
                for n in ("input_ids", "attention_mask")]
    num_labels = int(weights.head_bias.shape[0])
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", num_labels])
               for n in ("logits", "probabilities")]
    graph = helper.make_graph(nodes, "kerastl_text_classifier", ids_type, outputs, initializers)
    model = helper.make_model(graph, producer_name="kerastl",
                              opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(ms, MS_OPSET)])
    model.ir_version = min(model.ir_version, 8)  # readable by ONNX Runtime 1.14 and later
    onnx.checker.check_model(model)
    return model


def _optimize(path: Path, weights) -> dict:
    """Run ONNX Runtime's transformer optimizer over the file in place; its fused-operator counts."""
    optimizer = _require("onnxruntime.transformers.optimizer")
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False  # kept as Add + LayerNormalization (see build_graph)
    quiet = logging.getLogger(optimizer.__name__)
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # it warns that the producer is not PyTorch
    try:
        optimized = optimizer.optimize_model(str(path), model_type="bert", num_heads=weights.num_heads,
                                             hidden_size=weights.hidden, opt_level=0,
                                             optimization_options=options)
    finally:
        quiet.setLevel(level)
    optimized.save_model_to_file(str(path))
    return {op: count for op, count in optimized.get_fused_operator_statistics().items() if count}


def _quantize(path: Path) -> None:
    quantization = _require("onnxruntime.quantization")
    staging = path.with_name(path.stem + ".int8.onnx")
    from onnx import TensorProto

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it suggests shape pre-processing, which the optimizer has done
    try:
        # ONNX's shape inference does not type the com.microsoft outputs: they are float32.
        # Per channel: one scale per output column. On MiniLM (random head, emotion texts) the
        # probabilities moved by at most 0.024 from float32's, against 0.072 with one scale per
        # matrix (ONNX Runtime's default), at the same speed.
        quantization.quantize_dynamic(str(path), str(staging), weight_type=quantization.QuantType.QInt8,
                                      per_channel=True, op_types_to_quantize=["MatMul", "Attention"],
                                      extra_options={"DefaultTensorType": TensorProto.FLOAT})
    finally:
        root.setLevel(level)
    staging.replace(path)


# What the SavedModel serves for the tasks ONNX export refuses (kerastl.serving.saved_model).
ONNX_REFUSAL_OUTPUTS = {"multi_label": "its probabilities and the label set above each label's threshold",
                        "regression": "its score"}


def export_onnx(model, path, *, quantize: Optional[str] = None, overwrite: bool = False) -> Path:
    """Write `model` (a trained `kerastl.TextClassifier`) as an ONNX model folder for ONNX Runtime.

    Args:
        model: a `TextClassifier` on a BERT-family encoder (BERT, MiniLM, DistilBERT), with a tokenizer.
        path: the folder to write: `model.onnx`, `tokenizer/` and `kerastl_onnx.json`.
        quantize: `None` for float32, `"int8"` for dynamic int8 quantization of the matmuls.
        overwrite: replace the files of an existing export in `path`.

    Returns:
        The folder, for `load_onnx`.

    Example:

        kerastl.export_onnx(model, "emotion-onnx", quantize="int8")
        onnx_model = kerastl.load_onnx("emotion-onnx")
        onnx_model.predict(["i feel great"]).labels
    """
    from kerastl.serving.onnx_weights import read_weights

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, received quantize={quantize!r}")
    task = getattr(model, "task", "classification")
    if task != "classification":
        served = ONNX_REFUSAL_OUTPUTS.get(task, "its outputs")
        raise NotImplementedError(
            f"ONNX export is for single-label classifiers (kerastl.TextClassifier) today, and this is a "
            f"{type(model).__name__} (task {task!r}): its SavedModel serves it, with {served}: "
            f"kerastl.export_saved_model(model, path) (kerastl export without --format onnx)")
    if getattr(model, "tokenizer", None) is None:
        raise ValueError("this model has no tokenizer: pass tokenizer= when creating it")
    if getattr(model, "text_pair", False):
        raise NotImplementedError(
            "ONNX export writes a single-text graph (no token_type_ids input) and this model reads sentence "
            "pairs: export it as a SavedModel, whose serving_default takes text and text_pair: "
            "kerastl.export_saved_model(model, path) (kerastl export without --format onnx)")
    _require("onnx"), _require("onnxruntime")
    folder = Path(path)
    if (folder / MODEL_FILE).exists() and not overwrite:
        raise FileExistsError(f"{folder / MODEL_FILE} exists: pass overwrite=True to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    weights = read_weights(model)
    graph = build_graph(weights, model.pooling)
    import onnx

    onnx.save(graph, str(folder / MODEL_FILE))
    fused = _optimize(folder / MODEL_FILE, weights)
    if quantize == "int8":
        _quantize(folder / MODEL_FILE)
    model.tokenizer.save_pretrained(str(folder / TOKENIZER_DIR))
    metadata = {"format": "kerastl-onnx", "label_names": list(model.label_names), "max_length": model.max_length,
                "pooling": model.pooling, "quantize": quantize, "encoder": weights.family,
                "inputs": ["input_ids", "attention_mask"], "input_dtype": "int64",
                "outputs": ["logits", "probabilities"], "fused_operators": fused, "opset": OPSET}
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    logger.info("export_onnx: wrote %s (%s, fused: %s)", folder, quantize or "float32", fused)
    return folder


class OnnxClassifier:
    """An exported ONNX classifier in ONNX Runtime, with its tokenizer (`load_onnx` makes one).

    Attributes: `label_names`, `max_length`, `folder`, `metadata` (the export's json), `session`
    (the `onnxruntime.InferenceSession`), `tokenizer`.
    """

    def __init__(self, path, *, session_options=None, providers=None):
        onnxruntime = _require("onnxruntime")
        folder = Path(path)
        if folder.is_file():
            folder = folder.parent
        if not (folder / METADATA_FILE).is_file():
            raise FileNotFoundError(f"{folder} is not an export_onnx folder: it has no {METADATA_FILE}")
        self.folder = folder
        self.metadata = json.loads((folder / METADATA_FILE).read_text())
        self.label_names = tuple(self.metadata["label_names"])
        self.max_length = int(self.metadata["max_length"])
        self.preprocessor = TextClassifierPreprocessor.load(folder / TOKENIZER_DIR, self.max_length)
        self.tokenizer = self.preprocessor.tokenizer
        self._pad_id = self.preprocessor.pad_id
        self.session = onnxruntime.InferenceSession(str(folder / MODEL_FILE), sess_options=session_options,
                                                    providers=providers or ["CPUExecutionProvider"])

    def run(self, texts, output: str = "logits", batch_size: int = SERVING_CHUNK) -> np.ndarray:
        """`output` ("logits" or "probabilities") for `texts` (a list of strings, or one string),
        (n, num_labels) in input order: tokenized by the saved tokenizer, then sorted by length and
        run in batches of up to `batch_size`, each padded to its own longest
        (`kerastl.data.batching.by_length`, as `kerastl.predict` does)."""
        texts = as_examples(texts, labelled=False, what="predict(texts)").texts
        result = np.zeros((len(texts), len(self.label_names)), np.float32)
        if not texts:
            return result
        # The preprocessor's ids (its long-text reading included), padded in NumPy: no TensorFlow
        # between the tokenizer and ONNX Runtime, which at batch 1 is most of the time around the model.
        ids = truncation.token_ids(texts, self.tokenizer, self.max_length)
        for index in by_length([len(row) for row in ids], batch_size)[1]:
            features = pad_rows([ids[i] for i in index], self._pad_id)
            result[index] = self.session.run([output], features)[0]
        return result

    def probabilities(self, texts, batch_size: int = SERVING_CHUNK) -> np.ndarray:
        """The class probabilities of `texts`, (n, num_labels) float32, in input order."""
        return self.run(texts, "probabilities", batch_size)

    def predict(self, texts, batch_size: int = SERVING_CHUNK) -> Predictions:
        """`kerastl.Predictions` of `texts` (a list of strings, or one string): `.probabilities`,
        `.labels`, `.records()`, as `kerastl.predict` gives for the Keras model."""
        return Predictions(self.label_names, self.run(texts, "logits", batch_size))


def load_onnx(path, **kwargs) -> OnnxClassifier:
    """The `export_onnx` folder `path` (or its `model.onnx`) in ONNX Runtime: `OnnxClassifier`.

    Keyword arguments go to `OnnxClassifier` (`session_options=`, `providers=`)."""
    return OnnxClassifier(path, **kwargs)
