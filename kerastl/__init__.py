"""kerastl: Keras-first transfer learning for text classification.

Public names load on first use, so that `import kerastl` and `kerastl --help` do not import
TensorFlow until something needs it. Progress goes to stderr through the `kerastl` logger
(`logging.getLogger("kerastl").setLevel(logging.WARNING)` silences it).
"""

import importlib

from kerastl import _logging

__version__ = "0.8.1"

_logging.install()

# public name -> the module that defines it
_PUBLIC = {
    "keras": "kerastl._keras",
    "Backbone": "kerastl.backbone",
    "PRESETS": "kerastl.backbone",
    "load_backbone": "kerastl.backbone",
    "preset_path": "kerastl.backbone",
    "feature_baseline": "kerastl.baseline",
    "ClassificationHead": "kerastl.head",
    "TextClassifier": "kerastl.classifier",
    "DEFAULT_BACKBONE": "kerastl.config",
    "DEFAULT_MAX_LENGTH": "kerastl.config",
    "TrainingConfig": "kerastl.config",
    "TextExamples": "kerastl.examples",
    "as_examples": "kerastl.examples",
    "make_dataset": "kerastl.data",
    "read_examples": "kerastl.examples",
    "get_strategy": "kerastl.distribute",
    "BackboneError": "kerastl.errors",
    "DataError": "kerastl.errors",
    "KerastlError": "kerastl.errors",
    "ModelFileError": "kerastl.errors",
    "Evaluation": "kerastl.evaluation",
    "evaluate": "kerastl.evaluation",
    "predict": "kerastl.evaluation",
    "predict_one": "kerastl.evaluation",
    "write_report": "kerastl.evaluation",
    "explore": "kerastl.exploration",
    "export_saved_model": "kerastl.export",
    "load_saved_model": "kerastl.export",
    "set_precision": "kerastl.precision",
    "fine_tune": "kerastl.training",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    else:  # a submodule, as `kerastl.evaluation.plot_probabilities` reaches it after `import kerastl`
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'kerastl' has no attribute {name!r}") from None
    globals()[name] = value  # once loaded, a plain module attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
