"""Training: the two-phase workflow (`workflow.fine_tune`), its optimizer, callbacks and the state
that makes a run resumable."""

from kerastl.training.workflow import fine_tune

__all__ = ["fine_tune"]
