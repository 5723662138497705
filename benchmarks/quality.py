"""Quality: what kerastl's defaults score against the Hugging Face TF path and a frozen-feature baseline.

For every tuning set, three systems train on the same training examples and are scored on the same
evaluation examples, one after another, each in its own subprocess (stderr to
runs/quality-logs/), and the parent prints one table and writes one JSON object to
runs/quality.json. Accuracy and macro F1 are scikit-learn's, from predicted labels.

    python benchmarks/quality.py            # make quality: every example, the figures
    python benchmarks/quality.py --quick    # 1,000 training / 500 evaluation examples a set, 1 epoch

The systems, all on the all-MiniLM-L6-v2 encoder, 128 tokens a text:
- kerastl: `kerastl train --model all-minilm-l6-v2` with no tuning flags (its defaults: 2 head
  epochs on cached [CLS] vectors, 3 fine-tuning epochs, AdamW with warm-up and cosine decay),
  plus whatever --kerastl-args adds; then `kerastl predict --file` on the evaluation texts.
- hf_tf: `TFAutoModelForSequenceClassification` on the same folder (the PyTorch safetensors read
  with NumPy, no torch), `prepare_tf_dataset` (dynamic padding), Adam 5e-5, batch 32, 2 epochs,
  float32, `model.fit`, as the transformers docs teach it; tf-keras (TF_USE_LEGACY_KERAS=1).
- baseline: `kerastl baseline`: a logistic regression on the frozen encoder's [CLS] vectors,
  trained and scored in one invocation (one per evaluation split: it scores one split only).

The sets: ../shared/data/emotion (6 classes), ../shared/data/ag_news (4 classes), both scored on
their validation split, and the Rotten Tomatoes snippets bundled with kerastl, scored on their
validation split (for tuning) and their test split (for final figures: it is tuned on by no one).
Subsets (--quick, --limit) are stratified and drawn with seed 0, the same for every system.
--seeds 0,1,2 trains kerastl and hf_tf once per seed (the baseline has none to vary) and reports
each one's mean and range: on a few thousand examples one seed's accuracy moves by a point.
"""

import argparse
import contextlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"
RESULT_MARK = "QUALITY_RESULT "
SYSTEMS = ("kerastl", "hf_tf", "baseline")
SETS = ("emotion", "ag_news", "rotten_tomatoes")
PRESET = "all-minilm-l6-v2"

MAX_LENGTH = 128  # kerastl's default; the HF path truncates at the same length
SEED = 0

# Per mode: examples per set (None: all), and the epochs of the systems that fine-tune.
MODES = {
    "full": {"train_limit": None, "eval_limit": None, "hf_epochs": 2, "kerastl_args": []},
    "quick": {"train_limit": 1000, "eval_limit": 500, "hf_epochs": 1, "kerastl_args": ["--epochs", "1"]},
}
HF_SETTINGS = {"optimizer": "Adam", "learning_rate": 5e-5, "batch_size": 32, "inference_batch_size": 64,
               "precision": "float32", "max_length": MAX_LENGTH}


# -- the data: one JSON Lines file per split, read alike by every system ---------------------------


def read_sources(name: str, data_dir: Path, log_dir: Path) -> dict:
    """{split: (texts, labels)} of one set, every example, as its source holds them."""
    import pandas as pd

    if name == "emotion":
        folder = data_dir / "emotion"
        return {split: _columns(pd.read_csv(folder / f"{split}.txt", sep=";", names=["text", "label"],
                                            quoting=3, dtype=str, keep_default_na=False))
                for split in ("train", "validation")}
    if name == "ag_news":
        folder = data_dir / "ag_news"
        return {split: _columns(pd.read_csv(folder / f"{split}.tsv", sep="\t", dtype=str, keep_default_na=False))
                for split in ("train", "validation")}
    if name == "rotten_tomatoes":  # kerastl defines the split by movie; it imports TensorFlow, so a child
        log_file = log_dir / "data-rotten_tomatoes.log"
        log_file.write_text("")
        out = run_child("rotten_tomatoes", {}, log_file)
        return {split: (part["texts"], part["labels"]) for split, part in out["splits"].items()}
    raise ValueError(f"unknown set {name!r}")


def _columns(frame):
    return frame["text"].tolist(), frame["label"].tolist()


def clean(texts, labels) -> tuple:
    """Drop blank texts; put each text on one line (`kerastl predict --file` reads one a line)."""
    kept = [(t.replace("\r", " ").replace("\n", " "), str(y)) for t, y in zip(texts, labels) if t and t.strip()]
    changed = sum(1 for t in texts if t and ("\n" in t or "\r" in t))
    return [t for t, _ in kept], [y for _, y in kept], {"dropped_blank": len(texts) - len(kept),
                                                         "line_breaks_replaced": changed}


def stratified(texts, labels, limit):
    """A stratified subset of `limit` examples (all of them when limit is None or not smaller)."""
    if limit is None or limit >= len(texts):
        return texts, labels
    from sklearn.model_selection import train_test_split

    index = list(range(len(texts)))
    try:
        chosen, _ = train_test_split(index, train_size=limit, stratify=labels, random_state=SEED)
    except ValueError:  # a class too rare to stratify at this size
        chosen, _ = train_test_split(index, train_size=limit, random_state=SEED)
    chosen = sorted(chosen)
    return [texts[i] for i in chosen], [labels[i] for i in chosen]


def prepare(name: str, spec: dict, data_dir: Path, out_dir: Path, log_dir: Path) -> dict:
    """Write <out_dir>/<split>.jsonl ({"text", "label"}) and <split>.txt (texts alone); describe them."""
    sources = read_sources(name, data_dir, log_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    described = {"files": str(out_dir), "splits": {}}
    for split, (texts, labels) in sources.items():
        texts, labels, cleaning = clean(texts, labels)
        limit = spec["train_limit"] if split == "train" else spec["eval_limit"]
        total = len(texts)
        texts, labels = stratified(texts, labels, limit)
        with open(out_dir / f"{split}.jsonl", "w") as f:
            for text, label in zip(texts, labels):
                f.write(json.dumps({"text": text, "label": label}) + "\n")
        (out_dir / f"{split}.txt").write_text("".join(t + "\n" for t in texts))
        described["splits"][split] = {"examples": len(texts), "of": total, **cleaning}
    train_labels = set(json.loads(line)["label"] for line in open(out_dir / "train.jsonl"))
    described["labels"] = sorted(train_labels)
    return described


def read_split(folder: Path, split: str) -> tuple:
    rows = [json.loads(line) for line in open(folder / f"{split}.jsonl")]
    return [r["text"] for r in rows], [r["label"] for r in rows]


def scores(y_true, y_pred, labels) -> dict:
    """scikit-learn's accuracy and macro F1 (every training label counts, predicted or not)."""
    from sklearn.metrics import accuracy_score, f1_score

    return {"n": len(y_true), "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
            "macro_f1": round(float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)), 4)}


# -- the systems --------------------------------------------------------------------------------


def kerastl_env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                TF_CPP_MIN_LOG_LEVEL="3", TOKENIZERS_PARALLELISM="false")


def run_logged(command: list, log_file: Path, env: dict) -> tuple:
    """Run one command, its stderr appended to log_file; (stdout, seconds, load before/after)."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with open(log_file, "a") as log:
        log.write(f"$ {shlex.join(command)}\n")
        log.flush()
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT, env=env)
    seconds = round(time.perf_counter() - start, 1)
    if proc.returncode != 0:
        tail = log_file.read_text().strip().splitlines()[-5:]
        raise ChildFailed(f"exit {proc.returncode}: {shlex.join(command[:4])} ...", log_file, tail)
    return proc.stdout, seconds, [round(load, 2), round(os.getloadavg()[0], 2)]


class ChildFailed(RuntimeError):
    def __init__(self, message, log_file, tail):
        super().__init__(message)
        self.log_file, self.tail = log_file, tail


def system_kerastl(folder: Path, eval_splits, labels, spec, log_file, work: Path) -> dict:
    """`kerastl train` with its defaults (+ the mode's and the user's flags), then one `kerastl predict`."""
    cli = [sys.executable, "-m", "kerastl"]
    output = work / "kerastl-model"
    train_flags = spec["kerastl_args"] + ["--seed", str(spec["seed"])] + spec["extra_kerastl_args"]
    train = [*cli, "train", "--model", PRESET, "--train", str(folder / "train.jsonl"), "--output", str(output),
             "--overwrite", *train_flags]
    stdout, train_seconds, train_load = run_logged(train, log_file, kerastl_env())
    history = json.loads(stdout.strip().splitlines()[-1]).get("history")  # train prints one JSON object
    # One predict over every evaluation split: the model loads once.
    texts_file = work / "eval-texts.txt"
    offsets, texts = {}, []
    for split in eval_splits:
        split_texts, _ = read_split(folder, split)
        offsets[split] = (len(texts), len(texts) + len(split_texts))
        texts += split_texts
    texts_file.write_text("".join(t + "\n" for t in texts))
    predict = [*cli, "predict", "--model", str(output), "--file", str(texts_file)]
    stdout, predict_seconds, predict_load = run_logged(predict, log_file, kerastl_env())
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    if [r["line"] for r in records] != list(range(1, len(texts) + 1)):
        raise RuntimeError(f"kerastl predict answered {len(records)} lines for {len(texts)} texts")
    result = {"train_flags": train_flags, "train_seconds": train_seconds, "predict_seconds": predict_seconds,
              "wall_seconds": round(train_seconds + predict_seconds, 1), "load_1min": [*train_load, *predict_load],
              "history": history}
    for split, (a, b) in offsets.items():
        _, y_true = read_split(folder, split)
        result[split] = scores(y_true, [r["label"] for r in records[a:b]], labels)
    return result


def system_baseline(folder: Path, eval_splits, labels, spec, log_file, work: Path) -> dict:
    """`kerastl baseline --json`, once per evaluation split (it scores one)."""
    result = {"wall_seconds": 0.0, "load_1min": []}
    for split in eval_splits:
        command = [sys.executable, "-m", "kerastl", "baseline", "--model", PRESET, "--train",
                   str(folder / "train.jsonl"), "--validation", str(folder / f"{split}.jsonl"), "--json"]
        stdout, seconds, load = run_logged(command, log_file, kerastl_env())
        out = json.loads(stdout.strip().splitlines()[-1])
        # kerastl's own scores (scikit-learn's accuracy_score and macro f1_score over the training
        # labels): the command prints no predictions to score here.
        lr = out["logistic_regression"]
        result[split] = {"n": lr["n"], "accuracy": round(lr["accuracy"], 4), "macro_f1": round(lr["macro_f1"], 4)}
        result[f"{split}_most_frequent"] = {k: round(v, 4) if isinstance(v, float) else v
                                            for k, v in out["most_frequent"].items() if k != "weighted_f1"}
        result[f"{split}_seconds"] = seconds
        result["wall_seconds"] = round(result["wall_seconds"] + seconds, 1)
        result["load_1min"] += load
    return result


def system_hf_tf(folder: Path, eval_splits, labels, spec, log_file, work: Path) -> dict:
    child_spec = {"folder": str(folder), "eval_splits": list(eval_splits), "labels": labels,
                  "epochs": spec["hf_epochs"], "seed": spec["seed"]}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    out = run_child("hf_tf", child_spec, log_file)
    wall = round(time.perf_counter() - start, 1)
    result = {"epochs": spec["hf_epochs"], **HF_SETTINGS, "train_seconds": out["train_seconds"],
              "predict_seconds": out["predict_seconds"], "wall_seconds": wall,
              "load_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
              "weights_not_in_checkpoint": out["missing_keys"]}
    for split in eval_splits:
        _, y_true = read_split(folder, split)
        result[split] = scores(y_true, out["predictions"][split], labels)
    return result


RUNNERS = {"kerastl": system_kerastl, "hf_tf": system_hf_tf, "baseline": system_baseline}
SEEDED = ("kerastl", "hf_tf")  # the baseline's logistic regression on frozen features has no seed to vary


def over_seeds(runs: dict, eval_splits) -> dict:
    """One system's runs {seed: result} in one entry: per split the mean accuracy and macro F1
    and the lowest and highest accuracy; `runs` keeps each seed's result whole."""
    done = {seed: r for seed, r in runs.items() if "error" not in r}
    entry = {"runs": runs}
    if not done:
        return {**entry, "error": "every seed failed"}
    for split in eval_splits:
        accuracy = [r[split]["accuracy"] for r in done.values()]
        f1 = [r[split]["macro_f1"] for r in done.values()]
        entry[split] = {"n": next(iter(done.values()))[split]["n"], "accuracy": round(sum(accuracy) / len(accuracy), 4),
                        "macro_f1": round(sum(f1) / len(f1), 4), "accuracy_min": min(accuracy),
                        "accuracy_max": max(accuracy), "seeds": sorted(done)}
    entry["wall_seconds"] = round(sum(r["wall_seconds"] for r in done.values()) / len(done), 1)
    entry["load_1min"] = [x for r in done.values() for x in r.get("load_1min", [])]
    return entry


# -- children -----------------------------------------------------------------------------------


def child_rotten_tomatoes(spec) -> dict:
    from kerastl.data.sample_data import rotten_tomatoes

    return {"splits": {name: {"texts": list(part.texts), "labels": [str(y) for y in part.labels]}
                       for name, part in rotten_tomatoes().items()}}


def load_hf_classifier(num_labels: int):
    """TFAutoModelForSequenceClassification on the MiniLM folder, its PyTorch safetensors read with
    NumPy (transformers 4.57 needs torch for `from_pretrained(..., from_pt=True)`); returns the model,
    the tokenizer and the weights the checkpoint lacks (a new head, as from_pretrained makes)."""
    from safetensors.numpy import load_file
    from transformers import AutoConfig, AutoTokenizer, TFAutoModelForSequenceClassification
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    import kerastl

    folder = kerastl.preset_path(PRESET)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    config = AutoConfig.from_pretrained(str(folder), num_labels=num_labels)
    model = TFAutoModelForSequenceClassification.from_config(config)
    model(model.dummy_inputs, training=False)  # create the weights
    _, info = load_pytorch_state_dict_in_tf2_model(model, load_file(str(folder / "model.safetensors")),
                                                   allow_missing_keys=True, output_loading_info=True)
    unexpected = [k for k in info["unexpected_keys"] if not k.endswith("position_ids")]  # a PyTorch buffer
    if unexpected or any("pooler" not in k and "classifier" not in k for k in info["missing_keys"]):
        raise RuntimeError(f"the MiniLM weights do not fit the TF model: {info}")
    return model, tokenizer, sorted(info["missing_keys"])


def child_hf_tf(spec) -> dict:
    import datasets
    import numpy as np
    import tf_keras as keras

    datasets.disable_progress_bars()
    labels = spec["labels"]
    label_ids = {name: i for i, name in enumerate(labels)}
    folder = Path(spec["folder"])
    keras.utils.set_random_seed(spec["seed"])
    model, tokenizer, missing = load_hf_classifier(len(labels))

    def tf_dataset(split, shuffle, batch_size):
        texts, split_labels = read_split(folder, split)
        ds = datasets.Dataset.from_dict({"text": texts, "label": [label_ids[y] for y in split_labels]})
        ds = ds.map(lambda b: tokenizer(b["text"], truncation=True, max_length=MAX_LENGTH), batched=True,
                    remove_columns=["text"])
        return model.prepare_tf_dataset(ds, batch_size=batch_size, shuffle=shuffle, tokenizer=tokenizer,
                                        drop_remainder=False)

    start = time.perf_counter()
    model.compile(optimizer=keras.optimizers.Adam(HF_SETTINGS["learning_rate"]))  # the model's own loss
    model.fit(tf_dataset("train", True, HF_SETTINGS["batch_size"]), epochs=spec["epochs"], verbose=2)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predictions = {}
    for split in spec["eval_splits"]:
        logits = model.predict(tf_dataset(split, False, HF_SETTINGS["inference_batch_size"]), verbose=0)["logits"]
        predictions[split] = [labels[i] for i in np.argmax(logits, axis=-1)]
    return {"predictions": predictions, "train_seconds": round(train_seconds, 1),
            "predict_seconds": round(time.perf_counter() - start, 1), "missing_keys": missing}


CHILDREN = {"rotten_tomatoes": child_rotten_tomatoes, "hf_tf": child_hf_tf}


def run_child(name: str, spec: dict, log_file: Path) -> dict:
    env = kerastl_env()
    if name == "hf_tf":  # transformers 4.x's TF classes need Keras 2
        env.update(TF_USE_LEGACY_KERAS="1", KERASTL_KERAS="2", USE_TORCH="0", PYTHONWARNINGS="ignore")
    command = [sys.executable, __file__, "--child", name, "--spec", json.dumps(spec)]
    stdout, _, _ = run_logged(command, log_file, env)
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        raise ChildFailed(f"{name} printed no result", log_file, log_file.read_text().splitlines()[-5:])
    return json.loads(lines[-1][len(RESULT_MARK):])


# -- parent -------------------------------------------------------------------------------------


def table(report: dict) -> str:
    rows = [("set", "split", "system", "n", "accuracy", "macro F1", "wall s")]
    for set_name, entry in report["sets"].items():
        if "error" in entry:
            rows.append((set_name, "-", "-", "-", "-", "-", "no data"))
            continue
        for split in entry["eval_splits"]:
            for system, r in entry["systems"].items():
                if split not in r:
                    rows.append((set_name, split, system, "-", "-", "-", "failed"))
                    continue
                s = r[split]
                accuracy = f"{s['accuracy']:.4f}"
                if "accuracy_min" in s:  # the mean of several seeds, then their range
                    accuracy += f" ({s['accuracy_min']:.4f}-{s['accuracy_max']:.4f})"
                rows.append((set_name, split, system, str(s["n"]), accuracy, f"{s['macro_f1']:.4f}",
                             f"{r['wall_seconds']:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def choose(parser, value: str, allowed: tuple, what: str) -> list:
    chosen = [s.strip() for s in value.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(allowed))
    if unknown or not chosen:
        parser.error(f"--{what} must name some of {', '.join(allowed)}; received {value!r}")
    return chosen


def limits(parser, value):
    try:
        parts = [int(p) for p in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        parser.error(f"--limit takes TRAIN or TRAIN,EVAL (positive integers); received {value!r}")
    return parts[0], parts[-1] if len(parts) == 2 else None


def seed_list(parser, value) -> list:
    try:
        seeds = [int(p) for p in value.split(",")]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        parser.error(f"--seeds takes distinct integers >= 0, comma-separated; received {value!r}")
    return seeds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="for trying ideas: 1,000 training and 500 evaluation examples a set, 1 epoch")
    parser.add_argument("--limit", metavar="TRAIN[,EVAL]",
                        help="examples per set: training, and per evaluation split (overrides the mode's)")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated subset of %(default)s")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset of %(default)s")
    parser.add_argument("--kerastl-args", default="", metavar="FLAGS",
                        help="extra `kerastl train` flags for a recipe variant, e.g. \"--learning-rate 1e-4\"")
    parser.add_argument("--seeds", default=str(SEED), metavar="S[,S...]",
                        help="training seeds of kerastl and hf_tf (%(default)s); with several, the table gives "
                             "each system's mean accuracy and the range over the seeds")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder of emotion/ and ag_news/ "
                                                                         "(default: ../shared/data)")
    parser.add_argument("--output", type=Path, default=ROOT / "runs" / "quality.json", help="the JSON report")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        with contextlib.redirect_stdout(sys.stderr):  # Keras' epoch lines go to the log, with the rest
            result = CHILDREN[args.child](json.loads(args.spec))
        print(RESULT_MARK + json.dumps(result), flush=True)
        return 0

    mode = "quick" if args.quick else "full"
    spec = dict(MODES[mode], extra_kerastl_args=shlex.split(args.kerastl_args))
    if args.limit:
        spec["train_limit"], spec["eval_limit"] = limits(parser, args.limit)
    sets = choose(parser, args.sets, SETS, "sets")
    systems = choose(parser, args.systems, SYSTEMS, "systems")
    seeds = seed_list(parser, args.seeds)
    runs = args.output.parent
    log_dir = runs / "quality-logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    start, load = time.perf_counter(), os.getloadavg()[0]
    report_sets = {}
    for set_name in sets:
        print(f"[quality] {set_name}: preparing the data", file=sys.stderr, flush=True)
        folder = runs / "quality-data" / set_name
        try:
            data = prepare(set_name, spec, args.data_dir, folder, log_dir)
        except (OSError, ChildFailed) as err:
            print(f"[quality] {set_name}: skipped: {err}", file=sys.stderr, flush=True)
            report_sets[set_name] = {"error": f"no data: {err}"}
            continue
        eval_splits = [s for s in ("validation", "test") if s in data["splits"]]
        entry = report_sets[set_name] = {**data, "eval_splits": eval_splits, "systems": {}}
        for system in systems:
            by_seed = {}
            for seed in seeds if system in SEEDED else seeds[:1]:
                name = f"{set_name}-{system}" + (f"-seed{seed}" if len(seeds) > 1 and system in SEEDED else "")
                log_file = log_dir / f"{name}.log"
                log_file.write_text("")
                print(f"[quality] {name} ...", file=sys.stderr, flush=True)
                try:
                    r = RUNNERS[system](folder, eval_splits, data["labels"], {**spec, "seed": seed}, log_file,
                                        runs / "quality-models" / set_name)
                    r["log"] = str(log_file)
                    print(f"[quality] {name} done in {r['wall_seconds']:.0f} s", file=sys.stderr, flush=True)
                except ChildFailed as err:
                    print(f"[quality] {name} failed ({err}); see {err.log_file}", file=sys.stderr, flush=True)
                    r = {"error": str(err), "log": str(err.log_file), "log_tail": err.tail}
                by_seed[seed] = r
            entry["systems"][system] = over_seeds(by_seed, eval_splits) if len(by_seed) > 1 else by_seed[seeds[0]]

    # The load average counts the benchmark's own threads (up to one per core); more means other
    # work shared the cores, and wall times taken then are upper bounds.
    cpus = os.cpu_count() or 1
    busy = [f"{s}/{system}" for s, e in report_sets.items() for system, r in e.get("systems", {}).items()
            if max(r.get("load_1min") or [0]) > cpus + 0.5]
    import importlib.metadata as md

    versions = {}
    for package in ("tensorflow", "tf-keras", "transformers", "datasets", "scikit-learn"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    report = {
        "command": shlex.join(["python", "benchmarks/quality.py", *(sys.argv[1:] if argv is None else argv)]),
        "mode": mode,
        "settings": {"encoder": PRESET, "max_length": MAX_LENGTH, "seeds": seeds, "subset_seed": SEED,
                     "train_limit": spec["train_limit"], "eval_limit": spec["eval_limit"],
                     "kerastl_train_flags": spec["kerastl_args"] + spec["extra_kerastl_args"],
                     "hf_tf": {**HF_SETTINGS, "epochs": spec["hf_epochs"]},
                     "baseline": "kerastl baseline: StandardScaler + LogisticRegression on frozen [CLS] vectors",
                     "metrics": "scikit-learn accuracy_score and f1_score(average='macro') over the training labels",
                     "wall_seconds": "per system and set: its processes, start-up, model loading and "
                                     "every evaluation split included",
                     "KERASTL_KERAS": os.environ.get("KERASTL_KERAS")},
        "machine": {"cpus": cpus, "platform": platform.platform(), "load_1min_at_start": round(load, 2),
                    "load_1min_at_end": round(os.getloadavg()[0], 2), "other_work_during": busy or None,
                    **versions},
        "sets": report_sets,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"\nJSON: {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
