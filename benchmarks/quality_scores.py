"""The scores of benchmarks/quality.py, from predictions, with scikit-learn and SciPy, and its table.

Per task, the figures each system is scored on (the first is the one whose range over seeds the
table gives):

- classification: accuracy, macro F1 over the set's labels (predicted or not), and for a set with a
  positive class (MRPC's `equivalent`) that class's own F1, as GLUE reports it;
- regression: Pearson and Spearman correlation with the gold scores, and the mean squared error;
- multi_label: macro F1 over the set's labels, micro F1, and subset accuracy (every label of a row
  right), on the rows' label sets as indicator matrices.
"""

METRICS = {  # task: [(key, heading)], the key the JSON holds, the heading the table prints
    "classification": [("accuracy", "accuracy"), ("macro_f1", "macro F1")],
    "regression": [("pearson", "Pearson"), ("spearman", "Spearman"), ("mse", "MSE")],
    "multi_label": [("macro_f1", "macro F1"), ("micro_f1", "micro F1"), ("subset_accuracy", "subset acc.")],
}


def metrics(task: str, positive=None) -> list:
    """The (key, heading) pairs a set of this task is scored on."""
    found = list(METRICS[task])
    if positive is not None:
        found.append((f"f1_{positive}", f"F1 {positive}"))
    return found


def classification_scores(y_true, y_pred, labels, positive=None) -> dict:
    """Accuracy and macro F1 (every one of `labels` counts), and the F1 of `positive` if given."""
    from sklearn.metrics import accuracy_score, f1_score

    result = {"n": len(y_true), "accuracy": accuracy_score(y_true, y_pred),
              "macro_f1": f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)}
    if positive is not None:
        result[f"f1_{positive}"] = f1_score(y_true, y_pred, labels=[positive], average=None,
                                            zero_division=0)[0]
    return _rounded(result)


def regression_scores(y_true, y_pred) -> dict:
    """Pearson and Spearman correlation (SciPy) and the mean squared error (scikit-learn)."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_squared_error

    return _rounded({"n": len(y_true), "pearson": pearsonr(y_true, y_pred)[0],
                     "spearman": spearmanr(y_true, y_pred)[0], "mse": mean_squared_error(y_true, y_pred)})


def multi_label_scores(true_sets, pred_sets, labels) -> dict:
    """Macro and micro F1 and subset accuracy of label sets (lists of names) over `labels`."""
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer(classes=list(labels))
    y_true, y_pred = binarizer.fit_transform(true_sets), binarizer.transform(pred_sets)
    return _rounded({"n": len(true_sets),
                     "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
                     "micro_f1": f1_score(y_true, y_pred, average="micro", zero_division=0),
                     "subset_accuracy": accuracy_score(y_true, y_pred),
                     "mean_labels_predicted": y_pred.sum(axis=1).mean()})


def scores(task: str, y_true, y_pred, labels=None, positive=None) -> dict:
    """The scores of one system on one split: see the module's docstring."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_pred)} predictions for {len(y_true)} examples")
    if task == "classification":
        return classification_scores(y_true, y_pred, labels, positive)
    if task == "regression":
        return regression_scores(y_true, y_pred)
    if task == "multi_label":
        return multi_label_scores(y_true, y_pred, labels)
    raise ValueError(f"task must be classification, regression or multi_label; received task={task!r}")


def _rounded(result: dict) -> dict:
    return {k: v if k == "n" else round(float(v), 4) for k, v in result.items()}


def over_seeds(runs: dict, eval_splits, keys) -> dict:
    """One system's runs {seed: result} in one entry: per split the mean of each score in `keys`
    and the lowest and highest of the first; `runs` keeps each seed's result whole."""
    done = {seed: r for seed, r in runs.items() if "error" not in r}
    entry = {"runs": runs}
    if not done:
        return {**entry, "error": "every seed failed"}
    first = keys[0]
    for split in eval_splits:
        values = {k: [r[split][k] for r in done.values() if k in r[split]] for k in keys}
        entry[split] = {"n": next(iter(done.values()))[split]["n"],
                        **{k: round(sum(v) / len(v), 4) for k, v in values.items() if v},
                        f"{first}_min": min(values[first]), f"{first}_max": max(values[first]), "seeds": sorted(done)}
    entry["wall_seconds"] = round(sum(r["wall_seconds"] for r in done.values()) / len(done), 1)
    entry["load_1min"] = [x for r in done.values() for x in r.get("load_1min", [])]
    return entry


def table(report: dict, set_metrics: dict) -> str:
    """One text table per group of sets scored alike; set_metrics: {set: [(key, heading)]}."""
    groups = {}
    for set_name, entry in report["sets"].items():
        groups.setdefault(tuple(set_metrics[set_name]), []).append((set_name, entry))
    return "\n\n".join(_table(keys, entries) for keys, entries in groups.items())


def _table(keys, entries) -> str:
    rows = [("set", "split", "system", "n", *(heading for _, heading in keys), "wall s")]
    blank = ("-",) * len(keys)
    for set_name, entry in entries:
        if "error" in entry:
            rows.append((set_name, "-", "-", "-", *blank, "no data"))
            continue
        for split in entry["eval_splits"]:
            for system, r in entry["systems"].items():
                if split not in r:
                    rows.append((set_name, split, system, "-", *blank, "failed"))
                    continue
                s = r[split]
                cells = [f"{s[k]:.4f}" if k in s else "-" for k, _ in keys]
                first = keys[0][0]
                if f"{first}_min" in s:  # the mean of several seeds, then their range
                    cells[0] += f" ({s[f'{first}_min']:.4f}-{s[f'{first}_max']:.4f})"
                rows.append((set_name, split, system, str(s["n"]), *cells, f"{r['wall_seconds']:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
