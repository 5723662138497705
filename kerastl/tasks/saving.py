"""Saving and loading a `TextClassifier`: a model folder (`save_pretrained`, `from_pretrained`)
and the `.keras` file's assets (tokenizer, training history).

A model folder holds `kerastl.json` (`{"format": FORMAT_VERSION, "keras": 2 or 3, "config":
model.get_config()}`),
the tokenizer, the weights and, once trained, the training history; it is written to a
temporary folder beside its place and renamed into it, so a crash never leaves half a model.
"""

import importlib
import json
import logging
import os
import shutil
from pathlib import Path

from kerastl import distribute
from kerastl._files import replace_dir, staging_dir
from kerastl._keras import KERAS_VERSION
from kerastl.config import SAVED_CONFIG_FILE, SAVED_HISTORY_FILE, SAVED_TOKENIZER_DIR, SAVED_WEIGHTS_FILE
from kerastl.errors import ModelFileError
from kerastl.preprocessing.tokenizers import load_tokenizer

FORMAT_VERSION = 2  # 2 (kerastl 0.3) records the Keras it was saved under; 1 was Keras 2 only

logger = logging.getLogger(__name__)


def keras_file_path(filepath, save_format) -> str:
    """`filepath` as a str when it names a `.keras` file; otherwise a ValueError, before anything
    is written, that names the ways a TextClassifier can be saved."""
    path = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else None
    if path is None or not path.endswith(".keras") or save_format not in (None, "keras"):
        received = repr(path) if path is not None else f"a {type(filepath).__name__}"
        fmt = f", save_format={save_format!r}" if save_format is not None else ""
        raise ValueError(
            f"TextClassifier.save({received}{fmt}): only a .keras file round-trips a TextClassifier "
            f"(HDF5 and SavedModel saves cannot rebuild its encoder and tokenizer), so nothing was "
            f"written. Use model.save('model.keras') (keras.models.load_model reads it back), "
            f"model.save_pretrained(folder) (TextClassifier.from_pretrained), or, for serving, "
            f"kerastl.export_saved_model(model, folder)"
        )
    return path


def save_assets(model, dir_path) -> None:
    """Write the model's tokenizer and training history beside the weights of a `.keras` file."""
    if model.tokenizer is not None:
        model.preprocessor.save(os.path.join(dir_path, SAVED_TOKENIZER_DIR))
    if model.training_history is not None:
        Path(dir_path, SAVED_HISTORY_FILE).write_text(json.dumps(model.training_history))


def load_assets(model, dir_path) -> None:
    """Read back what `save_assets` wrote."""
    tokenizer = Path(dir_path, SAVED_TOKENIZER_DIR)
    if tokenizer.is_dir():
        model.tokenizer = load_tokenizer(tokenizer)
    history = Path(dir_path, SAVED_HISTORY_FILE)
    if history.is_file():
        model.training_history = json.loads(history.read_text())


def save_pretrained(model, path, *, overwrite: bool = False) -> Path:
    """Save `model`'s config, tokenizer and weights to the folder `path`, atomically; see
    `TextClassifier.save_pretrained`."""

    def save_weights(folder: str) -> None:
        model.save_weights(os.path.join(folder, SAVED_WEIGHTS_FILE))

    model._require_tokenizer()
    path = Path(path)
    if not distribute.chief_or_discard(model.distribute_strategy, save_weights):
        logger.info("not the chief worker: the chief saves the model to %s", path)
        return path
    if path.exists() and not overwrite:
        raise ModelFileError(f"{path} already exists: choose another folder or pass overwrite=True")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(path.parent, f".{path.name}.", ".tmp")  # with the user's umask
    try:
        (staging / SAVED_CONFIG_FILE).write_text(
            json.dumps({"format": FORMAT_VERSION, "keras": KERAS_VERSION, "task": getattr(model, "task", None),
                        "config": model.get_config()}, indent=2)
        )
        model.preprocessor.save(staging / SAVED_TOKENIZER_DIR)
        save_weights(str(staging))
        history = model.training_history
        if history is not None:
            (staging / SAVED_HISTORY_FILE).write_text(json.dumps(history, indent=2))
        replace_dir(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


# task name (kerastl.json's "task"; folders saved before it are classifiers) -> (module, class)
TASK_CLASSES = {
    "classification": ("kerastl.tasks.text_classifier", "TextClassifier"),
    "regression": ("kerastl.tasks.text_regressor", "TextRegressor"),
    "multi_label": ("kerastl.tasks.text_multi_label", "TextMultiLabelClassifier"),
}


def task_class(model_class, task: str, path):
    """The class that loads a folder saved by a `task` model: `model_class` if it is that task's,
    the task's own class when `model_class` is the generic `Task`; another task's class is refused."""
    if task not in TASK_CLASSES:
        raise ModelFileError(f"{path} holds a model of the task {task!r}, which this kerastl does not know: "
                             f"upgrade kerastl")
    module, name = TASK_CLASSES[task]
    own = getattr(model_class, "task", None)
    if own is None:  # Task.from_pretrained: the folder says which class
        return getattr(importlib.import_module(module), name)
    if own != task:
        raise ModelFileError(
            f"{path} holds a {task} model, a {name}, not a {model_class.__name__}: load it with "
            f"kerastl.{name}.from_pretrained (or kerastl.tasks.Task.from_pretrained, which reads the task)"
        )
    return model_class


def load_pretrained(model_class, path, *, strategy=None):
    """A `model_class` (TextClassifier) loaded from a folder of `save_pretrained`; see
    `TextClassifier.from_pretrained`."""
    path = Path(path)
    config_file = path / SAVED_CONFIG_FILE
    if not config_file.is_file():
        raise ModelFileError(
            f"{path} is not a saved kerastl model (no {SAVED_CONFIG_FILE}); give the --output "
            f"folder of `kerastl train` or of save_pretrained()"
        )
    try:
        saved = json.loads(config_file.read_text())
        config = saved["config"]
    except (ValueError, KeyError) as err:
        raise ModelFileError(f"{config_file} is damaged ({err}): train or copy the model again") from None
    model_class = task_class(model_class, saved.get("task") or "classification", path)
    weights = path / SAVED_WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFileError(f"{path} has no {SAVED_WEIGHTS_FILE}: the model was not saved completely")
    tokenizer = load_tokenizer(path / SAVED_TOKENIZER_DIR)
    with distribute.strategy_scope(strategy):
        model = model_class.from_config(config, tokenizer=tokenizer)
        try:
            model.load_weights(str(weights))
        except (OSError, ValueError, KeyError) as err:
            raise ModelFileError(
                f"{weights} cannot be read ({str(err).splitlines()[0]}): train or copy the model again"
            ) from None
    history = path / SAVED_HISTORY_FILE
    if history.is_file():
        model.training_history = json.loads(history.read_text())
    with distribute.strategy_scope(strategy):
        model.compile()  # ready to evaluate, as a model loaded from a .keras file is
    return model
