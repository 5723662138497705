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
