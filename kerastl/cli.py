"""The `kerastl` command: train, evaluate and predict, a thin layer over the library."""

import argparse
import dataclasses
import json
import logging
import shutil
import sys
import typing
from pathlib import Path

from kerastl.config import (
    DEFAULT_BACKBONE,
    DEFAULT_DROPOUT,
    DEFAULT_MAX_LENGTH,
    INFERENCE_BATCH_SIZE,
    PRECISIONS,
    STRATEGIES,
    TrainingConfig,
)

DATA_OPTIONS = ("text_column", "label_column", "sep", "names")

logger = logging.getLogger("kerastl.cli")


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    args = _parser().parse_args(argv)
    _show_kerastl_logs()
    from kerastl.errors import KerastlError, TrainingInterrupted

    try:
        return args.run(args)
    except TrainingInterrupted as err:
        print(f"kerastl {args.command}: {err}", file=sys.stderr)
        return 130
    except (KerastlError, ValueError) as err:
        print(f"kerastl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kerastl {args.command}: interrupted", file=sys.stderr)
        return 130


def _show_kerastl_logs():
    """kerastl's own progress and warnings on stderr; other libraries keep their settings."""
    package = logging.getLogger("kerastl")
    package.setLevel(logging.INFO)
    if not any(isinstance(h, _StderrHandler) for h in package.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("kerastl: %(message)s"))
        package.addHandler(handler)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time, so repeated `main()` calls share one."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerastl", description="Two-phase transfer learning for text classification."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train the head, then fine-tune, then save the model")
    train.add_argument("--model", default=DEFAULT_BACKBONE,
                       help="hub name, local folder, preset (all-minilm-l6-v2) (default: %(default)s)")
    train.add_argument("--train", required=True, type=Path, help="training data file")
    train.add_argument("--validation", type=Path, help="validation data file, scored every epoch")
    train.add_argument("--output", required=True, type=Path, help="folder to save the trained model to")
    train.add_argument("--overwrite", action="store_true", help="replace a model already at --output")
    _data_options(train)
    train.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                       help="tokens per text (default: %(default)s)")
    train.add_argument("--dropout", type=float, default=DEFAULT_DROPOUT, help="head dropout (default: %(default)s)")
    _training_options(train)
    train.add_argument("--precision", default="auto", choices=("auto", *PRECISIONS),
                       help="auto: bf16 only where the hardware runs it fast (default: %(default)s)")
    train.add_argument("--strategy", default="auto", choices=STRATEGIES,
                       help="tf.distribute strategy; auto: TPU if configured, several workers if TF_CONFIG "
                            "names them, mirrored over several GPUs, else one device; --batch-size is per "
                            "replica (default: %(default)s)")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="score a saved model on a labelled file")
    evaluate.add_argument("--model", required=True, type=Path, help="folder of a saved model")
    evaluate.add_argument("--data", required=True, type=Path, help="labelled data file")
    _data_options(evaluate)
    evaluate.add_argument("--batch-size", type=int, default=INFERENCE_BATCH_SIZE, help="(default: %(default)s)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--report", type=Path, metavar="DIR",
                          help="also write metrics.json, confusion_matrix.png, training_curves.png "
                               "and the error analysis (highest_loss.csv, lowest_loss.csv) to DIR")
    evaluate.set_defaults(run=_evaluate)

    explore = commands.add_parser("explore", help="plot class counts and tokens per text of a labelled file")
    explore.add_argument("--data", required=True, type=Path, help="labelled data file")
    _data_options(explore)
    explore.add_argument("--model", default=DEFAULT_BACKBONE,
                         help="whose tokenizer counts the tokens: hub name, folder, preset or saved "
                              "kerastl model (default: %(default)s)")
    explore.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                         help="token limit to compare lengths with (default: %(default)s)")
    explore.add_argument("--output", required=True, type=Path,
                         help="folder for class_counts.png, tokens_per_text.png and the summary")
    explore.set_defaults(run=_explore)

    baseline = commands.add_parser(
        "baseline", help="logistic regression on the frozen encoder's [CLS] features, and the majority class"
    )
    baseline.add_argument("--model", default=DEFAULT_BACKBONE,
                          help="hub name, local folder, preset (all-minilm-l6-v2) (default: %(default)s)")
    baseline.add_argument("--train", required=True, type=Path, help="training data file")
    baseline.add_argument("--validation", required=True, type=Path, help="data file scored by the baselines")
    _data_options(baseline)
    baseline.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH, help="(default: %(default)s)")
    baseline.add_argument("--batch-size", type=int, default=INFERENCE_BATCH_SIZE, help="(default: %(default)s)")
    baseline.add_argument("--json", action="store_true", help="print one JSON object")
    baseline.add_argument("--report", type=Path, metavar="DIR",
                          help="also write baseline.json and baseline_confusion_matrix.png to DIR")
    baseline.set_defaults(run=_baseline)

    predict = commands.add_parser("predict", help="classify texts given on the command line")
    predict.add_argument("--model", required=True, type=Path,
                         help="folder of a saved model, or an exported SavedModel (a version folder, "
                              "or a TF Serving base folder: its highest version is used)")
    predict.add_argument("--json", action="store_true", help="print one JSON object per text")
    predict.add_argument("texts", nargs="+", metavar="TEXT")
    predict.set_defaults(run=_predict)

    export = commands.add_parser("export", help="write a SavedModel for TF Serving that takes raw text")
    export.add_argument("--model", required=True, type=Path, help="folder of a saved model")
    export.add_argument("--output", required=True, type=Path,
                        help="TF Serving base folder; the SavedModel goes to OUTPUT/VERSION/")
    export.add_argument("--version", type=int, help="(default: one more than the highest present, or 1)")
    export.add_argument("--overwrite", action="store_true", help="replace OUTPUT/VERSION if it exists")
    export.set_defaults(run=_export)
    return parser


def _training_options(parser):
    """One option per `TrainingConfig` field (`--batch-size` for batch_size), with its default and help."""
    for field in dataclasses.fields(TrainingConfig):
        kind = next((t for t in typing.get_args(field.type) if t is not type(None)), field.type)  # Optional[x] -> x
        flag = "--" + field.name.replace("_", "-")
        help = field.metadata["help"] + (" (default: %(default)s)" if field.default is not None else "")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default, help=help)
        else:
            parser.add_argument(flag, type=kind, default=field.default, help=help)


def _training_config(args) -> TrainingConfig:
    return TrainingConfig(**{field.name: getattr(args, field.name) for field in dataclasses.fields(TrainingConfig)})


def _data_options(parser):
    parser.add_argument("--text-column", default="text", help="(default: %(default)s)")
    parser.add_argument("--label-column", default="label", help="(default: %(default)s)")
    parser.add_argument("--sep", help="field separator of delimited text (default: from the extension)")
    parser.add_argument("--names", type=lambda s: [n.strip() for n in s.split(",")],
                        help="column names for a file without a header, e.g. text,label")


def _read(path, args):
    from kerastl.data import read_examples

    return read_examples(path, **{key: getattr(args, key) for key in DATA_OPTIONS})


def _train(args) -> int:
    from kerastl import data as data_lib
    from kerastl.classifier import TextClassifier
    from kerastl.distribute import get_strategy, is_chief
    from kerastl.errors import ModelFileError
    from kerastl.evaluation import evaluate
    from kerastl.precision import set_precision
    from kerastl.training import fine_tune

    # Everything a user can get wrong is checked before the encoder loads or training starts.
    if args.output.exists() and any(args.output.iterdir()) and not args.overwrite:
        raise ModelFileError(f"--output {args.output} is not empty: choose a new folder or add --overwrite")
    config = _training_config(args)
    # Before TensorFlow runs anything: a multi-worker strategy must configure the runtime first.
    strategy = get_strategy(args.strategy)
    train = _read(args.train, args)
    labels = train.label_names()
    validation = _read(args.validation, args) if args.validation else None
    if validation is not None:
        data_lib.encode_labels(validation.labels, labels, validation.source)
    logger.info("%d training examples, labels %s", len(train), list(labels))

    set_precision(args.precision)
    logger.info("loading %s", args.model)
    model = TextClassifier.from_backbone(args.model, labels, max_length=args.max_length, dropout=args.dropout,
                                         strategy=strategy)
    # Resumable state lives beside --output until the model is saved: rerunning the same
    # command after a crash, a kill or Ctrl-C continues from the last saved step.
    resume_dir = args.output.parent / f".{args.output.name}.resume"
    history = fine_tune(model, train, validation, config, checkpoint_dir=resume_dir)
    path = model.save_pretrained(args.output, overwrite=args.overwrite)  # every worker; only the chief keeps it
    if not is_chief(strategy):
        return 0
    shutil.rmtree(resume_dir, ignore_errors=True)
    logger.info("saved the model to %s", path)
    if validation is not None:
        scores = evaluate(model, validation, batch_size=args.batch_size)
        print(json.dumps({"validation": scores, "history": history}))
    return 0


def _evaluate(args) -> int:
    from kerastl.classifier import TextClassifier
    from kerastl.evaluation import Evaluation

    examples = _read(args.data, args)
    model = TextClassifier.from_pretrained(args.model)
    evaluation = Evaluation.from_model(model, examples, batch_size=args.batch_size, verbose="auto")
    scores = evaluation.scores()
    if args.json:
        print(json.dumps(scores))
    else:
        for key, value in scores.items():
            print(f"{key:>12}: {value:.4f}" if isinstance(value, float) else f"{key:>12}: {value}")
    if args.report:
        evaluation.save(args.report, history=model.training_history)
        logger.info("wrote the report to %s", args.report)
    return 0


def _explore(args) -> int:
    from kerastl.exploration import explore

    examples = _read(args.data, args)
    exploration = explore(examples, args.model, max_length=args.max_length, directory=args.output)
    print(exploration.summary_text())
    logger.info("wrote class_counts.png, tokens_per_text.png and summary.json to %s", args.output)
    return 0


def _baseline(args) -> int:
    from kerastl.baseline import feature_baseline

    train = _read(args.train, args)
    validation = _read(args.validation, args)
    logger.info("loading %s", args.model)
    result = feature_baseline(args.model, train, validation, max_length=args.max_length,
                              batch_size=args.batch_size, directory=args.report)
    print(json.dumps(result.scores()) if args.json else result.summary_text())
    return 0


def _predict(args) -> int:
    from kerastl.classifier import TextClassifier
    from kerastl.evaluation import predict
    from kerastl.export import load_saved_model, resolve_saved_model

    if resolve_saved_model(args.model) is not None:
        predictions = load_saved_model(args.model).predict(args.texts)
    else:
        predictions = predict(TextClassifier.from_pretrained(args.model), args.texts)
    for text, record in zip(args.texts, predictions.records()):
        if args.json:
            print(json.dumps({"text": text, **record}))
        else:
            top = record["probabilities"][record["label"]]
            print(f"{record['label']}\t{top:.3f}\t{text}")
    return 0


def _export(args) -> int:
    from kerastl.export import export_saved_model, load_saved_model

    path = export_saved_model(args.model, args.output, version=args.version, overwrite=args.overwrite)
    signatures = sorted(load_saved_model(path).signatures)
    print(json.dumps({"path": str(path), "version": int(path.name), "signatures": signatures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
