"""kerastl: Keras-first transfer learning for text classification."""

from kerastl._keras import keras
from kerastl.backbone import DEFAULT_BACKBONE, PRESETS, Backbone, load_backbone, preset_path
from kerastl.classifier import ClassificationHead, TextClassifier
from kerastl.data import TextExamples, make_dataset, read_examples
from kerastl.errors import BackboneError, DataError, KerastlError, ModelFileError
from kerastl.training import TrainingConfig, fine_tune

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BACKBONE",
    "PRESETS",
    "Backbone",
    "BackboneError",
    "ClassificationHead",
    "DataError",
    "KerastlError",
    "ModelFileError",
    "TextClassifier",
    "TextExamples",
    "TrainingConfig",
    "fine_tune",
    "keras",
    "load_backbone",
    "make_dataset",
    "preset_path",
    "read_examples",
]
