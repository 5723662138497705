"""kerastl: Keras-first transfer learning for text classification.

Public names load on first use, so that `import kerastl` and `kerastl --help` do not import
TensorFlow until something needs it. Progress goes to stderr through the `kerastl` logger
(`logging.getLogger("kerastl").setLevel(logging.WARNING)` silences it).
"""

import importlib

from kerastl import _logging, _serializable
from kerastl.config import VERSION

__version__ = VERSION

_logging.install()
_logging.quiet_tensorflow_start()  # TensorFlow's C++ start-up lines, whoever imports it
_serializable.install()  # keras.models.load_model finds kerastl's classes from here on

# public name -> the module that defines it
_PUBLIC = {
    "keras": "kerastl._keras",
    "Backbone": "kerastl.encoders",
    "PRESETS": "kerastl.encoders",
    "load_backbone": "kerastl.encoders",
    "preset_path": "kerastl.encoders",
    "TextClassifierPreprocessor": "kerastl.preprocessing",
    "make_dataset": "kerastl.preprocessing",
    "ClassificationHead": "kerastl.tasks",
    "TextClassifier": "kerastl.tasks",
    "TextRegressor": "kerastl.tasks",
    "RegressionHead": "kerastl.tasks",
    "TextMultiLabelClassifier": "kerastl.tasks",
    "MultiLabelHead": "kerastl.tasks",
    "DEFAULT_BACKBONE": "kerastl.config",
    "DEFAULT_MAX_LENGTH": "kerastl.config",
    "TrainingConfig": "kerastl.config",
    "TextExamples": "kerastl.data",
    "as_examples": "kerastl.data",
    "read_examples": "kerastl.data",
    "get_strategy": "kerastl.distribute",
    "BackboneError": "kerastl.errors",
    "DataError": "kerastl.errors",
    "KerastlError": "kerastl.errors",
    "ModelFileError": "kerastl.errors",
    "feature_baseline": "kerastl.analysis",
    "Evaluation": "kerastl.analysis",
    "evaluate": "kerastl.analysis",
    "predict": "kerastl.analysis",
    "predict_one": "kerastl.analysis",
    "write_report": "kerastl.analysis",
    "explore": "kerastl.analysis",
    "export_saved_model": "kerastl.serving",
    "load_saved_model": "kerastl.serving",
    "export_onnx": "kerastl.serving",
    "load_onnx": "kerastl.serving",
    "set_precision": "kerastl.precision",
    "fine_tune": "kerastl.training",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    else:  # a submodule, as `kerastl.analysis.evaluation.plot_probabilities` reaches it after `import kerastl`
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
