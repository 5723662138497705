"""What bounds serving latency at batch 1: kerastl's export against the fastest TensorFlow graph
of the same shapes, and against PyTorch's forward.

One text of 17 tokens (`TEXT`), batch 1, MiniLM's shapes (6 blocks, width 384, 12 heads, 1,536
feed-forward units), p50 over `--requests` calls. Each row runs its calls in one block after a
warm-up, so no row's threads spin on the cores while another row runs:

- `export_text`, `export_ids`: kerastl's exported `serving_default` (raw text in) and
  `predict_ids` (token ids in), float32 and `mixed_bfloat16`;
- `tf_floor`: a hand-written TensorFlow forward of the same shapes with nothing extra in it (one
  query-key-value matmul a block, 2-D matmuls, no masks beyond one additive bias), in a
  `tf.function`: float32, bf16 weights, and float32 compiled with XLA for this one shape;
- `torch_forward`: transformers' PyTorch model (not the pipeline), float32 and bf16, when torch
  is installed.

If `tf_floor` is no faster than `export_ids`, the model graph is not what costs the time:
TensorFlow's kernels at these shapes are.

Run:
    .venv/bin/python benchmarks/serving_floor.py [--requests 300]

Prints one JSON object.
"""

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerastl  # noqa: E402

PRESET = "all-minilm-l6-v2"
TEXT = "i feel like i am still looking at a blank canvas blank pieces of paper"
BLOCKS, WIDTH, HEADS, HIDDEN = 6, 384, 12, 1536


def p50_ms(run, requests):
    for _ in range(20):
        run()
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return round(1e3 * float(np.percentile(times, 50)), 2)


def export_rows(model, ids, mask, folder):
    rows = {}
    for name, precision in (("float32", None), ("bf16", "mixed_bfloat16")):
        path = kerastl.export_saved_model(model, os.path.join(folder, name), text_signature=True, precision=precision)
        signatures = tf.saved_model.load(str(path)).signatures
        text = tf.constant([TEXT])
        rows[f"export_text_{name}"] = lambda s=signatures: s["serving_default"](text=text)["probabilities"].numpy()
        rows[f"export_ids_{name}"] = (
            lambda s=signatures: s["predict_ids"](input_ids=ids, attention_mask=mask)["probabilities"].numpy())
    return rows


def floor_forward(dtype, xla):
    """The smallest TF forward of MiniLM's shapes (random weights): [CLS] vector of (1, n) tokens."""
    rng = np.random.default_rng(0)

    def weight(*shape):
        return tf.constant(rng.normal(size=shape).astype(np.float32) * 0.02, dtype=dtype)

    blocks = [{"qkv": weight(WIDTH, 3 * WIDTH), "qkv_bias": weight(3 * WIDTH), "out": weight(WIDTH, WIDTH),
               "out_bias": weight(WIDTH), "up": weight(WIDTH, HIDDEN), "up_bias": weight(HIDDEN),
               "down": weight(HIDDEN, WIDTH), "down_bias": weight(WIDTH)} for _ in range(BLOCKS)]

    def norm(x):  # layer norm in float32, without scale and offset
        x = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x, -1, keepdims=True)
        return tf.cast((x - mean) * tf.math.rsqrt(variance + 1e-12), dtype)

    @tf.function(jit_compile=xla, input_signature=[tf.TensorSpec([None, None, WIDTH], tf.float32),
                                                   tf.TensorSpec([None, None], tf.int32)])
    def forward(embedded, mask):
        batch, length = tf.shape(embedded)[0], tf.shape(embedded)[1]
        bias = tf.cast((1.0 - tf.cast(mask, tf.float32))[:, None, None, :] * -1e9, dtype)
        h = tf.cast(tf.reshape(embedded, [-1, WIDTH]), dtype)
        for block in blocks:
            qkv = tf.matmul(h, block["qkv"]) + block["qkv_bias"]
            qkv = tf.transpose(tf.reshape(qkv, [batch, length, 3, HEADS, WIDTH // HEADS]), [2, 0, 3, 1, 4])
            scores = tf.matmul(qkv[0], qkv[1], transpose_b=True) * (WIDTH // HEADS) ** -0.5 + bias
            attended = tf.matmul(tf.nn.softmax(scores), qkv[2])
            attended = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [-1, WIDTH])
            h = norm(h + tf.matmul(attended, block["out"]) + block["out_bias"])
            h = norm(h + tf.matmul(tf.nn.gelu(tf.matmul(h, block["up"]) + block["up_bias"]), block["down"])
                     + block["down_bias"])
        return tf.cast(tf.reshape(h, [batch, length, WIDTH])[:, 0], tf.float32)

    return forward


def torch_rows(tokens):
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    folder = str(kerastl.preset_path(PRESET))
    model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(folder, num_labels=6)).eval()
    inputs = {name: torch.tensor(value) for name, value in tokens.items()}
    rows = {}
    for name, dtype in (("float32", torch.float32), ("bf16", torch.bfloat16)):
        typed = model.to(dtype)

        def run(m=typed):
            with torch.inference_mode():
                return m(**inputs).logits.float().numpy()

        rows[f"torch_forward_{name}"] = run
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="timed calls per row")
    args = parser.parse_args()
    started = time.perf_counter()
    model = kerastl.TextClassifier.from_backbone(PRESET, label_names=list("abcdef"), max_length=128)
    tokens = dict(model.tokenizer([TEXT], return_tensors="np"))
    tokens = {name: tokens[name].astype(np.int32) for name in ("input_ids", "attention_mask")}
    ids, mask = tf.constant(tokens["input_ids"]), tf.constant(tokens["attention_mask"])
    embedded = tf.random.normal([1, ids.shape[1], WIDTH])
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        rows = export_rows(model, ids, mask, folder)
        for name, dtype, xla in (("float32", tf.float32, False), ("bf16", tf.bfloat16, False),
                                 ("float32_xla", tf.float32, True)):
            forward = floor_forward(dtype, xla)
            rows[f"tf_floor_{name}"] = lambda f=forward: f(embedded, mask).numpy()
        try:
            rows.update(torch_rows(tokens))
        except ImportError:
            pass
        for name, run in rows.items():
            results[name] = p50_ms(run, args.requests)
    print(json.dumps({
        "text_tokens": int(ids.shape[1]),
        "requests": args.requests,
        "batch1_p50_ms": results,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
