"""What kerastl prints while it works: its logger, progress verbosity, and TensorFlow's start-up noise.

kerastl reports progress (phase headings, the [CLS] pass, compilation, exports) through the
`kerastl` logger, at INFO by default, with one handler that writes `kerastl: message` to stderr.
The logger does not propagate to the root logger, so an application that configures logging
itself does not see each line twice. Silence it the standard way:

    logging.getLogger("kerastl").setLevel(logging.WARNING)

This module imports neither TensorFlow nor Keras: `kerastl --help` loads it.
"""

import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings

LOGGER_NAME = "kerastl"
FORMAT = "kerastl: %(message)s"

# Lines TensorFlow's C++ runtime writes to file descriptor 2 while it loads, before its log level
# applies (TF_CPP_MIN_LOG_LEVEL does not hide them): "I0000 00:00:1796005818.359289 8735
# port.cc:153] oneDNN custom operations are on...", absl's note that precedes them, and the
# CPU-feature line's continuation.
_NATIVE_LOG_LINE = re.compile(
    r"(?P<severity>[IWEF])\d{4} [\d:.]+ +\d+ [^ \]]+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .*rebuild TensorFlow"
)
TF_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of each record (pytest, redirections)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter(FORMAT))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def install() -> logging.Logger:
    """Give the `kerastl` logger its one stderr handler, INFO level and no propagation.

    Runs when kerastl is imported; calling it again changes nothing. A level the application
    set on the `kerastl` logger before importing kerastl is kept.
    """
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        logger.addHandler(_StderrHandler())
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
    return logger


def progress_verbosity(verbose):
    """`verbose="auto"` resolved for Keras' `fit` and `keras.utils.Progbar`: 1 (a bar) or 2 (a line
    an epoch).

    1 only where a bar can be drawn: stdout is a terminal (or a notebook's) and Keras logs to
    stdout, not through absl. Keras' own "auto" is 1 wherever stdout goes, and its bar then
    writes ANSI sequences, backspaces and carriage returns into a redirected file or pipe.
    Other values pass through.
    """
    if verbose != "auto":
        return verbose
    from kerastl._keras import keras

    if not keras.utils.is_interactive_logging_enabled():
        return 2
    return 1 if "ipykernel" in sys.modules or terminal_verbosity(sys.stdout) == 1 else 2


def terminal_verbosity(stream=None) -> int:
    """1 (progress bars) when `stream` (default stderr) is a terminal, else 2 (one line per epoch)."""
    stream = sys.stderr if stream is None else stream
    return 1 if getattr(stream, "isatty", lambda: False)() else 2


@contextlib.contextmanager
def library_notices(show: bool):
    """Within the block, hide (or with `show`, let through) the notices of the libraries kerastl runs on.

    Hidden: TensorFlow's C++ log lines (`TF_CPP_MIN_LOG_LEVEL=3` unless the environment sets
    it), those it writes while loading before any level applies, the log messages of
    TensorFlow's and transformers' Python loggers below ERROR (the TF-classes deprecation
    notice, "All model checkpoint layers were used", Keras' slow-callback note), and Python
    warnings from transformers, TensorFlow and Keras. kerastl's own log lines stay.
    """
    if show:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        logger = logging.getLogger(LOGGER_NAME)
        level = logger.level
        logger.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            logger.setLevel(level)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read once, when TensorFlow first logs
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(transformers|tensorflow|tf_keras|keras|absl)(\.|$)")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        if "tensorflow" not in sys.modules:
            with _native_stderr_filtered():
                import tensorflow  # noqa: F401  (loaded here, where its start-up lines are caught)
        from kerastl._keras import transformers_without_torch  # the Keras first, then transformers

        transformers_without_torch()  # so that its logging module never imports PyTorch
        from transformers.utils import logging as transformers_logging

        tensorflow_logger = logging.getLogger("tensorflow")
        levels = transformers_logging.get_verbosity(), tensorflow_logger.level
        transformers_logging.set_verbosity_error()
        tensorflow_logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            transformers_logging.set_verbosity(levels[0])
            tensorflow_logger.setLevel(levels[1])


def quiet_tensorflow_start() -> None:
    """Keep TensorFlow's start-up log lines (oneDNN, CUDA stubs, CPU features) off stderr when
    TensorFlow is imported, by kerastl or by anyone, from now on; see `_QuietTensorFlowStart`.

    Runs when kerastl is imported, before anything imports TensorFlow; calling it again, or
    after TensorFlow is loaded, changes nothing.
    """
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowStart) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowStart())


def _tf_log_level() -> int:
    """The `TF_CPP_MIN_LOG_LEVEL` in force (0 all, 1 warnings up, 2 errors up, 3 fatal only); 2,
    kerastl's default, when it is unset or not a level."""
    value = os.environ.get(TF_LOG_LEVEL_ENV, "2").strip()
    return int(value) if value in ("0", "1", "2", "3") else 2


class _QuietTensorFlowStart:
    """A finder that only wraps the loading of `tensorflow`: what TensorFlow's C++ runtime writes
    to stderr while its module loads is caught and replayed without the start-up log lines below
    `TF_CPP_MIN_LOG_LEVEL`, which TensorFlow itself cannot apply yet (absl writes them before it
    is initialised). So `TF_CPP_MIN_LOG_LEVEL=0` (or `kerastl ... --verbose`) shows them all;
    anything else that is written (a Python warning, a crash's report) goes through."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" or "tensorflow" in sys.modules:
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def quiet_exec_module(module):
            level = _tf_log_level()
            with _native_stderr_filtered(level) if level > 0 else contextlib.nullcontext():
                exec_module(module)

        loader.exec_module = quiet_exec_module  # this spec's loader only
        return spec


@contextlib.contextmanager
def _native_stderr_filtered(level: int = 3):
    """Catch what C and C++ code writes to file descriptor 2 in the block; replay it without
    TensorFlow's start-up log lines of a severity below `level` (0 info ... 3 fatal), nor absl's
    banner and the CPU-feature continuation (everything, if the block raised)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 to catch
        yield
        return
    failed = True
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = lines if failed else [line for line in lines if _kept(_NATIVE_LOG_LINE.match(line), level)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _kept(native, level: int) -> bool:
    """Whether a line of stderr stays: any line but TensorFlow's log lines below `level`."""
    if native is None:
        return True
    severity = native["severity"]
    return severity is not None and "IWEF".index(severity) >= level
