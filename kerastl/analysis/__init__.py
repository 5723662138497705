"""Analysis: predictions and evaluation with reports and plots, data exploration, and the frozen
feature baseline."""

from kerastl.analysis.baseline import feature_baseline
from kerastl.analysis.evaluation import Evaluation, evaluate, predict, predict_one, write_report
from kerastl.analysis.exploration import explore

__all__ = ["Evaluation", "evaluate", "explore", "feature_baseline", "predict", "predict_one", "write_report"]
