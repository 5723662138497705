"""kerastl: Keras-first transfer learning for text classification."""

from kerastl._keras import keras
from kerastl.backbone import DEFAULT_BACKBONE, PRESETS, Backbone, load_backbone, preset_path
from kerastl.baseline import feature_baseline
from kerastl.classifier import ClassificationHead, TextClassifier
from kerastl.data import TextExamples, make_dataset, read_examples
from kerastl.distribute import get_strategy
from kerastl.errors import BackboneError, DataError, KerastlError, ModelFileError
from kerastl.evaluation import Evaluation, evaluate, predict, predict_one, write_report
from kerastl.exploration import explore
from kerastl.export import export_saved_model, load_saved_model
from kerastl.training import TrainingConfig, fine_tune

__version__ = "0.1.0"

__all__ = [
    "Backbone",
    "BackboneError",
    "ClassificationHead",
    "DEFAULT_BACKBONE",
    "DataError",
    "Evaluation",
    "KerastlError",
    "ModelFileError",
    "PRESETS",
    "TextClassifier",
    "TextExamples",
    "TrainingConfig",
    "evaluate",
    "explore",
    "export_saved_model",
    "feature_baseline",
    "fine_tune",
    "get_strategy",
    "keras",
    "load_backbone",
    "load_saved_model",
    "make_dataset",
    "predict",
    "predict_one",
    "preset_path",
    "read_examples",
    "write_report",
]
