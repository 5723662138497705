"""The command line's usage checks: everything about the arguments that needs no TensorFlow.

Each command's `check` runs before TensorFlow is imported, so a wrong argument answers at once.
"""

import dataclasses
import importlib.util
import logging
import sys
from pathlib import Path

from kerastl._files import utf8_error
from kerastl.config import SAVED_CONFIG_FILE, TrainingConfig
from kerastl.errors import DataError, KerastlError, ModelFileError

STDIN = "-"
EXPORT_FORMATS = ("savedmodel", "onnx")
# kerastl.serving.onnx_export's METADATA_FILE, MODEL_FILE and INSTALL, spelled here: importing kerastl.serving
# imports TensorFlow (tests/test_cli_onnx.py keeps them equal).
ONNX_METADATA_FILE = "kerastl_onnx.json"
ONNX_MODEL_FILE = "model.onnx"
ONNX_INSTALL = "pip install 'kerastl[onnx]'"

logger = logging.getLogger("kerastl.cli.commands")


def training_config(args) -> TrainingConfig:
    from kerastl.cli.tasks import task_training_defaults

    config = TrainingConfig(**{field.name: getattr(args, field.name) for field in dataclasses.fields(TrainingConfig)})
    return task_training_defaults(args, config)



def data_file(path, option):
    if path is not None and not Path(path).is_file():
        raise DataError(f"{option}: no data file at {str(path)!r}: check the path")


def at_least(args, option, minimum):
    value = getattr(args, option.lstrip("-").replace("-", "_"))
    if value < minimum:
        raise ValueError(f"{option} must be >= {minimum}, received {option} {value}")


def saved_model(path, option="--model"):
    if not (Path(path) / SAVED_CONFIG_FILE).is_file():
        raise ModelFileError(f"{option} {path} is not a saved kerastl model (no {SAVED_CONFIG_FILE}); give the "
                             f"--output folder of `kerastl train` or of save_pretrained()")


def check_train(args):
    args.config = training_config(args)  # raises ValueError on a bad number
    at_least(args, "--max-length", 2)
    if not 0.0 <= args.dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), received --dropout {args.dropout}")
    if args.output.exists() and not args.output.is_dir():
        raise ModelFileError(f"--output {args.output} is a file: give a folder")
    if args.output.exists() and any(args.output.iterdir()) and not args.overwrite:
        raise ModelFileError(f"--output {args.output} is not empty: choose a new folder or add --overwrite")
    if args.tensorboard is not None and args.tensorboard.exists() and not args.tensorboard.is_dir():
        raise ModelFileError(f"--tensorboard {args.tensorboard} is a file: give a folder")
    data_file(args.train, "--train")
    data_file(args.validation, "--validation")


def check_evaluate(args):
    saved_model(args.model)
    data_file(args.data, "--data")
    at_least(args, "--batch-size", 1)


def check_explore(args):
    data_file(args.data, "--data")
    at_least(args, "--max-length", 1)


def check_baseline(args):
    data_file(args.train, "--train")
    data_file(args.validation, "--validation")
    at_least(args, "--max-length", 2)
    at_least(args, "--batch-size", 1)


def is_onnx_export(path) -> bool:
    """Whether `path` is a folder written by `export_onnx` (`kerastl export --format onnx`)."""
    return (Path(path) / ONNX_METADATA_FILE).is_file()


def onnx_runtime(what):
    """Refuse, in one line, when onnx or onnxruntime is not installed (found without importing them)."""
    missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise KerastlError(f"{what} needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                           f"not installed: {ONNX_INSTALL}")


def check_predict(args):
    if not args.model.is_dir():
        raise ModelFileError(f"--model {args.model}: no such folder; give a saved kerastl model, an exported "
                             f"SavedModel or an ONNX export")
    if is_onnx_export(args.model):
        onnx_runtime(f"--model {args.model} (an ONNX export)")
    from_stdin = STDIN in args.texts
    if from_stdin and len(args.texts) > 1:
        raise ValueError("'-' reads the texts from stdin and must be the only TEXT")
    if args.file is not None and args.texts:
        raise ValueError("give texts either as arguments or in --file, not both")
    if args.file is None and not args.texts:
        raise ValueError("no texts: give them as arguments, in --file F (one a line), or on stdin with '-'")
    if args.file is not None:
        if not args.file.is_file():
            raise DataError(f"--file: no file at {str(args.file)!r}: check the path")
        args.lines = text_lines(args.file.read_bytes(), str(args.file))
    elif from_stdin:
        stdin = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
        args.lines = text_lines(stdin.read(), "stdin")
    else:
        args.lines = None


def text_lines(content, source: str) -> list:
    """`[(line number, text)]` of the lines of `content` that hold a text, blank lines left out."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")  # a byte-order mark is not part of the first text
        except UnicodeDecodeError as err:  # its offset leaves out a byte-order mark
            where = utf8_error(content) or err.reason
            raise DataError(f"{source} is not UTF-8 text (at {where}): save it as UTF-8") from None
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    texts = [(number, line.removesuffix("\r")) for number, line in enumerate(lines, start=1)]
    kept = [(number, text) for number, text in texts if text.strip()]
    blank = len(texts) - len(kept)
    if blank:
        logger.info("%s: skipped %d blank line%s", source, blank, "" if blank == 1 else "s")
    return kept


def check_export(args):
    if args.format != "onnx":
        if args.quantize is not None:
            raise ValueError(f"--quantize {args.quantize} applies to --format onnx only: add --format onnx "
                             f"(a SavedModel's precision is --precision)")
    else:
        for option in ("version", "precision"):
            if getattr(args, option) is not None:
                raise ValueError(f"--{option} applies to --format savedmodel only, not to --format onnx")
    saved_model(args.model)
    if args.version is not None and args.version < 0:
        raise ValueError(f"--version must be >= 0, received --version {args.version}")
    if args.format == "onnx":
        onnx_task(args.model)
        if args.output.exists() and not args.output.is_dir():
            raise ModelFileError(f"--output {args.output} is a file: give a folder for the ONNX export")
        if (args.output / ONNX_MODEL_FILE).exists() and not args.overwrite:
            raise ModelFileError(f"--output {args.output} holds an ONNX export: choose a new folder or add "
                                 f"--overwrite")
        onnx_runtime("--format onnx")
    elif args.output.exists() and not args.output.is_dir():
        raise ModelFileError(f"--output {args.output} is a file: give a folder for the SavedModel versions")


def onnx_task(model) -> None:
    """`export --format onnx` takes a single-label classifier; another task's folder is refused
    here, before TensorFlow loads, naming the SavedModel export that serves it."""
    from kerastl.cli.tasks import saved_task

    task = saved_task(model)
    if task not in (None, "classification"):
        raise ValueError(f"--format onnx: ONNX export is for single-label classifiers today, and {model} holds a "
                         f"{task} model; its SavedModel serves it: kerastl export --model {model} --output DIR "
                         f"(without --format onnx)")
