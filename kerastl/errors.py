"""Exceptions a user can cause, each with a message that names the input and the fix."""


class KerastlError(Exception):
    """Base class for every error kerastl raises on purpose."""


class DataError(KerastlError, ValueError):
    """A data file, column, text or label that kerastl cannot use."""


class BackboneError(KerastlError, OSError):
    """An encoder or tokenizer that cannot be found, reached or loaded."""


class ModelFileError(KerastlError, OSError):
    """A saved kerastl model that is missing, incomplete or in the way of a new one."""


class TrainingError(KerastlError, RuntimeError):
    """Training that cannot go on, such as a loss that became NaN."""


class TrainingInterrupted(KerastlError):
    """Training stopped by Ctrl-C after saving state that a rerun resumes from."""


class TextSignatureUnavailable(KerastlError, ValueError):
    """A tokenizer that TensorFlow ops cannot reproduce exactly (e.g. BPE), so no raw-text signature."""
