"""Serving: the SavedModel export for TF Serving (raw text in, TensorFlow alone), and loading it
back in Python."""

from kerastl.serving.saved_model import export_saved_model
from kerastl.serving.saved_model_classifier import SavedModelClassifier, load_saved_model, resolve_saved_model

__all__ = ["SavedModelClassifier", "export_saved_model", "load_saved_model", "resolve_saved_model"]
