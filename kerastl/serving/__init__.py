"""Serving: the SavedModel export for TF Serving (raw text in, TensorFlow alone), the ONNX export
for ONNX Runtime (token ids in, the tokenizer beside it), and loading either back in Python."""

from kerastl.serving.onnx_export import OnnxClassifier, export_onnx, load_onnx  # onnx is imported on call
from kerastl.serving.saved_model import export_saved_model
from kerastl.serving.saved_model_classifier import SavedModelClassifier, load_saved_model, resolve_saved_model

__all__ = ["OnnxClassifier", "SavedModelClassifier", "export_onnx", "export_saved_model", "load_onnx",
           "load_saved_model", "resolve_saved_model"]
