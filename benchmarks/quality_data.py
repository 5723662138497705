"""The tuning sets of benchmarks/quality.py: what each one is, and its prepared files.

Every set is written once per run as JSON Lines, one file per split (`<split>.jsonl`), which every
system reads alike: `text`, `text_pair` where the set has pairs, and the target under the column
name the set's task reads by header (`label`, `score` or `labels`, the last comma-separated).
Single-text sets also get `<split>.txt`, the texts alone, one a line (`kerastl predict --file`).
"""

import json
import random
from pathlib import Path
from typing import NamedTuple, Optional

SEED = 0  # the subsets' seed, the same for every system


class QualitySet(NamedTuple):
    """How one set is read, trained and scored.

    task: kerastl's `--task` (classification, regression or multi_label).
    target: the target's column, in the source and the prepared files.
    pair: whether the set holds sentence pairs (a `text_pair` column).
    positive: classification only: a class whose own F1 is reported beside accuracy and macro F1.
    validation: whether `kerastl train` gets the validation file (the sets of issue 28 do: their
        figures come from `kerastl train --train F --validation F`); the first three sets keep their
        own recipe, without one.
    hf_epochs: the HF TF path's epochs in the full run (its usual 2, and 3 for the GLUE pairs, as
        transformers' run_glue and the course's MRPC chapter train them).
    """

    task: str
    target: str
    pair: bool = False
    positive: Optional[str] = None
    validation: bool = False
    hf_epochs: int = 2


SETS = {
    "emotion": QualitySet("classification", "label"),
    "ag_news": QualitySet("classification", "label"),
    "rotten_tomatoes": QualitySet("classification", "label"),
    "mrpc": QualitySet("classification", "label", pair=True, positive="equivalent", validation=True, hf_epochs=3),
    "stsb": QualitySet("regression", "score", pair=True, validation=True, hf_epochs=3),
    "go_emotions": QualitySet("multi_label", "labels", validation=True, hf_epochs=2),
}
SINGLE_LABEL_SETS = ("emotion", "ag_news", "rotten_tomatoes")  # make quality
TASK_SETS = ("mrpc", "stsb", "go_emotions")  # make quality-tasks (issue 28)


# -- reading the sources ------------------------------------------------------------------------


def read_sources(name: str, data_dir: Path, rotten_tomatoes=None) -> dict:
    """{split: {column: values}} of one set, every example, as its source holds them.

    rotten_tomatoes: a function returning that set's {split: (texts, labels)} (kerastl defines its
    split, and importing kerastl brings TensorFlow, so the caller runs it in a child process).
    """
    import pandas as pd

    folder = data_dir / name
    if name == "emotion":
        frames = {split: pd.read_csv(folder / f"{split}.txt", sep=";", names=["text", "label"], quoting=3,
                                     dtype=str, keep_default_na=False) for split in ("train", "validation")}
    elif name == "rotten_tomatoes":
        return {split: {"text": list(texts), "label": list(labels)}
                for split, (texts, labels) in rotten_tomatoes().items()}
    elif name in SETS:  # tab-separated with a header, fields quoted CSV-style
        frames = {split: pd.read_csv(folder / f"{split}.tsv", sep="\t", dtype=str, keep_default_na=False)
                  for split in ("train", "validation")}
    else:
        raise ValueError(f"unknown set {name!r}; known: {', '.join(SETS)}")
    spec = SETS[name]
    columns = ["text", "text_pair", spec.target] if spec.pair else ["text", spec.target]
    return {split: {column: frame[column].tolist() for column in columns} for split, frame in frames.items()}


def label_names(name: str, data_dir: Path, train_targets) -> list:
    """The names a classifier or multi-label model can answer: labels.txt where the set has one
    (GoEmotions: all 28, in the release's order), else those of the training split, sorted."""
    listed = data_dir / name / "labels.txt"
    if listed.exists():
        return [line.strip() for line in listed.read_text().splitlines() if line.strip()]
    names = {n for target in train_targets for n in str(target).split(",")} if SETS[name].task == "multi_label" \
        else {str(target) for target in train_targets}
    return sorted(names)


def clean(rows: dict, spec: QualitySet) -> tuple:
    """Drop rows with a blank text (or blank second text); put each text on one line
    (`kerastl predict --file` reads one a line); targets as the prepared files hold them: strings,
    and floats for regression."""
    texts = ["text", "text_pair"] if spec.pair else ["text"]
    n = len(rows["text"])
    keep = [i for i in range(n) if all(rows[c][i] and str(rows[c][i]).strip() for c in texts)]
    broken = sum(1 for c in texts for i in keep if "\n" in rows[c][i] or "\r" in rows[c][i])
    cleaned = {c: [rows[c][i].replace("\r", " ").replace("\n", " ") for i in keep] for c in texts}
    target = float if spec.task == "regression" else str
    cleaned[spec.target] = [target(rows[spec.target][i]) for i in keep]
    return cleaned, {"dropped_blank": n - len(keep), "line_breaks_replaced": broken}


# -- subsets (--quick, --limit) -----------------------------------------------------------------


def subset(rows: dict, spec: QualitySet, limit: Optional[int]) -> dict:
    """`limit` rows, drawn with SEED (all of them when limit is None or not smaller), in file order:
    stratified by class for classification, and for multi-label one row of each label first (so
    that no label in the evaluation rows is unknown to the training rows), then at random."""
    n = len(rows["text"])
    if limit is None or limit >= n:
        return rows
    targets = rows[spec.target]
    if spec.task == "classification":
        chosen = _stratified(targets, limit)
    elif spec.task == "multi_label":
        chosen = _covering(targets, limit)
    else:
        chosen = sorted(random.Random(SEED).sample(range(n), limit))
    return {column: [values[i] for i in chosen] for column, values in rows.items()}


def _stratified(labels, limit) -> list:
    from sklearn.model_selection import train_test_split

    index = list(range(len(labels)))
    try:
        chosen, _ = train_test_split(index, train_size=limit, stratify=labels, random_state=SEED)
    except ValueError:  # a class too rare to stratify at this size
        chosen, _ = train_test_split(index, train_size=limit, random_state=SEED)
    return sorted(chosen)


def _covering(label_sets, limit) -> list:
    rng = random.Random(SEED)
    order = list(range(len(label_sets)))
    rng.shuffle(order)
    chosen, seen = [], set()
    for i in order:  # the first row (in the shuffled order) of each label not yet held
        names = set(label_sets[i].split(","))
        if len(chosen) < limit and not names <= seen:
            chosen.append(i)
            seen |= names
    taken = set(chosen)
    chosen += [i for i in order if i not in taken][: limit - len(chosen)]
    return sorted(chosen)


# -- the prepared files -------------------------------------------------------------------------


def prepare(name: str, spec: dict, data_dir: Path, out_dir: Path, rotten_tomatoes=None) -> dict:
    """Write <out_dir>/<split>.jsonl (and <split>.txt for single texts); describe them."""
    qset = SETS[name]
    sources = read_sources(name, data_dir, rotten_tomatoes)
    out_dir.mkdir(parents=True, exist_ok=True)
    described = {"files": str(out_dir), "task": qset.task, "pair": qset.pair, "splits": {}}
    for split, raw in sources.items():
        rows, cleaning = clean(raw, qset)
        total = len(rows["text"])
        rows = subset(rows, qset, spec["train_limit"] if split == "train" else spec["eval_limit"])
        columns = list(rows)
        with open(out_dir / f"{split}.jsonl", "w") as f:
            for values in zip(*rows.values()):
                f.write(json.dumps(dict(zip(columns, values))) + "\n")
        if not qset.pair:
            (out_dir / f"{split}.txt").write_text("".join(t + "\n" for t in rows["text"]))
        described["splits"][split] = {"examples": len(rows["text"]), "of": total, **cleaning}
    if qset.task != "regression":
        described["labels"] = label_names(name, data_dir, read_split(out_dir, "train", qset)[1])
    return described


def read_split(folder: Path, split: str, spec: QualitySet) -> tuple:
    """(inputs, targets) of a prepared split: inputs are texts, or (text, text_pair) tuples for a
    pair set; targets are class names, floats, or lists of names for multi-label."""
    rows = [json.loads(line) for line in open(folder / f"{split}.jsonl")]
    inputs = [(r["text"], r["text_pair"]) if spec.pair else r["text"] for r in rows]
    targets = [r[spec.target] for r in rows]
    if spec.task == "multi_label":
        targets = [t.split(",") for t in targets]
    return inputs, targets
