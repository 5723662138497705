"""The `kerastl` command: train, evaluate and predict, a thin layer over the library.

Results go to stdout (JSON with `--json`, and always from `train`, `export` and `predict` reading
a file or stdin); progress bars, kerastl's log lines and errors go to stderr. Everything a user can get wrong in
the arguments is checked before TensorFlow is imported, so `--help`, `--version` and every usage
error answer at once.
"""

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import platform
import shutil
import sys
import time
import typing
from importlib import metadata
from pathlib import Path

from kerastl import _logging
from kerastl.cli import checks, pairs, tasks
from kerastl.config import (
    DEFAULT_BACKBONE,
    DEFAULT_DROPOUT,
    DEFAULT_MAX_LENGTH,
    DEFAULT_POOLING,
    INFERENCE_BATCH_SIZE,
    POOLINGS,
    PRECISIONS,
    STRATEGIES,
    TrainingConfig,
)
from kerastl.errors import KerastlError, TrainingInterrupted

DATA_OPTIONS = ("text_column", "label_column", "sep", "names", "label_sep")

logger = logging.getLogger("kerastl.cli.commands")


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    started = time.perf_counter()
    args = _parser().parse_args(argv)
    args.started, args.argv = started, list(sys.argv[1:] if argv is None else argv)  # options given
    name = f"kerastl {args.command}"
    try:
        args.check(args)  # the arguments, checked without TensorFlow
        # Results go to the real stdout; anything else that writes to stdout (Keras' progress bars)
        # goes to stderr, so `--json > out.json` holds JSON only.
        args.out = sys.stdout
        args.progress = _logging.terminal_verbosity()  # bars on a terminal, one line per epoch elsewhere
        with _logging.library_notices(show=args.verbose), contextlib.redirect_stdout(sys.stderr):
            return args.run(args)
    except TrainingInterrupted as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 130
    except (KerastlError, ValueError) as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `kerastl predict ... | head -1`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


def _emit(args, text: str) -> None:
    """Write one line of results to stdout."""
    args.out.write(text + "\n")
    args.out.flush()


class _Version(argparse.Action):
    """`--version`: kerastl's version and what it runs on, read from package metadata (no imports)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from kerastl.config import VERSION as __version__
        def version(distribution):
            try:
                return metadata.version(distribution)
            except metadata.PackageNotFoundError:
                return "not installed"

        from kerastl.config import KERAS_ENV, selected_keras

        try:
            keras_version = selected_keras()
        except ImportError as err:
            parser.error(str(err))
        if keras_version == 3:
            keras = f"Keras 3 (keras {version('keras')}, keras-hub {version('keras-hub')}; {KERAS_ENV}=3)"
        else:
            keras = f"Keras 2 (tf-keras {version('tf-keras')}; {KERAS_ENV}=2)"
        sys.stdout.write(f"kerastl {__version__} on {keras}, TensorFlow {version('tensorflow')}, "
                         f"transformers {version('transformers')}, Python {platform.python_version()}\n")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerastl", allow_abbrev=False, description="Two-phase transfer learning for text classification.",
        epilog="Results go to stdout, progress and log lines to stderr. Log lines: 'kerastl: ...'; "
               "--verbose adds TensorFlow's and transformers' own messages.",
    )
    parser.add_argument("--version", action=_Version, help="show kerastl's version and the Keras, TensorFlow "
                                                           "and transformers it runs on, then exit")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's C++ log lines, transformers' notices and warnings, "
                             "and kerastl's debug lines")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help, **kwargs):
        return commands.add_parser(name, parents=[common], help=help, allow_abbrev=False, **kwargs)

    train = command("train", "train the head, then fine-tune, then save the model")
    train.add_argument("--model", default=DEFAULT_BACKBONE,
                       help="hub name, local folder, preset (all-minilm-l6-v2) (default: %(default)s)")
    train.add_argument("--train", required=True, type=Path, help="training data file")
    train.add_argument("--task", choices=tasks.TASKS, type=tasks.task_name, default="classification",
                       help=tasks.TRAIN_TASK_HELP)
    train.add_argument("--validation", type=Path, help="validation data file, scored every epoch")
    train.add_argument("--output", required=True, type=Path, help="folder to save the trained model to")
    train.add_argument("--overwrite", action="store_true", help="replace a model already at --output")
    _data_options(train)
    train.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                       help="tokens per text (default: %(default)s)")
    train.add_argument("--dropout", type=float, default=DEFAULT_DROPOUT, help="head dropout (default: %(default)s)")
    train.add_argument("--pooling", choices=("auto", *POOLINGS), default=DEFAULT_POOLING,
                       help="what the head reads: the [CLS] state, the mean of the token states, or auto: "
                            "the checkpoint's own pooling (sentence-transformers' 1_Pooling), else cls "
                            "(default: %(default)s)")
    _training_options(train)
    train.add_argument("--precision", default="float32", choices=("auto", *PRECISIONS),
                       help="Keras precision policy, float32 as in Python unless asked; auto: mixed bf16 "
                            "or float16 where the hardware runs it fast (default: %(default)s)")
    train.add_argument("--strategy", default="auto", choices=STRATEGIES,
                       help="tf.distribute strategy; auto: TPU if configured, several workers if TF_CONFIG "
                            "names them, mirrored over several GPUs, else one device; --batch-size is per "
                            "replica (default: %(default)s)")
    train.add_argument("--tensorboard", type=Path, metavar="DIR",
                       help="write TensorBoard logs of both phases, on one axis, to DIR/train and "
                            "DIR/validation")
    train.set_defaults(run=_train, check=checks.check_train)

    evaluate = command("evaluate", "score a saved model on a labelled file")
    evaluate.add_argument("--model", required=True, type=Path, help="folder of a saved model")
    evaluate.add_argument("--data", required=True, type=Path, help="labelled data file")
    _data_options(evaluate)
    evaluate.add_argument("--batch-size", type=int, default=INFERENCE_BATCH_SIZE, help="(default: %(default)s)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--report", type=Path, metavar="DIR", help=tasks.REPORT_HELP)
    evaluate.set_defaults(run=_evaluate, check=checks.check_evaluate)

    explore = command("explore", "plot class counts and tokens per text of a labelled file")
    explore.add_argument("--data", required=True, type=Path, help="labelled data file")
    _data_options(explore)
    explore.add_argument("--model", default=DEFAULT_BACKBONE,
                         help="whose tokenizer counts the tokens: hub name, folder, preset or saved "
                              "kerastl model (default: %(default)s)")
    explore.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                         help="token limit to compare lengths with (default: %(default)s)")
    explore.add_argument("--output", required=True, type=Path,
                         help="folder for the plots (class counts or targets, tokens per text) and the summary")
    explore.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    tasks.task_option(explore, "a histogram of the scores instead of class counts")
    explore.set_defaults(run=_explore, check=checks.check_explore)

    baseline = command("baseline", "logistic regression on the frozen encoder's [CLS] features, and the "
                                   "majority class")
    baseline.add_argument("--model", default=DEFAULT_BACKBONE,
                          help="hub name, local folder, preset (all-minilm-l6-v2) (default: %(default)s)")
    baseline.add_argument("--train", required=True, type=Path, help="training data file")
    baseline.add_argument("--validation", required=True, type=Path, help="data file scored by the baselines")
    _data_options(baseline)
    baseline.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH, help="(default: %(default)s)")
    baseline.add_argument("--batch-size", type=int, default=INFERENCE_BATCH_SIZE, help="(default: %(default)s)")
    baseline.add_argument("--json", action="store_true", help="print one JSON object")
    baseline.add_argument("--report", type=Path, metavar="DIR",
                          help="also write baseline.json and its confusion matrix (or scatter plot) PNG to DIR")
    tasks.task_option(baseline, "ridge regression and the mean instead of the classifiers")
    baseline.set_defaults(run=_baseline, check=checks.check_baseline)

    predict = command(
        "predict", "classify texts: given as arguments, one a line in a file (--file), or on stdin (-)",
        description="Classify texts. Texts given as arguments print 'label<TAB>probability<TAB>text' lines "
                    "(--json: one JSON object a line). A file (--file F) or stdin (-) holds one text a "
                    "line, UTF-8; the output is then JSON Lines, one object per text in input order, "
                    'each {"line", "text", "label", "probabilities"} with "line" its 1-based line number. '
                    "Blank lines (empty or only whitespace) are not texts: they are skipped, as in "
                    "training data, and counted on stderr; \"line\" maps each result back to its line.",
    )
    predict.add_argument("--model", required=True, type=Path,
                         help="folder of a saved model, an exported SavedModel (a version folder, "
                              "or a TF Serving base folder: its highest version is used), or an ONNX "
                              "export (kerastl export --format onnx)")
    predict.add_argument("--json", action="store_true", help="print one JSON object per text")
    predict.add_argument("--file", type=Path, metavar="F", help="read the texts from F, one a line")
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify; '-' alone reads stdin")
    pairs.add_predict_arguments(predict)
    predict.set_defaults(run=_predict, check=checks.check_predict)

    export = command("export", "write a SavedModel for TF Serving that takes raw text, or an ONNX model "
                               "for ONNX Runtime (--format onnx)")
    export.add_argument("--model", required=True, type=Path, help="folder of a saved model")
    export.add_argument("--output", required=True, type=Path,
                        help="savedmodel: TF Serving base folder, the SavedModel goes to OUTPUT/VERSION/; "
                             "onnx: the folder for model.onnx, tokenizer/ and kerastl_onnx.json")
    export.add_argument("--format", choices=checks.EXPORT_FORMATS, default="savedmodel",
                        help="savedmodel: raw text in, for TF Serving; onnx: token ids in, for ONNX Runtime, "
                             "with the tokenizer saved beside it (needs pip install 'kerastl[onnx]') "
                             "(default: %(default)s)")
    export.add_argument("--quantize", choices=("int8",),
                        help="onnx only: dynamic int8 quantization of the matmuls (default: float32)")
    export.add_argument("--version", type=int, help="savedmodel only (default: one more than the highest "
                                                    "present, or 1)")
    export.add_argument("--overwrite", action="store_true",
                        help="replace OUTPUT/VERSION, or the ONNX export in OUTPUT, if it exists")
    export.add_argument("--precision", choices=("auto", *PRECISIONS),
                        help="savedmodel only: policy the SavedModel computes under (default: the model's "
                             "own); auto: mixed bf16 where this machine has native bf16; inputs and outputs "
                             "stay float32")
    export.set_defaults(run=_export, check=checks.check_export)
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


def _data_options(parser):
    parser.add_argument("--text-column", default="text", help="(default: %(default)s)")
    parser.add_argument("--label-column", default="label",
                        help="(default: %(default)s, else labels or score, whichever the header has)")
    parser.add_argument("--sep", help="field separator of delimited text (default: from the extension)")
    parser.add_argument("--names", type=lambda s: [n.strip() for n in s.split(",")],
                        help="column names for a file without a header, e.g. text,label")
    tasks.label_sep_option(parser)


def _read(path, args):
    from kerastl.data.text_examples import read_examples

    return read_examples(path, task=getattr(args, "task", None), **{key: getattr(args, key) for key in DATA_OPTIONS})


# -- the commands ---------------------------------------------------------------------------------


def _train(args) -> int:
    from kerastl.analysis.evaluation import evaluate
    from kerastl.distribute import get_strategy, is_chief
    from kerastl.training.callbacks import EpochClock
    from kerastl.training.workflow import fine_tune

    # Before TensorFlow runs anything: a multi-worker strategy must configure the runtime first.
    strategy = get_strategy(args.strategy)
    train = _read(args.train, args)
    read_validation = lambda: _read(args.validation, args) if args.validation else None  # noqa: E731
    model, validation = tasks.build_model(args, train, read_validation, strategy)  # a TextClassifier, or --task's
    # Resumable state lives beside --output until the model is saved: rerunning the same
    # command after a crash, a kill or Ctrl-C continues from the last saved step.
    resume_dir = args.output.parent / f".{args.output.name}.resume"
    clock = EpochClock(args.started)
    history = fine_tune(model, train, validation, args.config, checkpoint_dir=resume_dir,
                        tensorboard=args.tensorboard, verbose=args.progress, callbacks=[clock])
    path = model.save_pretrained(args.output, overwrite=args.overwrite)  # every worker; only the chief keeps it
    saved = round(time.perf_counter() - args.started, 1)
    if not is_chief(strategy):
        return 0
    shutil.rmtree(resume_dir, ignore_errors=True)
    logger.info("saved the model to %s", path)
    result = {"output": str(path)}
    if validation is not None:
        logger.info("scoring the saved model on %s", validation.source)
        result["validation"] = evaluate(model, validation, batch_size=args.batch_size, verbose=args.progress)
    result["history"] = history
    # Seconds since the command started, at each epoch's end (this process's epochs only: a
    # resumed run does not repeat the ones before) and once the model was saved.
    result["elapsed_seconds"] = {**clock.seconds, "saved": saved}
    _emit(args, json.dumps(result))
    return 0


def _evaluate(args) -> int:
    from kerastl.analysis.evaluation import evaluation_of
    from kerastl.tasks.task import Task

    tasks.read_as_saved(args)  # the saved model's task (and a multi-label model's separator) reads the file
    examples = _read(args.data, args)
    model = Task.from_pretrained(args.model)
    logger.info("scoring %s on the %d examples of %s", args.model, len(examples), examples.source)
    evaluation = evaluation_of(model, examples, batch_size=args.batch_size, verbose=args.progress)
    scores = evaluation.metrics() if args.json else evaluation.scores()  # --json: per_class too
    if args.json:
        _emit(args, json.dumps(scores))
    else:
        for key, value in scores.items():
            _emit(args, f"{key:>12}: {value:.4f}" if isinstance(value, float) else f"{key:>12}: {value}")
    if args.report:
        evaluation.save(args.report, history=model.training_history)
        logger.info("wrote the report to %s", args.report)
    return 0


def _explore(args) -> int:
    from kerastl.analysis.exploration import explore

    examples = _read(args.data, args)
    exploration = explore(examples, args.model, max_length=args.max_length, directory=args.output, task=args.task)
    _emit(args, json.dumps(exploration.summary()) if args.json else exploration.summary_text())
    return 0


def _baseline(args) -> int:
    from kerastl.analysis.baseline import feature_baseline

    train = _read(args.train, args)
    validation = _read(args.validation, args)
    result = feature_baseline(args.model, train, validation, max_length=args.max_length,
                              batch_size=args.batch_size, directory=args.report, verbose=args.progress,
                              task=args.task)
    _emit(args, json.dumps(result.scores()) if args.json else result.summary_text())
    return 0


def _predict(args) -> int:
    paired = pairs.predict_pairs(args)
    if paired is not None:  # --text-pair, or a --file with a text_pair column
        return pairs.emit_pairs(args, paired, _predictions, _emit)
    if args.lines is not None:  # a file or stdin: JSON Lines, each with its line number
        numbers, texts = [n for n, _ in args.lines], [t for _, t in args.lines]
        if not texts:
            logger.warning("%s holds no texts: nothing to classify", args.file or "stdin")
            return 0
    else:
        numbers, texts = None, args.texts
    for i, record in enumerate(_predictions(args, texts).records()):
        if numbers is not None:
            _emit(args, json.dumps({"line": numbers[i], "text": texts[i], **record}))
        elif args.json:
            _emit(args, json.dumps({"text": texts[i], **record}))
        elif "score" in record:  # a regressor
            _emit(args, f"{record['score']:.4f}\t{texts[i]}")
        elif "labels" in record:  # a multi-label model: its set, with each predicted label's probability
            _emit(args, tasks.label_set_line(record, texts[i]))
        else:
            top = record["probabilities"][record["label"]]
            _emit(args, f"{record['label']}\t{top:.3f}\t{texts[i]}")
    return 0


def _predictions(args, texts):
    from kerastl.analysis.evaluation import predict
    from kerastl.serving import load_onnx, load_saved_model, resolve_saved_model
    from kerastl.tasks.task import Task

    if checks.is_onnx_export(args.model):
        return load_onnx(args.model).predict(texts)
    if resolve_saved_model(args.model) is not None:
        predictions = load_saved_model(args.model).predict(texts)
    else:
        model = Task.from_pretrained(args.model)  # the folder's own task
        predictions = predict(model, texts, verbose=args.progress if args.lines is not None else 0)  # a bar for a file
    return tasks.Scores(predictions) if not hasattr(predictions, "records") else predictions


def _export(args) -> int:
    from kerastl.serving import export_saved_model, load_saved_model

    if args.format == "onnx":
        return _export_onnx(args)
    path = export_saved_model(args.model, args.output, version=args.version, overwrite=args.overwrite,
                              precision=args.precision)
    loaded = load_saved_model(path)
    _emit(args, json.dumps({"path": str(path), "version": int(path.name), "signatures": sorted(loaded.signatures),
                            "precision": loaded.precision}))
    return 0


def _export_onnx(args) -> int:
    from kerastl.serving import export_onnx, load_onnx
    from kerastl.tasks.text_classifier import TextClassifier

    model = TextClassifier.from_pretrained(args.model)
    try:
        path = export_onnx(model, args.output, quantize=args.quantize, overwrite=args.overwrite)
    except NotImplementedError as err:  # an encoder the ONNX graph is not written for
        raise ValueError(str(err)) from None
    loaded = load_onnx(path)  # ONNX Runtime opens what was written
    _emit(args, json.dumps({"path": str(path), "format": "onnx", "quantize": args.quantize,
                            "labels": list(loaded.label_names), "inputs": loaded.metadata["inputs"],
                            "outputs": loaded.metadata["outputs"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
