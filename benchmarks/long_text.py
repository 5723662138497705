"""Cost of one long text: the exported raw-text signature and `kerastl.preprocessing.tokenize`.

Exports a tiny random BERT with MiniLM's tokenizer (bert-base-uncased's vocabulary, max_length
128), then, each in a fresh process, sends one text of each size through:

- `graph`: the SavedModel's `serving_default` signature (tokenization in the graph);
- `python`: `kerastl.preprocessing.tokenize`, the training and `predict_ids` path.

and prints one JSON line per run: wall time of the call, and peak RSS during it above the RSS
before it (the peak is reset after a warm-up call). The text repeats English prose (`prose`) or
random lower-case words, most of them split by WordPiece (`oov`).

Run:
    .venv/bin/python benchmarks/long_text.py [--chars 10000 1000000 10000000] [--text prose oov]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PRESET = "all-minilm-l6-v2"
MAX_LENGTH = 128


def make_text(kind: str, chars: int) -> str:
    if kind == "prose":
        unit = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    else:
        rng = random.Random(0)
        unit = " ".join("".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 12)))
                        for _ in range(20_000))
    return (unit * (chars // len(unit) + 1))[:chars]


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(path: str, kind: str, chars: int, saved_model: str) -> dict:
    """One text through one path, in this process."""
    import tensorflow as tf

    import kerastl

    text = make_text(kind, chars)
    if path == "graph":
        signature = tf.saved_model.load(saved_model).signatures["serving_default"]

        def run(t):
            return signature(text=tf.constant([t]))["probabilities"].numpy()
    else:
        tokenizer = kerastl.encoders.load_tokenizer(kerastl.preset_path(PRESET))

        def run(t):
            return kerastl.preprocessing.tokenize([t], tokenizer, MAX_LENGTH).to_list()
    run("warm up " * 10)
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak RSS (VmHWM)
    before = rss_mb("VmRSS")
    start = time.perf_counter()
    run(text)
    wall = time.perf_counter() - start
    return {"path": path, "text": kind, "chars": chars, "wall_s": round(wall, 3),
            "peak_increase_mb": round(rss_mb("VmHWM") - before)}


def export(folder: str) -> str:
    from transformers import BertConfig

    import kerastl

    tokenizer = kerastl.encoders.load_tokenizer(kerastl.preset_path(PRESET))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=37, max_position_embeddings=512)
    model = kerastl.TextClassifier.from_backbone(config, ("neg", "pos"), tokenizer=tokenizer, max_length=MAX_LENGTH)
    return str(kerastl.export_saved_model(model, folder, text_signature=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, nargs="+", default=[10_000, 1_000_000, 10_000_000])
    parser.add_argument("--text", nargs="+", default=["prose", "oov"], choices=["prose", "oov"])
    parser.add_argument("--one", nargs=4, metavar=("PATH", "TEXT", "CHARS", "SAVED_MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        path, kind, chars, saved_model = args.one
        print(json.dumps(measure(path, kind, int(chars), saved_model)))
        return
    with tempfile.TemporaryDirectory() as folder:
        saved_model = export(folder + "/serving")
        for path in ("graph", "python"):
            for kind in args.text:
                for chars in args.chars:
                    out = subprocess.run([sys.executable, __file__, "--one", path, kind, str(chars), saved_model],
                                         capture_output=True, text=True, check=True).stdout
                    print(out.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
