"""The one place kerastl imports Keras.

Hugging Face's TensorFlow models are built on Keras 2 (`tf_keras`), not Keras 3. Every kerastl
module writes `from kerastl._keras import keras` so the two Kerases are never mixed by accident.
"""

import os

# transformers reads this before importing Keras; set it before anything imports transformers.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tf_keras as keras  # noqa: E402

__all__ = ["keras"]


class _TextClassifierToLoad:
    """Keras' registry entry for `kerastl>TextClassifier` until `kerastl.classifier` is imported.

    It lets `keras.models.load_model("model.keras")` rebuild a TextClassifier in a process that
    has not imported the class yet: tf_keras would otherwise look for it in the module
    "tf_kerastl.classifier" (it renames every module whose name starts with "keras").
    Importing `kerastl.classifier` registers the class itself in its place.
    """

    @classmethod
    def from_config(cls, config):
        from kerastl.classifier import TextClassifier

        return TextClassifier.from_config(config)

    def get_config(self):  # never instantiated; Keras' registry expects the method
        raise NotImplementedError


keras.saving.get_custom_objects().setdefault("kerastl>TextClassifier", _TextClassifierToLoad)
