"""The Keras models a user meets: a backbone, a preprocessor and a head, one class per task shape."""

from kerastl.tasks.heads import ClassificationHead
from kerastl.tasks.text_classifier import TextClassifier

__all__ = ["ClassificationHead", "TextClassifier"]
