"""Serving benchmark: the exported raw-text signature against the Hugging Face path.

Builds a MiniLM classifier (random head), exports it with `kerastl.export_saved_model`, and
times, on this machine and in one run:

- `exported`: the SavedModel's `serving_default` signature (raw strings in, tokenization in the
  graph), loaded with `tf.saved_model.load`, as TF Serving would run it;
- `hf_eager`: what a user would otherwise write: the Python fast tokenizer, then
  `TFAutoModelForSequenceClassification` called as `model(inputs)`;
- `hf_function`: the same with the model call wrapped in a `tf.function` (dynamic shapes).

Both models have MiniLM's architecture and max_length 128; weights do not change the timing.
Latency is per request at batch 1 (p50, p99); throughput is texts per second at batch 32. The
variants take turns request by request, so load from other processes hits them alike.

Run:
    .venv/bin/python benchmarks/serving.py [--requests 200] [--batches 16]

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

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from transformers import AutoConfig, AutoTokenizer, TFAutoModelForSequenceClassification  # noqa: E402

import kerastl  # noqa: E402

PRESET = "all-minilm-l6-v2"
EMOTION = Path(__file__).resolve().parents[2] / "shared" / "data" / "emotion" / "validation.txt"
MAX_LENGTH = 128


def load_texts():
    if EMOTION.is_file():
        examples = kerastl.read_examples(EMOTION, sep=";", names=["text", "label"])
        return "emotion/validation", examples.texts, examples.label_names()
    from kerastl.sample_data import rotten_tomatoes

    examples = rotten_tomatoes()["validation"]
    return "rotten_tomatoes/validation", examples.texts, examples.label_names()


def exported_path(labels, folder):
    model = kerastl.TextClassifier.from_backbone(PRESET, labels=labels, max_length=MAX_LENGTH)
    path = kerastl.export_saved_model(model, Path(folder) / "serving", text_signature=True)
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]

    def run(texts):
        return signature(text=tf.constant(texts))["probabilities"].numpy()

    return run


def hugging_face_paths(num_labels):
    folder = str(kerastl.preset_path(PRESET))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder, num_labels=num_labels)
    model = TFAutoModelForSequenceClassification.from_config(config)
    model(model.dummy_inputs, training=False)  # create the weights

    def features(texts):
        return tokenizer(texts, truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="tf")

    def eager(texts):
        return tf.nn.softmax(model(features(texts), training=False).logits).numpy()

    spec = tf.TensorSpec([None, None], tf.int32)

    @tf.function(input_signature=[spec, spec])
    def forward(input_ids, attention_mask):
        logits = model(input_ids=input_ids, attention_mask=attention_mask, training=False).logits
        return tf.nn.softmax(logits)

    def function(texts):
        inputs = features(texts)
        ids, mask = tf.cast(inputs["input_ids"], tf.int32), tf.cast(inputs["attention_mask"], tf.int32)
        return forward(ids, mask).numpy()

    return eager, function


def measure(paths, texts, requests, batches, batch_size=32):
    """Interleaved timings: {name: {"batch1_p50_ms", "batch1_p99_ms", "batch32_texts_per_s"}}."""
    names = list(paths)
    for name in names:  # warm-up: trace, allocate, fill caches
        for n in (1, 2, batch_size):
            paths[name](texts[:n])
    latency = {name: [] for name in names}
    for i in range(requests):
        text = [texts[i % len(texts)]]
        for name in names[i % len(names):] + names[: i % len(names)]:
            start = time.perf_counter()
            paths[name](text)
            latency[name].append(time.perf_counter() - start)
    busy = {name: 0.0 for name in names}
    for b in range(batches):
        batch = [texts[(b * batch_size + j) % len(texts)] for j in range(batch_size)]
        for name in names[b % len(names):] + names[: b % len(names)]:
            start = time.perf_counter()
            paths[name](batch)
            busy[name] += time.perf_counter() - start
    return {
        name: {
            "batch1_p50_ms": round(1e3 * float(np.percentile(latency[name], 50)), 2),
            "batch1_p99_ms": round(1e3 * float(np.percentile(latency[name], 99)), 2),
            "batch32_texts_per_s": round(batches * batch_size / busy[name], 1),
        }
        for name in names
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="batch-1 requests per variant")
    parser.add_argument("--batches", type=int, default=16, help="batches of 32 per variant")
    args = parser.parse_args()

    source, texts, labels = load_texts()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        exported = exported_path(labels, folder)
        eager, function = hugging_face_paths(len(labels))
        paths = {"exported": exported, "hf_eager": eager, "hf_function": function}
        # Same model family, so the same texts must give outputs of the same shape.
        assert {p(texts[:3]).shape for p in paths.values()} == {(3, len(labels))}
        results = measure(paths, texts, args.requests, args.batches)
    best_hf = {
        "batch1_p50_ms": min(results[n]["batch1_p50_ms"] for n in ("hf_eager", "hf_function")),
        "batch1_p99_ms": min(results[n]["batch1_p99_ms"] for n in ("hf_eager", "hf_function")),
        "batch32_texts_per_s": max(results[n]["batch32_texts_per_s"] for n in ("hf_eager", "hf_function")),
    }
    mine, hf = results["exported"], best_hf
    print(json.dumps({
        "texts": source,
        "max_length": MAX_LENGTH,
        "requests": args.requests,
        "batches_of_32": args.batches,
        "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
                    "tensorflow": tf.__version__, "python": platform.python_version()},
        **results,
        "exported_vs_best_hf": {
            "batch1_p50_speedup": round(hf["batch1_p50_ms"] / mine["batch1_p50_ms"], 2),
            "batch1_p99_speedup": round(hf["batch1_p99_ms"] / mine["batch1_p99_ms"], 2),
            "batch32_throughput_ratio": round(mine["batch32_texts_per_s"] / hf["batch32_texts_per_s"], 2),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
