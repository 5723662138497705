"""The Keras models a user meets: a backbone, a preprocessor and a head, one class per task shape."""

from kerastl.tasks.heads import ClassificationHead, MultiLabelHead, RegressionHead
from kerastl.tasks.task import Task  # noqa: F401  (Task.from_pretrained loads any task's folder)
from kerastl.tasks.text_classifier import TextClassifier
from kerastl.tasks.text_multi_label import TextMultiLabelClassifier
from kerastl.tasks.text_regressor import TextRegressor

__all__ = ["ClassificationHead", "MultiLabelHead", "RegressionHead", "TextClassifier", "TextMultiLabelClassifier",
           "TextRegressor"]
