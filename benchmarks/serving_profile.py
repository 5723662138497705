"""Where the exported `serving_default` spends its time: TensorFlow's op-level profile of one
batch size, summed by op type.

Exports a MiniLM classifier (random head, as `serving.py` does) under `--precision`, runs the
raw-text signature on the first `--batch` emotion validation texts (Rotten Tomatoes' without
`../shared`), and profiles `--calls` calls after a warm-up. Prints one JSON object: the ops a
call runs, their busy time a call (summed over threads, so it can exceed the wall time), and
each op type's share, largest first. `IDLE` is the profiler's time of threads waiting.

With `--matmul-rows R` it also times bf16 matmuls of MiniLM's shapes with R rows (a chunk of
8 emotion texts has about 180), each of 24 different weight matrices in one `tf.function` so
none is computed twice, against a 2048 x 2048 x 2048 bf16 matmul in the same run: how close to
this CPU's matmul figure the serving graph's matmuls could run if nothing else ran.

Run:
    .venv/bin/python benchmarks/serving_profile.py --batch 1 [--precision mixed_bfloat16]
    .venv/bin/python benchmarks/serving_profile.py --batch 32 --calls 10 [--matmul-rows 180]
"""

import argparse
import collections
import glob
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
from serving import MAX_LENGTH, PRESET, load_texts  # noqa: E402

# The converter TensorBoard's profile plugin runs on a trace; TensorFlow has no public one.
from tensorflow.python.profiler.internal import _pywrap_profiler_plugin  # noqa: E402

import kerastl  # noqa: E402


def op_stats(logdir):
    """[{"type", "occurrences", "total_self_time"}, ...] of the host ops in the trace in `logdir`."""
    path = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0]
    data, ok = _pywrap_profiler_plugin.xspace_to_tools_data([path], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"TensorFlow could not read the trace {path}")
    table = json.loads(data)[0]
    names = [column["id"] for column in table["cols"]]
    rows = [dict(zip(names, [cell["v"] if cell else None for cell in row["c"]])) for row in table["rows"]]
    return [row for row in rows if row["host_or_device"] == "Host"]


def matmul_gflops(rows, inner, cols, weights=24, calls=20):
    """bf16 GFLOP/s of `rows x inner` times `weights` different `inner x cols` matrices."""
    a = tf.cast(tf.random.normal((rows, inner)), tf.bfloat16)
    bs = [tf.cast(tf.random.normal((inner, cols)), tf.bfloat16) for _ in range(weights)]
    run = tf.function(lambda a, bs: tf.add_n([tf.matmul(a, b)[:1, :1] for b in bs]))
    run(a, bs).numpy()
    started = time.perf_counter()
    for _ in range(calls):
        run(a, bs).numpy()
    return 2 * rows * inner * cols * weights * calls / (time.perf_counter() - started) / 1e9


def matmul_rates(rows):
    """MiniLM's three matmul shapes at `rows` rows, as GFLOP/s and as a share of the 2048^3 figure."""
    figure = matmul_gflops(2048, 2048, 2048, weights=2, calls=5)
    shapes = {"feed_forward_in": (384, 1536), "feed_forward_out": (1536, 384), "attention_projection": (384, 384)}
    rates = {name: matmul_gflops(rows, inner, cols) for name, (inner, cols) in shapes.items()}
    return {
        "rows": rows,
        "bf16_2048_gflops_per_s": round(figure, 1),
        "gflops_per_s": {name: round(rate, 1) for name, rate in rates.items()},
        "share_of_2048_figure": {name: round(rate / figure, 3) for name, rate in rates.items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1, help="texts a call")
    parser.add_argument("--calls", type=int, default=50, help="calls profiled")
    parser.add_argument("--precision", default="mixed_bfloat16", help="the export's precision policy")
    parser.add_argument("--top", type=int, default=15, help="op types listed")
    parser.add_argument("--matmul-rows", type=int, default=None,
                        help="also time bf16 matmuls of MiniLM's shapes with this many rows")
    args = parser.parse_args()

    source, texts, labels = load_texts()
    batch = tf.constant(texts[:args.batch])
    with tempfile.TemporaryDirectory() as folder:
        model = kerastl.TextClassifier.from_backbone(PRESET, label_names=labels, max_length=MAX_LENGTH)
        path = kerastl.export_saved_model(model, os.path.join(folder, "serving"), precision=args.precision)
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        for _ in range(10):
            signature(text=batch)["probabilities"].numpy()
        logdir = os.path.join(folder, "trace")
        tf.profiler.experimental.start(logdir)
        started = time.perf_counter()
        for _ in range(args.calls):
            signature(text=batch)["probabilities"].numpy()
        wall = (time.perf_counter() - started) / args.calls
        tf.profiler.experimental.stop()
        rows = op_stats(logdir)

    busy, count = collections.Counter(), collections.Counter()
    for row in rows:
        busy[row["type"]] += row["total_self_time"]
        count[row["type"]] += row["occurrences"]
    total = sum(busy.values())
    matmuls = matmul_rates(args.matmul_rows) if args.matmul_rows else None
    print(json.dumps({
        "texts": source,
        "batch": args.batch,
        "precision": args.precision,
        "calls": args.calls,
        "wall_ms_a_call_while_profiled": round(1e3 * wall, 2),
        "ops_a_call": round(sum(count.values()) / args.calls),
        "busy_ms_a_call": round((total - busy["IDLE"]) / args.calls / 1e3, 2),
        "by_op_type": [
            {"type": name, "ms_a_call": round(time_us / args.calls / 1e3, 3),
             "share": round(time_us / total, 3), "ops_a_call": round(count[name] / args.calls)}
            for name, time_us in busy.most_common(args.top)
        ],
        "matmuls_alone": matmuls,
    }, indent=2))


if __name__ == "__main__":
    main()
