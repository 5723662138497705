"""A multi-label model's scores with thresholds that never saw the texts they score.

`kerastl train --task multi_label --validation F` tunes each label's threshold on F, so scores on
F flatter it. This script loads a saved multi-label model, predicts the probabilities of F once,
and scores them three ways: with the thresholds the model stores (tuned on all of F), 2-fold
cross-fitted (thresholds tuned on one random half of F, seed 0, applied to the other half, both
ways), and at one global threshold of 0.5. It prints one JSON object.

    python benchmarks/multi_label_crossfit.py runs/quality-models/go_emotions/kerastl-model \
        ../shared/data/go_emotions/validation.tsv
"""

import argparse
import json

import numpy as np
from sklearn.metrics import f1_score


def scores(targets: np.ndarray, predicted: np.ndarray) -> dict:
    return {
        "macro_f1": round(float(f1_score(targets, predicted, average="macro", zero_division=0)), 4),
        "micro_f1": round(float(f1_score(targets, predicted, average="micro", zero_division=0)), 4),
        "subset_accuracy": round(float((predicted == targets.astype(bool)).all(axis=1).mean()), 4),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a folder kerastl train (save_pretrained) wrote")
    parser.add_argument("data", help="labelled examples: a file with text and labels columns")
    parser.add_argument("--seed", type=int, default=0, help="of the random halves (default: %(default)s)")
    args = parser.parse_args(argv)

    import kerastl
    from kerastl.tasks.task import Task
    from kerastl.tasks.thresholds import best_thresholds

    model = Task.from_pretrained(args.model)
    if getattr(model, "task", None) != "multi_label":
        parser.error(f"{args.model} holds a {getattr(model, 'task', '?')} model, not a multi-label one")
    examples = kerastl.read_examples(args.data, task="multi_label", label_sep=model.label_sep)
    names = list(model.label_names)
    targets = np.zeros((len(examples), len(names)), np.float32)
    for row, labels in enumerate(examples.labels):
        targets[row, [names.index(name) for name in labels]] = 1.0
    probabilities = np.asarray(model.predict(examples.texts, batch_size=64, verbose=0), np.float32)

    halves = np.array_split(np.random.default_rng(args.seed).permutation(len(examples)), 2)
    crossfit = np.zeros(targets.shape, bool)
    for tune, score in ((0, 1), (1, 0)):
        thresholds = np.asarray(best_thresholds(targets[halves[tune]], probabilities[halves[tune]]))
        crossfit[halves[score]] = probabilities[halves[score]] >= thresholds[None, :]
    report = {
        "model": args.model, "data": args.data, "n": len(examples),
        "stored_thresholds": scores(targets, probabilities >= np.asarray(model.thresholds)[None, :]),
        "crossfit_2_fold": scores(targets, crossfit),
        "global_0.5": scores(targets, probabilities >= 0.5),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
