"""What differs by task on the command line: `train --task`, the task a saved model records, and a
regressor's predictions as records."""

import json
import logging
from pathlib import Path
from typing import Optional

from kerastl.config import MULTI_LABEL_SEP, SAVED_CONFIG_FILE

TASKS = ("classification", "multi_label", "regression")  # train --task; evaluate and predict read the saved model's
TRAIN_TASK_HELP = (
    "labels as classes (default); multi_label (or multi-label): a set of label names per text, the field split "
    "on --label-sep, with its own training defaults (--head-epochs 4 --head-learning-rate 3e-3 --epochs 4 "
    "--learning-rate 1e-4) and thresholds tuned on --validation; or regression: a numeric target per text (the "
    "score column); never guessed")
REPORT_HELP = (
    "also write metrics.json, training_curves.png and, for a classifier, confusion_matrix.png, highest_loss.csv "
    "and lowest_loss.csv; for a regressor, predicted_vs_true.png and largest_errors.csv; for a multi-label "
    "model, per_label.csv (precision, recall, f1, support, threshold) and per_label_f1.png, to DIR")

logger = logging.getLogger("kerastl.cli.commands")


def saved_config(path) -> Optional[dict]:
    """The kerastl.json of a saved model folder or a SavedModel export (assets.extra/), or None."""
    path = Path(path)
    for config in (path / SAVED_CONFIG_FILE, path / "assets.extra" / SAVED_CONFIG_FILE):
        if config.is_file():
            try:
                return json.loads(config.read_text())
            except ValueError:
                return None
    return None


def saved_task(path) -> Optional[str]:
    """The task a saved model folder (kerastl.json) or a SavedModel export (assets.extra/) records;
    "classification" for a folder saved before the task was recorded, None where there is none."""
    config = saved_config(path)
    return None if config is None else config.get("task") or "classification"


def saved_label_sep(path) -> str:
    """The separator of names a saved multi-label model was trained with ("," if none is recorded)."""
    config = saved_config(path) or {}
    return (config.get("config") or {}).get("label_sep") or MULTI_LABEL_SEP


def read_as_saved(args) -> None:
    """`evaluate`: the saved model's task reads the file, and a multi-label model's label fields are
    split on its own separator unless --label-sep is given; a given one is honoured (the file's
    format is the user's), and said when it differs from the model's."""
    args.task = saved_task(args.model)
    if args.task != "multi_label":
        return
    stored = saved_label_sep(args.model)
    if "--label-sep" not in {option.split("=")[0] for option in getattr(args, "argv", ())}:
        args.label_sep = stored
    elif args.label_sep != stored:
        logger.info("reading the label fields of %s split on --label-sep %r; the model was trained with %r",
                    args.data, args.label_sep, stored)


def build_model(args, train, read_validation, strategy) -> tuple:
    """`(model, validation examples or None)` of `kerastl train`: a `TextClassifier` on the training
    labels (the validation data, read by `read_validation()` once the training labels passed, checked
    against them), or with `--task regression` a `TextRegressor`."""
    common = dict(max_length=args.max_length, dropout=args.dropout, pooling=args.pooling, strategy=strategy,
                  precision=args.precision)
    if args.task == "multi_label":
        return _multi_label_model(args, train, read_validation, common)
    if args.task == "regression":
        from kerastl.tasks.text_regressor import TextRegressor

        validation = read_validation()
        logger.info("%d training examples, numeric targets (task regression)", len(train))
        return TextRegressor.from_backbone(args.model, **common), validation
    from kerastl.data.labels import encode_labels
    from kerastl.tasks.text_classifier import TextClassifier

    labels = train.label_names()
    validation = read_validation()
    if validation is not None:
        encode_labels(validation.labels, labels, validation.source)
    logger.info("%d training examples, labels %s", len(train), list(labels))
    return TextClassifier.from_backbone(args.model, labels, **common), validation


class Scores:
    """A regressor's scores as `kerastl predict` prints them: `records()` gives `{"score": x}`."""

    def __init__(self, scores):
        self.scores = [float(score) for score in scores]

    def records(self) -> list:
        return [{"score": score} for score in self.scores]


def task_option(parser, what: str) -> None:
    """`--task` of `baseline` and `explore`, read as `train --task` reads it: how the target column
    is read (class names, or a numeric score), classification by default."""
    parser.add_argument("--task", choices=TASKS, type=task_name, default="classification",
                        help=f"what the target column holds, as train --task: classes (default), or regression: "
                             f"a numeric score per text ({what})")


def task_name(value: str) -> str:
    """A `--task` value with its aliases normalised: `multi-label` is `multi_label`."""
    return {"multi-label": "multi_label"}.get(value, value)


def label_sep_option(parser) -> None:
    """`--label-sep`: the separator of the label names in a multi-label field."""
    parser.add_argument("--label-sep", default=",", metavar="SEP",
                        help="multi_label: the separator of the names in a label field (default: %(default)s; "
                             "evaluate: the one the model was trained with, kept in the model)")


def task_training_defaults(args, config):
    """`config` with the defaults of `args.task` (kerastl.config.TASK_TRAINING) for the training
    options not given on the command line."""
    import dataclasses

    from kerastl.config import TASK_TRAINING

    given = {option.split("=")[0] for option in getattr(args, "argv", ())}
    defaults = {name: value for name, value in TASK_TRAINING.get(getattr(args, "task", None), {}).items()
                if "--" + name.replace("_", "-") not in given}
    return dataclasses.replace(config, **defaults)


def _multi_label_model(args, train, read_validation, common) -> tuple:
    """`kerastl train --task multi_label`: a `TextMultiLabelClassifier` on the training sets' label
    names; the validation sets' names are checked against them before any training."""
    from kerastl.tasks.text_multi_label import TextMultiLabelClassifier

    labels = train.label_names()
    validation = read_validation()
    if validation is not None:
        validation.label_ids(labels)  # an unknown name stops here, naming its file and line
    logger.info("%d training examples, label sets over %d labels %s", len(train), len(labels), list(labels))
    model = TextMultiLabelClassifier.from_backbone(args.model, labels, label_sep=args.label_sep, **common)
    return model, validation


def label_set_line(record: dict, text: str) -> str:
    """A multi-label prediction as `kerastl predict` prints it: `joy:0.912,love:0.604<TAB>text`
    (`-` for an empty set)."""
    shown = ",".join(f"{name}:{record['probabilities'][name]:.3f}" for name in record["labels"])
    return f"{shown or '-'}\t{text}"
