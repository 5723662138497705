"""Quality: what kerastl's defaults score against the Hugging Face TF path and a frozen-feature baseline.

For every tuning set, three systems train on the same training examples and are scored on the same
evaluation examples, one after another, each in its own subprocess (stderr to
runs/quality-logs/), and the parent prints one table per kind of task and writes one JSON object to
runs/quality.json. The scores are scikit-learn's and SciPy's, from each system's predictions
(benchmarks/quality_scores.py); the prepared files are benchmarks/quality_data.py's.

    python benchmarks/quality.py            # make quality: every example, the figures
    python benchmarks/quality.py --sets mrpc,stsb,go_emotions    # make quality-tasks (issue 28)
    python benchmarks/quality.py --quick    # 1,000 training / 500 evaluation examples a set, 1 epoch

The systems, all on the all-MiniLM-L6-v2 encoder, 128 tokens a text (or a pair):
- kerastl: `kerastl train --model all-minilm-l6-v2` with no tuning flags (its defaults: 2 head
  epochs on cached pooled vectors, 3 fine-tuning epochs, AdamW with warm-up and cosine decay),
  plus `--task` and `--validation` for the sets of issue 28, plus whatever --kerastl-args adds;
  then one `kerastl predict --file` over the evaluation examples.
- hf_tf: `TFAutoModelForSequenceClassification` on the same folder (benchmarks/quality_hf.py),
  Adam 5e-5, batch 32, 2 epochs (3 on MRPC and STS-B), float32, `model.fit`; tf-keras.
- baseline: `kerastl baseline`: a linear model on the frozen encoder's pooled vectors (logistic
  regression, one-vs-rest for multi-label, ridge for regression), trained and scored in one
  invocation (one per evaluation split: it scores one split only).

The sets (quality_data.SETS): ../shared/data/emotion (6 classes), ../shared/data/ag_news (4 classes),
both scored on their validation split, and the Rotten Tomatoes snippets bundled with kerastl, scored
on their validation split (for tuning) and their test split (for final figures: it is tuned on by no
one); and, not run by default, ../shared/data/mrpc (pairs, 2 classes), stsb (pairs, a score 0-5) and
go_emotions (28 labels, one or more a text), scored on their validation split.
Subsets (--quick, --limit) are drawn with seed 0, the same for every system.
--seeds 0,1,2 trains kerastl and hf_tf once per seed (the baseline has none to vary) and reports
each one's mean and range: on a few thousand examples one seed's accuracy moves by a point.
"""

import argparse
import contextlib
import csv
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from quality_data import SEED, SETS, SINGLE_LABEL_SETS, prepare, read_split
from quality_hf import MAX_LENGTH, PRESET, SETTINGS, child_hf_tf
from quality_scores import metrics, over_seeds, scores, table

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"
RESULT_MARK = "QUALITY_RESULT "
SYSTEMS = ("kerastl", "hf_tf", "baseline")

# Per mode: examples per set (None: all), and the epochs of the systems that fine-tune (hf_epochs
# None: each set's own, quality_data.SETS).
MODES = {
    "full": {"train_limit": None, "eval_limit": None, "hf_epochs": None, "kerastl_args": []},
    "quick": {"train_limit": 1000, "eval_limit": 500, "hf_epochs": 1, "kerastl_args": ["--epochs", "1"]},
}


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


def score_split(data: dict, folder: Path, split: str, predictions) -> dict:
    qset = SETS[data["set"]]
    _, y_true = read_split(folder, split, qset)
    return scores(qset.task, y_true, predictions, data.get("labels"), qset.positive)


def system_kerastl(folder: Path, eval_splits, data, spec, log_file, work: Path) -> dict:
    """`kerastl train` with its defaults (+ the set's, the mode's and the user's flags), then one
    `kerastl predict --file` over every evaluation split."""
    qset = SETS[data["set"]]
    cli = [sys.executable, "-m", "kerastl"]
    output = work / "kerastl-model"
    set_flags = ["--task", qset.task, "--validation", str(folder / "validation.jsonl")] if qset.validation else []
    train_flags = set_flags + spec["kerastl_args"] + ["--seed", str(spec["seed"])] + spec["extra_kerastl_args"]
    train = [*cli, "train", "--model", PRESET, "--train", str(folder / "train.jsonl"), "--output", str(output),
             "--overwrite", *train_flags]
    stdout, train_seconds, train_load = run_logged(train, log_file, kerastl_env())
    history = json.loads(stdout.strip().splitlines()[-1]).get("history")  # train prints one JSON object
    # One predict over every evaluation split: the model loads once.
    offsets, inputs = {}, []
    for split in eval_splits:
        split_inputs, _ = read_split(folder, split, qset)
        offsets[split] = (len(inputs), len(inputs) + len(split_inputs))
        inputs += split_inputs
    predict = [*cli, "predict", "--model", str(output), "--file", str(write_inputs(inputs, qset.pair, work))]
    stdout, predict_seconds, predict_load = run_logged(predict, log_file, kerastl_env())
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    first = 2 if qset.pair else 1  # the line of the first input: a table of pairs has a header
    if [r.get("line") for r in records] != list(range(first, first + len(inputs))):
        raise RuntimeError(f"kerastl predict answered {len(records)} lines for {len(inputs)} inputs, "
                           f"or not in their order")
    result = {"train_flags": train_flags, "train_seconds": train_seconds, "predict_seconds": predict_seconds,
              "wall_seconds": round(train_seconds + predict_seconds, 1), "load_1min": [*train_load, *predict_load],
              "history": history}
    answers = [predicted(r, qset.task) for r in records]
    for split, (a, b) in offsets.items():
        result[split] = score_split(data, folder, split, answers[a:b])
    return result


def write_inputs(inputs: list, pair: bool, work: Path) -> Path:
    """The file `kerastl predict --file` reads: one text a line, or for pairs a tab-separated file
    with the header `text<TAB>text_pair` (fields quoted CSV-style where they need it)."""
    work.mkdir(parents=True, exist_ok=True)
    if not pair:
        path = work / "eval-texts.txt"
        path.write_text("".join(t + "\n" for t in inputs))
        return path
    path = work / "eval-pairs.tsv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["text", "text_pair"])
        writer.writerows(inputs)
    return path


def predicted(record: dict, task: str):
    """What one `kerastl predict --json` record answers: a class name, a score, or a list of names."""
    if task == "regression":
        return float(record["score"])
    if task == "multi_label":
        names = record["labels"]
        return names.split(",") if isinstance(names, str) else list(names)
    return record["label"]


def system_baseline(folder: Path, eval_splits, data, spec, log_file, work: Path) -> dict:
    """`kerastl baseline --json`, once per evaluation split (it scores one)."""
    qset = SETS[data["set"]]
    task_flags = ["--task", qset.task] if qset.validation else []
    result = {"wall_seconds": 0.0, "load_1min": []}
    for split in eval_splits:
        command = [sys.executable, "-m", "kerastl", "baseline", "--model", PRESET, "--train",
                   str(folder / "train.jsonl"), "--validation", str(folder / f"{split}.jsonl"), *task_flags, "--json"]
        stdout, seconds, load = run_logged(command, log_file, kerastl_env())
        out = json.loads(stdout.strip().splitlines()[-1])
        # kerastl's own scores (the same scikit-learn and SciPy functions): the command prints no
        # predictions to score here.
        result.update(baseline_scores(out, split, qset))
        result[f"{split}_seconds"] = seconds
        result["wall_seconds"] = round(result["wall_seconds"] + seconds, 1)
        result["load_1min"] += load
    return result


BASELINE_MODELS = ("logistic_regression", "ridge", "one_vs_rest_logistic_regression")
BASELINE_FLOORS = ("most_frequent", "mean", "prior")  # what a model without features scores


def baseline_scores(out: dict, split: str, qset) -> dict:
    """{split: the model's scores, split_<floor>: the floor's} from `kerastl baseline --json`."""
    keys = [k for k, _ in metrics(qset.task, qset.positive)]
    model = next((name for name in BASELINE_MODELS if name in out), None)
    if model is None:
        model = next(name for name in out if name not in BASELINE_FLOORS)
    found = {}
    for name, entry in out.items():
        if name != model and name not in BASELINE_FLOORS:
            continue
        picked = {"n": entry["n"], **{k: round(entry[k], 4) for k in keys if isinstance(entry.get(k), float)}}
        if qset.positive and qset.positive in entry.get("per_class", {}):
            picked[f"f1_{qset.positive}"] = round(entry["per_class"][qset.positive]["f1"], 4)
        found[split if name == model else f"{split}_{name}"] = picked
    found[f"{split}_model"] = model
    return found


def system_hf_tf(folder: Path, eval_splits, data, spec, log_file, work: Path) -> dict:
    epochs = spec["hf_epochs"] or SETS[data["set"]].hf_epochs
    child_spec = {"set": data["set"], "folder": str(folder), "eval_splits": list(eval_splits),
                  "labels": data.get("labels"), "epochs": epochs, "seed": spec["seed"]}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    out = run_child("hf_tf", child_spec, log_file)
    wall = round(time.perf_counter() - start, 1)
    result = {"epochs": epochs, **SETTINGS, "train_seconds": out["train_seconds"],
              "predict_seconds": out["predict_seconds"], "wall_seconds": wall,
              "load_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
              "weights_not_in_checkpoint": out["missing_keys"]}
    for split in eval_splits:
        result[split] = score_split(data, folder, split, out["predictions"][split])
    return result


RUNNERS = {"kerastl": system_kerastl, "hf_tf": system_hf_tf, "baseline": system_baseline}
SEEDED = ("kerastl", "hf_tf")  # the baseline's linear model on frozen features has no seed to vary


# -- children -----------------------------------------------------------------------------------


def child_rotten_tomatoes(spec) -> dict:
    from kerastl.data.sample_data import rotten_tomatoes

    return {"splits": {name: {"texts": list(part.texts), "labels": [str(y) for y in part.labels]}
                       for name, part in rotten_tomatoes().items()}}


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


def rotten_tomatoes_in_child(log_dir: Path):
    """quality_data.prepare's reader of the Rotten Tomatoes splits: kerastl in a child process."""
    def read() -> dict:
        log_file = log_dir / "data-rotten_tomatoes.log"
        log_file.write_text("")
        out = run_child("rotten_tomatoes", {}, log_file)
        return {split: (part["texts"], part["labels"]) for split, part in out["splits"].items()}
    return read


# -- parent -------------------------------------------------------------------------------------


def choose(parser, value: str, allowed, what: str) -> list:
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
    parser.add_argument("--sets", default=",".join(SINGLE_LABEL_SETS),
                        help=f"comma-separated subset of {','.join(SETS)} (default: %(default)s)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset of %(default)s")
    parser.add_argument("--kerastl-args", default="", metavar="FLAGS",
                        help="extra `kerastl train` flags for a recipe variant, e.g. \"--learning-rate 1e-4\"")
    parser.add_argument("--seeds", default=str(SEED), metavar="S[,S...]",
                        help="training seeds of kerastl and hf_tf (%(default)s); with several, the table gives "
                             "each system's mean scores and the range of the first over the seeds")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="folder of emotion/, ag_news/, mrpc/, stsb/ and go_emotions/ (default: ../shared/data)")
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
    sets = choose(parser, args.sets, tuple(SETS), "sets")
    systems = choose(parser, args.systems, SYSTEMS, "systems")
    seeds = seed_list(parser, args.seeds)
    runs = args.output.parent
    log_dir = runs / "quality-logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    start, load = time.perf_counter(), os.getloadavg()[0]
    report_sets, set_metrics = {}, {}
    for set_name in sets:
        print(f"[quality] {set_name}: preparing the data", file=sys.stderr, flush=True)
        folder = runs / "quality-data" / set_name
        qset = SETS[set_name]
        keys = set_metrics[set_name] = metrics(qset.task, qset.positive)
        try:
            data = prepare(set_name, spec, args.data_dir, folder, rotten_tomatoes_in_child(log_dir))
        except (OSError, ChildFailed) as err:
            print(f"[quality] {set_name}: skipped: {err}", file=sys.stderr, flush=True)
            report_sets[set_name] = {"error": f"no data: {err}"}
            continue
        data["set"] = set_name
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
                    r = RUNNERS[system](folder, eval_splits, data, {**spec, "seed": seed}, log_file,
                                        runs / "quality-models" / set_name)
                    r["log"] = str(log_file)
                    print(f"[quality] {name} done in {r['wall_seconds']:.0f} s", file=sys.stderr, flush=True)
                except ChildFailed as err:
                    print(f"[quality] {name} failed ({err}); see {err.log_file}", file=sys.stderr, flush=True)
                    r = {"error": str(err), "log": str(err.log_file), "log_tail": err.tail}
                by_seed[seed] = r
            entry["systems"][system] = (over_seeds(by_seed, eval_splits, [k for k, _ in keys]) if len(by_seed) > 1
                                        else by_seed[seeds[0]])

    # The load average counts the benchmark's own threads (up to one per core); more means other
    # work shared the cores, and wall times taken then are upper bounds.
    cpus = os.cpu_count() or 1
    busy = [f"{s}/{system}" for s, e in report_sets.items() for system, r in e.get("systems", {}).items()
            if max(r.get("load_1min") or [0]) > cpus + 0.5]
    import importlib.metadata as md

    versions = {}
    for package in ("tensorflow", "tf-keras", "transformers", "datasets", "scikit-learn", "scipy"):
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
                     "hf_tf": {**SETTINGS, "epochs": {s: spec["hf_epochs"] or SETS[s].hf_epochs for s in sets}},
                     "baseline": "kerastl baseline: a linear model on the frozen encoder's pooled vectors",
                     "metrics": {s: [k for k, _ in keys] for s, keys in set_metrics.items()},
                     "metrics_from": "scikit-learn (accuracy_score, f1_score over the set's labels, "
                                     "mean_squared_error) and SciPy (pearsonr, spearmanr), on each system's "
                                     "predictions; the baseline's are kerastl baseline's own",
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
    print(table(report, set_metrics))
    print(f"\nJSON: {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
