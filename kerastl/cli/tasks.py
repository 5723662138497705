"""What differs by task on the command line: `train --task`, the task a saved model records, and a
regressor's predictions as records."""

import json
import logging
from pathlib import Path
from typing import Optional

from kerastl.config import SAVED_CONFIG_FILE

TASKS = ("classification", "regression")  # train --task; evaluate and predict read the saved model's

logger = logging.getLogger("kerastl.cli.commands")


def saved_task(path) -> Optional[str]:
    """The task a saved model folder (kerastl.json) or a SavedModel export (assets.extra/) records;
    "classification" for a folder saved before the task was recorded, None where there is none."""
    path = Path(path)
    for config in (path / SAVED_CONFIG_FILE, path / "assets.extra" / SAVED_CONFIG_FILE):
        if config.is_file():
            try:
                return json.loads(config.read_text()).get("task") or "classification"
            except ValueError:
                return None
    return None


def build_model(args, train, read_validation, strategy) -> tuple:
    """`(model, validation examples or None)` of `kerastl train`: a `TextClassifier` on the training
    labels (the validation data, read by `read_validation()` once the training labels passed, checked
    against them), or with `--task regression` a `TextRegressor`."""
    common = dict(max_length=args.max_length, dropout=args.dropout, pooling=args.pooling, strategy=strategy,
                  precision=args.precision)
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
    parser.add_argument("--task", choices=TASKS, default="classification",
                        help=f"what the target column holds, as train --task: classes (default), or regression: "
                             f"a numeric score per text ({what})")
