"""Serving benchmark: the exported raw-text signature against the Hugging Face path.

Builds a MiniLM classifier (random head), exports it with `kerastl.export_saved_model`, and
times, on this machine and in one run:

- `exported`: the SavedModel's `serving_default` signature (raw strings in, tokenization in the
  graph), loaded with `tf.saved_model.load`, as TF Serving would run it;
- `exported_bf16`: the same model exported with `precision="mixed_bfloat16"` (float32 inputs and
  outputs, bf16 arithmetic);
- `predict`, `predict_bf16`: `kerastl.predict(model, texts)` in this process (the Python
  tokenizer, then the Keras model on batches by length), the model under float32 and under
  `mixed_bfloat16`;
- `hf_eager`: what a user would otherwise write: the Python fast tokenizer, then
  `TFAutoModelForSequenceClassification` called as `model(inputs)`;
- `hf_function`: the same with the model call wrapped in a `tf.function` (dynamic shapes);
- `hf_function_bf16`: the same model built under a `mixed_bfloat16` Keras policy;
- `kerastl_onnx`, `kerastl_onnx_int8`: kerastl's ONNX export (`export_onnx`, float32 and int8
  dynamic quantisation) run by its loader (`load_onnx(...).probabilities`: the saved Python
  tokenizer, then ONNX Runtime on chunks of texts sorted by length);
- `torch_forward`, `torch_forward_bf16`: the Python fast tokenizer, then the PyTorch model's
  forward in `torch.inference_mode` (bf16: the model cast to `torch.bfloat16`);
- `torch_pipeline`, `torch_pipeline_bf16`: transformers' `pipeline("text-classification")` on the
  same PyTorch models, `batch_size` as the request's;
- `onnxruntime_fp32`: the PyTorch model exported to ONNX (`torch.onnx.export`, opset 17, dynamic
  batch and length), graph-optimised by `onnxruntime.transformers.optimizer` (model type bert),
  in ONNX Runtime, the Python fast tokenizer padding each request to its longest text;
- `onnxruntime_int8`: that graph with ONNX Runtime's dynamic int8 quantisation;
- `openvino_fp32`, `openvino_bf16`: the same ONNX export in OpenVINO's CPU plugin, inference
  precision f32 and bf16 (bf16 where the CPU plugin offers it).

The PyTorch rows run in a process of their own (`serving_torch.py`, which also writes the ONNX
file): TensorFlow and PyTorch's default wheel (triton) cannot share a process. They are timed
there, request by request, in the same blocks and turns as every other row. The peers install
with `make bench-deps` (`pip install -e '.[bench]'`); without one of them the run stops naming
that command, unless `--skip-missing` leaves its rows out.

The bf16 rows run only where kerastl's `auto` precision would pick bf16 (a CPU with AVX512-BF16
or AMX). `best_peer` is the best of the peer rows on each measure, `best_kerastl` the best of
kerastl's export rows (`exported`, `exported_bf16`, `kerastl_onnx`, `kerastl_onnx_int8`), and
`kerastl_vs_best_peer` the ratio of the one to the other; `savedmodel_vs_best_framework_peer`
gives the same ratios for the best SavedModel row against the best TensorFlow and PyTorch rows
(`hf_*`, `torch_*`), and `vs_best_peer` those for every kerastl row.

Every model has MiniLM's architecture and max_length 128; weights do not change the timing.
Latency is per request at batch 1 (p50, p99); throughput is texts per second at batch 32. The
variants take turns in blocks (`--block` requests, a quarter as many batches), round after
round, so load from other processes hits them alike. Not request by request: a runtime's
threads keep spinning on the cores for a while after each call (PyTorch's OpenMP threads
longest), which would charge that runtime's wait to whichever variant runs next; no server
runs two runtimes in turn like that.

Run:
    make bench-deps   # once: PyTorch (CPU), ONNX Runtime, OpenVINO
    .venv/bin/python benchmarks/serving.py [--requests 200] [--batches 16] [--skip-missing]

Prints one JSON object.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # transformers' TF models run on tf_keras
os.environ["USE_TORCH"] = "0"  # this process never imports PyTorch (serving_torch.py's does, without this)

import numpy as np  # noqa: E402
import serving_peers as peers_lib  # noqa: E402  (benchmarks/, beside this file)
import tensorflow as tf  # noqa: E402
from transformers import AutoConfig, AutoTokenizer, TFAutoModelForSequenceClassification  # noqa: E402

import kerastl  # noqa: E402
from kerastl.precision import AUTO_PRECISION_ENV  # noqa: E402
from kerastl.serving import saved_model as export_lib  # noqa: E402

PRESET = "all-minilm-l6-v2"
EMOTION = Path(__file__).resolve().parents[2] / "shared" / "data" / "emotion" / "validation.txt"
MAX_LENGTH = 128


def load_texts():
    if EMOTION.is_file():
        examples = kerastl.read_examples(EMOTION, sep=";", names=["text", "label"])
        return "emotion/validation", examples.texts, examples.label_names()
    from kerastl.data.sample_data import rotten_tomatoes

    examples = rotten_tomatoes()["validation"]
    return "rotten_tomatoes/validation", examples.texts, examples.label_names()


def exported_path(model, folder, precision=None, chunk=None, fast_graph=True, ops=None):
    """The exported `serving_default`, run in chunks of `chunk` texts (None: kerastl's `SERVING_CHUNK`);
    `fast_graph=False` exports the Keras model's graph instead of the fast one. With `ops`, a dict,
    the number of ops of `serving_default` (function bodies included) and of `predict_ids` are added
    to it under the row's name."""
    default = export_lib.SERVING_CHUNK
    export_lib.SERVING_CHUNK = chunk or default  # read when the signature is traced, at export
    try:
        path = kerastl.export_saved_model(model, Path(folder) / "serving", text_signature=True, precision=precision,
                                          fast_graph=fast_graph)
    finally:
        export_lib.SERVING_CHUNK = default
    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures["serving_default"]
    if ops is not None:
        ops[path.name] = {name: op_count(loaded.signatures[name]) for name in ("serving_default", "predict_ids")}

    def run(texts):
        return signature(text=tf.constant(texts))["probabilities"].numpy()

    return run


def op_count(function) -> int:
    """The ops of a concrete function's graph and of every function in its library (loop bodies)."""
    graph = function.graph.as_graph_def()
    return len(graph.node) + sum(len(body.node_def) for body in graph.library.function)


def predict_path(model):
    """`kerastl.predict` in this process, in batches of up to 32 texts."""

    def run(texts):
        return kerastl.predict(model, texts, batch_size=32).probabilities

    return run


def hugging_face_paths(num_labels, bf16=False):
    """`(eager, function)` runs of the HF TF model, built under `mixed_bfloat16` if `bf16`."""
    import tf_keras

    folder = str(kerastl.preset_path(PRESET))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder, num_labels=num_labels)
    tf_keras.mixed_precision.set_global_policy("mixed_bfloat16" if bf16 else "float32")
    try:
        model = TFAutoModelForSequenceClassification.from_config(config)
        model(model.dummy_inputs, training=False)  # create the weights
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")

    def features(texts):
        return tokenizer(texts, truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="tf")

    def eager(texts):
        return tf.nn.softmax(tf.cast(model(features(texts), training=False).logits, tf.float32)).numpy()

    spec = tf.TensorSpec([None, None], tf.int32)

    @tf.function(input_signature=[spec, spec])
    def forward(input_ids, attention_mask):
        logits = model(input_ids=input_ids, attention_mask=attention_mask, training=False).logits
        return tf.nn.softmax(tf.cast(logits, tf.float32))

    def function(texts):
        inputs = features(texts)
        ids, mask = tf.cast(inputs["input_ids"], tf.int32), tf.cast(inputs["attention_mask"], tf.int32)
        return forward(ids, mask).numpy()

    return eager, function


def native_bf16() -> bool:
    """Whether kerastl's `auto` precision picks bf16 on this machine (AVX512-BF16 or AMX)."""
    from kerastl.precision import detect_precision

    return os.environ.get(AUTO_PRECISION_ENV) is None and detect_precision() == "mixed_bfloat16"


def peer_paths(num_labels, bf16, folder, missing) -> tuple:
    """Every peer this machine can run: ({name: run(texts) -> probabilities}, the PyTorch worker or
    None, the fused operators of the ONNX Runtime graph)."""
    paths = dict(zip(("hf_eager", "hf_function"), hugging_face_paths(num_labels)))
    if bf16:
        paths["hf_function_bf16"] = hugging_face_paths(num_labels, bf16=True)[1]
    worker, fused = None, None
    if "torch" not in missing:
        rows = ["torch_forward", "torch_pipeline"] + (["torch_forward_bf16", "torch_pipeline_bf16"] if bf16 else [])
        onnx_file = Path(folder) / "peer.onnx" if ("onnxruntime" not in missing or "openvino" not in missing) else None
        worker = peers_lib.TorchWorker(kerastl.preset_path(PRESET), num_labels, MAX_LENGTH, rows, onnx_file)
        paths.update(worker.rows)
        config = AutoConfig.from_pretrained(str(kerastl.preset_path(PRESET)))
        tokenizer = AutoTokenizer.from_pretrained(str(kerastl.preset_path(PRESET)))
        if "onnxruntime" not in missing:
            fp32, int8, fused = peers_lib.onnxruntime_paths(onnx_file, tokenizer, MAX_LENGTH,
                                                            config.num_attention_heads, config.hidden_size)
            paths.update(onnxruntime_fp32=fp32, onnxruntime_int8=int8)
        if "openvino" not in missing:
            paths["openvino_fp32"] = peers_lib.openvino_path(onnx_file, tokenizer, MAX_LENGTH, "f32")
            if bf16 and peers_lib.openvino_bf16_available():
                paths["openvino_bf16"] = peers_lib.openvino_path(onnx_file, tokenizer, MAX_LENGTH, "bf16")
    return paths, worker, fused


def measure(paths, texts, requests, batches, batch_size=32, block=25):
    """Timings in rounds of blocks: {name: {"batch1_p50_ms", "batch1_p99_ms", "batch32_texts_per_s"}}.

    Each round every variant runs the same `block` batch-1 requests (or `block // 4` batches) in
    a row, the variants in an order rotated by one each round.
    """
    names = list(paths)
    for name in names:  # warm-up: trace, allocate, fill caches
        for n in (1, 2, batch_size):
            paths[name](texts[:n])

    def rounds(count, size):  # [(round, the indices of its block)]
        return [(r, range(start, min(start + size, count))) for r, start in enumerate(range(0, count, size))]

    latency = {name: [] for name in names}
    for r, indices in rounds(requests, block):
        for name in names[r % len(names):] + names[: r % len(names)]:
            latency[name].extend(peers_lib.timed(paths[name], [[texts[i % len(texts)]] for i in indices]))
    busy = {name: 0.0 for name in names}
    for r, indices in rounds(batches, max(1, block // 4)):
        for name in names[r % len(names):] + names[: r % len(names)]:
            requests_ = [[texts[(b * batch_size + j) % len(texts)] for j in range(batch_size)] for b in indices]
            busy[name] += sum(peers_lib.timed(paths[name], requests_))
    return {
        name: {
            "batch1_p50_ms": round(1e3 * float(np.percentile(latency[name], 50)), 2),
            "batch1_p99_ms": round(1e3 * float(np.percentile(latency[name], 99)), 2),
            "batch32_texts_per_s": round(batches * batch_size / busy[name], 1),
        }
        for name in names
    }


def padding(tokenizer, texts, batch_size, chunk) -> float:
    """Padded tokens over real tokens when batches of `batch_size` texts in input order run as
    chunks of `chunk` texts sorted by length, each padded to its own longest."""
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=MAX_LENGTH)["input_ids"]]
    padded = 0
    for start in range(0, len(lengths), batch_size):
        batch = sorted(lengths[start:start + batch_size])
        padded += sum(len(batch[i:i + chunk]) * max(batch[i:i + chunk]) for i in range(0, len(batch), chunk))
    return round(padded / sum(lengths), 2)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# The instruction sets that decide which kernels the runtimes pick (bf16 and int8 above all).
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_flags() -> list:
    """The flags of `CPU_FLAGS` this CPU has (from /proc/cpuinfo; empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [flag for flag in CPU_FLAGS if flag in have]
    except OSError:
        pass
    return []


def peer_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("torch", "onnxruntime", "openvino", "transformers"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return versions


def best_rows(results, names) -> dict:
    """{measure: {"row", "value"}}: the best of the rows `names` on each measure."""
    best = {}
    for measure_, pick in (("batch1_p50_ms", min), ("batch1_p99_ms", min), ("batch32_texts_per_s", max)):
        name = pick(names, key=lambda n: results[n][measure_])
        best[measure_] = {"row": name, "value": results[name][measure_]}
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="batch-1 requests per variant")
    parser.add_argument("--batches", type=int, default=16, help="batches of 32 per variant")
    parser.add_argument("--block", type=int, default=25,
                        help="batch-1 requests a variant runs in a row before the next takes its turn "
                             "(batches of 32: a quarter as many); 1 takes turns request by request")
    parser.add_argument("--chunk-sizes", default="", metavar="N[,N...]",
                        help="also time the float32 export run in chunks of N texts (rows exported_chunkN; "
                             "a chunk of 32 or more runs each batch whole)")
    parser.add_argument("--keras-graph", action="store_true",
                        help="also time exports of the Keras model's graph (export_saved_model(fast_graph=False)), "
                             "the serving graph before kerastl 0.9, with op counts of both")
    parser.add_argument("--skip-missing", action="store_true",
                        help="leave out the rows whose packages are not installed (else: stop, naming make bench-deps)")
    args = parser.parse_args()

    try:
        chunk_sizes = [int(n) for n in args.chunk_sizes.split(",") if n.strip()]
    except ValueError:
        chunk_sizes = [0]
    if any(n < 1 for n in chunk_sizes):
        parser.error(f"--chunk-sizes takes positive integers, comma-separated; received {args.chunk_sizes!r}")
    if args.block < 1:
        parser.error(f"--block takes a positive integer; received {args.block}")
    missing = peers_lib.missing_packages()
    if missing and not args.skip_missing:
        absent = sorted({p for packages in missing.values() for p in packages})
        parser.exit(2, f"serving.py: the peer rows need {', '.join(absent)}, not installed here: run `make "
                       f"bench-deps` (pip install -e '.[bench]'), or pass --skip-missing to leave out "
                       f"{', '.join(sorted(missing))} rows\n")
    source, texts, labels = load_texts()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        bf16 = native_bf16()
        model = kerastl.TextClassifier.from_backbone(PRESET, label_names=labels, max_length=MAX_LENGTH)
        versions = {}  # export version -> its op counts; named by row below
        mine = {"exported": exported_path(model, folder, ops=versions), "predict": predict_path(model)}
        rows_of_versions = ["exported"]
        if args.keras_graph:
            mine["exported_keras_graph"] = exported_path(model, folder, fast_graph=False, ops=versions)
            rows_of_versions.append("exported_keras_graph")
        if bf16:
            mine["exported_bf16"] = exported_path(model, folder, precision="mixed_bfloat16", ops=versions)
            rows_of_versions.append("exported_bf16")
            if args.keras_graph:
                mine["exported_bf16_keras_graph"] = exported_path(model, folder, precision="mixed_bfloat16",
                                                                  fast_graph=False, ops=versions)
                rows_of_versions.append("exported_bf16_keras_graph")
            mine["predict_bf16"] = predict_path(model.with_precision("mixed_bfloat16"))
        graph_ops = dict(zip(rows_of_versions, versions.values()))
        for chunk in chunk_sizes:
            mine[f"exported_chunk{chunk}"] = exported_path(model, folder, chunk=chunk)
        if "kerastl_onnx" not in missing:
            mine.update(peers_lib.kerastl_onnx_paths(model, folder))
        peers, worker, fused = peer_paths(len(labels), bf16, folder, missing)
        try:
            paths = {**mine, **peers}
            # Same model family, so the same texts must give outputs of the same shape.
            assert {np.asarray(p(texts[:3])).shape for p in paths.values()} == {(3, len(labels))}
            if "kerastl_onnx" in mine:  # the export computes what the Keras model does
                np.testing.assert_allclose(mine["kerastl_onnx"](texts[:64]), mine["predict"](texts[:64]), atol=1e-4)
            results = measure(paths, texts, args.requests, args.batches, block=args.block)
        finally:
            if worker is not None:
                worker.close()
    # what export_saved_model and export_onnx write
    savedmodels = [name for name in mine if name in ("exported", "exported_bf16")]
    shipped = savedmodels + [name for name in mine if name.startswith("kerastl_onnx")]
    frameworks = [name for name in peers if name.startswith(("hf_", "torch_"))]
    best, ours = best_rows(results, peers), best_rows(results, shipped)

    def ratios(mine_, peer):
        return {"batch1_p50_speedup": round(peer["batch1_p50_ms"]["value"] / mine_["batch1_p50_ms"]["value"], 2),
                "batch1_p99_speedup": round(peer["batch1_p99_ms"]["value"] / mine_["batch1_p99_ms"]["value"], 2),
                "batch32_throughput_ratio": round(mine_["batch32_texts_per_s"]["value"]
                                                  / peer["batch32_texts_per_s"]["value"], 2)}

    print(json.dumps({
        "texts": source,
        "max_length": MAX_LENGTH,
        "requests": args.requests,
        "batches_of_32": args.batches,
        "block": args.block,
        "padded_over_real_tokens_at_batch_32": {
            str(chunk): padding(model.tokenizer, texts, 32, chunk)
            for chunk in sorted({32, export_lib.SERVING_CHUNK, *chunk_sizes})},
        "machine": {"cpus": os.cpu_count(), "cpu": cpu_name(), "cpu_flags": cpu_flags(),
                    "load_average_1m": round(os.getloadavg()[0], 2),
                    "tensorflow": tf.__version__, "python": platform.python_version(), **peer_versions()},
        **results,
        "best_peer": best,
        "best_kerastl": ours,
        "kerastl_vs_best_peer": ratios(ours, best),
        "best_savedmodel": best_rows(results, savedmodels),
        "best_framework_peer": best_rows(results, frameworks),
        "savedmodel_vs_best_framework_peer": ratios(best_rows(results, savedmodels), best_rows(results, frameworks)),
        "onnxruntime_peer_fused_operators": fused,
        "savedmodel_ops": graph_ops,
        "skipped_missing": missing,
        "vs_best_peer": {
            name: {"batch1_p50_speedup": round(best["batch1_p50_ms"]["value"] / results[name]["batch1_p50_ms"], 2),
                   "batch32_throughput_ratio": round(results[name]["batch32_texts_per_s"]
                                                     / best["batch32_texts_per_s"]["value"], 2)}
            for name in mine
        },
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
